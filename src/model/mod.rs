//! Models with an explicit, differentiable backward: layers, losses and the networks built from them.
//!
//! burn's autodiff is first-order: the gradient it returns is an untracked constant. Exact MAML
//! needs the inner-loop gradient as part of the graph, so each layer here has a `forward` that
//! keeps what its backward needs and a `backward` written with differentiable ops. One file per
//! layer family (`dense`, `conv` with its CPU kernel `im2col`, `pool`, `norm`), the activations'
//! layout between them (`layout`), the network's shapes (`plan`) and the network (`net`). Every
//! backward is checked against burn's own autodiff in `tests/layers.rs`.

pub mod conv;
pub mod dense;
pub mod grads;
pub mod host;
pub mod im2col;
pub mod init;
pub mod layout;
pub mod loss;
pub mod net;
pub mod norm;
pub mod plan;
pub mod pool;

pub use grads::Grads;
pub use layout::Layout;
pub use loss::Target;
pub use net::{LossAndGrads, Network};
pub use plan::Plan;
