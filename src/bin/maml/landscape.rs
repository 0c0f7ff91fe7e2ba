//! `maml landscape`: the meta-objective around a run's θ on a plane (`maml::landscape`), written as
//! JSON and CSV, so the page's landscape view can be reproduced, and redrawn, outside it.

use std::path::Path;
use std::time::Instant;

use burn::prelude::Device;
use serde_json::json;

use maml_lab::Trainer;
use maml_lab::maml::LandscapeOptions;
use maml_lab::checkpoint::Checkpoint;
use maml_lab::weights::Weights;

use super::{Failure, load_data};

/// The run's θ, from its `checkpoint.bin` when it has one (with Adam's state, so each arrow is the
/// step its next meta-iteration would take; a directory holding only the page's checkpoint works
/// too), else from `weights.bin`; its path from `path/*.bin`; the plane and its grid.
pub fn landscape(run: &Path, options: &LandscapeOptions, out: Option<&Path>) -> Result<(), Failure> {
    let start = Instant::now();
    let read = |path: &Path| std::fs::read(path).map_err(|e| Failure(format!("cannot read {}: {e}", path.display())));
    let (mut trainer, adam) = match std::fs::read(run.join("checkpoint.bin")) {
        Ok(bytes) => {
            let data = load_data(&Checkpoint::decode(&bytes)?.weights.config.task.data)?;
            (Trainer::from_checkpoint(&bytes, &data, &Device::flex())?, "the run's, from checkpoint.bin")
        }
        Err(_) => {
            let weights = read(&run.join("weights.bin"))?;
            let data = load_data(&Weights::decode(&weights)?.config.task.data)?;
            (Trainer::from_weights(&weights, &data, &Device::flex())?, "fresh: the run has no checkpoint.bin, so each arrow is Adam's first step")
        }
    };
    let mut path: Vec<(usize, std::path::PathBuf)> = match std::fs::read_dir(run.join("path")) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter_map(|p| Some((p.file_stem()?.to_str()?.parse().ok()?, p)))
            .collect(),
        Err(_) => Vec::new(),
    };
    path.sort();
    for (iteration, file) in &path {
        trainer.add_to_path(*iteration, &read(file)?)?;
    }
    let plane = trainer.landscape(options)?.wait();
    let grid = plane.grid();
    let base = out.map(Path::to_path_buf).unwrap_or_else(|| run.join("landscape"));
    let (json_path, csv_path) = (base.with_extension("json"), base.with_extension("csv"));
    let summary = serde_json::to_value(&plane.summary)?;
    let mut file = json!({"run": run.display().to_string(), "options": options, "adam": adam, "grid": grid});
    for (key, value) in summary.as_object().expect("a summary is an object") {
        file[key] = value.clone();
    }
    std::fs::write(&json_path, serde_json::to_string(&file)?)?;
    let axis = &plane.summary.axis;
    let mut csv = String::from("a,b,meta_loss\n");
    for (row, values) in grid.iter().enumerate() {
        for (col, v) in values.iter().enumerate() {
            csv.push_str(&format!("{},{},{}\n", axis[col], axis[row], v));
        }
    }
    std::fs::write(&csv_path, csv)?;
    let s = &plane.summary;
    println!(
        "{}",
        json!({
            "iteration": s.iteration, "directions": s.directions, "note": s.note, "size": s.size, "span": s.span,
            "centre_loss": s.centre_loss, "exact_norm": s.exact_norm, "first_order_cosine": s.first_order_cosine,
            "path_points": s.path.len(), "adam": adam,
            "json": json_path.display().to_string(), "csv": csv_path.display().to_string(), "seconds": start.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}
