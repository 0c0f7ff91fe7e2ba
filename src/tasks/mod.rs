//! Task families behind one sampler interface: every task is N-way K-shot (or K-point regression) with a query set.
//!
//! Tasks are plain host data (`Vec<f32>`), a pure function of the configuration and the RNG
//! handed in, so the CLI, the page and the tests see the same tasks for the same seed, and the
//! page can draw a task's images without reading tensors back.

pub mod augment;
pub mod baselines;
pub mod glyphs;
pub mod ink;
pub mod noise;
pub mod omniglot;
pub mod sampling;
pub mod sinusoid;
pub mod test_run;

use std::borrow::Cow;

use crate::config::{TaskConfig, TaskKind};
use crate::rng::Rng;
use sampling::Draws;

pub use omniglot::{DataError, ImageSet};

/// The layout of one example: `[channels, height, width]`; a vector of d features is `[d, 1, 1]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputShape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl InputShape {
    pub fn vector(d: usize) -> Self {
        Self { channels: d, height: 1, width: 1 }
    }
    pub fn image(channels: usize, side: usize) -> Self {
        Self { channels, height: side, width: side }
    }
    pub fn numel(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// Which side of the meta-train / meta-test split a task is drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    MetaTrain,
    MetaTest,
}

/// What the examples of a set are labelled with.
#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    /// Class indices in `0..ways`, shuffled per task.
    Classes { labels: Vec<usize>, ways: usize },
    /// Regression targets, one per example.
    Values(Vec<f32>),
}

