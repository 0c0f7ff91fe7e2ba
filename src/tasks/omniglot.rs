//! Omniglot-layout zips (`<root>/<alphabet>/<character>/*.png`) read from bytes into 28x28 classes.
//!
//! The page hands this module the bytes of a file a person picked, so everything a file can get
//! wrong is a typed `DataError` that names the problem (and the file), never a panic.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use super::ClassPool;
use super::ink::decode_ink;
use super::InputShape;
use crate::config::TaskConfig;
use crate::rng::Rng;

/// Largest zip accepted (the full Omniglot background set is about 9 MB).
pub const MAX_ZIP_BYTES: usize = 64 << 20;
/// Largest total of unpacked PNG bytes accepted: a guard against zip bombs.
pub const MAX_UNPACKED_BYTES: u64 = 512 << 20;
/// Largest image accepted, in pixels (Omniglot's are 105 x 105): a PNG of a few bytes can claim
/// any size, and the decoder fills a buffer of the size it claims.
pub const MAX_IMAGE_PIXELS: u64 = 4096 * 4096;
/// Images are area-averaged down to SIDE x SIDE, as in the MAML paper's Omniglot setup.
pub const SIDE: usize = 28;
/// RNG stream of the meta-train / meta-test split of a single zip.
const SPLIT_STREAM: u64 = 0x5EED_5B17;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    #[error("the omniglot task needs a zip of characters (`--data ZIP`, or pick a file on the page)")]
    Missing,
    #[error("navigation is a reinforcement-learning task, without support and query sets: it trains with its own trainer (`rl::NavTrainer`, `maml train --task navigation`)")]
    Reinforcement,
    #[error("the file is {bytes} bytes, over the {limit}-byte limit")]
    TooLarge { bytes: usize, limit: usize },
    #[error("the file is not a readable zip archive ({0}); pick a .zip of <alphabet>/<character>/<image>.png, such as Omniglot's images_background_small1.zip")]
    NotZip(String),
    #[error("the zip unpacks to more than {limit} bytes; refusing it")]
    UnpackedTooLarge { limit: u64 },
    #[error("the zip has no PNG images in the layout <alphabet>/<character>/<image>.png")]
    NoImages,
    #[error("cannot read the image '{file}': {reason}")]
    BadPng { file: String, reason: String },
    #[error("the {split} split has {classes} classes, fewer than ways = {ways}")]
    TooFewClasses { split: &'static str, classes: usize, ways: usize },
    #[error("the character '{class}' has {images} images, fewer than shots + queries = {needed}")]
    TooFewImages { class: String, images: usize, needed: usize },
    #[error("within one alphabet: the {split} split's largest alphabet has {largest} classes, fewer than ways = {ways} (`--within-alphabet false` draws a task's classes from any alphabet)")]
    SmallAlphabets { split: &'static str, largest: usize, ways: usize },
    #[error("different drawers: the character '{class}' has {by_others} images by drawers other than its {shots} support drawer(s), fewer than queries = {queries} (the drawer is the number ending a file's name, as in 0709_17.png; `--different-drawers false` draws any images)")]
    TooFewDrawers { class: String, by_others: usize, shots: usize, queries: usize },
}

/// A character's images and their drawers, by file name.
type Files = BTreeMap<String, (Vec<f32>, Option<u32>)>;

/// Characters and their images, each image SIDE x SIDE, ink = 1, background = 0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImageSet {
    /// `alphabet/character` names, sorted, so the order does not depend on the zip's.
    pub names: Vec<String>,
    /// Each character's images, in the order of their file names.
    pub images: Vec<Vec<Vec<f32>>>,
    /// Who drew each image (`drawer_of`), beside `images`.
    pub drawers: Vec<Vec<Option<u32>>>,
}

