//! Times the convolution kernels one MAML meta-iteration of conv4 spends its time in, on burn's
//! flex backend, for the query set of one task (75 images): a benchmark that locates slow paths
//! in burn, not a test. `cargo run --release --example conv_ops`
//!
//! For each conv4 layer: the forward convolution, the input gradient (a transposed convolution),
//! the weight gradient (burn's `conv2d_weight_backward`: a convolution with the batch and channel
//! roles swapped), and, as the ceiling, one matmul of the convolution's GEMM shape
//! ([c_out, c_in 9] x [c_in 9, n h' w']). GFLOP/s counts the useful multiply-adds, 2 per MAC.

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::{conv_transpose2d, conv2d, conv2d_weight_backward};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

fn time(reps: usize, mut f: impl FnMut() -> Tensor<4>) -> f64 {
    let _ = f().into_data(); // warm-up
    let start = Instant::now();
    for _ in 0..reps {
        let _ = f().into_data();
    }
    start.elapsed().as_secs_f64() / reps as f64
}

fn main() {
    let device = Device::flex();
    let n = 75;
    println!("{:<32} {:>14} {:>14} {:>14} {:>14}", "layer, 75 images (ms, GFLOP/s)", "forward", "dx", "dW", "same-size GEMM");
    for (c_in, side) in [(1usize, 28usize), (64, 14), (64, 7), (64, 4)] {
        let (c_out, stride) = (64, 2);
        let out = (side + 2 - 3) / stride + 1;
        let x = Tensor::<4>::random([n, c_in, side, side], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<4>::random([c_out, c_in, 3, 3], Distribution::Normal(0.0, 0.1), &device);
        let dy = Tensor::<4>::random([n, c_out, out, out], Distribution::Normal(0.0, 1.0), &device);
        let options = ConvOptions::new([stride; 2], [1, 1], [1, 1], 1);
        let pad = side - ((out - 1) * stride + 3 - 2);
        let t_options = ConvTransposeOptions::new([stride; 2], [1, 1], [pad, pad], [1, 1], 1);
        let reps = 20;
        let fwd = time(reps, || conv2d(x.clone(), w.clone(), None, options.clone()));
        let dx = time(reps, || conv_transpose2d(dy.clone(), w.clone(), None, t_options.clone()));
        let dw = time(reps, || conv2d_weight_backward(x.clone(), w.clone(), dy.clone(), options.clone()));
        let a = Tensor::<2>::random([c_out, c_in * 9], Distribution::Normal(0.0, 1.0), &device);
        let b = Tensor::<2>::random([c_in * 9, n * out * out], Distribution::Normal(0.0, 1.0), &device);
        let gemm = time(reps, || a.clone().matmul(b.clone()).reshape([1, 1, c_out, n * out * out]));
        let flops = 2.0 * (n * c_out * out * out * c_in * 9) as f64;
        let f = |s: f64| format!("{:6.2} {:5.1}", s * 1e3, flops / s / 1e9);
        println!("{:<32} {:>14} {:>14} {:>14} {:>14}", format!("{c_in}->{c_out}, {side}x{side} -> {out}x{out}"), f(fwd), f(dx), f(dw), f(gemm));
    }
}
