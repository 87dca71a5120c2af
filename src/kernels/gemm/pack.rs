//! Packing: copying operands into the contiguous micro-panels the
//! microkernels stream through. A is cut into panels of `mr` rows stored
//! k-major (`mr` values per k); B into panels of `nr` columns stored k-major
//! (`nr` values per k). Rows or columns past the matrix edge are zero.

use super::bf16::Packing;
use super::MatRef;
use crate::error::Result;
use crate::kernels::arch::Square;

/// A buffer of f32 whose visible part starts on a 64-byte boundary, so
/// that packed panels never straddle more cache lines than they must.
/// It grows only when asked for more than it ever held.
#[derive(Default)]
pub(crate) struct AlignedBuf {
    v: Vec<f32>,
    off: usize,
    len: usize,
}

impl AlignedBuf {
    /// Makes `len` values visible, reallocating only if the capacity is
    /// short; an error (the buffer left as it was) when the memory cannot be
    /// had.
    pub(crate) fn resize(&mut self, len: usize) -> Result<()> {
        const ALIGN: usize = 16; // f32s in 64 bytes
        let want = len.saturating_add(ALIGN);
        if self.v.len() < want {
            self.v = crate::mem::zeros(want, "GEMM packing buffer")?;
        }
        let addr = self.v.as_ptr() as usize;
        self.off = ((64 - addr % 64) % 64) / 4;
        self.len = len;
        Ok(())
    }

    pub(crate) fn as_slice(&self) -> &[f32] {
        &self.v[self.off..self.off + self.len]
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.v[self.off..self.off + self.len]
    }
}

/// The register transpose a packing may use: AVX-512's 16 × 16 on the
/// AVX-512 GEMM path, AVX2's 8 × 8 on the AVX2 path (each made from its
/// token), none elsewhere, so that a forced slower path
/// (`BACKPROP_SIMD=scalar`) packs with plain moves too.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Transposer {
    #[cfg(target_arch = "x86_64")]
    avx512: Option<crate::kernels::arch::x86_64::avx512::Avx512>,
    #[cfg(target_arch = "x86_64")]
    avx2: Option<crate::kernels::arch::x86_64::avx2::Avx2>,
}

impl Transposer {
    /// Plain moves only.
    pub(crate) fn none() -> Self {
        Transposer::default()
    }

    /// AVX-512's 16 × 16 register transpose.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn avx512(t: crate::kernels::arch::x86_64::avx512::Avx512) -> Self {
        Transposer { avx512: Some(t), ..Transposer::default() }
    }

    /// AVX2's 8 × 8 register transpose.
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn avx2(t: crate::kernels::arch::x86_64::avx2::Avx2) -> Self {
        Transposer { avx2: Some(t), ..Transposer::default() }
    }

    /// The side of the squares [`transpose`](Self::transpose) turns: 16, 8,
    /// or 0 when it can do nothing.
    fn size(&self) -> usize {
        #[cfg(target_arch = "x86_64")]
        if self.avx512.is_some() {
            return 16;
        } else if self.avx2.is_some() {
            return 8;
        }
        0
    }

    /// `dst[i·ldd + j] = src[j·ld + i]` for `i < size`, `j < cols`, source
    /// rows from `rows` on as zeros (see `avx512::transpose16` and
    /// `avx2::transpose8`); `false` (nothing done) without a register
    /// transpose or when an argument is out of range.
    #[allow(unused_variables)]
    fn transpose(&self, src: &[f32], dst: &mut [f32], sq: Square) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            use crate::kernels::arch::x86_64::{avx2, avx512};
            if let Some(t) = self.avx512 {
                return avx512::transpose16(t, src, dst, sq);
            }
            if let Some(t) = self.avx2 {
                return avx2::transpose8(t, src, dst, sq);
            }
        }
        false
    }
}

/// `dst ← b` row-major (the packed form of the matrixmultiply path, which
/// packs for itself).
pub(crate) fn copy_row_major(dst: &mut [f32], b: &MatRef<'_>) {
    for i in 0..b.rows {
        for j in 0..b.cols {
            dst[i * b.cols + j] = b.data[i * b.rs + j * b.cs];
        }
    }
}

