//! The files a command reads and writes: an output may never be the same
//! file as an input or as another output, and every output is checked to be
//! writable before any work starts.

use crate::Failure;
use std::path::{Path, PathBuf};

/// The path with its folder resolved (the file itself need not exist), so
/// that symbolic links and `..` in the folder cannot hide a file behind
/// another name.
fn resolved(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let name = p.file_name()?;
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(dir.canonicalize().ok()?.join(name))
}

/// Whether `a` and `b` name one file: the same resolved path, or (on Unix,
/// both existing) the same device and inode, which also sees hard links.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    match (resolved(a), resolved(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// A usage error when an output is the same file as an input or as an
/// earlier output (outputs may share a device or FIFO, such as
/// `/dev/null`, which is written through). Each entry is `(flag, path)`.
pub fn refuse_clobbering(inputs: &[(&str, &Path)], outputs: &[(&str, &Path)]) -> Result<(), Failure> {
    for (i, (oflag, out)) in outputs.iter().enumerate() {
        let others = if backprop::model::is_special(out) { &outputs[..0] } else { &outputs[..i] };
        let earlier = inputs.iter().map(|(f, p)| (f, p, "")).chain(others.iter().map(|(f, p)| (f, p, "also ")));
        for (iflag, p, also) in earlier {
            if same_file(out, p) {
                return Err(Failure::usage(format!(
                    "{oflag} {} is the same file as {iflag} {}, which it would {also}overwrite; choose another {oflag}",
                    out.display(),
                    p.display()
                )));
            }
        }
    }
    Ok(())
}

/// Checks, before any work, that an output written atomically at `path`
/// can be: not a folder, and its folder accepts a new file.
pub fn check_writable(flag: &str, path: &Path) -> Result<(), Failure> {
    backprop::model::check_writable(path)
        .map_err(|e| Failure::from(backprop::Error::config(flag, format!("cannot write there: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_under_two_names_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d.csv");
        std::fs::write(&d, "1,2\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let dotted = dir.path().join("sub/../d.csv");
        assert!(same_file(&d, &dotted));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&d, dir.path().join("link.csv")).unwrap();
            std::fs::hard_link(&d, dir.path().join("hard.csv")).unwrap();
            assert!(same_file(&d, &dir.path().join("link.csv")));
            assert!(same_file(&d, &dir.path().join("hard.csv")));
        }
        // A file that does not exist yet, named through another folder.
        assert!(same_file(&dir.path().join("new.st"), &dir.path().join("sub/../new.st")));
        assert!(!same_file(&d, &dir.path().join("e.csv")));
        let err = refuse_clobbering(&[("--data", &d)], &[("--out", &dotted)]).unwrap_err();
        assert!(err.msg.contains("--out") && err.msg.contains("--data"), "{}", err.msg);
        let new = dir.path().join("m.st");
        assert!(refuse_clobbering(&[("--data", &d)], &[("--out", &new), ("--log", &new)]).is_err());
        assert!(refuse_clobbering(&[("--data", &d)], &[("--out", &new)]).is_ok());
    }
}