/// The drawer of an Omniglot file, the number after its last underscore: `0709_17.png` is
/// drawer 17. A name without one (`a.png`, `0709.png`) has no known drawer: such an image is
/// never used where support and queries must be by different drawers, since it might be by
/// either.
pub fn drawer_of(file: &str) -> Option<u32> {
    let name = file.rsplit('/').next().unwrap_or(file);
    let (_, digits) = name.rsplit_once('.').map_or(name, |(stem, _)| stem).rsplit_once('_')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The alphabet of an `alphabet/character` name.
pub fn alphabet_of(name: &str) -> &str {
    name.split_once('/').map_or(name, |(alphabet, _)| alphabet)
}

impl ImageSet {
    /// Reads an Omniglot-layout zip from its bytes.
    pub fn from_zip(bytes: &[u8]) -> Result<Self, DataError> {
        if bytes.len() > MAX_ZIP_BYTES {
            return Err(DataError::TooLarge { bytes: bytes.len(), limit: MAX_ZIP_BYTES });
        }
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(not_zip)?;
        let mut classes: BTreeMap<String, Files> = BTreeMap::new();
        let mut unpacked = 0u64;
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).map_err(not_zip)?;
            let name = entry.name().map_err(not_zip)?.into_owned();
            let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
            let is_png = name.to_ascii_lowercase().ends_with(".png");
            let hidden = parts.iter().any(|p| p.starts_with('.') || *p == "__MACOSX");
            if entry.is_dir() || !is_png || hidden || parts.len() < 3 {
                continue;
            }
            unpacked = unpacked.saturating_add(entry.size());
            if unpacked > MAX_UNPACKED_BYTES {
                return Err(DataError::UnpackedTooLarge { limit: MAX_UNPACKED_BYTES });
            }
            // the size is the header's claim: reserve no more than the file could hold stored
            let mut png = Vec::with_capacity(entry.size().min(bytes.len() as u64) as usize);
            entry
                .by_ref()
                .take(MAX_UNPACKED_BYTES)
                .read_to_end(&mut png)
                .map_err(|e| DataError::BadPng { file: shown(&name), reason: e.to_string() })?;
            let image = decode_ink(&png).map_err(|reason| DataError::BadPng { file: shown(&name), reason })?;
            let class = format!("{}/{}", parts[parts.len() - 3], parts[parts.len() - 2]);
            let drawer = drawer_of(parts[parts.len() - 1]);
            classes.entry(class).or_default().insert(name, (image, drawer));
        }
        if classes.is_empty() {
            return Err(DataError::NoImages);
        }
        let mut set = Self::default();
        for (name, files) in classes {
            let (images, drawers) = files.into_values().unzip();
            set.names.push(name);
            set.images.push(images);
            set.drawers.push(drawers);
        }
        Ok(set)
    }

    /// Splits the characters into meta-train and meta-test, deterministically from the seed.
    pub fn split(&self, meta_train_fraction: f64, seed: u64) -> (ImageSet, ImageSet) {
        let mut order: Vec<usize> = (0..self.names.len()).collect();
        Rng::stream(seed, SPLIT_STREAM).shuffle(&mut order);
        let n_train = meta_train_characters(self.names.len(), meta_train_fraction);
        let pick = |idx: &[usize]| {
            let mut idx = idx.to_vec();
            idx.sort(); // keep the name order inside each side
            ImageSet {
                names: idx.iter().map(|&i| self.names[i].clone()).collect(),
                images: idx.iter().map(|&i| self.images[i].clone()).collect(),
                drawers: idx.iter().map(|&i| self.drawers[i].clone()).collect(),
            }
        };
        (pick(&order[..n_train]), pick(&order[n_train..]))
    }

    pub fn num_images(&self) -> usize {
        self.images.iter().map(Vec::len).sum()
    }
}

/// How many of `n` characters `ImageSet::split` puts on the meta-train side: at least one.
fn meta_train_characters(n: usize, meta_train_fraction: f64) -> usize {
    ((n as f64 * meta_train_fraction).round() as usize).clamp(1, n)
}

/// The fewest characters one zip needs for `config`'s tasks: split into meta-train and
/// meta-test by `meta_train_fraction` (as `ImageSet::split` does), each character 4 classes with
/// its rotations (twice as many mirrored), and each side needs `ways` classes.
pub fn characters_needed(config: &TaskConfig) -> usize {
    let per_character = classes_per_character(config.rotations, config.mirrors);
    let enough = |n: usize| {
        let train = meta_train_characters(n, config.meta_train_fraction);
        train * per_character >= config.ways && (n - train) * per_character >= config.ways
    };
    (2..).find(|&n| enough(n)).expect("some number of characters splits into enough classes")
}

/// Refuses, in one sentence, a zip of too few characters for `config`'s one-zip tasks.
pub fn check_characters(set: &ImageSet, config: &TaskConfig) -> Result<(), String> {
    let (have, need) = (set.names.len(), characters_needed(config));
    if have >= need {
        return Ok(());
    }
    let rotations = match (config.rotations, config.mirrors) {
        (true, false) => ", each with its 3 rotations as more classes",
        (true, true) => ", each with its 3 rotations and the 4 mirrored as more classes",
        (false, true) => ", each with its mirror image as one more class",
        (false, false) => "",
    };
    Err(format!(
        "the zip has {have} character{}; {}-way tasks need at least {need} (split {:.0} % / {:.0} % into meta-train and meta-test{rotations}, each side needs {} classes)",
        if have == 1 { "" } else { "s" },
        config.ways,
        100.0 * config.meta_train_fraction,
        100.0 * (1.0 - config.meta_train_fraction),
        config.ways
    ))
}