/// The part of a matrix a packing copies: `count` lines (rows of A,
/// columns of B) from line `first`, and `kc` values of depth (columns of A,
/// rows of B) from `k0`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Block {
    pub first: usize,
    pub count: usize,
    pub k0: usize,
    pub kc: usize,
}

/// How a packing cuts its block: panels of `width` lines (the tile's MR or
/// NR), transposed through `tr` where the lines run across the source,
/// held as `packing` says.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Panels {
    pub width: usize,
    pub tr: Transposer,
    pub packing: Packing,
}

/// Packs `block` of `a` (its rows, and the columns of its depth) into
/// `dst` as `ceil(count/width)` panels of `depth(kc) × width` (k-major),
/// zero-padding the last panel.
pub(crate) fn pack_a(dst: &mut [f32], a: &MatRef<'_>, block: Block, p: Panels) {
    let (rs, cs, src) = (a.rs, a.cs, a.data);
    let (Block { first: i0, count: m, k0, kc }, mr) = (block, p.width);
    if rs == 1 && pairs_block(dst, &src[i0 + k0 * cs..], RunBlock { stride: cs, count: m, kc }, p) {
        return;
    }
    for (q, panel) in dst.chunks_exact_mut(p.packing.depth(kc) * mr).take(m.div_ceil(mr)).enumerate() {
        let r0 = i0 + q * mr;
        let rows = mr.min(i0 + m - r0);
        let lines = if rs == 1 {
            // Transposed storage: the mr values of one k are contiguous.
            PanelSrc::Runs { src: &src[r0 + k0 * cs..], stride: cs, valid: rows }
        } else {
            PanelSrc::Lines(Lines { src: &src[r0 * rs + k0 * cs..], sj: rs, sk: cs, valid: rows, len: kc })
        };
        pack_panel(panel, lines, kc, p);
    }
}

/// Packs `block` of `b` (its columns, and the rows of its depth) into
/// `dst` as `ceil(count/width)` panels of `depth(kc) × width` (k-major),
/// zero-padding the last panel's missing columns.
pub(crate) fn pack_b_block(dst: &mut [f32], b: &MatRef<'_>, block: Block, p: Panels) {
    let (rs, cs, src) = (b.rs, b.cs, b.data);
    let (Block { first: j0, count: n, k0, kc }, nr) = (block, p.width);
    if kc == 0 || (cs == 1 && pairs_block(dst, &src[k0 * rs + j0..], RunBlock { stride: rs, count: n, kc }, p)) {
        return;
    }
    for (q, panel) in dst.chunks_exact_mut(p.packing.depth(kc) * nr).take(n.div_ceil(nr)).enumerate() {
        let jp = j0 + q * nr;
        let cols = nr.min(j0 + n - jp);
        let lines = if cs == 1 {
            // Row-major: each k contributes a contiguous run of columns.
            PanelSrc::Runs { src: &src[k0 * rs + jp..], stride: rs, valid: cols }
        } else {
            PanelSrc::Lines(Lines { src: &src[jp * cs + k0 * rs..], sj: cs, sk: rs, valid: cols, len: kc })
        };
        pack_panel(panel, lines, kc, p);
    }
}

/// Where one panel's `width` lines lie in the source: as runs, the valid
/// lines of one k contiguous (`valid` values at `k·stride`), or as lines
/// running across it.
#[derive(Clone, Copy)]
enum PanelSrc<'a> {
    Runs { src: &'a [f32], stride: usize, valid: usize },
    Lines(Lines<'a>),
}

/// Values `k0..k0 + kb` of depth of a panel's lines, as f32: `kb` rows of
/// `w` (k-major) into `d`.
fn fill(d: &mut [f32], w: usize, s: PanelSrc<'_>, (k0, kb): (usize, usize), tr: Transposer) {
    match s {
        PanelSrc::Runs { src, stride, valid } => {
            for (kk, d) in d.chunks_exact_mut(w).take(kb).enumerate() {
                let at = (k0 + kk) * stride;
                copy_padded(d, &src[at..at + valid]);
            }
        }
        PanelSrc::Lines(l) => gather_panel(d, w, Lines { src: &l.src[k0 * l.sk..], len: kb, ..l }, tr),
    }
}

/// bf16 pairs straight from the source where its lines are contiguous
/// (`avx512::pairs_from_lines`: the same values as the block route below,
/// in one pass); `false` when nothing was done. (Runs of k go block by
/// block: [`pairs_block`].)
#[allow(unused_variables)]
fn pairs_direct(panel: &mut [f32], s: PanelSrc<'_>, kc: usize, p: Panels) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let Packing::Pairs(t) = p.packing {
        use crate::kernels::arch::x86_64::avx512::{pairs_from_lines, PairPanel};
        return match s {
            PanelSrc::Lines(l) if l.sk == 1 => {
                pairs_from_lines(t, panel, l.src, PairPanel { stride: l.sj, valid: l.valid, w: p.width, kc })
            }
            _ => false,
        };
    }
    false
}

