//! `maml`: train, evaluate, benchmark and gradient-check MAML from the command line; JSON lines on stdout.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::prelude::Device;
use burn::tensor::FloatDType;
use clap::{Args, Parser, Subcommand};

use maml_lab::config::{Algorithm, Arch, TaskKind, TrainerConfig};
use maml_lab::maml::{Directions, Fit, LandscapeOptions};
use maml_lab::settings::Settings;
use maml_lab::tasks::ImageSet;
use maml_lab::gradcheck;

/// Model-Agnostic Meta-Learning (Finn, Abbeel, Levine 2017), exact or first-order, on burn's CPU backend.
///
/// MAML learns an initialisation θ from which a few gradient steps on a new task's small support
/// set (α = inner_lr, `inner_steps` steps) give a model that does well on that task's query set.
/// The meta-update (Adam with β = meta_lr) differentiates through those inner steps: exactly,
/// second derivatives included, or first-order with `--first-order`.
///
/// Every subcommand prints JSON lines on stdout; the last line is its summary.
#[derive(Parser)]
#[command(name = "maml", version, after_help = "Example: maml train --task sinusoid --iterations 2000 --out runs/sine && maml eval --run runs/sine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Meta-train; writes OUT/config.json, OUT/weights.bin and OUT/metrics.jsonl.
    Train {
        #[command(flatten)]
        setup: Setup,
        /// Meta-iterations (one meta-batch and one Adam step each).
        #[arg(long, default_value_t = 1000)]
        iterations: usize,
        /// Run directory to write.
        #[arg(long)]
        out: PathBuf,
        /// Print a JSON line every this many iterations (every line also goes to metrics.jsonl).
        #[arg(long, default_value_t = 100)]
        log_every: usize,
        /// Also train the "pretrained" baseline (same network and budget, no inner steps:
        /// plain joint training on the meta-train tasks) into OUT/pretrained.bin, for `eval`.
        #[arg(long)]
        pretrained: bool,
        /// Every this many meta-iterations (0: never), compare the exact meta-gradient of the
        /// meta-batch about to be trained on with the first-order one (and Reptile's direction,
        /// for Reptile): its metrics line gets `gradients` {exact_norm, first_order: {cosine,
        /// norm_ratio}, reptile}. The run itself is the same with or without.
        #[arg(long, default_value_t = 0)]
        compare_every: usize,
        /// Every this many meta-iterations (0: never), keep θ as OUT/path/<iteration>.bin: the
        /// path `maml landscape` draws (navigation: the policy's weights file, which `maml eval`
        /// reads as a run's weights.bin).
        #[arg(long, default_value_t = 0)]
        path_every: usize,
        /// Go on from a checkpoint (a run's OUT/checkpoint.bin, or the page's) exactly as its run
        /// would have: every setting comes from it, so no other setting may be given.
        #[arg(long)]
        resume: Option<PathBuf>,
    },
    /// The meta-objective around a run's θ: the mean query loss after adaptation of a fixed
    /// meta-batch on a plane through θ (spanned by the exact and first-order meta-gradients, or
    /// two filter-normalised random directions), with each learner's next step and the run's
    /// path on it; writes OUT.json (the grid, arrows, path) and OUT.csv (a, b, meta_loss).
    Landscape {
        /// A directory written by `maml train` (its checkpoint.bin gives θ and Adam's state, its
        /// path/ the run's path), or one holding a checkpoint.bin alone.
        #[arg(long)]
        run: PathBuf,
        /// gradients or random.
        #[arg(long, value_enum, default_value_t = Directions::Gradients)]
        directions: Directions,
        /// Grid points per side (odd).
        #[arg(long, default_value_t = 21)]
        size: usize,
        /// What the grid's automatic extent shows: path (the run's path and the next steps) or
        /// steps (the next steps alone: one meta-iteration's scale).
        #[arg(long, value_enum, default_value_t = Fit::Path)]
        fit: Fit,
        /// The grid's half-width times this.
        #[arg(long, default_value_t = 1.0)]
        zoom: f64,
        /// The grid's half-width in parameter-space units, in place of the automatic one.
        #[arg(long)]
        span: Option<f64>,
        /// Seeds the random directions.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Files to write, OUT.json and OUT.csv [default: RUN/landscape].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Meta-test a run: accuracy (or MSE) after each inner step 0..K over many held-out tasks,
    /// with 95 % confidence intervals, beside random-init (and pretrained) baselines.
    Eval {
        /// A directory written by `maml train`.
        #[arg(long)]
        run: PathBuf,
        /// The run's task, checked against it [default: the run's].
        #[arg(long)]
        task: Option<TaskKind>,
        /// Meta-test tasks (navigation: goals).
        #[arg(long, default_value_t = 600)]
        tasks: usize,
        /// Inner steps at test time [default: the run's test_inner_steps].
        #[arg(long)]
        inner_steps: Option<usize>,
        /// An Omniglot-layout zip whose classes, all of them and as they are, become the
        /// meta-test set [default: the run's own meta-test split, as trained]. A zip whose
        /// characters have fewer images than a task takes (shots + queries) is one test run:
        /// its characters are one task's classes, each one's first images by file name
        /// (`shots` of them) its support and the rest its queries.
        #[arg(long)]
        data: Option<PathBuf>,
        /// With --data: also add each of its characters rotated by 90°, 180° and 270° as new
        /// classes. Off by default: rotations are a training-time augmentation, and a given
        /// zip's benchmark is its own classes.
        #[arg(long, requires = "data")]
        rotations: bool,
        /// Omniglot: every class of a task from one alphabet [default: true; `false` draws
        /// them from any alphabet, as training does unless told].
        #[arg(long, value_name = "BOOL")]
        within_alphabet: Option<bool>,
        /// Omniglot: support images by one drawer (per shot), queries by the others
        /// [default: true; `false` draws any images].
        #[arg(long, value_name = "BOOL")]
        different_drawers: Option<bool>,
        /// Classes per meta-test task: fewer than the run was trained for, the head's first
        /// ones; any number for a run trained with --zero-head (not Meta-SGD) [default: the run's
        /// ways; a zero-head run's for a one-test-run zip: its characters].
        #[arg(long)]
        ways: Option<usize>,
    },
    /// Trains several meta-learners on the same tasks over several seeds and meta-tests each on
    /// the same held-out tasks: one table, mean ± 95 % CI over every seed's tasks, after one
    /// inner step and after the test steps, with seconds per meta-iteration.
    Compare {
        #[command(flatten)]
        setup: Setup,
        /// Comma-separated: maml, fomaml (first-order MAML), reptile, anil, meta-sgd. Each
        /// takes its own paper's schedule unless a flag sets it.
        #[arg(long, default_value = "maml,fomaml,reptile,anil,meta-sgd")]
        algorithms: String,
        #[arg(long, default_value_t = 1000)]
        iterations: usize,
        /// Seeds 0..N, each a run of every learner.
        #[arg(long, default_value_t = 3)]
        seeds: u64,
        /// Meta-test tasks per run.
        #[arg(long, default_value_t = 600)]
        tasks: usize,
        /// Print the table as Markdown rather than JSON.
        #[arg(long)]
        markdown: bool,
    },
    /// Meta-iterations per second of a configuration (after two warm-up iterations).
    Bench {
        #[command(flatten)]
        setup: Setup,
        #[arg(long, default_value_t = 20)]
        iterations: usize,
        /// Threads for the two shares of a meta-batch [default: the machine's cores]; 1 is the
        /// browser's case (burn's CPU kernels run on one thread each).
        #[arg(long)]
        threads: Option<usize>,
        /// flex (the CPU) or wgpu: burn's wgpu backend on this machine's GPU (Vulkan, Metal or
        /// DX12) with the page's WebGPU kernels; needs a build with `--features wgpu-native`.
        #[arg(long, value_enum, default_value_t = BenchBackend::Flex)]
        backend: BenchBackend,
    },
    /// Checks the exact meta-gradient against central finite differences in f64.
    Gradcheck {
        /// navigation: the reinforcement-learning meta-gradient (its surrogate on a fixed batch
        /// of trajectories; `--algorithm` and `--model` do not apply) [default: the supervised
        /// check, on the model's own small task].
        #[arg(long)]
        task: Option<TaskKind>,
        /// maml, anil or meta-sgd (θ and the learned rates); reptile checks its direction
        /// Σ(θ − θ') against the same inner steps taken task by task.
        #[arg(long, default_value = "maml")]
        algorithm: Algorithm,
        #[arg(long, default_value = "mlp")]
        model: Arch,
        #[arg(long, default_value_t = 1)]
        inner_steps: usize,
        /// The multi-step loss (MAML++): the meta-loss weighs the query loss after each inner
        /// step j of K by j / (1 + … + K) (maml, anil and meta-sgd).
        #[arg(long)]
        multi_step_loss: bool,
        /// Learned per-layer per-step inner rates (MAML++'s LSLR; maml only), among the
        /// coordinates compared.
        #[arg(long)]
        per_step_rates: bool,
        /// Per-step batch-norm weights and biases (MAML++'s BNWB; maml on conv4 or seed-cnn),
        /// among the coordinates compared.
        #[arg(long)]
        per_step_bn: bool,
        /// The zeroing trick: checked at θ with its head at zero (conv4 or seed-cnn; every
        /// algorithm).
        #[arg(long)]
        zero_head: bool,
        /// Navigation: per-step spreads (the policy after each inner step has its own log std,
        /// not adapted), among the coordinates compared.
        #[arg(long)]
        per_step_std: bool,
        /// Parameter coordinates to compare (at least one per parameter tensor).
        #[arg(long, default_value_t = 16)]
        coords: usize,
        /// Filters of the conv nets (kept small: each coordinate costs two meta-losses).
        #[arg(long, default_value_t = 4)]
        filters: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// The run's configuration: the task's preset from the paper, then any setting given.
#[derive(Args)]
struct Setup {
    #[command(flatten)]
    settings: Settings,
    /// Omniglot-layout zip: once (its characters split into meta-train and meta-test by the
    /// seed) or twice (meta-train, then meta-test).
    #[arg(long)]
    data: Vec<PathBuf>,
}

impl Setup {
    fn config(&self) -> TrainerConfig {
        let mut c = self.settings.config();
        c.task.data = self.data.iter().map(|p| p.display().to_string()).collect();
        c
    }
}

mod bench;
mod eval;
mod navigation;
mod train;
mod landscape;
use eval::{Asked, eval};
use train::train;
use bench::{BenchBackend, bench};
mod compare;

/// Why the command failed, as one sentence for stderr.
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A meta-iteration allocates and frees the same large buffers (activations, im2col rows, their
/// gradients) every time. glibc's defaults give those above its mmap threshold back to the kernel
/// when freed, and trim the heap's free top, and a thread's arena can grow by at most 64 MiB
/// at a time, so its larger blocks were mapped too: each was mapped, faulted in page by page,
/// zeroed by the kernel and unmapped again, every iteration. Here every block comes from the one
/// main heap and freed memory stays for the next iteration; resident memory still stays flat
/// (`tests/cli.rs`), since the same sizes come back. (The speed it buys: BENCHMARKS.md, "One
/// allocator setting". The page's wasm allocator never returns memory, so it never paid this.)
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    for (setting, value) in [(libc::M_MMAP_MAX, 0), (libc::M_TRIM_THRESHOLD, i32::MAX), (libc::M_ARENA_MAX, 1)] {
        // SAFETY: mallopt only changes glibc's allocation settings; called before any thread starts.
        if unsafe { libc::mallopt(setting, value) } == 0 {
            eprintln!("warning: glibc refused mallopt({setting}, {value}): freed memory may go back to the system each iteration");
        }
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Train { setup, iterations, out, log_every, pretrained, compare_every, path_every, resume } => {
            if resume.is_some() && (setup.settings != Settings::default() || pretrained) {
                return Err(Failure("--resume takes every setting from the checkpoint: give no other setting (nor --pretrained) with it".into()));
            }
            if setup.settings.task == Some(TaskKind::Navigation) {
                if resume.is_some() || compare_every > 0 || !setup.data.is_empty() {
                    return Err(Failure("navigation takes none of --resume, --compare-every and --data (yet)".into()));
                }
                let config = setup.config();
                config.validate().map_err(Failure)?;
                return navigation::train(config, iterations, &out, (log_every, path_every), pretrained);
            }
            if setup.settings.score_term.is_some() || setup.settings.baseline_history.is_some() {
                return Err(Failure("--score-term and --baseline-history are navigation's: the supervised tasks sample nothing from the policy".into()));
            }
            train(&setup, iterations, &out, log_every, pretrained, (compare_every, path_every), resume.as_deref())
        }
        Command::Landscape { run, directions, size, fit, zoom, span, seed, out } => landscape::landscape(&run, &LandscapeOptions { directions, size, fit, zoom, span, seed }, out.as_deref()),
        Command::Eval { run, task, tasks, inner_steps, data, rotations, within_alphabet, different_drawers, ways } => {
            let weights = std::fs::read(run.join("weights.bin")).map_err(|e| Failure(format!("cannot read {}: {e}", run.join("weights.bin").display())))?;
            let trained = maml_lab::weights::Weights::decode(&weights)?.config.task.kind;
            if let Some(task) = task.filter(|&t| t != trained) {
                return Err(Failure(format!("{} is a run of task {trained}, not {task}", run.display())));
            }
            if trained == TaskKind::Navigation {
                if data.is_some() || within_alphabet.is_some() || different_drawers.is_some() || ways.is_some() {
                    return Err(Failure("--data, --within-alphabet, --different-drawers and --ways are the image tasks': a navigation run meta-tests on held-out goals".into()));
                }
                if tasks < 2 {
                    return Err(Failure("--tasks must be at least 2 for a confidence interval".into()));
                }
                return navigation::eval(&run, &weights, tasks, inner_steps);
            }
            eval(&run, Asked { tasks, inner_steps, data: data.as_deref(), rotations, within_alphabet, different_drawers, ways })
        }
        Command::Bench { setup, iterations, threads, backend } => {
            if setup.settings.task == Some(TaskKind::Navigation) {
                if threads.is_some_and(|t| t != 1) || backend != BenchBackend::Flex {
                    return Err(Failure("navigation runs on one thread of the CPU backend (flex)".into()));
                }
                let config = setup.config();
                config.validate().map_err(Failure)?;
                return navigation::bench(config, iterations);
            }
            bench(&setup, iterations, threads, backend)
        }
        Command::Compare { setup, algorithms, iterations, seeds, tasks, markdown } => {
            let learners = compare::Learner::parse(&algorithms)?;
            let data = load_data(&setup.data)?;
            let base_for = |algorithm| {
                let mut settings = setup.settings.clone();
                settings.algorithm = Some(algorithm);
                let mut c = settings.config();
                c.task.data = setup.data.iter().map(|p| p.display().to_string()).collect();
                c
            };
            compare::compare(base_for, &data, &learners, iterations, seeds, tasks, markdown)
        }
        Command::Gradcheck { task, algorithm, model, inner_steps, multi_step_loss, per_step_rates, per_step_bn, zero_head, per_step_std, coords, filters, seed } => {
            let mut device = Device::flex();
            device.configure(FloatDType::F64).map_err(|e| Failure(format!("cannot switch the CPU backend to f64: {e:?}")))?;
            if task == Some(TaskKind::Navigation) {
                if multi_step_loss || per_step_rates || per_step_bn || zero_head {
                    return Err(Failure("the multi-step loss, per-step rates, per-step batch-norm and the zero head are the supervised tasks': navigation's own is --per-step-std".into()));
                }
                if per_step_std && inner_steps == 0 {
                    return Err(Failure("per-step spreads are the policy's after each inner step: --inner-steps must be at least 1".into()));
                }
                let report = maml_lab::rl::gradcheck::gradcheck(inner_steps, per_step_std.then_some(inner_steps), coords, seed, &device);
                println!("{}", serde_json::to_string(&report)?);
                return Ok(());
            }
            if per_step_std {
                return Err(Failure("per-step spreads are the navigation policy's (its log std): check them with --task navigation".into()));
            }
            if multi_step_loss && algorithm == Algorithm::Reptile {
                return Err(Failure("the multi-step loss weighs MAML's query losses: Reptile's direction is not the gradient of a loss".into()));
            }
            if per_step_rates && algorithm != Algorithm::Maml {
                return Err(Failure(format!("per-step learned inner rates (MAML++) are MAML's, not {algorithm}'s")));
            }
            if per_step_bn && (algorithm != Algorithm::Maml || model == Arch::Mlp) {
                return Err(Failure(format!("per-step batch-norm (MAML++) is MAML's on a conv net, not {algorithm}'s on the {model}")));
            }
            if zero_head && model == Arch::Mlp {
                return Err(Failure("the zero head is a classifier's: check it on conv4 or seed-cnn (the mlp's task here is the sinusoid's regression)".into()));
            }
            let plus = gradcheck::PlusPlus { multi_step_loss, per_step_rates, per_step_bn, zero_head };
            let report = gradcheck::gradcheck(algorithm, model, filters, inner_steps, plus, coords, seed, &device);
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
    }
}

fn load_data(paths: &[impl AsRef<Path>]) -> Result<Vec<ImageSet>, Failure> {
    paths
        .iter()
        .map(|p| {
            let p = p.as_ref();
            let bytes = std::fs::read(p).map_err(|e| Failure(format!("cannot read {}: {e}", p.display())))?;
            ImageSet::from_zip(&bytes).map_err(|e| Failure(format!("{}: {e}", p.display())))
        })
        .collect()
}
