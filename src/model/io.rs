//! Model files: safetensors in PyTorch's `nn.Linear` layout.
//!
//! Tensors `layers.{i}.weight` (f32, shape `[out, in]`) and `layers.{i}.bias`
//! (f32, `[out]`), so `safetensors.torch.load_file` gives a state dict that a
//! `torch.nn.Sequential` of `Linear` layers loads unchanged (and such a state
//! dict saved with this metadata loads here). Metadata: `format` =
//! `backprop-mlp`, `version` = `1`, `activation`, `head`, `layers` (every
//! size, comma-separated). A model that standardises its inputs or targets
//! ([`Scaling`](super::Scaling)) also holds `scaling.inputs.mean`,
//! `scaling.inputs.std` (f32, `[in]`) and/or `scaling.targets.mean`,
//! `scaling.targets.std` (`[out]`), named by the metadata entry `scaling`
//! (`inputs`, `targets` or `inputs,targets`); pop them from the state dict
//! before `load_state_dict` and apply them around the network. A model whose
//! inputs come from a table's columns by an [`Encoding`] (categorical
//! columns one-hot, missing cells filled) holds it as JSON in the metadata
//! entry `inputs` (see `docs/formats.md`). Loading checks all of it and
//! names what is wrong.
//! The header is written here (with serde_json) rather than by the
//! `safetensors` crate, whose metadata comes out in hash-map order: a model
//! must always give the same bytes.

use super::{Mlp, Scaling, Standardizer};
use crate::data::Encoding;
use crate::error::{Error, Result};
use crate::head::Head;
use crate::layers::Activation;
use crate::mem;
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

/// The `format` metadata value of a model file.
pub const FORMAT: &str = "backprop-mlp";
/// The `version` metadata value this build writes and reads.
pub const VERSION: &str = "1";

/// A tensor to write: its name, safetensors dtype name, shape and
/// little-endian bytes.
pub(crate) struct RawTensor {
    pub name: String,
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

/// One tensor's header entry.
#[derive(serde::Serialize)]
struct TensorInfo<'a> {
    dtype: &'a str,
    shape: &'a [usize],
    data_offsets: [usize; 2],
}

/// The safetensors header: `__metadata__` first, then the tensors in the
/// order given, so that equal contents always give equal bytes.
struct Header<'a> {
    meta: &'a BTreeMap<String, String>,
    tensors: &'a [RawTensor],
}

impl serde::Serialize for Header<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1 + self.tensors.len()))?;
        map.serialize_entry("__metadata__", self.meta)?;
        let mut offset = 0;
        for t in self.tensors {
            let end = offset + t.bytes.len();
            map.serialize_entry(&t.name, &TensorInfo { dtype: t.dtype, shape: &t.shape, data_offsets: [offset, end] })?;
            offset = end;
        }
        map.end()
    }
}

/// safetensors bytes for `meta` and `tensors` (see [`Header`]); an error
/// when the memory for them cannot be had.
pub(crate) fn write_safetensors(meta: &BTreeMap<String, String>, tensors: &[RawTensor]) -> Result<Vec<u8>> {
    let mut header = serde_json::to_vec(&Header { meta, tensors }).expect("a map of strings and numbers serializes");
    // The data must start 8-byte aligned: pad the header with spaces.
    header.resize(header.len().div_ceil(8) * 8, b' ');
    let data: usize = tensors.iter().map(|t| t.bytes.len()).sum();
    let mut bytes = Vec::new();
    mem::reserve(&mut bytes, 8 + header.len() + data, "safetensors file")?;
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&header);
    for t in tensors {
        bytes.extend_from_slice(&t.bytes);
    }
    Ok(bytes)
}

/// The little-endian bytes of `v`, allocated fallibly.
pub(crate) fn le_bytes<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    mem::reserve(&mut out, v.len().saturating_mul(N), "tensor bytes")?;
    out.extend(v.iter().flat_map(|&x| f(x)));
    Ok(out)
}

/// The prefix of a temporary file for `name` written by process `pid`:
/// `.{name}.tmp-{pid}-`, then a random suffix.
fn temp_prefix(name: &str, pid: u32) -> String {
    format!(".{name}.tmp-{pid}-")
}

