//! How much memory a run needs, from its shapes: the page refuses, before starting, a run that
//! cannot fit in a browser tab's WebAssembly memory.
//!
//! The wasm build is wasm32: its memory is at most 4 GiB, grows and never shrinks, and an
//! allocation past it aborts the worker (the page sees "RuntimeError: unreachable"). The largest
//! allocations of a run are the tensors one meta-iteration holds: for every task of the
//! meta-batch, what the graph through its inner loop keeps until the meta-gradient's backward
//! (second order keeps the hand-written backward's tensors too), and the query set's pass, off
//! the graph, for the tasks adapted at once. A meta-test holds one chunk of tasks at a time,
//! without a graph. The counts come from the network's own shapes (`model::Plan`); the factors
//! are calibrated against the peak heap of the real computation natively (`tests/memory.rs`) and
//! checked against the page's wasm memory (BENCHMARKS.md, "The page's memory").

use crate::config::{Algorithm, TaskKind, TrainerConfig};
use crate::maml::evaluate::EVAL_CHUNK;
use crate::maml::shares::{Layout, Shares};
use crate::model::Plan;
use crate::tasks::{InputShape, glyphs, omniglot};

/// The most one run may need on the page: half of wasm32's 4 GiB. The heap never shrinks and
/// its free blocks fragment, the meta-test, the view and the handle's data (an Omniglot zip's
/// images) live beside a meta-iteration, and the figures are estimates.
pub const PAGE_BUDGET: u64 = 2_000_000_000;

/// Bytes of one f32.
const F32: u64 = 4;

/// What a meta-iteration of each learner holds at its peak, in floats per unit of the network's
/// own shapes (`model::Plan`; an example's unit is its forward pass's activations plus its
/// im2col rows, the largest tensors the CPU's kernels keep). Fitted to the peaks that
/// `tests/memory.rs` measures on the page's one thread: each estimate lies above its
/// measurement, within 1.5x of it for the page's presets and within 4x for other shapes.
struct Held {
    /// Per query example of the tasks adapted at once: the query's pass, off the graph.
    query: f64,
    /// Per support example and inner step, for every task of the meta-batch: what a graph
    /// through the inner loop keeps until the meta-gradient's backward.
    support_step: f64,
    /// Per support example, for every task: kept once (ANIL's features, Reptile's last pass).
    support: f64,
    /// Copies of the weights per task and inner step: fast weights and their gradients.
    weights_step: f64,
}

impl Held {
    fn of(algorithm: Algorithm, first_order: bool) -> Self {
        match algorithm {
            // no graph through the inner loop: the query's pass and the steps' plain tensors
            Algorithm::Reptile => Held { query: 0.75, support_step: 0.0, support: 0.6, weights_step: 0.05 },
            // the body's features once, then the head's steps
            Algorithm::Anil => Held { query: 1.45, support_step: 0.25, support: 1.0, weights_step: 0.0 },
            // the inner gradient enters as a constant: little of the support's pass is kept
            _ if first_order => Held { query: 1.4, support_step: 0.26, support: 0.0, weights_step: 0.35 },
            Algorithm::Maml | Algorithm::MetaSgd => Held { query: 1.5, support_step: 1.65, support: 0.0, weights_step: 1.5 },
        }
    }
}

/// What a meta-test holds for each of the tasks it adapts at once, without a graph: floats per
/// unit of each support example (an inner step's pass and backward) and per float of each query
/// example's largest layer (a forward pass that keeps nothing, one layer at a time).
const TEST_SUPPORT: f64 = 0.9;
const TEST_QUERY: f64 = 2.05;

/// What the GEMM (gemm-common, under burn-flex's matmuls) holds on the page's thread at most:
/// its per-thread slab of the L2 size it assumes, and one call's packed right-hand side (at most
/// 7/8 of the L3 size) and left-hand side. The sizes are the ones it assumes in wasm, where it can
/// read no cache sizes (512 KiB L2, 1 MiB L3); natively it reads the host's (on a host with a
/// large L3, megabytes more), so `tests/memory.rs` measures the rest apart and adds this.
pub const GEMM_BUFFERS: u64 = 512 * 1024 + 896 * 1024 + 512 * 1024;

