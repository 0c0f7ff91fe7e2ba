//! The browser's handle: one `Lab` over a Trainer, driven by the page's worker with scalars, bytes and JSON.
//!
//! Compiled natively too (`cfg_attr`), so its contract is tested by `cargo test`. Every method
//! that reads results from the device is async: WebGPU in the browser can only read that way.
//! Results are small JSON strings; failures are one sentence for the screen, and a failed
//! call leaves the lab as it was.

use burn::prelude::Device;
#[cfg(target_family = "wasm")]
use wasm_bindgen::prelude::*;

use crate::checkpoint::Checkpoint;
use crate::config::{TaskKind, TrainerConfig};
use crate::maml::evaluate::EVAL_CHUNK;
use crate::maml::shares::Layout;
use crate::maml::{EvalReport, LandscapeOptions, Plane, Stat, TaskCurve};
use crate::tasks::{Task, encode_tasks};
use crate::weights;
use crate::tasks::baselines::{Distance, accuracy};
use crate::memory;
use crate::settings::{self, Settings};
use crate::tasks::{ImageSet, Labels, TaskMeta, omniglot};
use crate::trainer::{Start, TrainError, Trainer};

mod navigation;
mod share;
mod strokes;
pub use navigation::{NavLab, clamp_goal};
pub use share::{Share, encode_units, frame, unframe};
pub use strokes::render_strokes;

// The static constructors of the crates that register with `inventory` (cubecl's), run here
// once. A module that never calls `__wasm_call_ctors` itself is linked by wasm-ld as a "command":
// every export, down to the allocator that passes each byte array in, would run them all again
// on each call (BENCHMARKS.md, "The page on every core").
#[cfg(target_family = "wasm")]
unsafe extern "C" {
    fn __wasm_call_ctors();
}

#[cfg(target_family = "wasm")]
#[wasm_bindgen(start)]
pub fn start() {
    // SAFETY: wasm-ld's constructor function, called once, as the module starts and before any
    // other export, which no longer calls it
    unsafe { __wasm_call_ctors() };
    console_error_panic_hook::set_once();
}

/// Kernel launches cubecl records before it submits them to the WebGPU queue (its default is
/// 32). In a browser each submit is a message to the GPU process; a meta-iteration ends with a
/// read, which submits what is left anyway (counts: BENCHMARKS.md, "WebGPU work").
#[cfg(target_family = "wasm")]
const TASKS_PER_SUBMIT: usize = 128;

#[cfg_attr(target_family = "wasm", wasm_bindgen)]
pub struct Lab {
    trainer: Trainer,
    device: Device,
    /// The landscape being drawn (`landscape_plane`), evaluated a row per call.
    plane: Option<Plane>,
}

thread_local! {
    /// The Omniglot zip's characters, once one is loaded: the worker's, not one lab's, since the
    /// worker makes a new lab when the backend changes (auto remeasures for a new shape of work)
    /// and that lab's omniglot runs need them too.
    static ZIP: std::cell::RefCell<Vec<ImageSet>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn parse_settings(json: &str) -> Result<Settings, String> {
    serde_json::from_str(json).map_err(|e| format!("unreadable settings: {e}"))
}

/// A run the page can hold: valid, and within the page's memory (`memory::check_page`, with a
/// meta-test chunk as large as the page may ask for). Natively the CLI runs what fits the machine.
fn page_config(config: TrainerConfig) -> Result<TrainerConfig, String> {
    config.validate()?;
    memory::check_page(&config, EVAL_CHUNK)?;
    Ok(config)
}

/// A trainer for the page: the zip loaded (if any), its meta-batches cut into the page's units,
/// which its workers share (`Lab::plan_step`).
fn page_trainer(config: TrainerConfig, device: &Device) -> Result<Trainer, String> {
    let mut trainer = ZIP.with_borrow(|data| Trainer::new(config, data, device)).map_err(|e| e.to_string())?;
    trainer.set_layout(Layout::Units);
    Ok(trainer)
}

/// The meta-test's start: the random one with `random_init`, else the meta-learned one.
fn start_of(random_init: bool) -> Start {
    if random_init { Start::Random } else { Start::MetaLearned }
}

/// Units `first..first + count`, each `unit(u)`'s tasks, as one message for a `Share`.
fn units_message<'t>(first: u32, count: u32, unit: impl Fn(usize) -> Result<&'t [Task], TrainError>) -> Result<Vec<u8>, String> {
    let units = (first..first.saturating_add(count)).map(|u| unit(u as usize)).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    Ok(encode_units(&units))
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("reports always serialise")
}

