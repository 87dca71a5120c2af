//! MNIST IDX files: a big-endian header (magic `0x00000803` and three sizes
//! for images, `0x00000801` and one size for labels), then unsigned bytes.
//! The declared size is checked against what the file can hold before any
//! buffer is allocated.

use super::{open, read_error, read_full, Dataset, Source};
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest expansion DEFLATE allows (about 1032:1), with room to spare.
const MAX_GZIP_RATIO: u64 = 1100;

/// The header sizes of the file `src` reads, and the reader positioned at
/// the data.
fn header(path: &Path, mut src: Source, magic: u32, dims: usize) -> Result<(Vec<usize>, Source)> {
    let mut head = vec![0u8; 4 + 4 * dims];
    let n = read_full(&mut src.reader, &mut head).map_err(|e| read_error(path, src.gz, e))?;
    if n < 4 {
        return Err(Error::format(path, None, "truncated IDX header"));
    }
    let got = u32::from_be_bytes(head[..4].try_into().expect("4 bytes"));
    if got != magic {
        return Err(Error::format(
            path,
            Some("byte 0".into()),
            format!("wrong magic number 0x{got:08x}, expected 0x{magic:08x}"),
        ));
    }
    if n < head.len() {
        return Err(Error::format(path, None, "truncated IDX header"));
    }
    let sizes = head[4..].chunks(4).map(|c| u32::from_be_bytes(c.try_into().expect("4 bytes")) as usize).collect();
    Ok((sizes, src))
}

/// Reads exactly `declared` data bytes, refusing before allocating when the
/// file cannot hold them, and naming a truncation.
fn body(path: &Path, src: Source, header: u64, declared: u64) -> Result<Vec<u8>> {
    let Source { mut reader, size, gz } = src;
    if gz && declared > size.saturating_mul(MAX_GZIP_RATIO) {
        let msg = format!("header declares {declared} data bytes, more than a {size}-byte gzip file can hold");
        return Err(Error::format(path, None, msg));
    }
    if !gz && declared > size.saturating_sub(header) {
        let msg =
            format!("truncated: header declares {declared} data bytes, the file holds {}", size.saturating_sub(header));
        return Err(Error::format(path, None, msg));
    }
    let mut data = Vec::new();
    let want = usize::try_from(declared).unwrap_or(usize::MAX);
    data.try_reserve_exact(want.saturating_add(1)).map_err(|_| {
        Error::format(path, None, format!("cannot allocate the {declared} data bytes the header declares"))
    })?;
    (&mut reader).take(declared + 1).read_to_end(&mut data).map_err(|e| read_error(path, gz, e))?;
    match (data.len() as u64).cmp(&declared) {
        std::cmp::Ordering::Less => Err(Error::format(
            path,
            None,
            format!("truncated: header declares {declared} data bytes, file holds {}", data.len()),
        )),
        std::cmp::Ordering::Greater => {
            Err(Error::format(path, None, format!("{declared} data bytes declared, but more follow")))
        }
        std::cmp::Ordering::Equal => Ok(data),
    }
}

/// The labels file beside an images file: `…-images-idx3-ubyte…` becomes
/// `…-labels-idx1-ubyte…`.
fn labels_path(images: &Path) -> Result<PathBuf> {
    let name = images.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !name.contains("images-idx3-ubyte") {
        return Err(Error::format(
            images,
            None,
            "an IDX images file must be named *-images-idx3-ubyte[.gz] to find its labels",
        ));
    }
    let base = images.with_file_name(name.replace("images-idx3-ubyte", "labels-idx1-ubyte"));
    let plain = base.with_file_name(base.file_name().and_then(|n| n.to_str()).unwrap_or("").trim_end_matches(".gz"));
    let gz = PathBuf::from(format!("{}.gz", plain.display()));
    [base.clone(), plain, gz].into_iter().find(|p| p.is_file()).ok_or_else(|| {
        Error::format(images, None, format!("labels file {} not found beside the images", base.display()))
    })
}

fn image_dims(path: &Path, src: Source) -> Result<(usize, usize, Source)> {
    let (dims, src) = header(path, src, 0x0000_0803, 3)?;
    let pixels = dims[1].checked_mul(dims[2]).filter(|&p| p > 0);
    let pixels =
        pixels.ok_or_else(|| Error::format(path, None, format!("image size {}×{} is empty", dims[1], dims[2])))?;
    Ok((dims[0], pixels, src))
}

/// Loads the images `src` reads from `path` (scaled to [0, 1]) and, when
/// `targets(pixels)` asks for any, their labels from the file beside it
/// (without, a dataset of no targets: images to predict on).
pub(super) fn load(path: &Path, src: Source, targets: impl FnOnce(usize) -> usize) -> Result<Dataset> {
    let (count, pixels, src) = image_dims(path, src)?;
    if count == 0 {
        return Err(Error::format(path, None, "the header declares 0 images"));
    }
    let declared = (count as u64)
        .checked_mul(pixels as u64)
        .ok_or_else(|| Error::format(path, None, "declared size overflows"))?;
    let bytes = body(path, src, 16, declared)?;
    let mut x = crate::mem::zeros(bytes.len(), "IDX pixels")?;
    for (v, &b) in x.iter_mut().zip(&bytes) {
        *v = b as f32 / 255.0;
    }
    let (feature_names, target_names, labels) = (Vec::new(), Vec::new(), None);
    if targets(pixels) == 0 {
        let y = Vec::new();
        return Ok(Dataset {
            path: path.to_path_buf(),
            rows: count,
            features: pixels,
            targets: 0,
            x,
            y,
            feature_names,
            target_names,
            labels,
            ids: None,
            weights: None,
            csv: None,
            encoding: None,
            columns: Vec::new(),
        });
    }
    let lpath = labels_path(path)?;
    let (ldims, lsrc) = header(&lpath, open(&lpath)?, 0x0000_0801, 1)?;
    if ldims[0] != count {
        return Err(Error::format(
            &lpath,
            None,
            format!("{} labels for {count} images in {}", ldims[0], path.display()),
        ));
    }
    let y = body(&lpath, lsrc, 8, count as u64)?.iter().map(|&b| b as f32).collect();
    Ok(Dataset {
        path: path.to_path_buf(),
        rows: count,
        features: pixels,
        targets: 1,
        x,
        y,
        feature_names,
        target_names,
        labels,
        ids: None,
        weights: None,
        csv: None,
        encoding: None,
        columns: Vec::new(),
    })
}
