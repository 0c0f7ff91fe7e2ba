//! A seed's first meta-losses and meta-test losses, pinned: a change to the engine's structure must not change a run.
//!
//! The values are the engine's as they were when the query set went off the graph (each
//! meta-loss is an f32 read as f64, printed exactly), held to 4 units in the last place of an f32:
//! a change of the arithmetic fails here, and must be explained in BENCHMARKS.md with new values.
//! Not to the bit, since the GEMM under burn-flex blocks its sums by the host's cache sizes (read
//! at run time), so a long dot product can round differently in its last bit on another machine;
//! on one machine the same seed gives bit-identical weights when run twice, and with one thread
//! or two (below).

use burn::prelude::Device;
use maml_lab::{Start, Trainer};
use maml_lab::config::{TaskKind, TrainerConfig};

fn run(config: TrainerConfig, iterations: usize) -> (Vec<f64>, Vec<f64>) {
    let mut t = Trainer::new(config, &[], &Device::flex()).unwrap();
    let losses = (0..iterations).map(|_| t.step().wait().unwrap().meta_loss).collect();
    let test = t.evaluate(4, 2, Start::MetaLearned).wait().steps.iter().map(|s| s.loss.mean).collect();
    (losses, test)
}

fn close(got: &[f64], want: &[f64], what: &str) {
    let ulps = |a: f64, b: f64| ((a as f32).to_bits() as i64 - (b as f32).to_bits() as i64).abs();
    let near = got.len() == want.len() && got.iter().zip(want).all(|(&g, &w)| g.signum() == w.signum() && ulps(g, w) <= 4);
    assert!(near, "{what}: got {got:?}, pinned {want:?}");
}

/// The weights file after `iterations` meta-iterations on `threads` threads.
fn weights(config: TrainerConfig, iterations: usize, threads: usize) -> Vec<u8> {
    let mut t = Trainer::new(config, &[], &Device::flex()).unwrap();
    t.set_threads(threads);
    for _ in 0..iterations {
        t.step().wait().unwrap();
    }
    t.weights().wait()
}

fn glyphs() -> TrainerConfig {
    let mut c = TrainerConfig::preset(TaskKind::Glyphs);
    (c.model.filters, c.task.queries, c.maml.meta_batch) = (8, 5, 4);
    c
}

fn sinusoid(first_order: bool) -> TrainerConfig {
    let mut c = TrainerConfig::preset(TaskKind::Sinusoid);
    c.maml.first_order = first_order;
    c
}

#[test]
fn the_sinusoid_runs_as_before() {
    let (losses, test) = run(sinusoid(false), 5);
    close(&losses, &[4.457208156585693, 4.1952948570251465, 4.002813816070557, 4.663288116455078, 4.0260748863220215], "meta-losses");
    close(&test, &[2.4607221633195877, 2.3378245420753956, 2.300808877684176], "meta-test");
    let (losses, test) = run(sinusoid(true), 5);
    close(&losses, &[4.457208156585693, 4.196232318878174, 4.001045227050781, 4.648230075836182, 4.027863025665283], "first-order meta-losses");
    close(&test, &[2.447021252475679, 2.3293832154013216, 2.294975145254284], "first-order meta-test");
}

#[test]
fn glyphs_run_as_before() {
    let (losses, test) = run(glyphs(), 3);
    close(&losses, &[1.5808638334274292, 1.5876665115356445, 1.5510406494140625], "meta-losses");
    close(&test, &[1.6738572120666504, 1.5553913116455078, 1.3877594470977783], "meta-test");
    let mut two = glyphs();
    two.maml.inner_steps = 2;
    let (losses, test) = run(two, 2);
    close(&losses, &[1.4430229663848877, 1.4152002334594727], "two inner steps: meta-losses");
    close(&test, &[1.6747935712337494, 1.5711968839168549, 1.2297424376010895], "two inner steps: meta-test");
}

/// The CPU path's arithmetic does not depend on the run or on the machine's cores: bit-identical
/// weights after a few meta-iterations, run twice, and with one thread or two (the meta-batch's
/// shares are fixed per platform and summed in a fixed order: `maml::shares`).
#[test]
fn a_seed_gives_bit_identical_weights_run_twice_and_on_one_or_two_threads() {
    for (what, config, iterations) in [("sinusoid", sinusoid(false), 4), ("glyphs", glyphs(), 2)] {
        let first = weights(config.clone(), iterations, 2);
        assert_eq!(first, weights(config.clone(), iterations, 2), "{what}: run twice");
        assert_eq!(first, weights(config, iterations, 1), "{what}: one thread against two");
    }
}
