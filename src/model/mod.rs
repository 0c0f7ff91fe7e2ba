//! Models with an explicit, differentiable backward: layers, losses and the networks built from them.

pub mod grads;
pub mod layers;
pub mod loss;
pub mod net;

pub use grads::Grads;
pub use loss::Target;
pub use net::{LossAndGrads, Network};