/// A support or query set: `n` examples of `shape`, row-major in `x`.
#[derive(Clone, Debug, PartialEq)]
pub struct Set {
    pub x: Vec<f32>,
    pub n: usize,
    pub labels: Labels,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub support: Set,
    pub query: Set,
    /// What generated the task, for display: the sinusoid's amplitude and phase, or the class
    /// ids behind labels 0..N.
    pub meta: TaskMeta,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TaskMeta {
    Sinusoid { amplitude: f64, phase: f64 },
    Classes(Vec<usize>),
    Noise,
    /// A task a person made (drawn, or points placed): nothing generated it.
    Own,
}

/// One task family.
pub trait TaskSampler: Send {
    /// Draws a task from one side of the split.
    fn sample(&self, split: Split, rng: &mut Rng) -> Task;
    /// The layout of one example.
    fn input_shape(&self) -> InputShape;
    /// Network outputs: N for classification, 1 for regression.
    fn outputs(&self) -> usize;
    /// How many classes the meta-train side has, where a family has a fixed set of them to
    /// pre-train on (`maml::pretrain`): None for the sinusoid and the noise.
    fn pretraining_classes(&self) -> Option<usize> {
        None
    }
    /// `n` meta-train examples drawn at random, each labelled by its class among all
    /// `pretraining_classes`, not shuffled per task: plain supervised learning's batch, as a
    /// task whose query is the batch (its support, the first example, is never adapted on).
    fn pretraining_task(&self, _n: usize, _rng: &mut Rng) -> Option<Task> {
        None
    }
}

/// Images each class of `kind` has, where the task family fixes it: a task draws shots +
/// queries distinct images of each class, so their sum cannot exceed it. Glyphs render 20 per
/// class; Omniglot's characters are drawn by 20 people each (a zip with fewer is refused when
/// its run starts). The sinusoid and the noise draw as many as asked.
pub fn images_per_class(kind: TaskKind) -> Option<usize> {
    match kind {
        TaskKind::Glyphs => Some(glyphs::INSTANCES_PER_CLASS),
        TaskKind::Omniglot => Some(20),
        TaskKind::Sinusoid | TaskKind::Noise | TaskKind::Navigation => None,
    }
}

/// Builds the sampler of `config`. Omniglot needs its image sets: one zip split by the seed,
/// or a meta-train and a meta-test zip.
pub fn sampler(config: &TaskConfig, data: &[ImageSet], seed: u64) -> Result<Box<dyn TaskSampler>, DataError> {
    Ok(match config.kind {
        TaskKind::Sinusoid => Box::new(sinusoid::Sinusoid::new(config)),
        TaskKind::Glyphs => Box::new(ClassTasks::new(config, glyphs::GlyphPool::train(), glyphs::GlyphPool::test())?),
        TaskKind::Noise => Box::new(noise::Noise::new(config)),
        TaskKind::Navigation => return Err(DataError::Reinforcement),
        TaskKind::Omniglot => {
            let (train, test) = match data {
                [] => return Err(DataError::Missing),
                [one] => one.split(config.meta_train_fraction, seed),
                [train, test, ..] => (train.clone(), test.clone()),
            };
            let (train, test) = (omniglot::Pool::new(train, config.rotations, config.mirrors), omniglot::Pool::new(test, config.rotations, config.mirrors));
            Box::new(ClassTasks::new(config, train, test)?)
        }
    })
}

/// A set of classes, each with a number of images of one shape.
pub trait ClassPool: Send {
    fn num_classes(&self) -> usize;
    /// Images of class `class`.
    fn instances(&self, class: usize) -> usize;
    /// Image `instance` of class `class`, row-major: borrowed where the pool keeps it.
    fn image(&self, class: usize, instance: usize) -> Cow<'_, [f32]>;
    fn shape(&self) -> InputShape;
    /// A stable id for class `class`, for display.
    fn class_id(&self, class: usize) -> usize {
        class
    }
    /// A readable name for class `class`, for messages and display.
    fn class_name(&self, class: usize) -> String {
        format!("class {}", self.class_id(class))
    }
    /// The alphabet of class `class`, where the pool has alphabets (`sampling`).
    fn alphabet(&self, _class: usize) -> Option<usize> {
        None
    }
    /// Who drew image `instance` of class `class`, where known (`sampling`).
    fn drawer(&self, _class: usize, _instance: usize) -> Option<u32> {
        None
    }
}

/// N-way K-shot tasks over a meta-train and a meta-test pool of classes.
pub struct ClassTasks<P: ClassPool> {
    train: (P, Draws),
    test: (P, Draws),
    ways: usize,
    /// `TaskConfig::augment`: meta-train images changed a little as each task is drawn.
    augment: bool,
}

impl<P: ClassPool> ClassTasks<P> {
    pub fn new(config: &TaskConfig, train: P, test: P) -> Result<Self, DataError> {
        for (pool, split) in [(&train, "meta-train"), (&test, "meta-test")] {
            if pool.num_classes() < config.ways {
                return Err(DataError::TooFewClasses { split, classes: pool.num_classes(), ways: config.ways });
            }
            let needed = config.shots + config.queries;
            if let Some(class) = (0..pool.num_classes()).find(|&c| pool.instances(c) < needed) {
                return Err(DataError::TooFewImages { class: pool.class_name(class), images: pool.instances(class), needed });
            }
        }
        let (train_draws, test_draws) = (Draws::new(&train, config, "meta-train")?, Draws::new(&test, config, "meta-test")?);
        Ok(Self { train: (train, train_draws), test: (test, test_draws), ways: config.ways, augment: config.augment })
    }
}

impl<P: ClassPool> TaskSampler for ClassTasks<P> {
    fn sample(&self, split: Split, rng: &mut Rng) -> Task {
        let (pool, draws) = match split {
            Split::MetaTrain => &self.train,
            Split::MetaTest => &self.test,
        };
        // augmentation's own stream, from where the task stream is: the same tasks with it or without
        let mut augmenting = (self.augment && split == Split::MetaTrain).then(|| Rng::stream(rng.state(), augment::STREAM));
        let shape = pool.shape();
        // The order in which classes are drawn is random, so label i is a random class: labels
        // are shuffled per task and carry no meaning across tasks.
        let classes = draws.classes(pool.num_classes(), rng);
        let rank = draws.drawer_order(rng);
        let mut support = (Vec::new(), Vec::new());
        let mut query = (Vec::new(), Vec::new());
        for (label, &class) in classes.iter().enumerate() {
            let (shots, queries) = draws.images(class, pool.instances(class), rank.as_deref(), rng);
            for (instances, (x, y)) in [(shots, &mut support), (queries, &mut query)] {
                for instance in instances {
                    match augmenting.as_mut() {
                        Some(pixels) => x.extend(augment::augment(&pool.image(class, instance), shape, pixels)),
                        None => x.extend_from_slice(&pool.image(class, instance)),
                    }
                    y.push(label);
                }
            }
        }
        let set = |(x, labels): (Vec<f32>, Vec<usize>)| Set { n: labels.len(), x, labels: Labels::Classes { labels, ways: self.ways } };
        Task {
            support: set(support),
            query: set(query),
            meta: TaskMeta::Classes(classes.iter().map(|&c| pool.class_id(c)).collect()),
        }
    }

    fn input_shape(&self) -> InputShape {
        self.train.0.shape()
    }