/// A block whose `count` lines of each value k lie together at
/// `src[k·stride..]`.
#[derive(Clone, Copy)]
struct RunBlock {
    stride: usize,
    count: usize,
    kc: usize,
}

/// A whole block's bf16 pairs panels from runs (`avx512::pairs_from_runs`),
/// when the packing is pairs; `false` when nothing was done.
#[allow(unused_variables)]
fn pairs_block(dst: &mut [f32], src: &[f32], r: RunBlock, p: Panels) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let Packing::Pairs(t) = p.packing {
        use crate::kernels::arch::x86_64::avx512::{pairs_from_runs, PairPanel};
        let RunBlock { stride, count, kc } = r;
        return pairs_from_runs(t, dst, src, PairPanel { stride, valid: count, w: p.width, kc });
    }
    false
}

/// One panel of `kc` values of depth in `p.packing`'s form: f32 straight
/// in; bf16 forms 16 values of k at a time through a block of f32 on the
/// stack, converted (an odd last k paired with a zero).
fn pack_panel(panel: &mut [f32], s: PanelSrc<'_>, kc: usize, p: Panels) {
    const KB: usize = 16;
    let w = p.width;
    if !p.packing.converts() {
        return fill(panel, w, s, (0, kc), p.tr);
    }
    if pairs_direct(panel, s, kc, p) {
        return;
    }
    assert!(w <= 64, "a panel is at most 64 lines wide");
    let mut tmp = [0.0f32; KB * 64];
    for k0 in (0..kc).step_by(KB) {
        let kb = KB.min(kc - k0);
        let even = kb.div_ceil(2) * 2;
        fill(&mut tmp[..kb * w], w, s, (k0, kb), p.tr);
        tmp[kb * w..even * w].fill(0.0);
        p.packing.convert(&mut panel[p.packing.depth(k0) * w..], &tmp[..even * w], w);
    }
}

/// `d ← s` followed by zeros. The runs are short (a panel's width), where a
/// `memcpy` call costs more than the copy: the tile widths get inline
/// fixed-size moves.
#[inline(always)]
fn copy_padded(d: &mut [f32], s: &[f32]) {
    fn fixed<const N: usize>(d: &mut [f32], s: &[f32]) -> bool {
        match (<&mut [f32; N]>::try_from(d), <&[f32; N]>::try_from(s)) {
            (Ok(d), Ok(s)) => {
                *d = *s;
                true
            }
            _ => false,
        }
    }
    if !(fixed::<32>(d, s) || fixed::<16>(d, s) || fixed::<12>(d, s) || fixed::<6>(d, s) || fixed::<4>(d, s)) {
        d[..s.len()].copy_from_slice(s);
        d[s.len()..].fill(0.0);
    }
}

/// The lines a transposing copy reads: line `j < valid` at `j·sj` in
/// `src`, its `len` values `sk` apart.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lines<'a> {
    pub src: &'a [f32],
    pub sj: usize,
    pub sk: usize,
    pub valid: usize,
    pub len: usize,
}