/// Whether `path` (symbolic links followed) is something other than a
/// regular file or a folder: a character or block device, a FIFO or a
/// socket. Such a path is written through, never replaced.
pub fn is_special(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Writes `bytes` to `path` atomically: a uniquely named temporary file in
/// the same folder (the `tempfile` crate's), written and synced, then
/// renamed over `path`, then the folder synced. A crash leaves either the
/// old file or the new one, never a mixture; two writers of one path (two
/// threads, two processes) each rename a whole file of their own. On error
/// the temporary file is removed and `path` is untouched.
///
/// Atomic replacement is for regular files: a device, FIFO or socket at
/// `path` ([`is_special`]) is opened and written through, as `cp` and
/// `tee` do, and stays what it is.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if is_special(path) {
        let through = || fs::OpenOptions::new().write(true).open(path)?.write_all(bytes);
        return through().map_err(|e| Error::io(path, e));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let prefix = temp_prefix(name, std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        // As `File::create` would: rw for all, less the umask (tempfile's
        // own default is owner-only).
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let write = || -> std::io::Result<()> {
        let mut tmp = builder.tempfile_in(dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        // Make the rename itself durable (not supported everywhere: ignored
        // where the folder cannot be opened as a file).
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| Error::io(path, e))
}

/// Checks that [`write_atomic`] can write `path`: it is not a folder, and
/// a temporary file can be made (and is removed again) beside it. A
/// device, FIFO or socket is not checked ahead (opening a FIFO waits for
/// its reader): its write says.
pub fn check_writable(path: &Path) -> Result<()> {
    if is_special(path) {
        return Ok(());
    }
    if path.is_dir() {
        return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a folder")));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    tempfile::Builder::new().prefix(".backprop-probe-").tempfile_in(dir).map(drop).map_err(|e| Error::io(path, e))
}

/// Removes `path` when it is a regular file (or a symbolic link), as a
/// run removes its finished checkpoint; a device, FIFO or socket
/// ([`is_special`]) written through is left where it is, and a path that
/// is gone already is fine.
pub fn remove_written(path: &Path) -> Result<()> {
    if is_special(path) {
        return Ok(());
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}

/// Removes the temporary files that [`write_atomic`] left beside `path`
/// when its process was killed mid-write: only those whose writer is no
/// longer running (on Linux, no `/proc/{pid}`; elsewhere nothing is
/// removed), never a live writer's.
pub fn remove_dead_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else { return };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let prefix = format!(".{name}.tmp-");
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let file = entry.file_name();
        let Some(rest) = file.to_str().and_then(|n| n.strip_prefix(&prefix)) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid != std::process::id() && !process_alive(pid) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Whether process `pid` may still be running (true when it cannot be told).
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

impl Mlp {
    /// The model as safetensors bytes (see the module documentation). The
    /// header is written with its keys in a fixed order, so the same model
    /// always gives the same bytes.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        self.to_safetensors_with(&BTreeMap::new())
    }

    /// [`to_safetensors`](Self::to_safetensors) with `extra` metadata
    /// entries besides the model's own (what a program keeps with the
    /// model, such as the Python package's class labels); loading ignores
    /// them, and [`safetensors_metadata`] reads them back. An error when an
    /// entry would replace one of the model's own.
    pub fn to_safetensors_with(&self, extra: &BTreeMap<String, String>) -> Result<Vec<u8>> {
        let sizes: Vec<String> = self.sizes().iter().map(|s| s.to_string()).collect();
        let mut meta = BTreeMap::from([
            ("activation".to_string(), self.activation().name().to_string()),
            ("format".to_string(), FORMAT.to_string()),
            ("head".to_string(), self.head().name().to_string()),
            ("layers".to_string(), sizes.join(",")),
            ("version".to_string(), VERSION.to_string()),
        ]);
        if let Some(name) = self.scaling().name() {
            meta.insert("scaling".to_string(), name.to_string());
        }
        if let Some(enc) = self.encoding() {
            let json = serde_json::to_string(enc).map_err(|e| Error::config("input encoding", e.to_string()))?;
            meta.insert(INPUTS_KEY.to_string(), json);
        }
        if let Some(k) = extra.keys().find(|k| meta.contains_key(*k) || *k == "scaling" || *k == INPUTS_KEY) {
            return Err(Error::config("model metadata", format!("{k:?} is the model's own entry")));
        }
        meta.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut tensors = Vec::new();
        for l in 0..self.num_layers() {
            let layer = self.layer(l).expect("layer below num_layers");
            let (i, o) = (layer.inputs, layer.outputs);
            // W is in × out; the file holds Wᵀ, out × in, like nn.Linear.
            let mut w = Vec::new();
            mem::reserve(&mut w, i * o * 4, "model file")?;
            for r in 0..o {
                for c in 0..i {
                    w.extend_from_slice(&layer.weight[c * o + r].to_le_bytes());
                }
            }
            tensors.push(RawTensor { name: format!("layers.{l}.weight"), dtype: "F32", shape: vec![o, i], bytes: w });
            let b = le_bytes(layer.bias, f32::to_le_bytes)?;
            tensors.push(RawTensor { name: format!("layers.{l}.bias"), dtype: "F32", shape: vec![o], bytes: b });
        }
        let scaled = [("inputs", &self.scaling().inputs), ("targets", &self.scaling().targets)];
        for (what, s) in scaled.into_iter().filter_map(|(w, s)| s.as_ref().map(|s| (w, s))) {
            for (part, v) in [("mean", &s.mean), ("std", &s.std)] {
                let bytes = le_bytes(v, f32::to_le_bytes)?;
                tensors.push(RawTensor {
                    name: format!("scaling.{what}.{part}"),
                    dtype: "F32",
                    shape: vec![v.len()],
                    bytes,
                });
            }
        }
        write_safetensors(&meta, &tensors)
    }

    /// Saves the model to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_safetensors()?)
    }

    /// Loads a model saved by [`Mlp::save`] (or by PyTorch with the same
    /// names and metadata), checking format, version, every tensor's
    /// presence, dtype and shape, and that every value is finite.
    pub fn load(path: &Path) -> Result<Mlp> {
        let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
        Mlp::from_safetensors(&bytes, path)
    }

    /// Parses safetensors bytes; `path` names the source in errors.
    pub fn from_safetensors(bytes: &[u8], path: &Path) -> Result<Mlp> {
        let bad = |msg: String| Error::format(path, None, msg);
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("not a safetensors file ({e})")))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a safetensors file ({e})")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let field = |k: &str| meta.get(k).map(String::as_str).ok_or_else(|| bad(format!("metadata has no \"{k}\"")));
        if field("format")? != FORMAT {
            return Err(bad(format!("metadata format is {:?}, expected {FORMAT:?}", field("format")?)));
        }
        if field("version")? != VERSION {
            return Err(bad(format!("model file version {:?}; this build reads version {VERSION}", field("version")?)));
        }
        let act = field("activation")?;
        let activation = Activation::from_name(act).ok_or_else(|| bad(format!("unknown activation {act:?}")))?;
        let head = field("head")?;
        let head = Head::from_name(head).ok_or_else(|| bad(format!("unknown head {head:?}")))?;
        let layers = field("layers")?;
        let sizes = parse_sizes(layers)
            .ok_or_else(|| bad(format!("metadata layers {layers:?} is not a list of at least two sizes ≥ 1")))?;
        let scaled = match meta.get("scaling").map(String::as_str) {
            None => (false, false),
            Some("inputs") => (true, false),
            Some("targets") => (false, true),
            Some("inputs,targets") => (true, true),
            Some(other) => {
                return Err(bad(format!("metadata scaling {other:?}, expected inputs, targets or inputs,targets")))
            }
        };
        let expected: usize = 2 * (sizes.len() - 1) + 2 * (scaled.0 as usize + scaled.1 as usize);
        if st.len() != expected {
            let names = st.names().join(", ");
            return Err(bad(format!("{} tensors ({names}), expected {expected} for layers {layers}", st.len())));
        }
        let params = read_params(&st, path, &sizes)?;
        let standardizer = |what: &str, n: usize| -> Result<Standardizer> {
            let part = |p: &str| tensor(&st, path, &format!("scaling.{what}.{p}"), &[n]);
            Ok(Standardizer { mean: part("mean")?, std: part("std")? })
        };
        let (i, o) = (sizes[0], sizes[sizes.len() - 1]);
        let scaling = Scaling {
            inputs: scaled.0.then(|| standardizer("inputs", i)).transpose()?,
            targets: scaled.1.then(|| standardizer("targets", o)).transpose()?,
        };
        let encoding = meta
            .get(INPUTS_KEY)
            .map(|v| serde_json::from_str::<Encoding>(v))
            .transpose()
            .map_err(|e| bad(format!("metadata {INPUTS_KEY}: {e}")))?;
        Mlp::from_parts(sizes, activation, head, params)?
            .with_scaling(scaling)
            .map_err(|e| bad(format!("scaling tensors: {e}")))?
            .with_encoding(encoding)
            .map_err(|e| bad(format!("metadata {INPUTS_KEY}: {e}")))
    }
}

