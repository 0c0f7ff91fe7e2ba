//! How a task's classes and images are drawn from a pool: anywhere (the default), classes of one alphabet, and support and queries by different drawers.
//!
//! The standard Omniglot one-shot test (Lake et al., 2015) asks the hard question: the classes
//! of a task are characters of one alphabet, which look alike, and the support image of each
//! is by one person while the query is by another. `within_alphabet` and `different_drawers`
//! ask it; with both off a task is drawn exactly as before they existed, draw for draw.

use super::{ClassPool, DataError};
use crate::config::TaskConfig;
use crate::rng::Rng;

/// What a pool allows for `config`'s tasks, worked out once: the alphabets large enough, and
/// every image's drawer.
pub struct Draws {
    ways: usize,
    shots: usize,
    queries: usize,
    /// The classes of each alphabet with at least `ways` of them (`within_alphabet`).
    alphabets: Option<Vec<Vec<usize>>>,
    /// Per class and image, its drawer as an index into the pool's drawers (`different_drawers`).
    drawers: Option<Vec<Vec<Option<usize>>>>,
    /// How many different drawers the pool has.
    num_drawers: usize,
}

impl Draws {
    /// Refuses, with a sentence, a pool whose alphabets are all smaller than the ways, or a
    /// character with too few images by drawers other than its support's.
    pub fn new<P: ClassPool>(pool: &P, config: &TaskConfig, split: &'static str) -> Result<Self, DataError> {
        let (ways, shots, queries) = (config.ways, config.shots, config.queries);
        let mut draws = Self { ways, shots, queries, alphabets: None, drawers: None, num_drawers: 0 };
        if config.within_alphabet {
            let mut by_alphabet: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
            for class in 0..pool.num_classes() {
                // a pool without alphabets is one alphabet
                by_alphabet.entry(pool.alphabet(class).unwrap_or(0)).or_default().push(class);
            }
            let largest = by_alphabet.values().map(Vec::len).max().unwrap_or(0);
            let alphabets: Vec<Vec<usize>> = by_alphabet.into_values().filter(|a| a.len() >= ways).collect();
            if alphabets.is_empty() {
                return Err(DataError::SmallAlphabets { split, largest, ways });
            }
            draws.alphabets = Some(alphabets);
        }
        if config.different_drawers {
            let mut ids: Vec<u32> = (0..pool.num_classes()).flat_map(|c| (0..pool.instances(c)).filter_map(move |i| pool.drawer(c, i))).collect();
            ids.sort_unstable();
            ids.dedup();
            let index = |d: Option<u32>| d.map(|d| ids.binary_search(&d).expect("every drawer is listed"));
            let drawers: Vec<Vec<Option<usize>>> = (0..pool.num_classes()).map(|c| (0..pool.instances(c)).map(|i| index(pool.drawer(c, i))).collect()).collect();
            for (class, images) in drawers.iter().enumerate() {
                // the worst case: the support drawers are those with the most images of the class
                let mut counts = vec![0usize; ids.len()];
                images.iter().flatten().for_each(|&d| counts[d] += 1);
                counts.sort_unstable_by(|a, b| b.cmp(a));
                let support_drawers = counts.iter().filter(|&&n| n > 0).count();
                let by_others: usize = counts.iter().skip(shots).sum();
                if support_drawers < shots || by_others < queries {
                    return Err(DataError::TooFewDrawers { class: pool.class_name(class), by_others, shots, queries });
                }
            }
            draws.num_drawers = ids.len();
            draws.drawers = Some(drawers);
        }
        Ok(draws)
    }

    /// The `ways` classes of a task, labels in the order drawn: from any of the pool's
    /// `num_classes`, or from one alphabet, picked uniformly among those large enough.
    pub fn classes(&self, num_classes: usize, rng: &mut Rng) -> Vec<usize> {
        match &self.alphabets {
            None => rng.choose(num_classes, self.ways),
            Some(alphabets) => {
                let alphabet = &alphabets[rng.int_below(alphabets.len())];
                rng.choose(alphabet.len(), self.ways).into_iter().map(|i| alphabet[i]).collect()
            }
        }
    }

    /// A ranking of the pool's drawers for one task, the support's first: with
    /// `different_drawers`, drawn once per task before its images.
    pub fn drawer_order(&self, rng: &mut Rng) -> Option<Vec<usize>> {
        self.drawers.as_ref()?;
        let mut rank = vec![0; self.num_drawers];
        for (r, d) in rng.choose(self.num_drawers, self.num_drawers).into_iter().enumerate() {
            rank[d] = r;
        }
        Some(rank)
    }

    /// The support then the query images of `class` (indices among its `instances`). Without
    /// drawers: `shots + queries` distinct images at random. With them: the support is one image
    /// by each of the class's `shots` highest-ranked drawers, the queries are images by its other
    /// drawers; where every drawer drew every character, as in Omniglot, that is one support
    /// drawer (per shot) for the whole task and queries by anyone else.
    pub fn images(&self, class: usize, instances: usize, rank: Option<&[usize]>, rng: &mut Rng) -> (Vec<usize>, Vec<usize>) {
        let (Some(drawers), Some(rank)) = (&self.drawers, rank) else {
            let mut drawn = rng.choose(instances, self.shots + self.queries);
            let queries = drawn.split_off(self.shots);
            return (drawn, queries);
        };
        let of_class = &drawers[class];
        let mut by: Vec<usize> = of_class.iter().flatten().copied().collect();
        by.sort_unstable_by_key(|&d| rank[d]);
        by.dedup();
        by.truncate(self.shots);
        let support = by
            .iter()
            .map(|&d| {
                let theirs: Vec<usize> = (0..instances).filter(|&i| of_class[i] == Some(d)).collect();
                theirs[rng.int_below(theirs.len())]
            })
            .collect();
        let others: Vec<usize> = (0..instances).filter(|&i| of_class[i].is_some_and(|d| !by.contains(&d))).collect();
        let queries = rng.choose(others.len(), self.queries).into_iter().map(|i| others[i]).collect();
        (support, queries)
    }
}
