//! Samplers: sizes, label balance, shuffled labels, disjoint meta-train / meta-test classes, seeded draws.

use maml_lab::config::{TaskConfig, TaskKind};
use maml_lab::rng::Rng;
use maml_lab::tasks::{self, Labels, Split, Task, TaskMeta};

fn draw(config: &TaskConfig, split: Split, seed: u64, n: usize) -> Vec<Task> {
    let sampler = tasks::sampler(config, &[], 0).unwrap();
    let mut rng = Rng::new(seed);
    (0..n).map(|_| sampler.sample(split, &mut rng)).collect()
}

fn classes(task: &Task) -> Vec<usize> {
    match &task.meta {
        TaskMeta::Classes(c) => c.clone(),
        other => panic!("expected classes, got {other:?}"),
    }
}

fn counts(labels: &Labels, ways: usize) -> Vec<usize> {
    let Labels::Classes { labels, .. } = labels else { panic!("expected classes") };
    (0..ways).map(|c| labels.iter().filter(|&&l| l == c).count()).collect()
}

#[test]
fn glyph_tasks_have_n_way_k_shot_shapes_and_balanced_labels() {
    let config = TaskConfig::new(TaskKind::Glyphs).with_ways(4).with_shots(2).with_queries(3);
    for task in draw(&config, Split::MetaTrain, 1, 5) {
        assert_eq!((task.support.n, task.query.n), (8, 12));
        assert_eq!(task.support.x.len(), 8 * 784);
        assert_eq!(counts(&task.support.labels, 4), vec![2; 4]);
        assert_eq!(counts(&task.query.labels, 4), vec![3; 4]);
        assert!(task.support.x.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}

#[test]
fn glyph_meta_train_and_meta_test_classes_are_disjoint() {
    let config = TaskConfig::new(TaskKind::Glyphs);
    let train: Vec<usize> = draw(&config, Split::MetaTrain, 2, 200).iter().flat_map(classes).collect();
    let test: Vec<usize> = draw(&config, Split::MetaTest, 2, 200).iter().flat_map(classes).collect();
    assert!(train.iter().all(|&c| c < 1200), "meta-train classes are 0..1200");
    assert!(test.iter().all(|&c| (1200..1623).contains(&c)), "meta-test classes are 1200..1623");
}

#[test]
fn labels_are_shuffled_per_task() {
    // the class behind label 0 changes from task to task, so labels carry no meaning across tasks
    let config = TaskConfig::new(TaskKind::Glyphs);
    let first: Vec<usize> = draw(&config, Split::MetaTrain, 3, 50).iter().map(|t| classes(t)[0]).collect();
    let distinct: std::collections::BTreeSet<_> = first.iter().collect();
    assert!(distinct.len() > 40, "label 0 should map to many classes, got {}", distinct.len());
    // within a task, the N classes are distinct
    for t in draw(&config, Split::MetaTrain, 4, 50) {
        let mut c = classes(&t);
        c.sort();
        c.dedup();
        assert_eq!(c.len(), 5);
    }
}

#[test]
fn support_and_query_images_of_a_class_are_distinct_instances() {
    let config = TaskConfig::new(TaskKind::Glyphs).with_ways(2).with_shots(5).with_queries(15);
    let task = &draw(&config, Split::MetaTrain, 5, 1)[0];
    let images: Vec<&[f32]> = task.support.x.chunks(784).chain(task.query.x.chunks(784)).collect();
    for (i, a) in images.iter().enumerate() {
        for b in &images[i + 1..] {
            assert_ne!(a, b, "an image appears twice in one task");
        }
    }
}

#[test]
fn the_same_seed_draws_the_same_tasks_and_another_seed_others() {
    for kind in [TaskKind::Sinusoid, TaskKind::Glyphs, TaskKind::Noise] {
        let config = TaskConfig::new(kind).with_noise_side(8);
        assert_eq!(draw(&config, Split::MetaTrain, 9, 3), draw(&config, Split::MetaTrain, 9, 3), "{kind}");
        assert_ne!(draw(&config, Split::MetaTrain, 9, 3), draw(&config, Split::MetaTrain, 10, 3), "{kind}");
    }
}

#[test]
fn sinusoid_points_follow_the_configured_function_family() {
    let config = TaskConfig::new(TaskKind::Sinusoid).with_shots(10).with_queries(7);
    for task in draw(&config, Split::MetaTrain, 6, 20) {
        let TaskMeta::Sinusoid { amplitude, phase } = task.meta else { panic!("sinusoid meta") };
        assert!((0.1..=5.0).contains(&amplitude) && (0.0..=std::f64::consts::PI).contains(&phase));
        assert_eq!((task.support.n, task.query.n), (10, 7));
        let Labels::Values(y) = &task.query.labels else { panic!("values") };
        for (x, y) in task.query.x.iter().zip(y) {
            assert!((-5.0..=5.0).contains(x));
            assert!(((amplitude * (*x as f64 - phase).sin()) as f32 - y).abs() < 1e-5);
        }
    }
}

#[test]
fn noise_images_are_uniform_plus_gaussian_with_balanced_labels() {
    let config = TaskConfig::new(TaskKind::Noise).with_noise_std(0.0);
    let task = &draw(&config, Split::MetaTrain, 7, 1)[0];
    assert_eq!(task.support.x.len(), 5 * 3 * 32 * 32);
    let mean = task.query.x.iter().map(|&v| v as f64).sum::<f64>() / task.query.x.len() as f64;
    assert!((mean - 0.5).abs() < 0.01, "uniform pixels should average 0.5, got {mean}");
    assert_eq!(counts(&task.query.labels, 5), vec![15; 5]);
}