impl Lab {
    /// Tasks `first..first + count` of the `tasks` meta-test tasks: the stream's prefix up to
    /// them, no further.
    fn meta_test_part(&self, tasks: u32, first: u32, count: u32) -> Result<Vec<Task>, String> {
        let end = first as usize + count as usize;
        if end > tasks as usize {
            return Err(format!("the meta-test has {tasks} tasks"));
        }
        Ok(self.trainer.meta_test_tasks(end).split_off(first as usize))
    }
}

#[cfg_attr(target_family = "wasm", wasm_bindgen)]
impl Lab {
    /// The page's controls and presets (`settings::table`) as JSON: the one source of every
    /// range, label and default the page shows.
    pub fn settings_table() -> String {
        settings::table().to_string()
    }

    /// A lab on the CPU backend (flex) with the given settings JSON.
    #[cfg_attr(target_family = "wasm", wasm_bindgen(constructor))]
    pub fn new(settings_json: &str) -> Result<Lab, String> {
        Self::on_device(settings_json, Device::flex())
    }

    /// A lab on WebGPU. The caller checks `navigator.gpu` first: without it wgpu panics rather
    /// than failing. The device is started once per worker and shared by every later lab: burn
    /// refuses to start its WebGPU runtime twice, and the kernels it compiled stay with it, so a
    /// later run of the same shape compiles nothing.
    #[cfg(target_family = "wasm")]
    pub async fn webgpu(settings_json: String) -> Result<Lab, String> {
        thread_local! {
            static WEBGPU: std::cell::RefCell<Option<Device>> = const { std::cell::RefCell::new(None) };
        }
        let device = match WEBGPU.with_borrow(Clone::clone) {
            Some(device) => device,
            None => {
                let device = Device::wgpu_options()
                    .graphics_api(burn::tensor::wgpu::WgpuBackend::WebGpu)
                    .tasks_max(TASKS_PER_SUBMIT)
                    .init_async()
                    .await
                    .map_err(|e| format!("WebGPU could not start: {e:?}"))?;
                WEBGPU.set(Some(device.clone()));
                device
            }
        };
        Self::on_device(&settings_json, device)
    }

    fn on_device(settings_json: &str, device: Device) -> Result<Lab, String> {
        let config = page_config(parse_settings(settings_json)?.config())?;
        let trainer = page_trainer(config, &device)?;
        Ok(Lab { trainer, device, plane: None })
    }

    pub fn iteration(&self) -> usize {
        self.trainer.iteration()
    }

    /// The full configuration as JSON.
    pub fn config(&self) -> String {
        json(self.trainer.config())
    }

    /// A new run with these settings, on the same device, with the zip loaded (if any). On failure (settings that
    /// cannot run, or a run too large for the page) the current run goes on untouched.
    pub fn reset(&mut self, settings_json: &str) -> Result<(), String> {
        let config = page_config(parse_settings(settings_json)?.config())?;
        self.trainer = page_trainer(config, &self.device)?;
        self.plane = None;
        Ok(())
    }

    /// Reads an Omniglot-layout zip for the omniglot task (split by the seed into meta-train and
    /// meta-test); the next `reset`, and every lab made after it in this thread, use it. Returns `{"characters", "images"}`. A bad zip, or
    /// one the page's omniglot preset cannot make tasks of (too few characters for its ways once
    /// split, or characters with too few images), changes nothing.
    pub fn load_zip(&mut self, bytes: &[u8]) -> Result<String, String> {
        let set = ImageSet::from_zip(bytes).map_err(|e| e.to_string())?;
        let current = self.trainer.config();
        let mut preset = TrainerConfig::page_preset(TaskKind::Omniglot, current.maml.algorithm);
        preset.seed = current.seed;
        omniglot::check_characters(&set, &preset.task)?;
        crate::tasks::sampler(&preset.task, std::slice::from_ref(&set), preset.seed).map_err(|e| e.to_string())?;
        let summary = serde_json::json!({"characters": set.names.len(), "images": set.num_images()});
        ZIP.set(vec![set]);
        Ok(summary.to_string())
    }

