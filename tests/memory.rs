//! The memory estimate (`memory::footprint`) against the heap the computation really takes.
//!
//! A counting global allocator records the most heap held at once while one share of a
//! meta-iteration (`maml::learners::meta_gradient`, or Reptile's `reptile_direction`, all of the
//! meta-batch's tasks, as the browser's one-share wasm runs it) and a meta-test on one thread run
//! here natively on the flex backend, the backend the page's CPU path runs. The estimate must be
//! above that peak (so the page never starts a run it cannot hold) and close to it (so it refuses
//! nothing that fits): within 1.5x for the page's presets, 4x for other shapes.
//!
//! The GEMM's own buffers are the exception: natively it sizes them from the host's caches (a
//! large L3 makes them megabytes larger than in the page, where it reads none), so the blocks
//! it allocates, the only ones aligned to its cache line of 128 bytes, are left out of the
//! measurement and the page's bound on them (`memory::GEMM_BUFFERS`) added instead: what is
//! measured does not depend on the machine.


use std::sync::atomic::{AtomicIsize, Ordering};

use burn::module::Module;
use burn::prelude::Device;
use maml_lab::config::{Algorithm, TaskKind, TrainerConfig};
use maml_lab::maml::learners::{meta_gradient, reptile_direction};
use maml_lab::maml::{MetaParams, evaluate};
use maml_lab::maml::shares::{Layout, Shares};
use maml_lab::memory::{GEMM_BUFFERS, PAGE_BUDGET, check_page, footprint, input_shape};
use maml_lab::model::Network;
use maml_lab::rng::Rng;
use maml_lab::tasks::{Split, Task, sampler};

mod counting;
use counting::{Counting, Tally};

/// Counts the heap held by the whole process, and the most it held since `peak` began.
struct Process;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

impl Tally for Process {
    fn grew(bytes: usize) {
        let now = LIVE.fetch_add(bytes as isize, Ordering::SeqCst) + bytes as isize;
        PEAK.fetch_max(now, Ordering::SeqCst);
    }
    fn shrank(bytes: usize) {
        LIVE.fetch_sub(bytes as isize, Ordering::SeqCst);
    }
    /// Not the GEMM's buffers (gemm-common's `CACHELINE_ALIGN` on x86_64 and aarch64; burn's
    /// tensors are aligned less).
    fn counts(layout: &std::alloc::Layout) -> bool {
        layout.align() != GEMM_ALIGN
    }
}

/// The alignment of the GEMM's buffers.
const GEMM_ALIGN: usize = 128;

#[global_allocator]
static COUNTING: Counting<Process> = Counting::new();

/// The most heap `f` held at once above what was held before it.
fn peak(f: impl FnOnce()) -> u64 {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    f();
    (PEAK.load(Ordering::SeqCst) - base).max(0) as u64
}

/// One test at a time: the counters are the process's, so another test allocating while one
/// measures would count in its peak.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    MEASURING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Measured peaks of one meta-iteration's share and of one meta-test chunk of `eval_tasks`, each
/// on a fresh thread as a page's first meta-iteration and meta-test are (the im2col rows a thread
/// keeps are built then), with the tasks' glyphs already rendered (the estimate counts those
/// apart: `memory::task_data`).
fn measure(config: &TrainerConfig, eval_tasks: usize) -> (u64, u64) {
    let s = sampler(&config.task, &[], config.seed).unwrap();
    let shape = input_shape(config);
    assert_eq!(shape, s.input_shape(), "the estimate's input shape is the sampler's");
    let device = Device::flex().autodiff();
    let mut rng = Rng::stream(1, 1);
    let theta = Network::new(&config.model, shape, s.outputs(), &mut rng, &device).unwrap();
    let params = MetaParams::theta_only(theta);
    let tasks: Vec<Task> = (0..config.maml.meta_batch).map(|_| s.sample(Split::MetaTrain, &mut rng)).collect();
    let m = &config.maml;
    let at_once = Shares::new(&config.model, 1, &device, Layout::Units).at_once(tasks.len(), tasks[0].support.n + tasks[0].query.n);
    let share = if m.algorithm == Algorithm::Reptile { reptile_direction } else { meta_gradient };
    let meta_iteration = std::thread::scope(|scope| scope.spawn(|| peak(|| drop(share(&params, &tasks, shape, m, at_once)))).join().unwrap());
    let plain = params.valid();
    let shares = Shares::new(&config.model, 1, &device, Layout::Units); // the page's one thread: one chunk at a time
    let test = |rng: &mut Rng| {
        let s = sampler(&config.task, &[], config.seed).unwrap(); // a sampler stays on its thread
        drop(evaluate(&plain, s.as_ref(), rng, eval_tasks, m, m.test_inner_steps, &shares).wait())
    };
    std::thread::scope(|scope| scope.spawn(|| test(&mut rng.clone())).join().unwrap()); // renders the meta-test's glyphs
    let meta_test = std::thread::scope(|scope| scope.spawn(|| peak(|| test(&mut rng))).join().unwrap());
    (meta_iteration + GEMM_BUFFERS, meta_test + GEMM_BUFFERS)
}

