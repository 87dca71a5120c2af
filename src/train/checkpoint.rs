//! Checkpoints: everything a resumed run needs, in one safetensors file
//! written atomically (temporary file in the same folder, fsync, rename,
//! fsync of the folder).
//!
//! Tensors: `params` (f32), `optim.m` and `optim.v` (f32, when the optimizer
//! keeps them), `order` (u32, the epoch's row order). Metadata: `format` =
//! `backprop-checkpoint`, `version` = `1`, `data_crc32` (of every tensor
//! byte), and whatever string fields the caller adds (settings, counters,
//! the generator's state). Loading refuses a file that is truncated,
//! corrupt, of another format or version, or whose tensors disagree.

use crate::error::{Error, Result};
use crate::model::{write_atomic, write_safetensors, RawTensor};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The `format` metadata value of a checkpoint.
pub const CHECKPOINT_FORMAT: &str = "backprop-checkpoint";
/// The checkpoint version this build writes and reads.
pub const CHECKPOINT_VERSION: &str = "1";

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

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

impl Checkpoint {
    /// The checkpoint as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut tensors = vec![RawTensor {
            name: "params".into(),
            dtype: "F32",
            shape: vec![self.params.len()],
            bytes: f32_bytes(&self.params),
        }];
        for (name, slot) in ["optim.m", "optim.v"].into_iter().zip(&self.slots) {
            if !slot.is_empty() {
                tensors.push(RawTensor {
                    name: name.into(),
                    dtype: "F32",
                    shape: vec![slot.len()],
                    bytes: f32_bytes(slot),
                });
            }
        }
        let order = self.order.iter().flat_map(|x| x.to_le_bytes()).collect();
        tensors.push(RawTensor { name: "order".into(), dtype: "U32", shape: vec![self.order.len()], bytes: order });
        let mut crc = crc32fast::Hasher::new();
        tensors.iter().for_each(|t| crc.update(&t.bytes));
        let mut meta = self.meta.clone();
        meta.insert("format".into(), CHECKPOINT_FORMAT.into());
        meta.insert("version".into(), CHECKPOINT_VERSION.into());
        meta.insert("data_crc32".into(), format!("{:08x}", crc.finalize()));
        write_safetensors(&meta, &tensors)
    }

    /// Writes the checkpoint to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes())
    }

    /// Reads and checks a checkpoint.
    pub fn load(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let bad = |msg: String| Error::format(path, None, msg);
        let not =
            |e: safetensors::SafeTensorError| bad(format!("not a complete checkpoint (truncated or corrupt: {e})"));
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(not)?;
        let st = SafeTensors::deserialize(&bytes).map_err(not)?;
        let meta: BTreeMap<String, String> = header.metadata().clone().unwrap_or_default().into_iter().collect();
        let get = |k: &str| meta.get(k).cloned().ok_or_else(|| bad(format!("checkpoint metadata has no \"{k}\"")));
        if get("format")? != CHECKPOINT_FORMAT {
            return Err(bad(format!("not a backprop checkpoint (format {:?})", get("format")?)));
        }
        if get("version")? != CHECKPOINT_VERSION {
            let v = get("version")?;
            return Err(bad(format!("checkpoint version {v:?}, but this build reads version {CHECKPOINT_VERSION}")));
        }
        let tensor = |name: &str, dtype: Dtype| -> Result<Option<Vec<u8>>> {
            match st.tensor(name) {
                Err(_) => Ok(None),
                Ok(t) if t.dtype() == dtype && t.shape().len() == 1 => Ok(Some(t.data().to_vec())),
                Ok(t) => Err(bad(format!("tensor {name} is {:?} of shape {:?}", t.dtype(), t.shape()))),
            }
        };
        let f32s = |b: Vec<u8>| {
            b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect::<Vec<_>>()
        };
        let params = tensor("params", Dtype::F32)?.ok_or_else(|| bad("missing tensor params".into()))?;
        let m = tensor("optim.m", Dtype::F32)?;
        let v = tensor("optim.v", Dtype::F32)?;
        let order = tensor("order", Dtype::U32)?.ok_or_else(|| bad("missing tensor order".into()))?;
        let mut crc = crc32fast::Hasher::new();
        for b in [Some(&params), m.as_ref(), v.as_ref(), Some(&order)].into_iter().flatten() {
            crc.update(b);
        }
        if get("data_crc32")? != format!("{:08x}", crc.finalize()) {
            return Err(bad("checkpoint data does not match its checksum (corrupt)".into()));
        }
        Ok(Checkpoint {
            meta,
            params: f32s(params),
            slots: [m.map(f32s).unwrap_or_default(), v.map(f32s).unwrap_or_default()],
            order: order.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))).collect(),
        })
    }
}

/// A file's identity for checkpoints: its size and a CRC-32 of its first
/// and last 64 KiB, as `size:crc`. Cheap on big files; a changed size, head
/// or tail changes it.
pub fn file_fingerprint(path: &Path) -> Result<String> {
    const SPAN: u64 = 64 * 1024;
    let io = |e| Error::io(path, e);
    let mut f = std::fs::File::open(path).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; SPAN.min(size) as usize];
    f.read_exact(&mut buf).map_err(io)?;
    crc.update(&buf);
    if size > SPAN {
        let tail = SPAN.min(size - SPAN);
        f.seek(SeekFrom::Start(size - tail)).map_err(io)?;
        buf.resize(tail as usize, 0);
        f.read_exact(&mut buf).map_err(io)?;
        crc.update(&buf);
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
        assert_eq!(c.to_bytes(), Checkpoint { meta: back.meta.clone(), ..c.clone() }.to_bytes());

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(Checkpoint::load(&path).unwrap_err().to_string().contains("truncated"));
        let mut flipped = bytes.clone();
        let n = flipped.len();
        flipped[n - 5] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        assert!(Checkpoint::load(&path).unwrap_err().to_string().contains("checksum"));
        let mut other = bytes.clone();
        let at = other.windows(13).position(|w| w == b"\"version\":\"1\"").unwrap();
        other[at + 11] = b'9';
        std::fs::write(&path, &other).unwrap();
        assert!(Checkpoint::load(&path).unwrap_err().to_string().contains("version \"9\""));

        let a = file_fingerprint(&path).unwrap();
        std::fs::write(&path, b"x").unwrap();
        assert_ne!(a, file_fingerprint(&path).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