    fn outputs(&self) -> usize {
        self.ways
    }

    fn pretraining_classes(&self) -> Option<usize> {
        Some(self.train.0.num_classes())
    }

    fn pretraining_task(&self, n: usize, rng: &mut Rng) -> Option<Task> {
        let pool = &self.train.0;
        let (classes, shape) = (pool.num_classes(), pool.shape());
        // augmented as a meta-train task is, from its own stream
        let mut augmenting = self.augment.then(|| Rng::stream(rng.state(), augment::STREAM));
        let (mut x, mut labels) = (Vec::with_capacity(n * shape.numel()), Vec::with_capacity(n));
        for _ in 0..n.max(1) {
            let class = rng.int_below(classes);
            let instance = rng.int_below(pool.instances(class));
            match augmenting.as_mut() {
                Some(pixels) => x.extend(augment::augment(&pool.image(class, instance), shape, pixels)),
                None => x.extend_from_slice(&pool.image(class, instance)),
            }
            labels.push(class);
        }
        let support = Set { x: x[..shape.numel()].to_vec(), n: 1, labels: Labels::Classes { labels: vec![labels[0]], ways: classes } };
        let meta = TaskMeta::Classes(labels.iter().map(|&c| pool.class_id(c)).collect());
        Some(Task { support, query: Set { n: labels.len(), x, labels: Labels::Classes { labels, ways: classes } }, meta })
    }
}

/// Tasks as bytes, for a page's worker to send a share of a meta-batch to another
/// (`decode_tasks` there): each set's examples and labels exactly, not what generated the task.
pub fn encode_tasks(tasks: &[Task]) -> Vec<u8> {
    let mut out = Vec::new();
    let u32s = |out: &mut Vec<u8>, v: usize| out.extend_from_slice(&(v as u32).to_le_bytes());
    u32s(&mut out, tasks.len());
    for set in tasks.iter().flat_map(|t| [&t.support, &t.query]) {
        u32s(&mut out, set.n);
        u32s(&mut out, set.x.len());
        put_f32s(&mut out, &set.x);
        match &set.labels {
            Labels::Classes { labels, ways } => {
                out.push(0);
                u32s(&mut out, *ways);
                labels.iter().for_each(|&l| u32s(&mut out, l));
            }
            Labels::Values(values) => {
                out.push(1);
                put_f32s(&mut out, values);
            }
        }
    }
    out
}

/// `values` as little-endian bytes, at memcpy speed where the machine is little-endian (wasm is).
fn put_f32s(out: &mut Vec<u8>, values: &[f32]) {
    if cfg!(target_endian = "little") {
        out.extend_from_slice(bytemuck::cast_slice(values));
    } else {
        out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    }
}

/// The tasks `encode_tasks` wrote (their `meta` is `TaskMeta::Own`: only the sets travel), or
/// why the bytes are not such tasks.
pub fn decode_tasks(bytes: &[u8]) -> Result<Vec<Task>, String> {
    struct Reader<'a>(&'a [u8]);
    impl Reader<'_> {
        fn take(&mut self, n: usize) -> Result<&[u8], String> {
            let (head, rest) = self.0.split_at_checked(n).ok_or("a share of tasks is truncated")?;
            self.0 = rest;
            Ok(head)
        }
        fn u32(&mut self) -> Result<usize, String> {
            Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")) as usize)
        }
        fn f32s(&mut self, n: usize) -> Result<Vec<f32>, String> {
            let bytes = self.take(n.checked_mul(4).ok_or("a share of tasks is truncated")?)?;
            Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect())
        }
        fn set(&mut self) -> Result<Set, String> {
            let n = self.u32()?;
            let len = self.u32()?;
            let x = self.f32s(len)?;
            let labels = match self.take(1)?[0] {
                0 => {
                    let ways = self.u32()?;
                    Labels::Classes { labels: (0..n).map(|_| self.u32()).collect::<Result<_, _>>()?, ways }
                }
                1 => Labels::Values(self.f32s(n)?),
                _ => return Err("a share of tasks has labels of no known kind".into()),
            };
            Ok(Set { x, n, labels })
        }
    }
    let mut r = Reader(bytes);
    let count = r.u32()?;
    let tasks = (0..count).map(|_| Ok(Task { support: r.set()?, query: r.set()?, meta: TaskMeta::Own })).collect::<Result<Vec<_>, String>>()?;
    if !r.0.is_empty() {
        return Err("a share of tasks has bytes past its last task".into());
    }
    Ok(tasks)
}