fn glyphs(ways: usize, shots: usize, queries: usize, filters: usize, meta_batch: usize, steps: usize) -> TrainerConfig {
    let mut c = TrainerConfig::page_preset(TaskKind::Glyphs, Algorithm::Maml);
    (c.task.ways, c.task.shots, c.task.queries, c.model.filters) = (ways, shots, queries, filters);
    (c.maml.meta_batch, c.maml.inner_steps, c.maml.test_inner_steps) = (meta_batch, steps, steps.max(3));
    c
}

/// Holds each estimate between its measurement and `most` times it; prints them all.
fn check(configs: Vec<(String, TrainerConfig)>, most: f64) {
    let _alone = alone();
    let eval_tasks = 24;
    let mut report = String::new();
    let mut worst = Vec::new();
    for (name, config) in configs {
        let (iteration, test) = measure(&config, eval_tasks);
        let f = footprint(&config, eval_tasks);
        let mb = |b: u64| b as f64 / 1e6;
        let line = format!(
            "{name}: meta-iteration measured {:.1} MB, estimated {:.1} MB ({:.2}x); meta-test measured {:.1} MB, estimated {:.1} MB ({:.2}x)\n",
            mb(iteration),
            mb(f.meta_iteration),
            f.meta_iteration as f64 / iteration as f64,
            mb(test),
            mb(f.meta_test),
            f.meta_test as f64 / test as f64
        );
        eprint!("{line}");
        report.push_str(&line);
        for (what, measured, estimated) in [("meta-iteration", iteration, f.meta_iteration), ("meta-test", test, f.meta_test)] {
            if estimated < measured || estimated as f64 > most * measured as f64 {
                worst.push(format!("{name}: the {what} estimate is not within 1x..{most}x of the measured peak"));
            }
        }
    }
    assert!(worst.is_empty(), "{}\n{report}", worst.join("\n"));
}

/// The page's presets, every task family (Omniglot's network and schedule are the glyphs', only
/// its images differ) with every learner: within 1.5x, so the page refuses nothing that fits.
#[test]
fn the_estimate_bounds_the_page_presets_within_1_5x() {
    let glyphs = TrainerConfig::page_preset(TaskKind::Glyphs, Algorithm::Maml);
    let omniglot = TrainerConfig::page_preset(TaskKind::Omniglot, Algorithm::Maml);
    assert_eq!(format!("{:?}", (&glyphs.model, &glyphs.maml, glyphs.task.ways, glyphs.task.shots, glyphs.task.queries)), format!("{:?}", (&omniglot.model, &omniglot.maml, omniglot.task.ways, omniglot.task.shots, omniglot.task.queries)));
    let mut configs = Vec::new();
    for kind in [TaskKind::Sinusoid, TaskKind::Glyphs, TaskKind::Noise] {
        for algorithm in Algorithm::ALL {
            configs.push((format!("{kind} {algorithm} preset"), TrainerConfig::page_preset(kind, *algorithm)));
        }
    }
    check(configs, 1.5);
}

/// Networks and schedules of other shapes: more inner steps, more shots, more filters, first
/// order, the max-pool net, the MLP and the seed article's network: within 4x.
#[test]
fn the_estimate_bounds_the_measured_peak_within_4x() {
    let configs = vec![
        ("sinusoid 5 steps", {
            let mut c = TrainerConfig::page_preset(TaskKind::Sinusoid, Algorithm::Maml);
            c.maml.inner_steps = 5;
            c
        }),
        ("glyphs 3 steps, 32 filters", glyphs(5, 1, 5, 32, 4, 3)),
        ("glyphs 10-way 5-shot", glyphs(10, 5, 5, 16, 2, 2)),
        ("glyphs 64 filters", glyphs(5, 1, 5, 64, 4, 1)),
        ("glyphs first-order", {
            let mut c = glyphs(5, 1, 5, 32, 4, 3);
            c.maml.first_order = true;
            c
        }),
        ("glyphs max-pool", {
            let mut c = glyphs(5, 1, 5, 16, 4, 1);
            c.model.downsample = maml_lab::config::Downsample::MaxPool;
            c
        }),
        ("glyphs anil 3 steps", {
            let mut c = glyphs(5, 1, 5, 16, 4, 3);
            c.maml.algorithm = Algorithm::Anil;
            c
        }),
        ("noise seed-cnn", {
            let mut c = TrainerConfig::page_preset(TaskKind::Noise, Algorithm::Maml);
            (c.model.filters, c.maml.meta_batch, c.task.queries) = (8, 2, 2);
            c
        }),
    ];
    check(configs.into_iter().map(|(n, c)| (n.to_string(), c)).collect(), 4.0);
}

/// The run (20-way 10-shot, 10 queries, 64 filters, 10 inner steps, meta-batch 64)
/// is refused for the page with its size and what to lower; the page's presets fit.
#[test]
fn the_page_refuses_a_run_that_cannot_fit_and_takes_its_presets() {
    let _alone = alone();
    let big = glyphs(20, 10, 10, 64, 64, 10);
    let f = footprint(&big, 24);
    assert!(f.meta_iteration > 2 * PAGE_BUDGET, "{f:?}");
    let e = check_page(&big, 24).unwrap_err();
    assert!(e.contains("GB per meta-iteration") && e.contains("lower the meta-batch"), "{e}");
    for kind in TaskKind::ALL.iter().filter(|k| k.supervised()) {
        for algorithm in Algorithm::ALL {
            check_page(&TrainerConfig::page_preset(*kind, *algorithm), 200).unwrap();
        }
    }
}
