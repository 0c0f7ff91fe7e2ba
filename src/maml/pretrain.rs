//! Supervised pre-training before meta-training: θ's body first learns to classify every meta-train class at once, then meta-learning starts from its features.
//!
//! "Pre-train, then meta-learn" (Chen et al., 2021, Meta-Baseline; the features MAML mostly
//! reuses, Raghu et al., 2020): a classifier of the same body with a head of one output per
//! meta-train class (544 for Omniglot's small background set with its rotations) is trained by
//! plain cross-entropy on examples drawn at random from those classes, labelled by class, not
//! shuffled per task (`TaskSampler::pretraining_task`). Its body, batch-norms included, becomes
//! θ's; θ's head keeps its own initialisation (or its zeros, `MamlConfig::zero_head`). Each step
//! is the outer loop's meta-iteration with no inner step (the query loss at the weights
//! themselves), so it uses the run's Adam, β, threads and shares, and is as exact as they are.

use super::outer::{MetaLearner, StepReport, meta_steps};
use super::params::MetaParams;
use super::shares::Shares;
use crate::config::{MamlConfig, TrainerConfig};
use crate::model::Network;
use crate::model::dense::Dense;
use crate::rng::Rng;
use crate::tasks::TaskSampler;

/// Examples per pre-training step: `GROUPS` groups of `PER_GROUP`, each batch-normed by its own
/// statistics as a task's query is, and summed like a meta-batch's tasks (so the run's threads
/// share them).
pub const GROUPS: usize = 4;
pub const PER_GROUP: usize = 64;

/// θ's body after `steps` steps of pre-training on `sampler`'s meta-train classes, drawn from
/// `rng`, with `config`'s model, β and Adam; `each` sees every step's report (loss and accuracy
/// on the batch it trained on). θ's head is returned as it was. A step whose loss or gradient is
/// not finite ends it with the reason.
pub fn pretrain(theta: &Network, sampler: &dyn TaskSampler, config: &TrainerConfig, steps: usize, rng: &mut Rng, shares: &Shares, mut each: impl FnMut(&StepReport)) -> Result<Network, String> {
    let classes = sampler.pretraining_classes().ok_or_else(|| format!("task {} has no classes to pre-train on", config.task.kind))?;
    let device = theta.device();
    let features = theta.head.weight.dims()[1];
    let classifier = Network { head: Dense::new(features, classes, rng, &device), ..theta.clone() };
    let mut learner = MetaLearner::new(MetaParams::theta_only(classifier), 0);
    // plain MAML's defaults (none of MAML++'s pieces) with no inner step: the loss at the weights
    let plain = MamlConfig::new().with_inner_steps(0).with_meta_batch(GROUPS).with_meta_lr(config.maml.meta_lr);
    let shape = sampler.input_shape();
    for _ in 0..steps {
        let sample = || sampler.pretraining_task(PER_GROUP, rng).expect("a sampler with classes draws their examples");
        let (reports, diverged) = meta_steps(&mut learner, 1, sample, shape, &plain, shares).wait();
        if let Some(d) = diverged {
            return Err(format!("pre-training diverged at step {}: its {} is not finite; lower β (meta_lr)", d.iteration, d.what));
        }
        reports.iter().for_each(&mut each);
    }
    Ok(Network { head: theta.head.clone(), ..learner.params.theta })
}
