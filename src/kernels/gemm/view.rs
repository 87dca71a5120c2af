//! Matrix views with strides: what the GEMM reads ([`MatRef`]) and writes
//! ([`MatMut`]). A transpose is a swap of strides, never a copy.
//!
//! Empty views (no rows or no columns) are normalised when they are made:
//! their strides become 0, so no offset is ever computed from them, and a
//! view of an empty slice never moves its (dangling) pointer.

use crate::error::{Error, Result};
use std::marker::PhantomData;

/// The index one past the last element a `rows × cols` view with these
/// strides touches (0 for an empty view), or `None` on overflow.
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1).checked_mul(rs)?.checked_add((cols - 1).checked_mul(cs)?)?.checked_add(1)
}

/// `rows·cols`, or a shape error on overflow.
fn count(rows: usize, cols: usize) -> Result<usize> {
    rows.checked_mul(cols).ok_or_else(|| Error::shape("matrix", "rows·cols to fit in usize", "overflow"))
}

/// The distances between a matrix's rows and between its columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strides {
    /// From one row to the next.
    pub row: usize,
    /// From one column to the next.
    pub col: usize,
}

/// A read-only matrix view: element (i, j) is `data[i·rs + j·cs]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    pub(super) data: &'a [f32],
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) rs: usize,
    pub(super) cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows × cols` view of `data` (which must hold exactly
    /// `rows·cols` values).
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        let n = count(rows, cols)?;
        if data.len() != n {
            return Err(Error::shape("matrix data", format!("{rows}×{cols} = {n} values"), data.len()));
        }
        Ok(MatRef::normalised(data, rows, cols, Strides { row: cols, col: 1 }))
    }

    /// A view with explicit row and column strides; `data` must hold every
    /// element the strides reach.
    pub fn with_strides(data: &'a [f32], rows: usize, cols: usize, strides: Strides) -> Result<Self> {
        let Strides { row: rs, col: cs } = strides;
        match extent(rows, cols, rs, cs) {
            Some(e) if e <= data.len() => Ok(MatRef::normalised(data, rows, cols, strides)),
            e => Err(Error::shape(
                "strided matrix data",
                match e {
                    Some(e) => format!("at least {e} values for {rows}×{cols} with strides ({rs}, {cs})"),
                    None => format!("{rows}×{cols} with strides ({rs}, {cs}) to fit in usize"),
                },
                data.len(),
            )),
        }
    }

    /// The view, with zero strides when it is empty.
    fn normalised(data: &'a [f32], rows: usize, cols: usize, strides: Strides) -> Self {
        if rows == 0 || cols == 0 {
            MatRef { data: &data[..0], rows, cols, rs: 0, cs: 0 }
        } else {
            MatRef { data, rows, cols, rs: strides.row, cs: strides.col }
        }
    }

    /// The transpose, by swapping strides.
    pub fn t(self) -> MatRef<'a> {
        MatRef { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Columns `j0..j0+cols` (clamped to the width) as a view.
    pub fn cols_range(&self, j0: usize, cols: usize) -> MatRef<'a> {
        let j0 = j0.min(self.cols);
        let cols = cols.min(self.cols - j0);
        if cols == 0 || self.rows == 0 {
            return MatRef::normalised(self.data, self.rows, cols, Strides { row: 0, col: 0 });
        }
        // j0 < self.cols, so element (0, j0) lies inside the data.
        MatRef { data: &self.data[j0 * self.cs..], rows: self.rows, cols, rs: self.rs, cs: self.cs }
    }

    /// The data from element (0, 0) on and the row stride, when the
    /// columns are contiguous (`cs == 1`, or the view is empty).
    pub(crate) fn rows_data(&self) -> Option<(&'a [f32], usize)> {
        (self.cs == 1 || self.rows == 0 || self.cols == 0).then_some((self.data, self.rs))
    }

    /// Row `i` as a slice, when the columns are contiguous (`cs == 1`, or
    /// the view is empty).
    pub fn row(&self, i: usize) -> Option<&'a [f32]> {
        if i >= self.rows {
            return None;
        }
        if self.cols == 0 {
            return Some(&self.data[..0]);
        }
        (self.cs == 1).then(|| &self.data[i * self.rs..i * self.rs + self.cols])
    }
}

/// A mutable row-major view: element (i, j) sits `i·rs + j` values past the
/// start, `rs ≥ cols` so that no two elements alias. Like `&mut [f32]` it is
/// exclusive; [`split_at_col`](Self::split_at_col) cuts it into two views of
/// disjoint columns, which may then be written from different threads.
#[derive(Debug)]
pub struct MatMut<'a> {
    pub(super) ptr: *mut f32,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) rs: usize,
    _data: PhantomData<&'a mut [f32]>,
}

// SAFETY: a MatMut is an exclusive borrow of its elements, like `&mut [f32]`
// (which is Send); split views cover disjoint elements.
unsafe impl Send for MatMut<'_> {}

impl<'a> MatMut<'a> {
    /// A row-major `rows × cols` view of `data` (exactly `rows·cols` values).
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> Result<Self> {
        let n = count(rows, cols)?;
        if data.len() != n {
            return Err(Error::shape("output matrix data", format!("{rows}×{cols} = {n} values"), data.len()));
        }
        Ok(MatMut::normalised(data.as_mut_ptr(), rows, cols, cols))
    }

    /// A view whose rows start `rs ≥ cols` values apart.
    pub fn with_row_stride(data: &'a mut [f32], rows: usize, cols: usize, rs: usize) -> Result<Self> {
        match extent(rows, cols, rs, 1) {
            Some(e) if rs >= cols && e <= data.len() => Ok(MatMut::normalised(data.as_mut_ptr(), rows, cols, rs)),
            _ => Err(Error::shape(
                "output matrix data",
                format!("{rows}×{cols} with row stride {rs} ≥ {cols}"),
                data.len(),
            )),
        }
    }

    /// The view at `ptr`, with a zero stride when it is empty.
    fn normalised(ptr: *mut f32, rows: usize, cols: usize, rs: usize) -> Self {
        let rs = if rows == 0 || cols == 0 { 0 } else { rs };
        MatMut { ptr, rows, cols, rs, _data: PhantomData }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Columns `..j` and `j..` as two views (`j` is clamped to the width).
    pub fn split_at_col(self, j: usize) -> (MatMut<'a>, MatMut<'a>) {
        let j = j.min(self.cols);
        let right = if self.rows == 0 || j == 0 {
            // Nothing to skip: an empty view's pointer may dangle.
            self.ptr
        } else {
            // SAFETY: the view has a row, and 0 < j ≤ cols, so column j of
            // row 0 lies inside the borrowed data or one past its end.
            unsafe { self.ptr.add(j) }
        };
        // The views cover columns [0, j) and [j, cols) of the same rows,
        // which are disjoint.
        (
            MatMut::normalised(self.ptr, self.rows, j, self.rs),
            MatMut::normalised(right, self.rows, self.cols - j, self.rs),
        )
    }

    /// A shorter-lived view of the same elements.
    pub fn reborrow(&mut self) -> MatMut<'_> {
        MatMut { ptr: self.ptr, rows: self.rows, cols: self.cols, rs: self.rs, _data: PhantomData }
    }

    /// Every element as one slice, row after row, when the rows lie back
    /// to back (row stride = columns, one row, or an empty view); else
    /// `None`.
    pub fn contiguous_mut(&mut self) -> Option<&mut [f32]> {
        if self.rows == 0 || self.cols == 0 {
            return Some(&mut []);
        }
        if self.rows > 1 && self.rs != self.cols {
            return None;
        }
        // SAFETY: with one row, or rs = cols, the view's elements are the
        // rows·cols values from ptr, inside the borrowed data; `&mut self`
        // makes the slice exclusive.
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr, self.rows * self.cols) })
    }

    /// Row `i` (the view's columns of it), or `None` past the last row.
    pub fn row_mut(&mut self, i: usize) -> Option<&mut [f32]> {
        if i >= self.rows {
            return None;
        }
        // SAFETY: row i < rows holds `cols` values starting i·rs past ptr
        // inside the borrowed data (for an empty view rs = 0 and the slice
        // is empty); `&mut self` makes the slice exclusive.
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr.add(i * self.rs), self.cols) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_views_never_offset_their_pointer() {
        // Ten rows of no columns over an empty slice: accepted, and every
        // row is an empty slice at the (dangling) start.
        let mut none: [f32; 0] = [];
        let mut v = MatMut::with_row_stride(&mut none, 10, 0, 5).unwrap();
        assert_eq!(v.rs, 0);
        assert_eq!(v.row_mut(3).map(|r| r.len()), Some(0));
        let start = v.ptr;
        let (l, r) = v.split_at_col(3);
        assert_eq!((l.ptr, r.ptr, l.cols, r.cols), (start, start, 0, 0));
        // No rows of five columns: splitting does not move the pointer.
        let (l, r) = MatMut::new(&mut none, 0, 5).unwrap().split_at_col(3);
        assert_eq!((l.ptr, r.ptr, l.cols, r.cols), (start, start, 3, 2));
        let empty = MatRef::with_strides(&[], 10, 0, Strides { row: 5, col: 1 }).unwrap();
        assert_eq!((empty.rs, empty.cs, empty.row(9).map(|r| r.len())), (0, 0, Some(0)));
        assert_eq!(MatRef::new(&[], 0, 4).unwrap().cols_range(2, 2).cols(), 2);
    }

    #[test]
    fn only_rows_back_to_back_are_one_slice() {
        let mut data: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut all = MatMut::new(&mut data, 3, 4).unwrap();
        assert_eq!(all.contiguous_mut().map(|s| s.len()), Some(12));
        let (mut left, mut right) = all.split_at_col(1);
        assert!(left.contiguous_mut().is_none() && right.contiguous_mut().is_none());
        let mut one_row = MatMut::with_row_stride(&mut data[4..], 1, 3, 5).unwrap();
        assert_eq!(one_row.contiguous_mut().map(|s| s.to_vec()), Some(vec![4.0, 5.0, 6.0]), "one row, any stride");
        let mut none: [f32; 0] = [];
        assert_eq!(MatMut::new(&mut none, 0, 3).unwrap().contiguous_mut().map(|s| s.len()), Some(0));
    }

    #[test]
    fn splitting_at_the_last_column_leaves_an_empty_right_view() {
        let mut data = [1.0f32; 6];
        let (mut l, mut r) = MatMut::new(&mut data, 2, 3).unwrap().split_at_col(3);
        assert_eq!((l.cols, r.cols, r.rs), (3, 0, 0));
        assert_eq!(r.row_mut(1).map(|x| x.len()), Some(0));
        l.row_mut(1).unwrap()[2] = 7.0;
        assert_eq!(data[5], 7.0);
    }
}
