//! Fallible allocation: every buffer whose size comes from a user, a file or
//! a C caller is made here, so that a size too large for the machine is an
//! [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) naming the
//! buffer, never an abort.

use crate::error::{Error, Result};

/// `n` copies of `T::default()`, or an error when the memory cannot be had.
pub fn zeros<T: Clone + Default>(n: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| too_big(what, n, std::mem::size_of::<T>()))?;
    v.resize(n, T::default());
    Ok(v)
}

/// Grows `v` to hold at least `n` more values without aborting.
pub fn reserve<T>(v: &mut Vec<T>, n: usize, what: &str) -> Result<()> {
    v.try_reserve(n).map_err(|_| too_big(what, n, std::mem::size_of::<T>()))
}

/// `n` values made by `f`, the vector itself allocated fallibly.
pub fn vec_of<T>(n: usize, what: &str, mut f: impl FnMut() -> Result<T>) -> Result<Vec<T>> {
    let mut v = Vec::new();
    reserve(&mut v, n, what)?;
    for _ in 0..n {
        v.push(f()?);
    }
    Ok(v)
}

/// `a·b` for a buffer size, or an error naming it.
pub fn product(a: usize, b: usize, what: &str) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| Error::config(what, format!("{a} × {b} values overflow the address space")))
}

fn too_big(what: &str, n: usize, size: usize) -> Error {
    let bytes = (n as u128) * (size as u128);
    Error::config(what, format!("cannot allocate {n} values ({bytes} bytes)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_sizes_are_errors() {
        assert!(zeros::<f32>(usize::MAX / 2, "test buffer").unwrap_err().to_string().contains("test buffer"));
        assert!(product(usize::MAX, 2, "x").is_err());
        assert_eq!(zeros::<u8>(3, "ok").unwrap(), vec![0, 0, 0]);
    }
}
