//! The gradient map of the hand-written backward: one tensor per parameter, tracked in exact MAML.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use std::collections::HashMap;

/// Gradients keyed by parameter, flattened to rank 1 so parameters of any rank share one map.
/// In exact MAML the values are tracked tensors: they are functions of the parameters.
#[derive(Default, Clone, Debug)]
pub struct Grads(pub HashMap<ParamId, Tensor<1>>);

impl Grads {
    /// Stores `g` for `p`; `g` has `p`'s elements, in `p`'s order, in any shape.
    pub fn put<const D: usize, const E: usize>(&mut self, p: &Param<Tensor<D>>, g: Tensor<E>) {
        let n = g.shape().num_elements();
        debug_assert_eq!(n, p.shape().num_elements(), "a gradient should have its parameter's size");
        self.0.insert(p.id, g.reshape([n]));
    }

    /// Every parameter's own value in the same map, keyed by its id (flattened like a gradient).
    pub fn values<M: Module>(net: &M) -> Grads {
        struct Values(Grads);
        impl ModuleVisitor for Values {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                self.0.put(p, p.val());
            }
        }
        let mut v = Values(Grads::default());
        net.visit(&mut v);
        v.0
    }

    /// Drops the gradients of `net`'s parameters.
    pub fn drop_params<M: Module>(&mut self, net: &M) {
        struct Drop<'a>(&'a mut Grads);
        impl ModuleVisitor for Drop<'_> {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                self.0.0.remove(&p.id);
            }
        }
        net.visit(&mut Drop(self));
    }

    pub fn get<const D: usize>(&self, p: &Param<Tensor<D>>) -> Option<Tensor<D>> {
        self.0.get(&p.id).map(|g| g.clone().reshape(p.shape()))
    }
}

impl std::ops::Add for Grads {
    type Output = Grads;

    /// The sum of two sets of gradients (a parameter missing from one counts as zero there).
    fn add(mut self, other: Grads) -> Grads {
        for (id, g) in other.0 {
            let sum = match self.0.remove(&id) {
                Some(acc) => acc + g,
                None => g,
            };
            self.0.insert(id, sum);
        }
        self
    }
}
