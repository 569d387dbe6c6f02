//! Small dense linear algebra for kriging and least squares: Cholesky for SPD systems and LU
//! with partial pivoting for the (indefinite) kriging systems with Lagrange multipliers.

use crate::error::{Result, RmeError};

/// Row-major square matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// Side of the square matrix.
    pub n: usize,
    /// Row-major entries.
    pub data: Vec<f64>,
}

impl Matrix {
    /// The `n × n` zero matrix.
    pub fn zeros(n: usize) -> Self {
        Self { n, data: vec![0.0; n * n] }
    }
    /// Entry `(i, j)`.
    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.n + j]
    }
    /// Sets entry `(i, j)`.
    pub fn set(&mut self, i: usize, j: usize, v: f64) {
        self.data[i * self.n + j] = v;
    }
}

/// LU factorisation with partial pivoting (`PA = LU`).
pub struct Lu {
    lu: Matrix,
    perm: Vec<usize>,
}

impl Lu {
    /// Factorises `a`; an error when it is singular or not positive definite.
    pub fn new(mut a: Matrix) -> Result<Self> {
        let n = a.n;
        let mut perm: Vec<usize> = (0..n).collect();
        let scale = a.data.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
        for k in 0..n {
            let mut p = k;
            let mut best = a.at(k, k).abs();
            for i in k + 1..n {
                let v = a.at(i, k).abs();
                if v > best {
                    best = v;
                    p = i;
                }
            }
            if best <= 1e-13 * scale {
                return Err(RmeError::numerical("LU factorisation", format!("matrix of size {n} is singular (pivot {k})")));
            }
            if p != k {
                for j in 0..n {
                    a.data.swap(k * n + j, p * n + j);
                }
                perm.swap(k, p);
            }
            let pivot = a.at(k, k);
            for i in k + 1..n {
                let f = a.at(i, k) / pivot;
                a.set(i, k, f);
                if f != 0.0 {
                    for j in k + 1..n {
                        let v = a.at(i, j) - f * a.at(k, j);
                        a.set(i, j, v);
                    }
                }
            }
        }
        Ok(Self { lu: a, perm })
    }

    /// Solves `A·x = b` with the factors.
    pub fn solve(&self, b: &[f64]) -> Vec<f64> {
        let n = self.lu.n;
        let mut x: Vec<f64> = self.perm.iter().map(|&p| b[p]).collect();
        for i in 0..n {
            let mut s = x[i];
            for j in 0..i {
                s -= self.lu.at(i, j) * x[j];
            }
            x[i] = s;
        }
        for i in (0..n).rev() {
            let mut s = x[i];
            for j in i + 1..n {
                s -= self.lu.at(i, j) * x[j];
            }
            x[i] = s / self.lu.at(i, i);
        }
        x
    }
}

/// Cholesky factor `A = L Lᵀ` of a symmetric positive-definite matrix.
pub struct Cholesky {
    l: Matrix,
}

impl Cholesky {
    /// Factorises `a`; an error when it is singular.
    pub fn new(a: &Matrix) -> Result<Self> {
        let n = a.n;
        let mut l = Matrix::zeros(n);
        for j in 0..n {
            let mut d = a.at(j, j);
            for k in 0..j {
                d -= l.at(j, k) * l.at(j, k);
            }
            if d <= 0.0 || !d.is_finite() {
                return Err(RmeError::numerical("Cholesky factorisation", format!("not positive definite at row {j}")));
            }
            let d = d.sqrt();
            l.set(j, j, d);
            for i in j + 1..n {
                let mut s = a.at(i, j);
                for k in 0..j {
                    s -= l.at(i, k) * l.at(j, k);
                }
                l.set(i, j, s / d);
            }
        }
        Ok(Self { l })
    }

    /// Solves `L z = b` (forward substitution).
    pub fn forward(&self, b: &[f64]) -> Vec<f64> {
        let n = self.l.n;
        let mut z = b.to_vec();
        for i in 0..n {
            let mut s = z[i];
            for k in 0..i {
                s -= self.l.at(i, k) * z[k];
            }
            z[i] = s / self.l.at(i, i);
        }
        z
    }

    /// Solves `A x = b`.
    pub fn solve(&self, b: &[f64]) -> Vec<f64> {
        let n = self.l.n;
        let mut x = self.forward(b);
        for i in (0..n).rev() {
            let mut s = x[i];
            for k in i + 1..n {
                s -= self.l.at(k, i) * x[k];
            }
            x[i] = s / self.l.at(i, i);
        }
        x
    }
}

/// Ordinary least squares `min |X β − y|²` through the normal equations (few columns only).
pub fn least_squares(columns: &[&[f64]], y: &[f64]) -> Result<Vec<f64>> {
    let p = columns.len();
    let mut xtx = Matrix::zeros(p);
    let mut xty = vec![0.0; p];
    for i in 0..p {
        for j in 0..p {
            xtx.set(i, j, columns[i].iter().zip(columns[j]).map(|(a, b)| a * b).sum());
        }
        xty[i] = columns[i].iter().zip(y).map(|(a, b)| a * b).sum();
    }
    Ok(Lu::new(xtx)?.solve(&xty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lu_solves_a_permuted_system() {
        let mut a = Matrix::zeros(3);
        a.data = vec![0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 1.0];
        let x = Lu::new(a).unwrap().solve(&[5.0, 3.0, 6.0]);
        // Hand-solved: x = (1.4, 1.6, 1.8)... check by substitution.
        let r = [2.0 * x[1] + x[2], x[0] + x[1], 3.0 * x[0] + x[2]];
        for (ri, bi) in r.iter().zip([5.0, 3.0, 6.0]) {
            assert!((ri - bi).abs() < 1e-12);
        }
    }

    #[test]
    fn cholesky_matches_lu() {
        let mut a = Matrix::zeros(3);
        a.data = vec![4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let b = [1.0, 2.0, 3.0];
        let x1 = Cholesky::new(&a).unwrap().solve(&b);
        let x2 = Lu::new(a).unwrap().solve(&b);
        for (p, q) in x1.iter().zip(&x2) {
            assert!((p - q).abs() < 1e-12);
        }
    }

    #[test]
    fn singular_is_an_error() {
        let mut a = Matrix::zeros(2);
        a.data = vec![1.0, 2.0, 2.0, 4.0];
        assert!(Lu::new(a.clone()).is_err());
        assert!(Cholesky::new(&a).is_err());
    }
}