/// zip's reason in words a person can act on: its "Could not find EOCD" is a file with no
/// end-of-archive record (not a zip, or one cut short), and it names a header that ends early by
/// its Rust type.
fn not_zip(e: zip::result::ZipError) -> DataError {
    let reason = e.to_string();
    if reason.contains("EOCD") || reason.contains("end of central directory") {
        return DataError::NotZip("it has no end-of-archive record: it is another kind of file, or a zip cut short, as by an unfinished download".into());
    }
    let reason = reason.strip_prefix("invalid Zip archive: ").map_or(reason.clone(), |r| format!("it is damaged: {r}"));
    DataError::NotZip(match reason.split_once("Unexpected end of ") {
        Some((before, block)) if block.contains("::") => format!("{before}unexpected end of a header"),
        _ => reason,
    })
}

/// A name from the zip as one line of a message: control characters replaced, a long name cut
/// to its end (the character and the image).
fn shown(name: &str) -> String {
    const MAX_CHARS: usize = 120;
    let chars: Vec<char> = name.chars().map(|c| if c.is_control() { char::REPLACEMENT_CHARACTER } else { c }).collect();
    match chars.len().checked_sub(MAX_CHARS - 1) {
        Some(cut) if cut > 1 => std::iter::once('…').chain(chars[cut..].iter().copied()).collect(),
        _ => chars.into_iter().collect(),
    }
}

/// Classes made of each character: its 4 quarter turns with `rotations` (else itself), twice as
/// many with `mirrors`.
fn classes_per_character(rotations: bool, mirrors: bool) -> usize {
    (if rotations { 4 } else { 1 }) * if mirrors { 2 } else { 1 }
}

/// The classes of an `ImageSet`, each character optionally also rotated by 90, 180 and 270
/// degrees as three new classes (as in the MAML paper), and optionally each of those mirrored
/// left to right as one more.
pub struct Pool {
    set: ImageSet,
    /// Classes per character: its quarter turns (4 or 1), then as many mirrored.
    per_character: usize,
    rotations: usize,
    /// Each character's alphabet, numbered in name order.
    alphabets: Vec<usize>,
}

impl Pool {
    pub fn new(set: ImageSet, rotations: bool, mirrors: bool) -> Self {
        let mut alphabets = Vec::with_capacity(set.names.len());
        for (i, name) in set.names.iter().enumerate() {
            // names are sorted, so an alphabet's characters are consecutive
            let same = i > 0 && alphabet_of(&set.names[i - 1]) == alphabet_of(name);
            alphabets.push(if same { alphabets[i - 1] } else { alphabets.last().map_or(0, |a| a + 1) });
        }
        Self { set, per_character: classes_per_character(rotations, mirrors), rotations: classes_per_character(rotations, false), alphabets }
    }

    /// Class `class`'s character, quarter turns and whether it is mirrored.
    fn of(&self, class: usize) -> (usize, usize, bool) {
        let variant = class % self.per_character;
        (class / self.per_character, variant % self.rotations, variant >= self.rotations)
    }
}

impl ClassPool for Pool {
    fn num_classes(&self) -> usize {
        self.set.names.len() * self.per_character
    }
    fn instances(&self, class: usize) -> usize {
        self.set.images[self.of(class).0].len()
    }
    fn image(&self, class: usize, instance: usize) -> Cow<'_, [f32]> {
        let (character, quarter_turns, mirrored) = self.of(class);
        let img = &self.set.images[character][instance];
        if quarter_turns == 0 && !mirrored {
            return Cow::Borrowed(img);
        }
        (0..SIDE * SIDE)
            .map(|k| {
                let (r, c) = (k / SIDE, k % SIDE);
                // mirrored: the turned image read right to left
                let c = if mirrored { SIDE - 1 - c } else { c };
                // source pixel of (r, c) after `quarter_turns` counter-clockwise rotations
                let (sr, sc) = match quarter_turns {
                    0 => (r, c),
                    1 => (c, SIDE - 1 - r),
                    2 => (SIDE - 1 - r, SIDE - 1 - c),
                    _ => (SIDE - 1 - c, r),
                };
                img[sr * SIDE + sc]
            })
            .collect::<Vec<_>>()
            .into()
    }
    fn shape(&self) -> InputShape {
        InputShape::image(1, SIDE)
    }
    /// A rotated or mirrored alphabet is an alphabet of its own: a task within one alphabet has
    /// its characters all turned (and mirrored) the same way, as unrotated tasks have them all upright.
    fn alphabet(&self, class: usize) -> Option<usize> {
        Some(self.alphabets[class / self.per_character] * self.per_character + class % self.per_character)
    }
    fn drawer(&self, class: usize, instance: usize) -> Option<u32> {
        self.set.drawers[self.of(class).0][instance]
    }
    fn class_name(&self, class: usize) -> String {
        let (character, quarter_turns, mirrored) = self.of(class);
        let name = &self.set.names[character];
        match (quarter_turns, mirrored) {
            (0, false) => name.clone(),
            (0, true) => format!("{name} (mirrored)"),
            (q, false) => format!("{name} (rotated {}°)", 90 * q),
            (q, true) => format!("{name} (rotated {}°, mirrored)", 90 * q),
        }
    }
}