/// The transposing copy both packings need when the panel's lines run
/// across the source's: `panel[kk·w + j] = src[j·sj + kk·sk]` for
/// `j < valid`, 0 for `valid ≤ j < w`, `kk < len`.
///
/// It goes 16 values of k at a time, so that the 16 panel lines being filled
/// stay in L1 while each source line is read in runs of 16 (one cache line
/// when `sk = 1`), instead of sweeping the whole panel once per source line.
pub(crate) fn gather_panel(panel: &mut [f32], w: usize, lines: Lines<'_>, tr: Transposer) {
    let Lines { src, sj, sk, valid, len } = lines;
    const KB: usize = 16;
    let size = if sk == 1 { tr.size() } else { 0 };
    for k0 in (0..len).step_by(KB) {
        let kb = KB.min(len - k0);
        let block = &mut panel[k0 * w..(k0 + kb) * w];
        // Squares of `size` (16 or 8) through registers (missing source
        // lines as zeros), whatever is left one by one.
        let mut j_done = 0;
        if size > 0 && kb == KB {
            'squares: while j_done < w {
                let (rows, cols) = (valid.saturating_sub(j_done).min(size), (w - j_done).min(size));
                for kk in (0..KB).step_by(size) {
                    let from = (j_done * sj + k0 + kk).min(src.len());
                    let sq = Square { ld: sj, rows, ldd: w, cols };
                    if !tr.transpose(&src[from..], &mut block[kk * w + j_done..], sq) {
                        break 'squares;
                    }
                }
                j_done += cols;
            }
        }
        for j in j_done.min(valid)..valid {
            let line = &src[j * sj + k0 * sk..];
            for kk in 0..kb {
                block[kk * w + j] = line[kk * sk];
            }
        }
        for row in block.chunks_exact_mut(w) {
            row[valid.max(j_done)..].fill(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{gather_panel, Lines, Transposer};
    use crate::kernels::gemm::GemmPath;

    /// The definition, one value at a time: the oracle of the register path.
    fn gather_scalar(panel: &mut [f32], w: usize, lines: Lines<'_>) {
        let Lines { src, sj, sk, valid, len } = lines;
        for kk in 0..len {
            for j in 0..w {
                panel[kk * w + j] = if j < valid { src[j * sj + kk * sk] } else { 0.0 };
            }
        }
    }

    /// The AVX-512 and AVX2 paths pack through registers (16 × 16 and
    /// 8 × 8), the others with plain moves, so that a forced slower path
    /// (`BACKPROP_SIMD=scalar` gives the portable GEMM) does too.
    #[test]
    fn only_the_vector_paths_transpose_in_registers() {
        for path in GemmPath::ALL {
            let want = match path {
                GemmPath::Avx512 if path.is_supported() => 16,
                GemmPath::Avx2 if path.is_supported() => 8,
                _ => 0,
            };
            assert_eq!(crate::kernels::gemm::Mode::from(path).transposer().size(), want, "{path}");
        }
    }

    #[test]
    fn gather_panel_matches_its_definition_for_every_width_and_fill() {
        let src: Vec<f32> = (0..40 * 70).map(|i| i as f32 + 0.5).collect();
        for w in [2, 3, 4, 5, 6, 7, 12, 16, 17, 32] {
            for valid in 0..=w {
                for len in [0, 5, 16, 33, 48] {
                    for (sj, sk) in [(70, 1), (1, 40), (16, 1)] {
                        if (valid.max(1) - 1) * sj + len.max(1) * sk > src.len() {
                            continue;
                        }
                        let mut want = vec![f32::NAN; w * len];
                        let mut got = vec![f32::NAN; w * len];
                        gather_scalar(&mut want, w, Lines { src: &src, sj, sk, valid, len });
                        for path in GemmPath::ALL.into_iter().filter(|p| p.is_supported()) {
                            got.fill(f32::NAN);
                            gather_panel(
                                &mut got,
                                w,
                                Lines { src: &src, sj, sk, valid, len },
                                crate::kernels::gemm::Mode::from(path).transposer(),
                            );
                            assert_eq!(got, want, "{path}: w {w} valid {valid} len {len} strides ({sj}, {sk})");
                        }
                        gather_panel(&mut got, w, Lines { src: &src, sj, sk, valid, len }, Transposer::none());
                        assert_eq!(got, want, "plain: w {w} valid {valid} len {len} strides ({sj}, {sk})");
                    }
                }
            }
        }
    }
}