    /// Changes α, β, the inner steps, the meta-batch or first-order from the next
    /// meta-iteration on, keeping the weights and Adam's state. Takes the settings JSON; only
    /// the MAML fields are read.
    pub fn set_maml(&mut self, settings_json: &str) -> Result<(), String> {
        let config = self.trainer.config();
        let maml = parse_settings(settings_json)?.maml(config.task.kind, &config.maml);
        page_config(TrainerConfig { maml: maml.clone(), ..config.clone() })?;
        self.trainer.set_maml(maml).map_err(|e| e.to_string())
    }

    /// Runs up to `n` meta-iterations, read from the device once for all of them. Returns
    /// `{"reports": [StepReport...], "error": null | "..."}`: a divergence ends the batch with its
    /// sentence, the last finite weights kept.
    pub async fn step(&mut self, n: u32) -> String {
        let (reports, error) = match self.trainer.steps(n.max(1) as usize).read().await {
            Ok((reports, diverged)) => (reports, diverged.map(|e| e.to_string())),
            Err(e) => (vec![], Some(e)),
        };
        serde_json::json!({"reports": reports, "error": error}).to_string()
    }

    /// The next meta-iteration, planned for the page's workers (www/worker/shares.js): its
    /// meta-batch sampled and cut into units; returns their number. Its units are computed here
    /// (`compute_units`) or by `Share` workers from `export_weights` and `unit_tasks` (their
    /// answers to `put_units`), then `finish_step` applies it: the weights `step(1)` gives, bit
    /// for bit, however the units were shared.
    pub fn plan_step(&mut self) -> u32 {
        self.trainer.plan_step() as u32
    }

    /// The tasks of units `first..first + count` of the planned meta-iteration, the message a
    /// `Share` takes.
    pub fn unit_tasks(&self, first: u32, count: u32) -> Result<Vec<u8>, String> {
        units_message(first, count, |u| self.trainer.unit_tasks(u))
    }

    /// A number that changes whenever the weights, Adam's state or the settings do, and that no
    /// other run has held (`Trainer::version`): a share's early start on this lab's weights file
    /// is still current while it holds.
    pub fn version(&self) -> u32 {
        self.trainer.version()
    }

    /// Samples the next meta-batch while this one is computed (`Trainer::sample_ahead`), so its
    /// units' tasks can go to the shares before the weights do; returns its number of units.
    pub fn sample_ahead(&mut self) -> u32 {
        self.trainer.sample_ahead() as u32
    }

    /// Whether the planned meta-iteration's tasks are the ones sampled ahead (and sent ahead).
    pub fn planned_ahead(&self) -> bool {
        self.trainer.planned_ahead()
    }

    /// The tasks of units `first..first + count` of the meta-batch sampled ahead, the message
    /// `Share::keep` takes.
    pub fn ahead_unit_tasks(&self, first: u32, count: u32) -> Result<Vec<u8>, String> {
        units_message(first, count, |u| self.trainer.ahead_unit_tasks(u))
    }

    /// The weights file a `Share` computes its units with, read at once: sharing runs on the CPU
    /// only, where a read needs no wait (`export_weights` is the same file, read the way WebGPU
    /// must).
    pub fn share_weights(&self) -> Vec<u8> {
        self.trainer.weights().wait()
    }

    /// Tasks `first..first + count` of the `tasks` meta-test tasks `evaluate` adapts to, as
    /// bytes for a `Share` (`Share::curves`).
    pub fn meta_test_tasks(&self, tasks: u32, first: u32, count: u32) -> Result<Vec<u8>, String> {
        Ok(encode_tasks(&self.meta_test_part(tasks, first, count)?))
    }

    /// The weights file of a meta-test's start (with `random_init`, the random start's), for a
    /// `Share` to adapt from; read at once (the CPU's).
    pub fn start_weights(&self, random_init: bool) -> Vec<u8> {
        weights::read(&self.trainer.start_params(start_of(random_init)), self.trainer.config().clone(), self.trainer.iteration()).wait()
    }

    /// Tasks `first..first + count` of the meta-test adapted here: their curves, as `Share::curves`.
    pub fn meta_test_curves(&self, tasks: u32, random_init: bool, first: u32, count: u32) -> Result<String, String> {
        let part = self.meta_test_part(tasks, first, count)?;
        let steps = self.trainer.config().maml.test_inner_steps;
        Ok(json(&self.trainer.evaluate_on(&part, steps, start_of(random_init)).wait().tasks))
    }

