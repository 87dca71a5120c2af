//! Packing: copying operands into the contiguous micro-panels the
//! microkernels stream through. A is cut into panels of `mr` rows stored
//! k-major (`mr` values per k); B into panels of `nr` columns stored k-major
//! (`nr` values per k). Rows or columns past the matrix edge are zero.

use super::MatRef;

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
    /// Makes `len` values visible, reallocating only if the capacity is short.
    pub(crate) fn resize(&mut self, len: usize) {
        const ALIGN: usize = 16; // f32s in 64 bytes
        if self.v.len() < len + ALIGN {
            self.v = vec![0.0; len + ALIGN];
        }
        let addr = self.v.as_ptr() as usize;
        self.off = ((64 - addr % 64) % 64) / 4;
        self.len = len;
    }

    pub(crate) fn as_slice(&self) -> &[f32] {
        &self.v[self.off..self.off + self.len]
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.v[self.off..self.off + self.len]
    }
}

/// Packs rows `i0..i0+m` and columns `k0..k0+kc` of `a` into `dst` as
/// `ceil(m/mr)` panels of `kc × mr` (k-major), zero-padding the last panel.
pub(crate) fn pack_a(dst: &mut [f32], a: &MatRef<'_>, i0: usize, m: usize, k0: usize, kc: usize, mr: usize) {
    let (rs, cs, src) = (a.rs, a.cs, a.data);
    for (p, panel) in dst.chunks_exact_mut(kc * mr).take(m.div_ceil(mr)).enumerate() {
        let r0 = i0 + p * mr;
        let rows = mr.min(i0 + m - r0);
        if rs == 1 {
            // Transposed storage: the mr values of one k are contiguous.
            for (kk, d) in panel.chunks_exact_mut(mr).enumerate() {
                let s = r0 + (k0 + kk) * cs;
                d[..rows].copy_from_slice(&src[s..s + rows]);
                d[rows..].fill(0.0);
            }
        } else {
            gather_panel(panel, mr, rows, &src[r0 * rs + k0 * cs..], rs, cs, kc);
        }
    }
}

/// Packs all of `b` (k × n) into `dst` as `ceil(n/nr)` panels of `k × nr`
/// (k-major), zero-padding the last panel's missing columns.
pub(crate) fn pack_b(dst: &mut [f32], b: &MatRef<'_>, nr: usize) {
    pack_b_cols(dst, b, 0, nr)
}

/// [`pack_b`] for the columns `c0..c0 + b.cols` of a matrix whose column 0
/// is `b`'s data origin: `b.cols` here counts the columns to pack.
pub(crate) fn pack_b_cols(dst: &mut [f32], b: &MatRef<'_>, c0: usize, nr: usize) {
    let (k, n, rs, cs, src) = (b.rows, b.cols, b.rs, b.cs, b.data);
    if k == 0 {
        return;
    }
    for (p, panel) in dst.chunks_exact_mut(k * nr).take(n.div_ceil(nr)).enumerate() {
        let j0 = c0 + p * nr;
        let cols = nr.min(c0 + n - j0);
        if cs == 1 {
            // Row-major: each k contributes a contiguous run of columns.
            for (kk, d) in panel.chunks_exact_mut(nr).enumerate() {
                let s = kk * rs + j0;
                d[..cols].copy_from_slice(&src[s..s + cols]);
                d[cols..].fill(0.0);
            }
        } else {
            gather_panel(panel, nr, cols, &src[j0 * cs..], cs, rs, k);
        }
    }
}

/// The transposing copy both packings need when the panel's lines run
/// across the source's: `panel[kk·w + j] = src[j·sj + kk·sk]` for
/// `j < valid`, 0 for `valid ≤ j < w`, `kk < len`.
///
/// It goes 16 values of k at a time, so that the 16 panel lines being filled
/// stay in L1 while each source line is read in runs of 16 (one cache line
/// when `sk = 1`), instead of sweeping the whole panel once per source line.
pub(crate) fn gather_panel(panel: &mut [f32], w: usize, valid: usize, src: &[f32], sj: usize, sk: usize, len: usize) {
    const KB: usize = 16;
    let fast = sk == 1 && w >= 16 && sj >= 16 && super::transpose::available();
    for k0 in (0..len).step_by(KB) {
        let kb = KB.min(len - k0);
        let block = &mut panel[k0 * w..(k0 + kb) * w];
        // Whole 16 × 16 squares through registers, the rest one by one.
        let mut j_done = 0;
        if fast && kb == KB {
            while j_done + 16 <= valid
                && super::transpose::transpose16(&src[j_done * sj + k0..], sj, &mut block[j_done..], w)
            {
                j_done += 16;
            }
        }
        for j in j_done..valid {
            let line = &src[j * sj + k0 * sk..];
            for kk in 0..kb {
                block[kk * w + j] = line[kk * sk];
            }
        }
        for row in block.chunks_exact_mut(w) {
            row[valid..].fill(0.0);
        }
    }
}
