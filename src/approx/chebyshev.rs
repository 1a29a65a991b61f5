//! Chebyshev series on an interval [a, b]: evaluation (Clenshaw), conversion to the power
//! basis, and least-squares fitting by Householder QR of the Chebyshev design matrix (stable
//! at degree 17, unlike Vandermonde normal equations).

/// Maps x in [a, b] to t in [-1, 1].
pub fn to_unit(x: f64, [a, b]: [f64; 2]) -> f64 {
    (2.0 * x - (a + b)) / (b - a)
}

/// Evaluates sum_k c_k T_k(t) by Clenshaw's recurrence.
pub fn clenshaw(c: &[f64], t: f64) -> f64 {
    let (mut b1, mut b2) = (0.0, 0.0);
    for &ck in c.iter().skip(1).rev() {
        let b0 = 2.0 * t * b1 - b2 + ck;
        b2 = b1;
        b1 = b0;
    }
    t * b1 - b2 + c.first().copied().unwrap_or(0.0)
}

/// Clenshaw in f32 (what the f32 oracle runs).
pub fn clenshaw_f32(c: &[f32], t: f32) -> f32 {
    let (mut b1, mut b2) = (0.0f32, 0.0f32);
    for &ck in c.iter().skip(1).rev() {
        let b0 = 2.0 * t * b1 - b2 + ck;
        b2 = b1;
        b1 = b0;
    }
    t * b1 - b2 + c.first().copied().unwrap_or(0.0)
}

/// Power-basis coefficients p (p_k multiplies x^k) of the Chebyshev series `c` on [a, b].
pub fn to_power_basis(c: &[f64], interval: [f64; 2]) -> Vec<f64> {
    let n = c.len();
    // Power coefficients in t, accumulated along T_0 = 1, T_1 = t, T_{k+1} = 2t T_k - T_{k-1}.
    let mut in_t = vec![0.0; n];
    let mut prev = vec![0.0; n];
    let mut cur = vec![0.0; n];
    if n > 0 {
        cur[0] = 1.0;
    }
    for (k, &ck) in c.iter().enumerate() {
        if k > 0 {
            let mut next: Vec<f64> = prev.iter().map(|p| -p).collect();
            if k == 1 {
                next.iter_mut().for_each(|v| *v = 0.0);
                next[1] = 1.0;
            } else {
                for (dst, src) in next[1..].iter_mut().zip(&cur) {
                    *dst += 2.0 * src;
                }
            }
            prev = std::mem::replace(&mut cur, next);
        }
        for (acc, tk) in in_t.iter_mut().zip(&cur) {
            *acc += ck * tk;
        }
    }
    // Substitute t = alpha x + beta and expand binomially.
    let [a, b] = interval;
    let (alpha, beta) = (2.0 / (b - a), -(a + b) / (b - a));
    let mut out = vec![0.0; n];
    for (k, &pk) in in_t.iter().enumerate() {
        // (alpha x + beta)^k = sum_j C(k, j) alpha^j x^j beta^(k-j)
        let mut binom = 1.0;
        for (j, o) in out.iter_mut().enumerate().take(k + 1) {
            *o += pk * binom * alpha.powi(j as i32) * beta.powi((k - j) as i32);
            binom = binom * (k - j) as f64 / (j + 1) as f64;
        }
    }
    out
}

