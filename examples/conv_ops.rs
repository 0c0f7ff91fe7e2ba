//! Times the convolution kernels one MAML meta-iteration of conv4 spends its time in, on burn's
//! flex backend, for the query set of one task (75 images): a benchmark that locates slow paths
//! in burn, not a test. `cargo run --release --example conv_ops [max-pool]`
//!
//! For each conv4 layer (stride 2, or with `max-pool` the stride-1 layers of the max-pool
//! variant): burn's forward convolution, input gradient (a transposed convolution) and weight
//! gradient (`conv2d_weight_backward`: a convolution with the batch and channel roles swapped);
//! this crate's `Conv` layer, whose forward and weight gradient are GEMMs over an im2col; the
//! autodiff backward through each weight gradient (what second-order MAML adds); and, as the
//! ceiling, one matmul of the convolution's GEMM shape ([c_out, c_in 9] x [c_in 9, n h' w']).
//! GFLOP/s counts the useful multiply-adds, 2 per MAC (for the autodiff rows: of the forward).

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::{conv_transpose2d, conv2d, conv2d_weight_backward};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use maml_lab::model::Grads;
use maml_lab::model::conv::Conv;
use maml_lab::model::layout;
use maml_lab::rng::Rng;

/// Seconds of CPU this thread has run (Linux's schedstat), so that the figures hold on a shared,
/// busy machine where wall-clock time counts the other processes' turns too; elsewhere, wall-clock.
fn cpu_seconds(start: Instant) -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or_else(|| start.elapsed().as_secs_f64(), |ns| ns * 1e-9)
}

fn time<const D: usize>(reps: usize, mut f: impl FnMut() -> Tensor<D>) -> f64 {
    let _ = f().into_data(); // warm-up
    let origin = Instant::now();
    let start = cpu_seconds(origin);
    for _ in 0..reps {
        let _ = f().into_data();
    }
    (cpu_seconds(origin) - start) / reps as f64
}

fn main() {
    let max_pool = std::env::args().any(|a| a == "max-pool");
    let stride = if max_pool { 1 } else { 2 };
    let sides: &[(usize, usize)] = if max_pool { &[(1, 28), (64, 14), (64, 7), (64, 3)] } else { &[(1, 28), (64, 14), (64, 7), (64, 4)] };
    let plain = Device::flex();
    let tracked = plain.clone().autodiff();
    let n = 75;
    let columns = ["burn fwd", "burn dx", "burn dW", "ours fwd", "ours dW", "burn dW 2nd", "ours dW 2nd", "same-size GEMM"];
    print!("{:<30}", "layer, 75 images (ms, GFLOP/s)");
    columns.iter().for_each(|c| print!(" {c:>14}"));
    println!();
    for &(c_in, side) in sides {
        let c_out = 64;
        let out = (side + 2 - 3) / stride + 1;
        let x = Tensor::<4>::random([n, c_in, side, side], Distribution::Normal(0.0, 1.0), &plain);
        let w = Tensor::<4>::random([c_out, c_in, 3, 3], Distribution::Normal(0.0, 0.1), &plain);
        let dy = Tensor::<4>::random([n, c_out, out, out], Distribution::Normal(0.0, 1.0), &plain);
        let options = ConvOptions::new([stride; 2], [1, 1], [1, 1], 1);
        let pad = side - ((out - 1) * stride + 3 - 2);
        let t_options = ConvTransposeOptions::new([stride; 2], [1, 1], [pad, pad], [1, 1], 1);
        let reps = 10;
        let fwd = time(reps, || conv2d(x.clone(), w.clone(), None, options.clone()));
        let dx = time(reps, || conv_transpose2d(dy.clone(), w.clone(), None, t_options.clone()));
        let dw = time(reps, || conv2d_weight_backward(x.clone(), w.clone(), dy.clone(), options.clone()));

        // this crate's layer, one task, in the CPU's layout (channels-last)
        let layout = layout::of(&plain);
        let last = |t: &Tensor<4>| t.clone().permute([0, 2, 3, 1]); // one task: [n, c, h, w] to [n, h, w, c]
        let (x_l, dy_l) = (last(&x), last(&dy));
        let conv = Conv::new(c_in, c_out, stride, &mut Rng::stream(0, 0), &plain);
        let ours_fwd = time(reps, || layout.conv(&conv, x_l.clone()).0);
        let (_, cache) = layout.conv(&conv, x_l.clone());
        let ours_dw = time(reps, || {
            let mut grads = Grads::default();
            layout.conv_backward(&conv, cache.clone(), dy_l.clone(), false, &mut grads);
            grads.0.into_values().next().unwrap()
        });

        // second order: autodiff's backward through each weight gradient, x and dy tracked
        let r = Tensor::<4>::random([c_out, c_in, 3, 3], Distribution::Normal(0.0, 1.0), &tracked);
        let leaf = |t: &Tensor<4>| Tensor::<4>::from_data(t.to_data(), &tracked).require_grad();
        let burn_2nd = time(reps, || {
            let (xt, dyt) = (leaf(&x), leaf(&dy));
            let g = conv2d_weight_backward(xt.clone(), w.clone().to_device(&tracked), dyt.clone(), options.clone());
            let grads = (g * r.clone()).sum().backward();
            xt.grad(&grads).unwrap()
        });
        let conv_t = Conv::new(c_in, c_out, stride, &mut Rng::stream(0, 0), &tracked);
        let ours_2nd = time(reps, || {
            let (xt, dyt) = (leaf(&x_l), leaf(&dy_l));
            let mut grads = Grads::default();
            layout.conv_backward(&conv_t, layout.conv(&conv_t, xt.clone()).1, dyt.clone(), false, &mut grads);
            let g = grads.0.into_values().next().unwrap().reshape([c_out, c_in, 3, 3]);
            let grads = (g * r.clone()).sum().backward();
            xt.grad(&grads).unwrap()
        });

        let a = Tensor::<2>::random([c_out, c_in * 9], Distribution::Normal(0.0, 1.0), &plain);
        let b = Tensor::<2>::random([c_in * 9, n * out * out], Distribution::Normal(0.0, 1.0), &plain);
        let gemm = time(reps, || a.clone().matmul(b.clone()));
        let flops = 2.0 * (n * c_out * out * out * c_in * 9) as f64;
        print!("{:<30}", format!("{c_in}->{c_out}, {side}x{side} -> {out}x{out}"));
        for s in [fwd, dx, dw, ours_fwd, ours_dw, burn_2nd, ours_2nd, gemm] {
            print!(" {:>14}", format!("{:6.2} {:5.1}", s * 1e3, flops / s / 1e9));
        }
        println!();
    }
}
