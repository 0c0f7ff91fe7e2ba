//! How much memory a run needs, from its shapes: the page refuses, before starting, a run that
//! cannot fit in a browser tab's WebAssembly memory.
//!
//! The wasm build is wasm32: its memory is at most 4 GiB, grows and never shrinks, and an
//! allocation past it aborts the worker (the page sees "RuntimeError: unreachable"). The largest
//! allocations of a run are the tensors one meta-iteration holds until its backward: for every
//! task of the meta-batch, the network's activations on its support set at each inner step
//! (second order keeps the hand-written backward's tensors too, since the meta-gradient runs
//! through them) and on its query set. A meta-test holds one chunk of tasks at a time, without
//! a graph. The figures are upper bounds calibrated against the peak heap of the real
//! computation natively (`tests/memory.rs`, which also holds them within 4x of it) and checked
//! against the page's wasm memory (BENCHMARKS.md, "The page's memory").

use crate::config::{Algorithm, TaskKind, TrainerConfig};
use crate::maml::evaluate::EVAL_CHUNK;
use crate::maml::shares::{SHARES, Shares};
use crate::model::Plan;
use crate::tasks::{InputShape, glyphs, omniglot};

/// The most one run may need on the page: half of wasm32's 4 GiB. The heap never shrinks and
/// its free blocks fragment, the meta-test, the view and the handle's data (an Omniglot zip's
/// images) live beside a meta-iteration, and the figures are estimates.
pub const PAGE_BUDGET: u64 = 2_000_000_000;

/// Bytes of one f32.
const F32: u64 = 4;

/// Tensors per activation a graph keeps: the forward's outputs, batch-norm's normalised values
/// and ReLU's mask, and (second order) the hand-written backward's own tensors, each recorded
/// with the inputs its derivative needs. Set from measurements, not derived: the estimate lies
/// above the native peaks (`tests/memory.rs`) and the page's wasm heap (BENCHMARKS.md).
const KEPT_PER_ACTIVATION: u64 = 10;
/// Tensors per activation alive at once while one pass is computed and differentiated (meta-test
/// adaptation, the transient side of a meta-iteration).
const TRANSIENT_PER_ACTIVATION: u64 = 5;

/// The bytes a run needs at its peak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// One meta-iteration of the whole meta-batch (one share, as in the browser).
    pub meta_iteration: u64,
    /// A meta-test's chunks of `eval_tasks` tasks adapted at once (`maml::shares::Shares::at_once`, a chunk per share).
    pub meta_test: u64,
}

impl Footprint {
    pub fn peak(&self) -> u64 {
        self.meta_iteration.max(self.meta_test)
    }
}

/// The layout of one example of `kind` (the samplers' own, without building one).
pub fn input_shape(config: &TrainerConfig) -> InputShape {
    match config.task.kind {
        TaskKind::Sinusoid => InputShape::vector(1),
        TaskKind::Glyphs => InputShape::image(1, glyphs::SIDE),
        TaskKind::Omniglot => InputShape::image(1, omniglot::SIDE),
        TaskKind::Noise => InputShape::image(config.task.noise_channels, config.task.noise_side),
    }
}

/// Floats one example's forward pass makes, layer by layer, in the network `config` builds
/// (`model::Plan`, the shapes `Network::new` builds from).
pub fn activations_per_example(config: &TrainerConfig) -> u64 {
    let outputs = if config.task.kind == TaskKind::Sinusoid { 1 } else { config.task.ways };
    Plan::new(&config.model, input_shape(config), outputs).map_or(0, |plan| plan.activations_per_example())
}

/// What `config` needs at its peak in the browser, meta-testing on `eval_tasks` tasks.
pub fn footprint(config: &TrainerConfig, eval_tasks: usize) -> Footprint {
    let (t, o) = (&config.task, &config.maml);
    let a = activations_per_example(config);
    let ways = if t.kind == TaskKind::Sinusoid { 1 } else { t.ways } as u64;
    let (support, query) = (ways * t.shots as u64, ways * t.queries as u64);
    let (steps, tasks) = (o.inner_steps as u64, o.meta_batch as u64);
    // the page's CPU path: the whole meta-batch in one share
    let cpu = Shares { arch: config.model.arch, filters: config.model.filters, threads: 1, gpu: false };
    let at_once = cpu.at_once(o.meta_batch, (support + query) as usize) as u64;
    // what the graph of the meta-batch keeps until its backward, per task
    let kept = match o.algorithm {
        Algorithm::Reptile => 0,
        _ if o.first_order => query,
        Algorithm::Anil => support + query,
        _ => steps * support + query,
    };
    let transient = at_once * (support + query);
    let meta_iteration = F32 * a * (KEPT_PER_ACTIVATION * tasks * kept + TRANSIENT_PER_ACTIVATION * transient);
    // the tasks a meta-test adapts at once: a chunk per share
    let chunk = eval_tasks.clamp(1, cpu.at_once(EVAL_CHUNK, (support + query) as usize) * SHARES) as u64;
    let meta_test = F32 * a * TRANSIENT_PER_ACTIVATION * chunk * (support + query);
    Footprint { meta_iteration, meta_test }
}

/// Gigabytes with one decimal, for sentences.
fn gb(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

/// What a run's task family keeps beside its computation at most: the glyphs it has rendered
/// (`tasks::glyphs::rendered`). (An Omniglot zip's images are the page's data, held once loaded.)
pub fn task_data(config: &TrainerConfig) -> u64 {
    if config.task.kind == TaskKind::Glyphs { glyphs::CACHE_BYTES } else { 0 }
}

/// Refuses a run the page cannot hold, with the size and what to lower.
pub fn check_page(config: &TrainerConfig, eval_tasks: usize) -> Result<(), String> {
    let f = footprint(config, eval_tasks);
    let needed = f.peak() + task_data(config);
    if needed <= PAGE_BUDGET {
        return Ok(());
    }
    // a meta-test adapts a chunk of tasks without a graph: the meta-batch and steps do not matter to it
    let (what, lower) = if f.meta_iteration >= f.meta_test {
        ("per meta-iteration", "the meta-batch, filters, ways, shots + queries or inner steps")
    } else {
        ("for a meta-test", "the filters, ways or shots + queries")
    };
    Err(format!("this run needs about {} {what}, more than the {} a browser tab can give it; lower {lower}", gb(needed), gb(PAGE_BUDGET)))
}
