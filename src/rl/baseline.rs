//! rllab's linear feature baseline, fit per task on the trajectories it scores: returns regressed on position, position² and time.
//!
//! Upstream: `cbfinn/maml_rl`, `rllab/baselines/linear_feature_baseline.py`: features
//! [o, o², t/100, (t/100)², (t/100)³, 1] with o the observation clipped to [-10, 10], fit by
//! regularised least squares (Xᵀ X + 1e-5 I) c = Xᵀ R, the regulariser ×10 (up to 5 tries)
//! while the solution is not finite.

pub const FEATURES: usize = 8;

/// The features of the observation `o` at step `t` of its trajectory.
pub fn features(o: [f64; 2], t: usize) -> [f64; FEATURES] {
    let o = o.map(|v| v.clamp(-10.0, 10.0));
    let al = t as f64 / 100.0;
    [o[0], o[1], o[0] * o[0], o[1] * o[1], al, al * al, al * al * al, 1.0]
}

/// The discounted return from each step on: R_t = Σ_{t' ≥ t} γ^{t'−t} r_t' (rllab's
/// `discount_cumsum`).
pub fn returns(rewards: &[f64], discount: f64) -> Vec<f64> {
    let mut out = vec![0.0; rewards.len()];
    let mut acc = 0.0;
    for t in (0..rewards.len()).rev() {
        acc = rewards[t] + discount * acc;
        out[t] = acc;
    }
    out
}

/// The fitted coefficients for rows `x` of features and their `targets`.
pub fn fit<const F: usize>(x: &[[f64; F]], targets: &[f64]) -> [f64; F] {
    let (xtx, xty) = normal_equations(x, targets);
    fit_normal(xtx, xty)
}

/// XᵀX and XᵀR of rows `x` and their `targets`.
pub fn normal_equations<const F: usize>(x: &[[f64; F]], targets: &[f64]) -> ([[f64; F]; F], [f64; F]) {
    let mut xtx = [[0.0; F]; F];
    let mut xty = [0.0; F];
    for (row, &y) in x.iter().zip(targets) {
        for i in 0..F {
            xty[i] += row[i] * y;
            for j in 0..F {
                xtx[i][j] += row[i] * row[j];
            }
        }
    }
    (xtx, xty)
}

/// The fit's coefficients from its normal equations, regularised as rllab's.
pub fn fit_normal<const F: usize>(xtx: [[f64; F]; F], xty: [f64; F]) -> [f64; F] {
    let mut reg = 1e-5;
    for _ in 0..5 {
        let mut a = xtx;
        for (i, row) in a.iter_mut().enumerate() {
            row[i] += reg;
        }
        if let Some(c) = solve(a, xty).filter(|c| c.iter().all(|v| v.is_finite())) {
            return c;
        }
        reg *= 10.0;
    }
    [0.0; F] // rllab keeps its last (non-finite) fit; a zero baseline is the safe reading
}

pub fn predict<const F: usize>(c: &[f64; F], f: &[f64; F]) -> f64 {
    c.iter().zip(f).map(|(a, b)| a * b).sum()
}

/// Gaussian elimination with partial pivoting (numpy's `lstsq` of a square, regularised system
/// is its solution); `None` for a singular matrix.
fn solve<const F: usize>(mut a: [[f64; F]; F], mut b: [f64; F]) -> Option<[f64; F]> {
    for col in 0..F {
        let pivot = (col..F).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col] == 0.0 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..F {
            let (f, pivot_row) = (a[row][col] / a[col][col], a[col]);
            for (x, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; F];
    for row in (0..F).rev() {
        let s: f64 = (row + 1..F).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_discount_the_rewards_that_follow() {
        let r = returns(&[1.0, 2.0, 3.0], 0.5);
        assert_eq!(r, vec![1.0 + 0.5 * 2.0 + 0.25 * 3.0, 2.0 + 0.5 * 3.0, 3.0]);
    }

    #[test]
    fn the_fit_recovers_a_linear_function_of_the_features() {
        let truth = [0.5, -1.0, 2.0, 0.25, -3.0, 1.5, 0.75, -0.2];
        let x: Vec<[f64; FEATURES]> = (0..100).map(|t| features([(t as f64 * 0.37).sin(), (t as f64 * 0.11).cos() * 2.0], t)).collect();
        let y: Vec<f64> = x.iter().map(|f| predict(&truth, f)).collect();
        let c = fit(&x, &y);
        // the ridge of 1e-5 leaves the fit, not the coefficients of the nearly collinear
        // powers of time, exact
        for (f, want) in x.iter().zip(&y) {
            assert!((predict(&c, f) - want).abs() < 1e-3, "{c:?}");
        }
        for (a, b) in c[..4].iter().zip(truth) {
            assert!((a - b).abs() < 1e-2, "{c:?}");
        }
    }

    #[test]
    fn a_singular_system_is_regularised() {
        // every row the same: XᵀX has rank 1, the ridge makes it solvable
        let x = vec![features([0.0, 0.0], 0); 5];
        let c = fit(&x, &[2.0; 5]);
        assert!(c.iter().all(|v| v.is_finite()));
        assert!((predict(&c, &x[0]) - 2.0).abs() < 1e-3, "{c:?}");
    }
}
