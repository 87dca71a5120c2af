//! Checkpoints: everything a resumed run needs, in one safetensors file
//! written atomically (temporary file in the same folder, fsync, rename,
//! fsync of the folder).
//!
//! Tensors: `params` (f32), `optim.m` and `optim.v` (f32, when the optimizer
//! keeps them), `order` (u32, the epoch's row order). Metadata: `format` =
//! `backprop-checkpoint`, `version` = `2`, whatever string fields the caller
//! adds (the command line stores its settings, counters and the generator's
//! state as one JSON entry), and `crc32`: a CRC-32 of every other metadata
//! key and value and every tensor byte, so that no byte a resume reads can
//! change unnoticed. Loading refuses a file that is truncated, corrupt, of
//! another format or version, or whose tensors disagree.

use crate::error::{Error, Result};
use crate::model::{le_bytes, write_atomic, write_safetensors, RawTensor};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// The `format` metadata value of a checkpoint.
pub const CHECKPOINT_FORMAT: &str = "backprop-checkpoint";
/// The checkpoint version this build writes and reads.
pub const CHECKPOINT_VERSION: &str = "2";

/// The contents of a checkpoint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    /// Settings and counters, as strings (the format fields are added on
    /// save and checked on load).
    pub meta: BTreeMap<String, String>,
    /// The model's parameters ([`Mlp::params`](crate::Mlp::params) layout).
    pub params: Vec<f32>,
    /// The optimizer's state slots (empty where unused).
    pub slots: [Vec<f32>; 2],
    /// The current epoch's row order.
    pub order: Vec<u32>,
}

/// The metadata key of the checksum.
const CRC_KEY: &str = "crc32";

/// CRC-32 of every metadata entry but the checksum (each key and value with
/// its length, in key order) and of the tensors' bytes, in order.
fn checksum<'a>(meta: &BTreeMap<String, String>, tensors: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut crc = crc32fast::Hasher::new();
    for (k, v) in meta.iter().filter(|(k, _)| k.as_str() != CRC_KEY) {
        for part in [k.as_bytes(), v.as_bytes()] {
            crc.update(&(part.len() as u64).to_le_bytes());
            crc.update(part);
        }
    }
    for t in tensors {
        crc.update(&(t.len() as u64).to_le_bytes());
        crc.update(t);
    }
    format!("{:08x}", crc.finalize())
}

impl Checkpoint {
    /// The checkpoint as bytes; an error when the memory for them cannot be
    /// had.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut tensors = vec![RawTensor {
            name: "params".into(),
            dtype: "F32",
            shape: vec![self.params.len()],
            bytes: le_bytes(&self.params, f32::to_le_bytes)?,
        }];
        for (name, slot) in ["optim.m", "optim.v"].into_iter().zip(&self.slots) {
            if !slot.is_empty() {
                tensors.push(RawTensor {
                    name: name.into(),
                    dtype: "F32",
                    shape: vec![slot.len()],
                    bytes: le_bytes(slot, f32::to_le_bytes)?,
                });
            }
        }
        let order = le_bytes(&self.order, u32::to_le_bytes)?;
        tensors.push(RawTensor { name: "order".into(), dtype: "U32", shape: vec![self.order.len()], bytes: order });
        let mut meta = self.meta.clone();
        meta.insert("format".into(), CHECKPOINT_FORMAT.into());
        meta.insert("version".into(), CHECKPOINT_VERSION.into());
        meta.remove(CRC_KEY);
        let crc = checksum(&meta, tensors.iter().map(|t| &t.bytes[..]));
        meta.insert(CRC_KEY.into(), crc);
        write_safetensors(&meta, &tensors)
    }

    /// Writes the checkpoint to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }

    /// Reads and checks a checkpoint.
    pub fn load(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Checkpoint::from_bytes(&bytes, path)
    }

    /// Parses and checks checkpoint bytes; `path` names the source in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
        let bad = |msg: String| Error::format(path, None, msg);
        let not =
            |e: safetensors::SafeTensorError| bad(format!("not a complete checkpoint (truncated or corrupt: {e})"));
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(not)?;
        let st = SafeTensors::deserialize(bytes).map_err(not)?;
        let meta: BTreeMap<String, String> = header.metadata().clone().unwrap_or_default().into_iter().collect();
        let get = |k: &str| meta.get(k).cloned().ok_or_else(|| bad(format!("checkpoint metadata has no \"{k}\"")));
        if get("format")? != CHECKPOINT_FORMAT {
            return Err(bad(format!("not a backprop checkpoint (format {:?})", get("format")?)));
        }
        if get("version")? != CHECKPOINT_VERSION {
            let v = get("version")?;
            return Err(bad(format!("checkpoint version {v:?}, but this build reads version {CHECKPOINT_VERSION}")));
        }
        let tensor = |name: &str, dtype: Dtype| -> Result<Option<&[u8]>> {
            match st.tensor(name) {
                Err(_) => Ok(None),
                Ok(t) if t.dtype() == dtype && t.shape().len() == 1 => Ok(Some(t.data())),
                Ok(t) => Err(bad(format!("tensor {name} is {:?} of shape {:?}", t.dtype(), t.shape()))),
            }
        };
        /// Little-endian 4-byte values, allocated fallibly.
        fn decode<T>(b: &[u8], f: impl Fn([u8; 4]) -> T) -> Result<Vec<T>> {
            let mut v = Vec::new();
            crate::mem::reserve(&mut v, b.len() / 4, "checkpoint tensors")?;
            v.extend(b.chunks_exact(4).map(|c| f(c.try_into().expect("4 bytes"))));
            Ok(v)
        }
        let params = tensor("params", Dtype::F32)?.ok_or_else(|| bad("missing tensor params".into()))?;
        let m = tensor("optim.m", Dtype::F32)?;
        let v = tensor("optim.v", Dtype::F32)?;
        let order = tensor("order", Dtype::U32)?.ok_or_else(|| bad("missing tensor order".into()))?;
        let tensors = [Some(params), m, v, Some(order)];
        if get(CRC_KEY)? != checksum(&meta, tensors.into_iter().flatten()) {
            return Err(bad("checkpoint contents do not match their checksum (corrupt)".into()));
        }
        let slot = |s: Option<&[u8]>| s.map_or(Ok(Vec::new()), |b| decode(b, f32::from_le_bytes));
        Ok(Checkpoint {
            params: decode(params, f32::from_le_bytes)?,
            slots: [slot(m)?, slot(v)?],
            order: decode(order, u32::from_le_bytes)?,
            meta,
        })
    }
}

