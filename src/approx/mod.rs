//! Polynomial approximations of activation functions: least-squares fits on a uniform grid
//! (the paper's), Chebyshev interpolation, and least squares weighted by a measured
//! pre-activation histogram (range-aware, as Lee et al. do). Every fit is computed in the
//! Chebyshev basis and also given in the power basis.

use serde::{Deserialize, Serialize};

pub mod chebyshev;

use chebyshev::{clenshaw, clenshaw_f32, interpolate, least_squares, to_power_basis, to_unit};

/// Points of the uniform grid that least-squares fits and error figures use. With this many
/// points the fit equals the continuous L2 fit to the digits that matter (the paper's errors
/// on [-8, 8] are reproduced to 3 significant digits).
pub const GRID_POINTS: usize = 100_001;

/// Errors raised while fitting.
#[derive(Debug, thiserror::Error)]
pub enum ApproxError {
    #[error("unknown function '{0}' (known: tanh, sigmoid)")]
    UnknownFunction(String),
    #[error(
        "unknown fit method '{0}' (known: least-squares, chebyshev; weighted in problem presets)"
    )]
    UnknownMethod(String),
    /// `weighted` named where no measured histogram exists (`cellwise approx`).
    #[error(
        "fit method 'weighted' needs a problem's measured histogram of pre-activations and is not available in `cellwise approx` (set method = \"weighted\" in a problem preset)"
    )]
    WeightedNeedsHistogram,
    #[error("bad interval [{0}, {1}]: it must be finite with lo < hi")]
    BadInterval(f64, f64),
    #[error("bad degree {0}: it must be between 1 and {MAX_DEGREE}")]
    BadDegree(usize),
    #[error("weighted fit needs a histogram of pre-activations with positive total weight")]
    EmptyHistogram,
}

/// Largest degree accepted (far beyond anything CKKS-practical).
pub const MAX_DEGREE: usize = 255;

/// The function being approximated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Tanh,
    Sigmoid,
}

impl Activation {
    /// Parses "tanh" or "sigmoid".
    pub fn parse(name: &str) -> Result<Self, ApproxError> {
        match name {
            "tanh" => Ok(Self::Tanh),
            "sigmoid" => Ok(Self::Sigmoid),
            other => Err(ApproxError::UnknownFunction(other.to_string())),
        }
    }

    /// The function's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tanh => "tanh",
            Self::Sigmoid => "sigmoid",
        }
    }

    /// Evaluates the exact function.
    pub fn eval(self, x: f64) -> f64 {
        match self {
            Self::Tanh => x.tanh(),
            Self::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        }
    }
}

/// How the coefficients are chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FitMethod {
    /// Least squares on a uniform grid of the interval (the paper's fits).
    LeastSquares,
    /// Interpolation at the Chebyshev nodes.
    Chebyshev,
    /// Least squares weighted by a histogram of measured inputs: `edges` has one more entry
    /// than `counts`; grid points outside every bin get a small floor weight so that the
    /// polynomial stays tame there.
    Weighted { edges: Vec<f64>, counts: Vec<f64> },
}

impl FitMethod {
    /// Parses a method name; "weighted" needs a histogram, so use [`FitMethod::Weighted`].
    pub fn parse(name: &str) -> Result<Self, ApproxError> {
        match name {
            "least-squares" => Ok(Self::LeastSquares),
            "chebyshev" => Ok(Self::Chebyshev),
            "weighted" => Err(ApproxError::WeightedNeedsHistogram),
            other => Err(ApproxError::UnknownMethod(other.to_string())),
        }
    }

    /// Short name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::LeastSquares => "least-squares",
            Self::Chebyshev => "chebyshev",
            Self::Weighted { .. } => "weighted",
        }
    }
}

/// A fitted polynomial with its errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approximation {
    pub function: Activation,
    pub degree: usize,
    /// Fit interval [lo, hi].
    pub interval: [f64; 2],
    /// Method name.
    pub method: String,
    /// Coefficients of T_k((2x - lo - hi) / (hi - lo)), k = 0..=degree.
    pub chebyshev: Vec<f64>,
    /// Coefficients of x^k, k = 0..=degree.
    pub power: Vec<f64>,
    /// Largest |p(x) - f(x)| on the uniform grid of the interval.
    pub max_error: f64,
    /// Root-mean-square error on the same grid.
    pub rms_error: f64,
}

impl Approximation {
    /// Fits `function` on `interval` with `degree` by `method`.
    pub fn fit(
        function: Activation,
        degree: usize,
        interval: [f64; 2],
        method: &FitMethod,
    ) -> Result<Self, ApproxError> {
        let [lo, hi] = interval;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(ApproxError::BadInterval(lo, hi));
        }
        if degree == 0 || degree > MAX_DEGREE {
            return Err(ApproxError::BadDegree(degree));
        }
        let xs: Vec<f64> = (0..GRID_POINTS)
            .map(|i| lo + (hi - lo) * i as f64 / (GRID_POINTS - 1) as f64)
            .collect();
        let ts: Vec<f64> = xs.iter().map(|&x| to_unit(x, interval)).collect();
        let ys: Vec<f64> = xs.iter().map(|&x| function.eval(x)).collect();
        let chebyshev = match method {
            FitMethod::LeastSquares => least_squares(&ts, &ys, &vec![1.0; xs.len()], degree),
            FitMethod::Chebyshev => interpolate(
                |t| function.eval(0.5 * (hi - lo) * t + 0.5 * (hi + lo)),
                degree,
            ),
            FitMethod::Weighted { edges, counts } => {
                let weights = histogram_weights(&xs, edges, counts)?;
                least_squares(&ts, &ys, &weights, degree)
            }
        };
        let (mut max_error, mut sq) = (0.0f64, 0.0f64);
        for (&t, &y) in ts.iter().zip(&ys) {
            let e = (clenshaw(&chebyshev, t) - y).abs();
            max_error = max_error.max(e);
            sq += e * e;
        }
        Ok(Self {
            function,
            degree,
            interval,
            method: method.name().to_string(),
            power: to_power_basis(&chebyshev, interval),
            chebyshev,
            max_error,
            rms_error: (sq / xs.len() as f64).sqrt(),
        })
    }

    /// Evaluates the polynomial (f64).
    pub fn eval(&self, x: f64) -> f64 {
        clenshaw(&self.chebyshev, to_unit(x, self.interval))
    }

    /// An f32 evaluator: affine map to [-1, 1] then Clenshaw in f32.
    pub fn evaluator_f32(&self) -> PolyF32 {
        let [a, b] = self.interval;
        PolyF32 {
            scale: (2.0 / (b - a)) as f32,
            shift: (-(a + b) / (b - a)) as f32,
            coeffs: self.chebyshev.iter().map(|&c| c as f32).collect(),
        }
    }
}

