//! The exact meta-gradient equals central finite differences (f64); first-order equals ∇L_query(θ').

use burn::prelude::*;
use burn::tensor::FloatDType;
use maml_lab::config::Arch;
use maml_lab::gradcheck::{GradcheckReport, gradcheck};

fn check(arch: Arch, inner_steps: usize) -> GradcheckReport {
    let mut device = Device::flex();
    let _ = device.configure(FloatDType::F64); // every test of this binary runs in f64
    let r = gradcheck(arch, 3, inner_steps, 10, 1, &device);
    assert!(r.coords >= 8, "{arch}: too few coordinates compared ({} compared, {} at kinks)", r.coords, r.kinks_skipped);
    assert!(r.max_rel_err <= 1e-5, "{arch}, {inner_steps} steps: exact meta-gradient vs finite differences: {:e}", r.max_rel_err);
    assert!(r.first_order_max_rel_err <= 1e-9, "{arch}, {inner_steps} steps: first-order vs ∇L_query(θ'): {:e}", r.first_order_max_rel_err);
    // the check above only means something if a first-order gradient would fail it
    assert!(r.second_order_effect > 1e-2, "{arch}: second-order terms too small to test ({:e})", r.second_order_effect);
    r
}

#[test]
fn mlp_one_step() {
    check(Arch::Mlp, 1);
}

#[test]
fn mlp_three_steps() {
    check(Arch::Mlp, 3);
}

#[test]
fn conv4_one_step() {
    check(Arch::Conv4, 1);
}

#[test]
fn conv4_three_steps() {
    check(Arch::Conv4, 3);
}

#[test]
fn seed_cnn_one_step() {
    check(Arch::SeedCnn, 1);
}

#[test]
fn seed_cnn_three_steps() {
    check(Arch::SeedCnn, 3);
}
