//! Typed errors: every failure a caller can cause is an [`Error`] whose
//! [`ErrorKind`] names what was wrong, never a panic.

use std::fmt;
use std::path::PathBuf;

/// The result type of every fallible call in this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// An error from `backprop`: a boxed [`ErrorKind`], one pointer wide so that
/// `Result<T>` stays small on the hot path.
pub struct Error(Box<ErrorKind>);

/// What went wrong, with the data needed to say it in one line.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A buffer or matrix did not have the size its dimensions require.
    ShapeMismatch {
        /// The argument or tensor that was wrong.
        what: String,
        /// The size (or shape) it must have.
        expected: String,
        /// The size (or shape) it had.
        got: String,
    },
    /// A setting is out of its domain (a zero size, a negative rate, ...).
    InvalidConfig {
        /// The setting.
        what: String,
        /// Why it was refused.
        msg: String,
    },
    /// A NaN or infinity where only finite numbers are allowed.
    NonFinite {
        /// Where it was found.
        what: String,
    },
    /// Reading or writing a file failed.
    Io {
        /// The file, when there is one.
        path: Option<PathBuf>,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file's contents are not what its format requires.
    Format {
        /// The file.
        path: PathBuf,
        /// Where in the file, as `line L, column C`, `row R` or `byte B`,
        /// when that is known.
        location: Option<String>,
        /// What was expected and what was found.
        msg: String,
    },
    /// A choice the caller made (a column by name or position, as the
    /// command line's `--target`) that the file cannot satisfy: a usage
    /// error rather than bad data.
    BadChoice {
        /// The file.
        path: PathBuf,
        /// What was chosen, and why it does not fit.
        msg: String,
    },
    /// The processes of a distributed run could not exchange data (a peer
    /// ended, or the communicator was shut down).
    Collective {
        /// The rank that saw the failure.
        rank: usize,
        /// What happened.
        msg: String,
    },
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// Consumes the error, returning its kind.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }

    /// A [`ErrorKind::ShapeMismatch`].
    pub fn shape(what: impl Into<String>, expected: impl fmt::Display, got: impl fmt::Display) -> Self {
        ErrorKind::ShapeMismatch { what: what.into(), expected: expected.to_string(), got: got.to_string() }.into()
    }

    /// An [`ErrorKind::InvalidConfig`].
    pub fn config(what: impl Into<String>, msg: impl Into<String>) -> Self {
        ErrorKind::InvalidConfig { what: what.into(), msg: msg.into() }.into()
    }

    /// An [`ErrorKind::NonFinite`].
    pub fn non_finite(what: impl Into<String>) -> Self {
        ErrorKind::NonFinite { what: what.into() }.into()
    }

    /// An [`ErrorKind::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ErrorKind::Io { path: Some(path.into()), source }.into()
    }

    /// An [`ErrorKind::Collective`] seen by `rank`.
    pub fn collective(rank: usize, msg: impl Into<String>) -> Self {
        ErrorKind::Collective { rank, msg: msg.into() }.into()
    }

    /// An [`ErrorKind::BadChoice`] for `path`.
    pub fn bad_choice(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        ErrorKind::BadChoice { path: path.into(), msg: msg.into() }.into()
    }

    /// An [`ErrorKind::Format`] for `path`, at `location` when known.
    pub fn format(path: impl Into<PathBuf>, location: Option<String>, msg: impl Into<String>) -> Self {
        ErrorKind::Format { path: path.into(), location, msg: msg.into() }.into()
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error(Box::new(kind))
    }
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        ErrorKind::Io { path: None, source }.into()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            ErrorKind::ShapeMismatch { what, expected, got } => {
                write!(f, "{what}: expected {expected}, got {got}")
            }
            ErrorKind::InvalidConfig { what, msg } => write!(f, "{what}: {msg}"),
            ErrorKind::NonFinite { what } => write!(f, "non-finite value in {what}"),
            ErrorKind::Io { path: Some(p), source } => write!(f, "{}: {source}", p.display()),
            ErrorKind::Io { path: None, source } => write!(f, "{source}"),
            ErrorKind::Format { path, location: Some(loc), msg } => {
                write!(f, "{}: {loc}: {msg}", path.display())
            }
            ErrorKind::Format { path, location: None, msg } => write!(f, "{}: {msg}", path.display()),
            ErrorKind::Collective { rank, msg } => write!(f, "rank {rank}: {msg}"),
            ErrorKind::BadChoice { path, msg } => write!(f, "{}: {msg}", path.display()),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.0 {
            ErrorKind::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