/// A Chebyshev series prepared for fast f32 evaluation.
#[derive(Clone, Debug)]
pub struct PolyF32 {
    scale: f32,
    shift: f32,
    coeffs: Vec<f32>,
}

impl PolyF32 {
    /// Evaluates at x.
    #[inline]
    pub fn eval(&self, x: f32) -> f32 {
        clenshaw_f32(&self.coeffs, x * self.scale + self.shift)
    }
}

/// Weight of each grid point: the histogram density of its bin, plus a floor of 1e-3 of the
/// mean density so that no part of the interval is ignored entirely.
fn histogram_weights(xs: &[f64], edges: &[f64], counts: &[f64]) -> Result<Vec<f64>, ApproxError> {
    let total: f64 = counts.iter().sum();
    if edges.len() != counts.len() + 1 || counts.is_empty() || total.is_nan() || total <= 0.0 {
        return Err(ApproxError::EmptyHistogram);
    }
    let density: Vec<f64> = counts
        .iter()
        .zip(edges.windows(2))
        .map(|(c, e)| c / total / (e[1] - e[0]).max(f64::MIN_POSITIVE))
        .collect();
    let mean = density.iter().sum::<f64>() / density.len() as f64;
    Ok(xs
        .iter()
        .map(|&x| {
            let bin = edges.partition_point(|&e| e <= x);
            let d = if bin == 0 || bin > counts.len() {
                0.0
            } else {
                density[bin - 1]
            };
            d + 1e-3 * mean
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig3(x: f64) -> String {
        format!("{:.2e}", x)
    }

    /// The paper's least-squares fits of tanh on [-8, 8], to 3 significant digits.
    #[test]
    fn paper_fits_are_reproduced() {
        let expected = [(3, 0.436, 0.224), (7, 0.212, 0.0952), (17, 0.0356, 0.0133)];
        for (degree, max, rms) in expected {
            let a = Approximation::fit(
                Activation::Tanh,
                degree,
                [-8.0, 8.0],
                &FitMethod::LeastSquares,
            )
            .unwrap();
            assert_eq!(sig3(a.max_error), sig3(max), "degree {degree} max");
            assert_eq!(sig3(a.rms_error), sig3(rms), "degree {degree} rms");
            // tanh is odd: even coefficients vanish.
            assert!(a.chebyshev.iter().step_by(2).all(|c| c.abs() < 1e-9));
        }
    }

    #[test]
    fn sigmoid_and_interpolation_are_accurate_on_small_intervals() {
        let a =
            Approximation::fit(Activation::Sigmoid, 9, [-4.0, 4.0], &FitMethod::Chebyshev).unwrap();
        assert!(a.max_error < 1e-3, "{}", a.max_error);
        let p = a.evaluator_f32();
        assert!((p.eval(1.0) - 0.731_058_6).abs() < 1e-3);
        let horner = a.power.iter().rev().fold(0.0, |acc, &c| acc * 2.0 + c);
        assert!((horner - a.eval(2.0)).abs() < 1e-9);
    }

    #[test]
    fn weighted_fit_favours_where_the_inputs_are() {
        let edges = vec![-1.0, 0.0, 1.0];
        let counts = vec![50.0, 50.0];
        let method = FitMethod::Weighted { edges, counts };
        let w = Approximation::fit(Activation::Tanh, 3, [-8.0, 8.0], &method).unwrap();
        let u =
            Approximation::fit(Activation::Tanh, 3, [-8.0, 8.0], &FitMethod::LeastSquares).unwrap();
        let err = |a: &Approximation| {
            (0..=200)
                .map(|i| -1.0 + 0.01 * i as f64)
                .map(|x| (a.eval(x) - x.tanh()).abs())
                .fold(0.0, f64::max)
        };
        assert!(err(&w) < err(&u) / 5.0, "{} vs {}", err(&w), err(&u));
    }

    #[test]
    fn bad_arguments_are_refused() {
        let ls = FitMethod::LeastSquares;
        assert!(matches!(
            Approximation::fit(Activation::Tanh, 3, [8.0, -8.0], &ls),
            Err(ApproxError::BadInterval(..))
        ));
        assert!(matches!(
            Approximation::fit(Activation::Tanh, 0, [-8.0, 8.0], &ls),
            Err(ApproxError::BadDegree(0))
        ));
        assert!(Activation::parse("relu").is_err());
        assert!(FitMethod::parse("spline").is_err());
    }
}
