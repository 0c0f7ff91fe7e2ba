//! A seed's first meta-losses and meta-test losses, pinned: a change to the engine's structure must not change a run.
//!
//! The values were taken from the engine before the outer loop moved to `maml::outer`; any change
//! of the arithmetic (a different order of sums, a missing term) moves them past the tolerance.

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
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1e-3), "{what}: got {got:?}, pinned {want:?}");
    }
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
    close(&losses, &[4.457208633422852, 4.195294380187988, 4.002813816070557, 4.663288116455078, 4.02607536315918], "meta-losses");
    close(&test, &[2.4607221633195877, 2.3378245420753956, 2.300808877684176], "meta-test");
    let (losses, test) = run(sinusoid(true), 5);
    close(&losses, &[4.457208633422852, 4.196232318878174, 4.0010457038879395, 4.648229598999023, 4.027863025665283], "first-order meta-losses");
    close(&test, &[2.447021252475679, 2.3293832154013216, 2.294975145254284], "first-order meta-test");
}

#[test]
fn glyphs_run_as_before() {
    let (losses, test) = run(glyphs(), 3);
    close(&losses, &[1.5808639526367188, 1.5876661539077759, 1.5510406494140625], "meta-losses");
    close(&test, &[1.6738573610782623, 1.5553914606571198, 1.3877593129873276], "meta-test");
    let mut two = glyphs();
    two.maml.inner_steps = 2;
    let (losses, test) = run(two, 2);
    close(&losses, &[1.4430229663848877, 1.4151980876922607], "two inner steps: meta-losses");
    close(&test, &[1.6747938692569733, 1.571196734905243, 1.2297406196594238], "two inner steps: meta-test");
}
