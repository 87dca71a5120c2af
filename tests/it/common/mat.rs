//! Matrices for the GEMM tests: stored row-major or transposed, and viewed
//! back as the same `rows × cols` matrix.

use backprop::kernels::gemm::MatRef;

/// Stores a `rows × cols` matrix (given row-major) row-major, or
/// column-major when `trans`.
pub fn layout(m: &[f32], rows: usize, cols: usize, trans: bool) -> Vec<f32> {
    if !trans {
        return m.to_vec();
    }
    let mut t = vec![0.0; m.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = m[i * cols + j];
        }
    }
    t
}

/// The `rows × cols` matrix that [`layout`] stored, as a view (a
/// transposed one when `trans`).
pub fn view(data: &[f32], rows: usize, cols: usize, trans: bool) -> MatRef<'_> {
    if trans {
        MatRef::new(data, cols, rows).unwrap().t()
    } else {
        MatRef::new(data, rows, cols).unwrap()
    }
}
