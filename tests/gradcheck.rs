//! Every meta-learner's meta-gradient equals central finite differences (f64); first-order equals ∇L_query(θ').
//!
//! MAML, ANIL and Meta-SGD (θ and its learned rates) on the MLP, conv4 and seed-cnn with 1 and 3
//! inner steps; Reptile's direction against the same inner steps taken task by task.

use burn::prelude::*;
use burn::tensor::FloatDType;
use maml_lab::config::{Algorithm, Arch};
use maml_lab::gradcheck::{GradcheckReport, gradcheck};

fn check(algorithm: Algorithm, arch: Arch, inner_steps: usize) -> GradcheckReport {
    let mut device = Device::flex();
    let _ = device.configure(FloatDType::F64); // every test of this binary runs in f64
    let r = gradcheck(algorithm, arch, 3, inner_steps, 10, 1, &device);
    let what = format!("{algorithm}, {arch}, {inner_steps} steps");
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
