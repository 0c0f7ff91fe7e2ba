//! Classifiers with no training at all, for the meta-test beside the learners: nearest neighbour by pixel distance, and by the modified Hausdorff distance between two images' ink.
//!
//! Each query takes the label of its nearest support image (with K shots, the nearest single
//! example; a tie goes to the earlier support image). The modified Hausdorff distance is
//! Dubuisson & Jain's (M.-P. Dubuisson, A. K. Jain, "A modified Hausdorff distance for object
//! matching", ICPR 1994, pp. 566-568): between point sets A and B, MHD(A, B) = max(d(A, B),
//! d(B, A)) with d(A, B) the mean over a in A of the distance from a to its nearest b in B. The
//! Omniglot one-shot classification demo (Lake et al., the Omniglot repository) uses it on the
//! 105x105 images as the baseline a learner should beat. Here an image's ink is its pixels above
//! 0.5 at the resolution the learners see (28x28 for Omniglot; the zip's full resolution is not
//! kept), each a point at its row and column, in pixels.

use super::{InputShape, Labels, Set, Task};

/// A nearest-neighbour rule: how far apart two images are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distance {
    /// Euclidean distance between the pixel vectors.
    Pixels,
    /// The modified Hausdorff distance between the images' ink.
    Hausdorff,
}

/// The fraction of `task`'s queries that `distance`'s nearest neighbour labels right.
pub fn accuracy(task: &Task, shape: InputShape, distance: Distance) -> f64 {
    let (support, query) = (images(&task.support, shape), images(&task.query, shape));
    let (support_labels, query_labels) = (labels(&task.support), labels(&task.query));
    let correct = match distance {
        Distance::Pixels => count_nearest(&support, &query, support_labels, query_labels, |a, b| pixel_distance(a, b)),
        Distance::Hausdorff => {
            let ink = |set: &[&[f32]]| set.iter().map(|x| ink(x, shape)).collect::<Vec<_>>();
            let longest = ((shape.height * shape.height + shape.width * shape.width) as f64).sqrt();
            count_nearest(&ink(&support), &ink(&query), support_labels, query_labels, |a, b| modified_hausdorff(a, b, longest))
        }
    };
    correct as f64 / query.len() as f64
}

/// How many queries the nearest support example labels right.
fn count_nearest<T>(support: &[T], query: &[T], support_labels: &[usize], query_labels: &[usize], distance: impl Fn(&T, &T) -> f64) -> usize {
    query
        .iter()
        .zip(query_labels)
        .filter(|&(q, &label)| {
            let distances = support.iter().map(|s| distance(s, q));
            // the first of equal distances wins: `min_by` would keep the last
            let nearest = distances.enumerate().fold((0, f64::INFINITY), |best, (i, d)| if d < best.1 { (i, d) } else { best });
            support_labels[nearest.0] == label
        })
        .count()
}

fn images(set: &Set, shape: InputShape) -> Vec<&[f32]> {
    set.x.chunks(shape.numel()).collect()
}

fn labels(set: &Set) -> &[usize] {
    match &set.labels {
        Labels::Classes { labels, .. } => labels,
        Labels::Values(_) => panic!("nearest-neighbour baselines are for classification tasks"),
    }
}

pub fn pixel_distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>().sqrt()
}

/// The (row, column) of every pixel above 0.5, the channels averaged.
pub fn ink(image: &[f32], shape: InputShape) -> Vec<(f64, f64)> {
    let plane = shape.height * shape.width;
    (0..plane)
        .filter(|&p| (0..shape.channels).map(|c| image[c * plane + p]).sum::<f32>() / shape.channels as f32 > 0.5)
        .map(|p| ((p / shape.width) as f64, (p % shape.width) as f64))
        .collect()
}

/// MHD(A, B) = max(d(A, B), d(B, A)). Two images without ink are the same (0); one without ink
/// is `longest` (the image's diagonal, more than any two inked images are apart) from one with.
pub fn modified_hausdorff(a: &[(f64, f64)], b: &[(f64, f64)], longest: f64) -> f64 {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => 0.0,
        (true, false) | (false, true) => longest,
        (false, false) => directed(a, b).max(directed(b, a)),
    }
}

/// d(A, B): the mean over A of the distance to the nearest point of B.
fn directed(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
    let nearest = |p: &(f64, f64)| b.iter().map(|q| (p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).fold(f64::INFINITY, f64::min).sqrt();
    a.iter().map(nearest).sum::<f64>() / a.len() as f64
}
