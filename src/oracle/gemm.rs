//! The one safe wrapper over the `gemm` crate that the oracle's hot loop uses.

use super::real::Real;

/// `dst[m x n] = lhs[m x k] * rhs[k x n]` (or `+=` with `accumulate`), all row-major and
/// contiguous, on the calling thread (the oracle parallelises over image chunks, never
/// inside a product).
pub fn matmul<T: Real>(
    dst: &mut [T],
    lhs: &[T],
    rhs: &[T],
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) {
    assert!(
        dst.len() == m * n && lhs.len() == m * k && rhs.len() == k * n,
        "matmul: slice lengths do not match {m}x{k} * {k}x{n}"
    );
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the assertion above guarantees that every pointer covers the row-major extent
    // the strides describe (row stride = columns, column stride = 1), and `dst` is borrowed
    // mutably while the inputs are shared borrows of other slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            1,
            n as isize,
            T::ONE, // alpha: dst := alpha * dst + beta * lhs * rhs (dst read only when accumulating)
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_product() {
        let (m, k, n) = (5, 3, 4);
        let lhs: Vec<f64> = (0..m * k).map(|i| i as f64 * 0.5 - 2.0).collect();
        let rhs: Vec<f64> = (0..k * n).map(|i| (i as f64).sin()).collect();
        let mut dst: Vec<f64> = (0..m * n).map(|i| i as f64).collect();
        let mut want = dst.clone();
        for i in 0..m {
            for j in 0..n {
                for l in 0..k {
                    want[i * n + j] += lhs[i * k + l] * rhs[l * n + j];
                }
            }
        }
        matmul(&mut dst, &lhs, &rhs, (m, k, n), true);
        let mut fresh = vec![7.0; m * n];
        matmul(&mut fresh, &lhs, &rhs, (m, k, n), false);
        for (i, (a, b)) in fresh.iter().zip(&want).enumerate() {
            assert!((a - (b - i as f64)).abs() < 1e-12);
        }
        for (a, b) in dst.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12);
        }
    }
}
