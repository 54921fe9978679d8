//! Row-major f32 matrix products on the `gemm` crate, one thread each: the kernels run many of
//! them at once, one per group of images.

use std::mem::MaybeUninit;

/// A read-only row-major matrix view, possibly transposed (`transposed` reads `data` as the
/// `[cols, rows]` matrix it is stored as, turned over).
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub transposed: bool,
}

impl<'a> MatRef<'a> {
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::stored(data, rows, cols, false)
    }

    /// The transpose of the row-major `[cols, rows]` matrix stored in `data`.
    pub fn transposed(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::stored(data, rows, cols, true)
    }

    fn stored(data: &'a [f32], rows: usize, cols: usize, transposed: bool) -> Self {
        assert!(
            data.len() >= rows * cols,
            "{} < {rows} x {cols}",
            data.len()
        );
        Self {
            data,
            rows,
            cols,
            transposed,
        }
    }

    /// (column stride, row stride) in elements.
    fn strides(&self) -> (isize, isize) {
        if self.transposed {
            (self.rows as isize, 1)
        } else {
            (1, self.cols as isize)
        }
    }
}

/// `out = lhs x rhs` (`accumulate`: `out += lhs x rhs`), `out` row-major `[lhs.rows, rhs.cols]`.
pub fn matmul(out: &mut [f32], lhs: MatRef<'_>, rhs: MatRef<'_>, accumulate: bool) {
    gemm_into(as_uninit(out), lhs, rhs, accumulate);
}

/// `out = lhs x rhs` into a buffer that may start uninitialised: gemm writes every value
/// without reading any.
pub fn matmul_into(out: &mut [MaybeUninit<f32>], lhs: MatRef<'_>, rhs: MatRef<'_>) {
    gemm_into(out, lhs, rhs, false);
}

/// `out` seen as values that may be uninitialised. Only initialised values are ever written
/// through the result, so `out` stays initialised.
pub fn as_uninit(out: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: MaybeUninit<f32> has the layout of f32, and every write through the result is a
    // value (never `MaybeUninit::uninit()`), so `out` holds valid floats afterwards.
    unsafe { &mut *(out as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

/// `out (+)= lhs x rhs`; `accumulate` only on an initialised `out`.
fn gemm_into(out: &mut [MaybeUninit<f32>], lhs: MatRef<'_>, rhs: MatRef<'_>, accumulate: bool) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions differ");
    assert!(out.len() >= m * n, "output {} < {m} x {n}", out.len());
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out[..m * n].fill(MaybeUninit::new(0.0));
        }
        return;
    }
    let (lhs_cs, lhs_rs) = lhs.strides();
    let (rhs_cs, rhs_rs) = rhs.strides();
    // SAFETY: the asserts above bound every index the strides reach: lhs spans m x k entries
    // of its slice, rhs k x n, out m x n, and out does not alias either input (it is a unique
    // borrow). Without `accumulate` gemm only writes `out`, so it may be uninitialised.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr().cast::<f32>(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.data.as_ptr(),
            rhs_cs,
            rhs_rs,
            1.0,
            1.0,
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

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        out
    }

    fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        (0..cols * rows)
            .map(|i| a[(i % rows) * cols + i / rows])
            .collect()
    }

    #[test]
    fn products_with_and_without_transposes_and_accumulation() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 5) as f32 - 2.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.5).collect();
        let want = naive(&a, &b, m, k, n);
        let mut out = vec![f32::NAN; m * n];
        matmul(
            &mut out,
            MatRef::new(&a, m, k),
            MatRef::new(&b, k, n),
            false,
        );
        assert_eq!(out, want);
        let (at, bt) = (transpose(&a, m, k), transpose(&b, k, n));
        let mut out_t = vec![1.0; m * n];
        matmul(
            &mut out_t,
            MatRef::transposed(&at, m, k),
            MatRef::transposed(&bt, k, n),
            true,
        );
        let doubled: Vec<f32> = want.iter().map(|v| v + 1.0).collect();
        assert_eq!(out_t, doubled);
    }
}