/// Weighted least-squares Chebyshev coefficients of degree `degree` through the points
/// (t_i, y_i), t in [-1, 1], minimising sum w_i (p(t_i) - y_i)^2, by Householder QR.
pub fn least_squares(t: &[f64], y: &[f64], w: &[f64], degree: usize) -> Vec<f64> {
    let (m, n) = (t.len(), degree + 1);
    // Column-major design matrix A[i, k] = sqrt(w_i) T_k(t_i), right-hand side sqrt(w_i) y_i.
    let mut a = vec![0.0; m * n];
    let mut rhs: Vec<f64> = y.iter().zip(w).map(|(y, w)| y * w.sqrt()).collect();
    for i in 0..m {
        let s = w[i].sqrt();
        let (mut tkm1, mut tk) = (1.0, t[i]);
        a[i] = s;
        if n > 1 {
            a[m + i] = s * t[i];
        }
        for k in 2..n {
            let next = 2.0 * t[i] * tk - tkm1;
            tkm1 = tk;
            tk = next;
            a[k * m + i] = s * tk;
        }
    }
    for k in 0..n {
        let col = &mut a[k * m..(k + 1) * m];
        let norm = col[k..].iter().map(|v| v * v).sum::<f64>().sqrt();
        let alpha = if col[k] > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = col[k..].to_vec();
        v[0] -= alpha;
        let vnorm2: f64 = v.iter().map(|x| x * x).sum();
        if vnorm2 == 0.0 {
            continue;
        }
        let reflect = |x: &mut [f64]| {
            let dot: f64 = v.iter().zip(x.iter()).map(|(a, b)| a * b).sum();
            let f = 2.0 * dot / vnorm2;
            for (xi, vi) in x.iter_mut().zip(&v) {
                *xi -= f * vi;
            }
        };
        for j in k..n {
            reflect(&mut a[j * m + k..(j + 1) * m]);
        }
        reflect(&mut rhs[k..]);
    }
    // Back substitution R c = Q^T rhs.
    let mut c = vec![0.0; n];
    for k in (0..n).rev() {
        let mut s = rhs[k];
        for j in k + 1..n {
            s -= a[j * m + k] * c[j];
        }
        c[k] = s / a[k * m + k];
    }
    c
}

/// Chebyshev interpolation coefficients of `f` (on [-1, 1]) at the degree + 1 Chebyshev
/// nodes of the first kind.
pub fn interpolate(f: impl Fn(f64) -> f64, degree: usize) -> Vec<f64> {
    let n = degree + 1;
    let nodes: Vec<f64> = (0..n)
        .map(|j| (std::f64::consts::PI * (j as f64 + 0.5) / n as f64).cos())
        .collect();
    let values: Vec<f64> = nodes.iter().map(|&t| f(t)).collect();
    (0..n)
        .map(|k| {
            let s: f64 = (0..n)
                .map(|j| {
                    values[j]
                        * (std::f64::consts::PI * k as f64 * (j as f64 + 0.5) / n as f64).cos()
                })
                .sum();
            s * if k == 0 { 1.0 } else { 2.0 } / n as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_basis_matches_clenshaw() {
        let c = [0.3, -1.2, 0.5, 0.25, -0.1];
        let interval = [-3.0, 5.0];
        let p = to_power_basis(&c, interval);
        for &x in &[-3.0, -1.0, 0.0, 2.5, 5.0] {
            let horner = p.iter().rev().fold(0.0, |acc, &pk| acc * x + pk);
            assert!((horner - clenshaw(&c, to_unit(x, interval))).abs() < 1e-12);
        }
    }

    #[test]
    fn least_squares_recovers_a_polynomial() {
        let t: Vec<f64> = (0..200).map(|i| -1.0 + 2.0 * i as f64 / 199.0).collect();
        let c = [0.5, -0.25, 2.0, 0.125];
        let y: Vec<f64> = t.iter().map(|&t| clenshaw(&c, t)).collect();
        let fit = least_squares(&t, &y, &vec![1.0; t.len()], 3);
        for (a, b) in fit.iter().zip(c) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn interpolation_is_exact_at_low_degree() {
        let c = interpolate(|t| 1.0 + t * t, 4);
        // 1 + t^2 = 1.5 T0 + 0.5 T2.
        assert!((c[0] - 1.5).abs() < 1e-12 && (c[2] - 0.5).abs() < 1e-12);
        assert!(c[1].abs() < 1e-12 && c[3].abs() < 1e-12 && c[4].abs() < 1e-12);
    }
}