/// A file's identity for checkpoints: its size and a CRC-32 of all of its
/// bytes, as `size:crc`. A file whose contents changed in any byte (or whose
/// size did) gets another identity.
pub fn file_fingerprint(path: &Path) -> Result<String> {
    let io = |e| Error::io(path, e);
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                crc.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
    Ok(format!("{size}:{:08x}", crc.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let dir = std::env::temp_dir().join(format!("backprop-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.ckpt");
        let c = Checkpoint {
            meta: BTreeMap::from([("epoch".into(), "3".into()), ("path".into(), "a \"quoted\" \\ name".into())]),
            params: vec![1.5, -2.0, f32::MIN_POSITIVE],
            slots: [vec![0.25, 0.5, 0.75], vec![]],
            order: vec![2, 0, 1],
        };
        c.save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(
            (back.params.clone(), back.slots.clone(), back.order.clone()),
            (c.params.clone(), c.slots.clone(), c.order.clone())
        );
        assert_eq!(back.meta["path"], "a \"quoted\" \\ name");
        assert_eq!(back.meta["format"], CHECKPOINT_FORMAT);
        // Same contents, same bytes.
        assert_eq!(c.to_bytes().unwrap(), Checkpoint { meta: back.meta.clone(), ..c.clone() }.to_bytes().unwrap());

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(Checkpoint::load(&path).unwrap_err().to_string().contains("truncated"));
        let mut flipped = bytes.clone();
        let n = flipped.len();
        flipped[n - 5] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        assert!(Checkpoint::load(&path).unwrap_err().to_string().contains("checksum"));
        // A changed metadata value (not a tensor) is caught too.
        let mut meta_flip = bytes.clone();
        let at = meta_flip.windows(7).position(|w| w == b"\"epoch\"").unwrap();
        meta_flip[at + 9] = b'4';
        let err = Checkpoint::from_bytes(&meta_flip, &path).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
        let mut other = bytes.clone();
        let at = other.windows(13).position(|w| w == b"\"version\":\"2\"").unwrap();
        other[at + 11] = b'9';
        std::fs::write(&path, &other).unwrap();
        assert!(Checkpoint::load(&path).unwrap_err().to_string().contains("version \"9\""));

        // The fingerprint sees a change in the middle of a large file.
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &big).unwrap();
        let a = file_fingerprint(&path).unwrap();
        let mut changed = big.clone();
        changed[150_000] ^= 1;
        std::fs::write(&path, &changed).unwrap();
        assert_ne!(a, file_fingerprint(&path).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
