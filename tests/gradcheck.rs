//! Every meta-learner's meta-gradient equals central finite differences (f64); first-order equals ∇L_query(θ').
//!
//! MAML, ANIL and Meta-SGD (θ and its learned rates) on the MLP, conv4 and seed-cnn with 1 and 3
//! inner steps, and with MAML++'s multi-step loss, learned per-step rates and per-step
//! batch-norm, and at a head held at zero (the zeroing trick); Reptile's direction against the
//! same inner steps taken task by task.

use burn::prelude::*;
use burn::tensor::FloatDType;
use maml_lab::config::{Algorithm, Arch};
use maml_lab::gradcheck::{GradcheckReport, PlusPlus, gradcheck};

fn check(algorithm: Algorithm, arch: Arch, inner_steps: usize) -> GradcheckReport {
    check_with(algorithm, arch, inner_steps, PlusPlus::default())
}

fn check_with(algorithm: Algorithm, arch: Arch, inner_steps: usize, plus: PlusPlus) -> GradcheckReport {
    let mut device = Device::flex();
    let _ = device.configure(FloatDType::F64); // every test of this binary runs in f64
    let r = gradcheck(algorithm, arch, 3, inner_steps, plus, 10, 1, &device);
    let what = format!("{algorithm}, {arch}, {inner_steps} steps, {plus:?}");
    assert!(r.coords >= 8, "{what}: too few coordinates compared ({} compared, {} at kinks)", r.coords, r.kinks_skipped);
    assert!(r.max_rel_err <= 1e-5, "{what}: exact meta-gradient vs finite differences: {:e}", r.max_rel_err);
    if algorithm != Algorithm::Reptile {
        assert!(r.first_order_max_rel_err <= 1e-9, "{what}: first-order vs ∇L_query(θ'): {:e}", r.first_order_max_rel_err);
        // the check above only means something if a first-order gradient would fail it
        assert!(r.second_order_effect > 1e-2, "{what}: second-order terms too small to test ({:e})", r.second_order_effect);
    }
    r
}

fn all_models(algorithm: Algorithm) {
    for arch in [Arch::Mlp, Arch::Conv4, Arch::SeedCnn] {
        for steps in [1, 3] {
            check(algorithm, arch, steps);
        }
    }
}

#[test]
fn maml() {
    all_models(Algorithm::Maml);
}

#[test]
fn anil() {
    all_models(Algorithm::Anil);
}

#[test]
fn meta_sgd_in_theta_and_in_its_rates() {
    all_models(Algorithm::MetaSgd);
}

#[test]
fn reptile_direction() {
    all_models(Algorithm::Reptile);
}

/// MAML++'s multi-step loss: Σ_j w_j L_query(θ_j) differentiated through every step, exact and
/// first-order, for the learners it applies to; and the earlier steps' terms large enough that
/// leaving them out would fail the check.
#[test]
fn multi_step_loss() {
    for algorithm in [Algorithm::Maml, Algorithm::Anil, Algorithm::MetaSgd] {
        for arch in [Arch::Mlp, Arch::Conv4] {
            let r = check_with(algorithm, arch, 3, PlusPlus { multi_step_loss: true, ..PlusPlus::default() });
            assert_eq!(r.step_loss_weights.as_deref(), Some(&[1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0][..]));
            assert!(r.multi_step_effect > 1e-2, "{algorithm}, {arch}: the earlier steps' losses too small to test ({:e})", r.multi_step_effect);
        }
    }
}

/// MAML++'s learned per-layer per-step inner rates: the meta-gradient with respect to θ and to
/// every step's rates (each a different value) equals finite differences, alone and with the
/// multi-step loss, over one and three steps.
#[test]
fn per_step_rates() {
    for arch in [Arch::Mlp, Arch::Conv4] {
        for (steps, multi_step_loss) in [(1, false), (3, false), (3, true)] {
            let r = check_with(Algorithm::Maml, arch, steps, PlusPlus { multi_step_loss, per_step_rates: true, ..PlusPlus::default() });
            assert!(r.per_step_rates);
        }
    }
}

/// MAML++'s per-step batch-norm weights and biases: not adapted, each step's own (each a
/// different value) under the step's support forward and the query after it; the meta-gradient
/// with respect to θ and every step's batch-norm equals finite differences, alone and with
/// everything else of MAML++.
#[test]
fn per_step_batch_norm() {
    for arch in [Arch::Conv4, Arch::SeedCnn] {
        for steps in [1, 3] {
            let r = check_with(Algorithm::Maml, arch, steps, PlusPlus { per_step_bn: true, ..PlusPlus::default() });
            assert!(r.per_step_bn);
        }
        check_with(Algorithm::Maml, arch, 3, PlusPlus { multi_step_loss: true, per_step_rates: true, per_step_bn: true, zero_head: false });
    }
}

/// The zeroing trick's start, a conv net's head at zero: the first inner step leaves the body as
/// it is (no gradient reaches it through a zero head), so the meta-gradient reaches the body
/// only through the adapted head, a second-order path the check must see. Every algorithm, and
/// with all of MAML++'s pieces.
#[test]
fn at_a_zero_head() {
    for &algorithm in Algorithm::ALL {
        for (arch, steps) in [(Arch::Conv4, 1), (Arch::Conv4, 3), (Arch::SeedCnn, 3)] {
            let r = check_with(algorithm, arch, steps, PlusPlus { zero_head: true, ..PlusPlus::default() });
            assert!(r.zero_head);
        }
    }
    check_with(Algorithm::Maml, Arch::Conv4, 3, PlusPlus { multi_step_loss: true, per_step_rates: true, per_step_bn: true, zero_head: true });
}
