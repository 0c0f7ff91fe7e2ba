//! A zip laid out as one run of the one-shot test: its characters are the classes of one task, each character's first images (by file name) its support and the rest its queries.
//!
//! Lake et al.'s one-shot runs give each of 20 characters one image by one person to learn from
//! and one by another to classify. A zip of 20 character folders with two Omniglot images each
//! (`0394_01.png`, `0394_07.png`) is such a run: the first in name order, the lower drawer, is
//! the support. With K shots the first K images of each folder are its support.

use super::omniglot::{ImageSet, alphabet_of};
use super::{Labels, Set, Task, TaskMeta};

/// Whether `set` is one task rather than a pool to draw tasks from: no character has the
/// `shots + queries` images a drawn task takes.
pub fn is_one_run(set: &ImageSet, shots: usize, queries: usize) -> bool {
    set.images.iter().all(|images| images.len() < shots + queries)
}

/// The zip's one task for a run of `ways` ways and `shots` shots: character i (in name order)
/// is label i. A zip of another number of characters, or characters with too few images or
/// with different numbers of them, gets a sentence.
pub fn one_task(set: &ImageSet, ways: usize, shots: usize) -> Result<Task, String> {
    let n = set.names.len();
    if n != ways {
        let advice = if n < ways {
            format!("meta-test it with the head's first {n} classes (`maml eval --ways {n}`) or with a {n}-way run (`maml train --ways {n}`)")
        } else {
            format!("evaluate it with a run of at least {n} ways (`maml train --ways {n}`), or with a run whose head is held at zero (`maml train --zero-head`, not Meta-SGD), which answers any number")
        };
        return Err(format!("the zip is one test run of {n} characters (too few images each to draw tasks from), a {n}-way task, but the run was trained for {ways}-way tasks: {advice}"));
    }
    let per_class = set.images[0].len();
    if let Some(c) = (0..n).find(|&c| set.images[c].len() != per_class || set.images[c].len() <= shots) {
        return Err(format!(
            "the zip is one test run, so each character needs the same number of images, {shots} support (shots) and at least one query: '{}' has {}, '{}' {per_class}",
            set.names[c],
            set.images[c].len(),
            set.names[0]
        ));
    }
    let mut support = (Vec::new(), Vec::new());
    let mut query = (Vec::new(), Vec::new());
    for (label, images) in set.images.iter().enumerate() {
        for (i, image) in images.iter().enumerate() {
            let (x, y) = if i < shots { &mut support } else { &mut query };
            x.extend_from_slice(image);
            y.push(label);
        }
    }
    let set_of = |(x, labels): (Vec<f32>, Vec<usize>)| Set { n: labels.len(), x, labels: Labels::Classes { labels, ways } };
    Ok(Task { support: set_of(support), query: set_of(query), meta: TaskMeta::Classes((0..n).collect()) })
}

/// How the zip's one task was drawn, in the words of `within_alphabet` and `different_drawers`:
/// every character of one alphabet, and no query by a drawer of a support image (known drawers
/// only: an image without one counts as a match).
pub fn sampling(set: &ImageSet, shots: usize) -> (bool, bool) {
    let within = set.names.iter().all(|n| alphabet_of(n) == alphabet_of(&set.names[0]));
    let (support, query): (Vec<_>, Vec<_>) = set.drawers.iter().flat_map(|d| d.iter().enumerate()).partition(|(i, _)| *i < shots);
    let known = |images: &[(usize, &Option<u32>)]| images.iter().map(|(_, d)| **d).collect::<Option<Vec<u32>>>();
    let different = match (known(&support), known(&query)) {
        (Some(support), Some(query)) => query.iter().all(|d| !support.contains(d)),
        _ => false,
    };
    (within, different)
}