    /// A meta-test put together from its parts' curves (a JSON array of `meta_test_curves` or
    /// `Share::curves` answers, in task order): the EvalReport `evaluate` gives.
    pub fn meta_test_report(&self, parts_json: &str) -> Result<String, String> {
        let parts: Vec<Vec<TaskCurve>> = serde_json::from_str(parts_json).map_err(|e| format!("unreadable meta-test parts: {e}"))?;
        Ok(json(&EvalReport::from_curves(parts.into_iter().flatten().collect())))
    }

    /// How many units the run's meta-batches are cut into: at most that many workers share them.
    pub fn units(&self) -> u32 {
        memory::units(self.trainer.config()).1 as u32
    }

    /// The most of `workers` workers (this one and `Share`s) whose memories fit a tab together
    /// (`memory::workers_that_fit`).
    pub fn workers_that_fit(&self, workers: u32) -> u32 {
        memory::workers_that_fit(self.trainer.config(), EVAL_CHUNK, workers as usize) as u32
    }

    /// Computes units `first..first + count` here.
    pub fn compute_units(&mut self, first: u32, count: u32) -> Result<(), String> {
        (first..first.saturating_add(count)).try_for_each(|u| self.trainer.compute_unit(u as usize)).map_err(|e| e.to_string())
    }