/// The metadata entry of the inputs' [`Encoding`].
const INPUTS_KEY: &str = "inputs";

/// `"784,128,10"` as sizes: at least two, each ≥ 1.
fn parse_sizes(layers: &str) -> Option<Vec<usize>> {
    let sizes: Vec<usize> =
        layers.split(',').map(|s| s.trim().parse().ok().filter(|&n: &usize| n > 0)).collect::<Option<_>>()?;
    (sizes.len() >= 2).then_some(sizes)
}

/// The parameters in memory's layout (each layer's `W` in × out, then its
/// bias) from the file's `layers.{l}.weight` (out × in) and
/// `layers.{l}.bias`.
fn read_params(st: &SafeTensors<'_>, path: &Path, sizes: &[usize]) -> Result<Vec<f32>> {
    let mut params = Vec::new();
    for l in 0..sizes.len() - 1 {
        let (i, o) = (sizes[l], sizes[l + 1]);
        let w = tensor(st, path, &format!("layers.{l}.weight"), &[o, i])?;
        let start = params.len();
        mem::reserve(&mut params, i * o + o, "model parameters")?;
        params.resize(start + i * o, 0.0);
        for r in 0..o {
            for c in 0..i {
                params[start + c * o + r] = w[r * i + c];
            }
        }
        params.extend(tensor(st, path, &format!("layers.{l}.bias"), &[o])?);
    }
    Ok(params)
}

