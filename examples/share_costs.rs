//! What sharing a page's meta-iteration costs the training worker, natively: sampling the
//! meta-batch (`Lab::plan_step`), the weights and the units' tasks out, each unit computed, and
//! the sums back in (BENCHMARKS.md, "The page on every core").
//! `cargo run --release --example share_costs`

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use maml_lab::web::{Lab, Share};

fn block_on<T>(f: impl Future<Output = T>) -> T {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn main() {
    let settings = r#"{"task":"glyphs","filters":16,"queries":5,"meta_batch":8,"seed":1}"#;
    let mut lab = Lab::new(settings).unwrap();
    let share = Share::new();
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let (mut plan, mut out, mut own, mut other, mut back, mut finish) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let n = 40;
    for i in 0..n + 5 {
        let keep = i >= 5;
        let t = Instant::now();
        let units = lab.plan_step();
        let p = ms(t);
        let t = Instant::now();
        let weights = block_on(lab.export_weights()).unwrap();
        let tasks = lab.unit_tasks(units / 2, units - units / 2).unwrap();
        let o = ms(t);
        let t = Instant::now();
        lab.compute_units(0, units / 2).unwrap();
        let c = ms(t);
        let t = Instant::now();
        let answer = share.sums(&weights, &tasks).unwrap();
        let s = ms(t);
        let t = Instant::now();
        lab.put_units(units / 2, &answer).unwrap();
        let b = ms(t);
        let t = Instant::now();
        block_on(lab.finish_step()).unwrap();
        let f = ms(t);
        if keep {
            (plan, out, own, other, back, finish) = (plan + p, out + o, own + c, other + s, back + b, finish + f);
        }
    }
    let per = |v: f64| format!("{:.2}", v / n as f64);
    println!(
        "ms per meta-iteration (glyph preset, 2 halves): plan {} | weights+tasks out {} | own half {} | the share's half {} | sums in {} | finish {}",
        per(plan), per(out), per(own), per(other), per(back), per(finish)
    );
}