    /// Units `first..` as a `Share` computed them (its answer, as it came).
    pub fn put_units(&mut self, first: u32, bytes: &[u8]) -> Result<(), String> {
        for (i, sum) in unframe(bytes)?.into_iter().enumerate() {
            self.trainer.put_unit(first as usize + i, sum).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// `finish_step` read at once: the workers share meta-iterations on the CPU only, where a
    /// read needs no wait (an await there costs a turn of the worker's event loop each time).
    pub fn finish_step_now(&mut self) -> Result<String, String> {
        let (reports, diverged) = self.trainer.finish_step().map_err(|e| e.to_string())?.wait();
        Ok(serde_json::json!({"reports": reports, "error": diverged.map(|e| e.to_string())}).to_string())
    }

    /// Applies the planned meta-iteration once every unit is in: the same JSON as `step(1)`.
    /// A unit missing is refused with a sentence, and the plan kept.
    pub async fn finish_step(&mut self) -> Result<String, String> {
        let pending = self.trainer.finish_step().map_err(|e| e.to_string())?;
        let (reports, error) = match pending.read().await {
            Ok((reports, diverged)) => (reports, diverged.map(|e| e.to_string())),
            Err(e) => (vec![], Some(e)),
        };
        Ok(serde_json::json!({"reports": reports, "error": error}).to_string())
    }

    /// Meta-test on `tasks` fixed tasks with the run's `test_inner_steps`: an EvalReport as
    /// JSON. With `random_init`, the same from a fresh random initialisation.
    pub async fn evaluate(&self, tasks: u32, random_init: bool) -> Result<String, String> {
        let start = start_of(random_init);
        let steps = self.trainer.config().maml.test_inner_steps;
        Ok(json(&self.trainer.evaluate(tasks.max(1) as usize, steps, start).read().await?))
    }

    /// The two nearest-neighbour classifiers, by pixel distance and by the modified Hausdorff
    /// distance between the images' ink (`tasks::baselines`), on the `tasks` meta-test tasks
    /// `evaluate` adapts to: `{"pixel": Stat, "hausdorff": Stat}` of their query accuracy (a
    /// fraction), or `null` for the sinusoid. They learn nothing: a meta-learner below them has
    /// not learned yet.
    pub fn nearest_neighbours(&self, tasks: u32) -> String {
        if self.trainer.config().task.kind == TaskKind::Sinusoid {
            return "null".into();
        }
        let drawn = self.trainer.meta_test_tasks(tasks.max(1) as usize);
        let shape = self.trainer.input_shape();
        let stat = |d| Stat::of(&drawn.iter().map(|t| accuracy(t, shape, d)).collect::<Vec<_>>());
        json(&serde_json::json!({"pixel": stat(Distance::Pixels), "hausdorff": stat(Distance::Hausdorff)}))
    }

    /// The `index`-th display task adapted step by step over the run's `test_inner_steps` (a View as JSON).
    pub async fn view(&self, index: u32) -> Result<String, String> {
        let steps = self.trainer.config().maml.test_inner_steps;
        Ok(json(&self.trainer.view(index as u64, steps).read().await?))
    }

    /// A sampled meta-test task with its exact pixels (the `index`-th display task, as `view`
    /// adapts it), for the page to fill any drawing canvas from: `{"shape", "ways", "support_x",
    /// "support_y", "query_x", "query_y", "classes"}` as JSON, inputs row-major, labels 0..ways.
    pub fn sample_task(&self, index: u32) -> String {
        let task = self.trainer.view_task(index as u64);
        let labels = |l: &Labels| match l {
            Labels::Classes { labels, .. } => labels.iter().map(|&c| c as f32).collect(),
            Labels::Values(v) => v.clone(),
        };
        serde_json::json!({
            "shape": self.trainer.input_shape(),
            "ways": self.trainer.config().task.ways,
            "support_x": task.support.x,
            "support_y": labels(&task.support.labels),
            "query_x": task.query.x,
            "query_y": labels(&task.query.labels),
            "classes": match task.meta { TaskMeta::Classes(c) => c, _ => vec![] },
        })
        .to_string()
    }

    /// A person's own task adapted with the current weights, α and `test_inner_steps`, from the
    /// meta-learned start and from the meta-test's random start. Inputs in the network's input
    /// shape (images: `[channels, height, width]` row-major, ink 1 on background 0; the
    /// sinusoid: one x each), support labels 0..ways (the sinusoid: y values). Returns
    /// `{"iteration", "meta_learned": [OwnStep], "random": [OwnStep]}` as JSON, a step each
    /// 0..=k: the support loss and, per query, the class probabilities (the sinusoid: the
    /// prediction). A task that does not fit is refused with one sentence.
    pub async fn adapt_task(&self, support_x: Vec<f32>, support_y: Vec<f32>, query_x: Vec<f32>) -> Result<String, String> {
        let task = self.trainer.own_task(support_x, support_y, query_x)?;
        let meta_learned = self.trainer.adapt_own(&task, Start::MetaLearned).read().await?;
        let random = self.trainer.adapt_own(&task, Start::Random).read().await?;
        Ok(serde_json::json!({"iteration": self.trainer.iteration(), "meta_learned": meta_learned, "random": random}).to_string())
    }

    /// The exact meta-gradient against the first-order one (and Reptile's direction, for
    /// Reptile) on the meta-batch the next meta-iteration trains on, which it leaves as it was
    /// (`Trainer::compare_gradients`): a Comparison as JSON, the figures `maml train
    /// --compare-every` writes.
    pub async fn compare_gradients(&self) -> Result<String, String> {
        Ok(json(&self.trainer.compare_gradients().read().await?))
    }

    /// `compare_gradients` planned for the page's workers (`Trainer::plan_compare`), as
    /// `plan_step` plans a meta-iteration: returns the number of units; each of the
    /// `compare_learners` learners' units is computed here (`compute_compare_units`) or by a
    /// `Share` from `compare_weights` and `compare_unit_tasks` (its answer to
    /// `put_compare_units`), and `finish_compare_now` gives `compare_gradients`' JSON, bit for bit.
    pub fn plan_compare(&mut self) -> u32 {
        self.trainer.plan_compare() as u32
    }

    /// How many learners the planned comparison computes the directions of (2, or 3 for Reptile).
    pub fn compare_learners(&self) -> u32 {
        self.trainer.compare_learners() as u32
    }

    /// The weights file a `Share` computes learner `learner`'s units of the planned comparison
    /// with, read at once (the CPU's).
    pub fn compare_weights(&self, learner: u32) -> Result<Vec<u8>, String> {
        Ok(self.trainer.compare_weights(learner as usize).map_err(|e| e.to_string())?.wait())
    }

    /// The tasks of units `first..first + count` of the planned comparison, the message a
    /// `Share` takes.
    pub fn compare_unit_tasks(&self, first: u32, count: u32) -> Result<Vec<u8>, String> {
        units_message(first, count, |u| self.trainer.compare_unit_tasks(u))
    }

    /// Computes learner `learner`'s units `first..first + count` of the planned comparison here.
    pub fn compute_compare_units(&mut self, learner: u32, first: u32, count: u32) -> Result<(), String> {
        (first..first.saturating_add(count)).try_for_each(|u| self.trainer.compute_compare_unit(learner as usize, u as usize)).map_err(|e| e.to_string())
    }

    /// Learner `learner`'s units `first..` of the planned comparison as a `Share` computed them.
    pub fn put_compare_units(&mut self, learner: u32, first: u32, bytes: &[u8]) -> Result<(), String> {
        for (i, sum) in unframe(bytes)?.into_iter().enumerate() {
            self.trainer.put_compare_unit(learner as usize, first as usize + i, sum).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The planned comparison once every unit is in, read at once (the CPU's): a Comparison as
    /// JSON, as `compare_gradients` gives it.
    pub fn finish_compare_now(&mut self) -> Result<String, String> {
        Ok(json(&self.trainer.finish_compare().map_err(|e| e.to_string())?.wait()))
    }

    /// Keeps θ every `every` meta-iterations from now on, for the landscape's path (0: none).
    pub fn set_path_every(&mut self, every: u32) {
        self.trainer.set_path_every(every as usize);
    }

    /// Starts a landscape (`maml::landscape`) with the options `{"directions", "size", "fit",
    /// "zoom", "span", "seed"}` as JSON: its summary (axis, arrows, path, the value at θ) as
    /// JSON. Its rows come from `landscape_row`, one per call, until the next start or run.
    pub async fn landscape_plane(&mut self, options_json: &str) -> Result<String, String> {
        let options: LandscapeOptions = serde_json::from_str(options_json).map_err(|e| format!("unreadable landscape options: {e}"))?;
        let plane = self.trainer.landscape(&options).map_err(|e| e.to_string())?.read().await?;
        let summary = json(&plane.summary);
        self.plane = Some(plane);
        Ok(summary)
    }

    /// The `row`-th row of the landscape started last: its values as a JSON array.
    pub async fn landscape_row(&self, row: u32) -> Result<String, String> {
        let plane = self.plane.as_ref().ok_or("no landscape has been started for this run")?;
        if row as usize >= plane.summary.size {
            return Err(format!("the landscape has {} rows", plane.summary.size));
        }
        Ok(json(&plane.row(row as usize).read().await?))
    }

    /// MAML's one inner step on the `index`-th display task with the current α and β, and its
    /// meta-gradient split into the first-order part and the second-order correction (a Walk as
    /// JSON; `maml::walkthrough`).
    pub async fn walk(&self, index: u32) -> Result<String, String> {
        Ok(json(&self.trainer.walk(index as u64).read().await?))
    }

    /// Meta-SGD's learned inner learning rates per parameter tensor, `[{"name","mean","min","max"}]`
    /// as JSON; `null` for the other algorithms.
    pub async fn learned_rates(&self) -> Result<String, String> {
        match self.trainer.learned_rates() {
            Some(pending) => Ok(json(&pending.read().await?)),
            None => Ok("null".into()),
        }
    }

    /// The weights with their config, as the bytes of a weights file.
    pub async fn export_weights(&self) -> Result<Vec<u8>, String> {
        self.trainer.weights().read().await
    }

    /// Loads a weights file into the current model; a file of another model or a damaged one
    /// is refused with the reason and nothing changes.
    pub fn import_weights(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.trainer.load_weights(bytes).map_err(|e| e.to_string())
    }

    /// The run's checkpoint (`Trainer::checkpoint`): its weights file plus the meta-train task
    /// stream, the MAML settings in force and Adam's state, read from the device at once. A
    /// fresh lab with the same settings that resumes it goes on exactly as this one would.
    pub async fn export_checkpoint(&self) -> Result<Vec<u8>, String> {
        self.trainer.checkpoint().read().await
    }

    /// Resumes a checkpoint of this run (the same settings but the MAML ones, which it brings);
    /// a damaged one, one of another model or run, or one whose settings the page cannot hold
    /// is refused with the reason and nothing changes.
    pub fn resume_checkpoint(&mut self, bytes: &[u8]) -> Result<(), String> {
        let checkpoint = Checkpoint::decode(bytes)?;
        page_config(TrainerConfig { maml: checkpoint.weights.config.maml.clone(), ..self.trainer.config().clone() })?;
        self.trainer.resume_from(checkpoint).map_err(|e| e.to_string())
    }
}