/// Bytes any computation holds beside its tensors' (the GEMM's buffers, the im2col rows kept for
/// the shapes in use).
const FIXED: f64 = GEMM_BUFFERS as f64 + 0.65e6;

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
        TaskKind::Navigation => InputShape::vector(crate::rl::policy::OBSERVATIONS),
        TaskKind::Glyphs => InputShape::image(1, glyphs::SIDE),
        TaskKind::Omniglot => InputShape::image(1, omniglot::SIDE),
        TaskKind::Noise => InputShape::image(config.task.noise_channels, config.task.noise_side),
    }
}

/// What `config` needs at its peak in the browser, meta-testing on `eval_tasks` tasks.
pub fn footprint(config: &TrainerConfig, eval_tasks: usize) -> Footprint {
    let (t, o) = (&config.task, &config.maml);
    // the sinusoid's "classes": one output, shots and queries are points
    let ways = if t.kind == TaskKind::Sinusoid { 1 } else { t.ways };
    // images too small for the network: no run to hold (`Trainer::new` refuses it in words)
    let Ok(plan) = Plan::new(&config.model, input_shape(config), ways) else { return Footprint { meta_iteration: 0, meta_test: 0 } };
    let (unit, weights) = ((plan.activations_per_example() + plan.im2col_per_example()) as f64, plan.parameters() as f64);
    let (support, query) = (ways * t.shots, ways * t.queries);
    // the page's CPU path, counted as if the whole meta-batch were one unit (a unit holds less: an upper bound), `at_once` tasks adapted together
    let cpu = Shares { arch: config.model.arch, filters: config.model.filters, threads: 1, gpu: false, layout: Layout::Units };
    let at_once = cpu.at_once(o.meta_batch, support + query) as f64;
    let (tasks, steps) = (o.meta_batch as f64, o.inner_steps as f64);
    let held = Held::of(o.algorithm, o.first_order);
    let support_floats = held.support_step * steps * unit * support as f64 + held.support * unit * support as f64 + held.weights_step * steps * weights;
    let floats = held.query * unit * at_once * query as f64 + tasks * support_floats;
    let meta_iteration = (FIXED + F32 as f64 * floats) as u64;
    // a meta-test adapts one chunk of tasks at a time (the page has one thread), without a graph
    let chunk = eval_tasks.clamp(1, cpu.at_once(EVAL_CHUNK, support + query)) as f64;
    let largest = plan.largest_layer_per_example() as f64;
    let meta_test = (FIXED + F32 as f64 * chunk * (TEST_SUPPORT * unit * support as f64 + TEST_QUERY * largest * query as f64)) as u64;
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

/// What the page's workers may hold together, the training worker's included: each has a wasm
/// memory of its own, and a tab's are all in one process of the browser's.
pub const TAB_BUDGET: u64 = 2 * PAGE_BUDGET;

/// Tasks per unit of the page's meta-batches of `config`, and their number (`Layout::Units`).
pub fn units(config: &TrainerConfig) -> (usize, usize) {
    let t = &config.task;
    let examples = if t.kind == TaskKind::Sinusoid { t.shots + t.queries } else { t.ways * (t.shots + t.queries) };
    let cpu = Shares { arch: config.model.arch, filters: config.model.filters, threads: 1, gpu: false, layout: Layout::Units };
    let per_unit = cpu.unit_tasks(config.maml.meta_batch, examples);
    (per_unit, config.maml.meta_batch.div_ceil(per_unit))
}

/// The most of `workers` workers whose memories together fit `TAB_BUDGET` (at least one): the
/// training worker needs what `check_page` counts, and each share worker, which computes its
/// units one after another, one unit's meta-iteration or its part of a meta-test.
pub fn workers_that_fit(config: &TrainerConfig, eval_tasks: usize, workers: usize) -> usize {
    let lead = footprint(config, eval_tasks).peak() + task_data(config);
    let mut unit = config.clone();
    unit.maml.meta_batch = units(config).0;
    // a share computes units one after another, and adapts its part of a meta-test
    let share = footprint(&unit, eval_tasks.div_ceil(workers.max(1))).peak();
    (1..=workers.max(1)).rev().find(|&n| lead + (n as u64 - 1) * share <= TAB_BUDGET).unwrap_or(1)
}
