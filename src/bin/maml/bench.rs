//! `maml bench`: meta-iterations per second of a configuration, and the resident memory around
//! them.

use std::time::Instant;

use burn::prelude::Device;
use serde_json::json;

use maml_lab::Trainer;

use super::{Failure, Setup, load_data};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchBackend {
    Flex,
    Wgpu,
}

/// The device of `maml bench --backend`.
fn bench_device(backend: BenchBackend) -> Result<Device, Failure> {
    match backend {
        BenchBackend::Flex => Ok(Device::flex()),
        #[cfg(feature = "wgpu-native")]
        BenchBackend::Wgpu => Device::wgpu_options()
            .init()
            .map_err(|e| Failure(format!("no GPU for the wgpu backend: {e}"))),
        #[cfg(not(feature = "wgpu-native"))]
        BenchBackend::Wgpu => Err(Failure(
            "this maml was built without the wgpu backend: build it with `cargo build --release --features wgpu-native`".into(),
        )),
    }
}

pub fn bench(setup: &Setup, iterations: usize, threads: Option<usize>, backend: BenchBackend) -> Result<(), Failure> {
    let config = setup.config();
    if config.maml.pretrain_steps.is_some() {
        return Err(Failure("bench times meta-iterations: --pretrain-steps is train's (and compare's) start, not a meta-iteration".into()));
    }
    let data = load_data(&setup.data)?;
    let mut trainer = Trainer::new(config.clone(), &data, &bench_device(backend)?)?;
    if let Some(threads) = threads {
        trainer.set_threads(threads);
    }
    // warm-up (allocator and kernel caches; on wgpu, kernel compilation); their meta-losses
    // come out, so that two backends can be compared on the same seed
    let mut warm_up_losses = Vec::new();
    for _ in 0..2 {
        warm_up_losses.push(trainer.step().wait()?.meta_loss);
    }
    let resident_after_warm_up = resident_bytes();
    let mut times = Vec::with_capacity(iterations);
    let start = Instant::now();
    for _ in 0..iterations.max(1) {
        let t = Instant::now();
        trainer.step().wait()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let total = start.elapsed().as_secs_f64();
    let resident_at_end = resident_bytes();
    times.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "it_per_s": times.len() as f64 / total, "ms_per_iter_median": times[times.len() / 2],
            "task": config.task.kind, "model": config.model.arch,
            "order": if config.maml.first_order { "first" } else { "second" },
            "meta_batch": config.maml.meta_batch, "inner_steps": config.maml.inner_steps, "iterations": times.len(),
            "threads": trainer.threads(), "backend": format!("{backend:?}").to_lowercase(), "warm_up_losses": warm_up_losses,
            "resident_bytes_after_warm_up": resident_after_warm_up, "resident_bytes_at_end": resident_at_end,
        })
    );
    Ok(())
}

/// The process's resident memory in bytes (`VmRSS` in Linux's `/proc/self/status`), if the
/// system says.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kb * 1024)
}
