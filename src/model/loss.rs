//! Losses with their gradient with respect to the network output, both as differentiable tensor ops.

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};

/// What a set is scored against: one-hot classes (softmax cross-entropy) or real values (MSE).
#[derive(Clone, Debug)]
pub enum Target {
    /// [n, ways], rows one-hot.
    Classes(Tensor<2>),
    /// [n, d].
    Values(Tensor<2>),
}

impl Target {
    /// Mean loss over the set.
    pub fn loss(&self, out: Tensor<2>) -> Tensor<1> {
        match self {
            Target::Classes(onehot) => {
                let n = out.dims()[0] as f64;
                (log_softmax(out, 1) * onehot.clone()).sum().mul_scalar(-1.0 / n)
            }
            Target::Values(y) => (out - y.clone()).square().mean(),
        }
    }

    /// The mean loss and d loss / d out.
    pub fn loss_and_grad(&self, out: Tensor<2>) -> (Tensor<1>, Tensor<2>) {
        match self {
            Target::Classes(onehot) => {
                let n = out.dims()[0] as f64;
                let loss = (log_softmax(out.clone(), 1) * onehot.clone()).sum().mul_scalar(-1.0 / n);
                (loss, (softmax(out, 1) - onehot.clone()).div_scalar(n))
            }
            Target::Values(y) => {
                let numel = out.shape().num_elements() as f64;
                let diff = out - y.clone();
                (diff.clone().square().mean(), diff.mul_scalar(2.0 / numel))
            }
        }
    }
}