/// Every metadata entry of safetensors bytes (the model's own and any
/// extra); `path` names the source in errors.
pub fn safetensors_metadata(bytes: &[u8], path: &Path) -> Result<BTreeMap<String, String>> {
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| Error::format(path, None, format!("not a safetensors file ({e})")))?;
    Ok(header.metadata().clone().unwrap_or_default().into_iter().collect())
}

/// The values of tensor `name`, checked to be finite f32 of `shape`.
fn tensor(st: &SafeTensors<'_>, path: &Path, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    let t = st.tensor(name).map_err(|_| Error::format(path, None, format!("missing tensor {name}")))?;
    if t.dtype() != Dtype::F32 {
        return Err(Error::format(path, None, format!("tensor {name} is {:?}, expected F32", t.dtype())));
    }
    if t.shape() != shape {
        return Err(Error::format(path, None, format!("tensor {name} has shape {:?}, expected {shape:?}", t.shape())));
    }
    let mut v = Vec::new();
    mem::reserve(&mut v, t.data().len() / 4, "model tensors")?;
    v.extend(t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))));
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::format(path, None, format!("tensor {name} holds a non-finite value at index {i}")));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_metadata_travels_with_the_model_and_cannot_replace_its_own() {
        let mlp = Mlp::builder().input(3).hidden(4).head(Head::Softmax, 2).seed(1).build().unwrap();
        let extra = BTreeMap::from([("classes".to_string(), "[\"a\",\"b\"]".to_string())]);
        let bytes = mlp.to_safetensors_with(&extra).unwrap();
        let meta = safetensors_metadata(&bytes, Path::new("m")).unwrap();
        assert_eq!(meta["classes"], "[\"a\",\"b\"]");
        assert_eq!(meta["format"], FORMAT);
        assert_eq!(Mlp::from_safetensors(&bytes, Path::new("m")).unwrap(), mlp, "loading ignores the extra entry");
        assert_eq!(mlp.to_safetensors_with(&BTreeMap::new()).unwrap(), mlp.to_safetensors().unwrap());
        let clash = BTreeMap::from([("head".to_string(), "linear".to_string())]);
        assert!(mlp.to_safetensors_with(&clash).is_err());
    }
}
