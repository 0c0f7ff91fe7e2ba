//! Seeded mutation tests of the readers of a person's files: the Omniglot zip, the PNGs inside it, the weights file, the checkpoint.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};

use burn::prelude::Device;
use maml_lab::Trainer;
use maml_lab::config::{TaskKind, TrainerConfig};
use maml_lab::rng::Rng;
use maml_lab::tasks::omniglot::{MAX_IMAGE_PIXELS, MAX_UNPACKED_BYTES, MAX_ZIP_BYTES, SIDE};
use maml_lab::tasks::{DataError, ImageSet};
use maml_lab::weights::Weights;

mod common;
mod counting;
use common::{omniglot_png, zip};
use counting::Counting;

/// Mutated inputs per reader; the hand-made hostile inputs come on top.
const INPUTS: usize = 20_000;
/// Longest refusal accepted as one sentence a person reads.
const MAX_MESSAGE: usize = 300;

/// Counts the heap bytes each thread holds and the most it held, so a reader's peak can be
/// measured while the other readers' tests run on their own threads.
struct PerThread;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

impl counting::Tally for PerThread {
    fn grew(bytes: usize) {
        let _ = LIVE.try_with(|live| {
            let now = live.get() + bytes as isize;
            live.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
    }
    fn shrank(bytes: usize) {
        let _ = LIVE.try_with(|live| live.set(live.get() - bytes as isize));
    }
}

#[global_allocator]
static COUNTING: Counting<PerThread> = Counting::new();

/// Runs `f` on this thread, catching a panic, and returns its result with the most heap it held
/// above what the thread held before.
fn measured<T>(f: impl FnOnce() -> T) -> (Result<T, String>, usize) {
    let base = LIVE.get();
    PEAK.set(base);
    let out = panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    });
    (out, (PEAK.get() - base).max(0) as usize)
}

/// Why `msg` does not read as one line, if it does not.
fn not_one_line(msg: &str) -> Option<&'static str> {
    if msg.trim().is_empty() {
        return Some("it is empty");
    }
    if msg.chars().any(char::is_control) {
        return Some("it holds a control character (a line break?)");
    }
    if msg.chars().count() > MAX_MESSAGE {
        return Some("it is too long for one sentence");
    }
    None
}

/// Why `msg` is not one sentence a person can read, if it is not: the reader's own words are
/// one clause, or two joined by a colon or parentheses, with no second sentence and no Rust
/// debug output; what it quotes from the file, in backticks or double quotes, may be any text.
fn not_one_sentence(msg: &str) -> Option<&'static str> {
    if let Some(why) = not_one_line(msg) {
        return Some(why);
    }
    let unquoted: String = msg.replace("\\\"", "").split(['`', '"']).step_by(2).collect();
    if [". ", "! ", "? "].iter().any(|stop| unquoted.contains(stop)) {
        return Some("it is more than one sentence");
    }
    if ["{", "}", "::", "Some(", "None", "Ok(", "Err("].iter().any(|debug| unquoted.contains(debug)) {
        return Some("it shows Rust debug output");
    }
    None
}

/// A reader's refusal: its whole message, and the part of it the reader wrote (the whole
/// message, less a file name from the zip, which may hold anything but a line break).
struct Refusal {
    message: String,
    own: String,
}

impl Refusal {
    fn whole(message: String) -> Self {
        Self { own: message.clone(), message }
    }

    fn bad_png(file: String, reason: String) -> Self {
        Self { message: DataError::BadPng { file, reason: reason.clone() }.to_string(), own: reason }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Mutation {
    /// Flips one to eight bits.
    BitFlip,
    /// Overwrites one to eight bytes with random values.
    Overwrite,
    /// Writes a boundary integer (0, -1, 2^31, the unpacked limit...) as 2, 4 or 8 bytes of
    /// either endianness: how a length, a count or an offset field claims what it should not.
    Field,
    /// Cuts the file at a random point.
    Truncate,
    /// Copies a slice of the file over another position.
    Splice,
    /// Inserts a copy of a slice of the file at another position.
    Duplicate,
    /// Inserts one to sixty-four random bytes.
    Insert,
    /// Random bytes: alone, after a valid start of the file, or before a valid end of it.
    Random,
    /// The hand-made hostile inputs of each reader.
    Crafted,
}

const MUTATIONS: [Mutation; 8] = [
    Mutation::BitFlip,
    Mutation::Overwrite,
    Mutation::Field,
    Mutation::Truncate,
    Mutation::Splice,
    Mutation::Duplicate,
    Mutation::Insert,
    Mutation::Random,
];

/// A position in `len` bytes, half the time near the start or the end, where the headers and
/// the zip's central directory are.
fn position(rng: &mut Rng, len: usize) -> usize {
    let near = (len / 8).max(1);
    match rng.int_below(4) {
        0 => rng.int_below(near).min(len - 1),
        1 => len - 1 - rng.int_below(near).min(len - 1),
        _ => rng.int_below(len),
    }
}

fn random_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

/// A slice of `len` bytes: its start and its length, at most `max` long.
fn range(rng: &mut Rng, len: usize, max: usize) -> (usize, usize) {
    let start = position(rng, len);
    (start, 1 + rng.int_below((len - start).min(max)))
}

/// `base` changed by one to three mutations of `kind` (one cut for `Truncate`).
fn mutate(base: &[u8], kind: Mutation, rng: &mut Rng) -> Vec<u8> {
    let mut bytes = base.to_vec();
    let times = if kind == Mutation::Truncate { 1 } else { 1 + rng.int_below(3) };
    for _ in 0..times {
        if bytes.is_empty() {
            let n = 1 + rng.int_below(64);
            bytes = random_bytes(rng, n);
        }
        let len = bytes.len();
        match kind {
            Mutation::BitFlip => {
                for _ in 0..1 + rng.int_below(8) {
                    let p = position(rng, len);
                    bytes[p] ^= 1 << rng.int_below(8);
                }
            }
            Mutation::Overwrite => {
                for _ in 0..1 + rng.int_below(8) {
                    let p = position(rng, len);
                    bytes[p] = rng.next_u64() as u8;
                }
            }
            Mutation::Field => {
                const VALUES: [u64; 14] = [
                    0,
                    1,
                    0x7F,
                    0x80,
                    0xFF,
                    0x7FFF,
                    0xFFFF,
                    0x7FFF_FFFF,
                    0x8000_0000,
                    0xFFFF_FFFF,
                    MAX_UNPACKED_BYTES,
                    MAX_UNPACKED_BYTES + 1,
                    MAX_ZIP_BYTES as u64,
                    u64::MAX,
                ];
                let value = VALUES[rng.int_below(VALUES.len())];
                let width = [2, 4, 8][rng.int_below(3)];
                let le = value.to_le_bytes();
                let field: Vec<u8> = if rng.int_below(2) == 0 { le[..width].to_vec() } else { le[..width].iter().rev().copied().collect() };
                let p = position(rng, len);
                let n = width.min(len - p);
                bytes[p..p + n].copy_from_slice(&field[..n]);
            }
            Mutation::Truncate => bytes.truncate(rng.int_below(len)),
            Mutation::Splice => {
                let (from, n) = range(rng, len, 256);
                let to = rng.int_below(len);
                let n = n.min(len - to);
                bytes.copy_within(from..from + n, to);
            }
            Mutation::Duplicate => {
                let (from, n) = range(rng, len, 1024);
                let copy = bytes[from..from + n].to_vec();
                let to = rng.int_below(len + 1);
                bytes.splice(to..to, copy);
            }
            Mutation::Insert => {
                let n = 1 + rng.int_below(64);
                let insert = random_bytes(rng, n);
                let to = rng.int_below(len + 1);
                bytes.splice(to..to, insert);
            }
            Mutation::Random => {
                let n = rng.int_below(2 * base.len() + 1);
                let garbage = random_bytes(rng, n);
                bytes = match rng.int_below(3) {
                    0 => garbage,
                    1 => [&base[..rng.int_below(base.len().min(64) + 1)], &garbage].concat(),
                    _ => [&garbage, &base[base.len() - rng.int_below(base.len().min(64) + 1)..]].concat(),
                };
                break;
            }
            Mutation::Crafted => unreachable!("crafted inputs are made by hand"),
        }
    }
    bytes
}

/// What one reader did with its inputs.
struct Tally {
    reader: &'static str,
    /// (accepted, refused) per mutation kind.
    outcomes: BTreeMap<Mutation, (usize, usize)>,
    /// Refusals with their digits hidden, and how often each came.
    refusals: BTreeMap<String, usize>,
    inputs: usize,
    /// The largest peak heap seen, and its input's length.
    peak: (usize, usize),
    /// Failed inputs by what went wrong.
    failures: BTreeMap<&'static str, Vec<String>>,
}

impl Tally {
    fn new(reader: &'static str) -> Self {
        Self { reader, inputs: 0, outcomes: BTreeMap::new(), refusals: BTreeMap::new(), peak: (0, 0), failures: BTreeMap::new() }
    }

    /// Reads one input with `read`, which returns the refusal, if any, and checks the reading.
    fn read(&mut self, kind: Mutation, index: usize, input: &[u8], limit: usize, read: impl FnOnce(&[u8]) -> Result<(), Refusal>) {
        self.inputs += 1;
        let (out, peak) = measured(|| read(input));
        let what = format!("{} input {index} ({kind:?}, {} bytes)", self.reader, input.len());
        if peak > self.peak.0 {
            self.peak = (peak, input.len());
        }
        if peak > limit {
            self.failures.entry("held too much").or_default().push(format!("{what} made the reader hold {peak} bytes, over its limit of {limit}"));
        }
        let counts = self.outcomes.entry(kind).or_default();
        match out {
            Err(panic) => self.failures.entry("panicked").or_default().push(format!("{what} panicked: {panic}")),
            Ok(Ok(())) => counts.0 += 1,
            Ok(Err(Refusal { message: msg, own })) => {
                counts.1 += 1;
                if let Some(why) = not_one_line(&msg).or_else(|| not_one_sentence(&own)) {
                    self.failures.entry(why).or_default().push(format!("{what} was refused with {msg:?}"));
                }
                let shape: String = msg.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
                *self.refusals.entry(shape).or_default() += 1;
            }
        }
    }

    /// Prints the counts and asserts that nothing failed and that both outcomes occurred.
    fn finish(self) {
        let total = |f: fn(&(usize, usize)) -> usize| self.outcomes.values().map(f).sum::<usize>();
        let (accepted, refused) = (total(|c| c.0), total(|c| c.1));
        let mut report = format!(
            "{}: {} inputs, {accepted} accepted, {refused} refused; largest peak heap {} bytes (input of {} bytes)\n",
            self.reader,
            self.inputs,
            self.peak.0,
            self.peak.1
        );
        for (kind, (a, r)) in &self.outcomes {
            report += &format!("  {kind:?}: {} inputs, {a} accepted, {r} refused\n", a + r);
        }
        let mut common: Vec<_> = self.refusals.iter().collect();
        common.sort_by_key(|(_, n)| std::cmp::Reverse(**n));
        report += &format!("  {} distinct refusals, the commonest:\n", self.refusals.len());
        for (msg, n) in common.iter().take(12) {
            report += &format!("    {n:>5}  {msg}\n");
        }
        println!("{report}");
        let mut failed = String::new();
        for (why, inputs) in &self.failures {
            failed += &format!("{} inputs: {why}, the first:\n  {}\n", inputs.len(), inputs[..inputs.len().min(4)].join("\n  "));
        }
        assert!(failed.is_empty(), "{}: of {} inputs,\n{failed}", self.reader, self.inputs);
        assert!(accepted > 0 && refused > 0, "{}: a mutation test that only accepts or only refuses tests nothing", self.reader);
    }
}

/// Runs `INPUTS` mutations of the bases, round robin over kinds and bases, then the crafted inputs.
fn fuzz(tally: &mut Tally, stream: u64, bases: &[Vec<u8>], crafted: &[Vec<u8>], mut read: impl FnMut(&mut Tally, Mutation, usize, &[u8])) {
    let mut rng = Rng::stream(0x0057_11E5, stream);
    for i in 0..INPUTS {
        let kind = MUTATIONS[i % MUTATIONS.len()];
        let input = mutate(&bases[(i / MUTATIONS.len()) % bases.len()], kind, &mut rng);
        read(tally, kind, i, &input);
    }
    for (i, input) in crafted.iter().enumerate() {
        read(tally, Mutation::Crafted, i, input);
    }
}

// --- the weights file ---

/// A bound proportional to the file: a header must never make the reader allocate far more
/// than the bytes it is made of.
fn weights_limit(len: usize) -> usize {
    32 * len + (64 << 10)
}

fn weights_file() -> Vec<u8> {
    let mut config = TrainerConfig::preset(TaskKind::Sinusoid);
    config.model.hidden = 8;
    Trainer::new(config, &[], &Device::flex()).unwrap().weights().wait()
}

/// A weights file with a hand-written JSON header and `data` after it.
fn weights_with(json: &str, data: &[u8]) -> Vec<u8> {
    let mut out = b"MAMLW\x001\n".to_vec();
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(data);
    out
}

fn crafted_weights(valid: &[u8]) -> Vec<Vec<u8>> {
    let json_len = u32::from_le_bytes(valid[8..12].try_into().unwrap()) as usize;
    let json = std::str::from_utf8(&valid[12..12 + json_len]).unwrap();
    let shapes_at = json.find("\"shapes\":").unwrap();
    let with_shapes = |shapes: &str| format!("{}\"shapes\":{shapes}}}", &json[..shapes_at]);
    let mut out = vec![];
    for claimed in [u32::MAX, 0x7FFF_FFFF, json_len as u32 + 1, 0] {
        let mut w = valid.to_vec();
        w[8..12].copy_from_slice(&claimed.to_le_bytes());
        out.push(w);
    }
    // shapes that claim far more floats than follow, or whose element count overflows
    for shapes in [
        "[[1000000000000]]",
        "[[1000000,1000000,1000000]]",
        "[[4611686018427387904,4]]",
        "[[4294967296,4294967296]]",
        "[[18446744073709551615,18446744073709551615]]",
        "[[2,9223372036854775808],[1]]",
        "[[]]",
        "[[0,1000000000000000]]",
        "[]",
    ] {
        out.push(weights_with(&with_shapes(shapes), &[0; 4]));
        out.push(weights_with(&with_shapes(shapes), &[]));
    }
    // many shapes from a short header
    out.push(weights_with(&with_shapes(&format!("[{}[]]", "[],".repeat(20_000))), &[]));
    out.push(weights_with(&with_shapes(&format!("[[{}0]]", "0,".repeat(20_000))), &[]));
    // a header whose strings echo into serde's messages
    let kind = "\"kind\":\"sinusoid\"";
    assert!(json.contains(kind));
    for echo in ["\"kind\":\"sin\\nusoid\"", "\"kind\":\"sinusoid. Then a second sentence\"", "\"kind\":\"{:?} Some(x)\""] {
        out.push(weights_with(&json.replacen(kind, echo, 1), &valid[12 + json_len..]));
    }
    out.push(weights_with(&json.replacen(kind, &format!("\"kind\":\"{}\"", "x".repeat(5000)), 1), &valid[12 + json_len..]));
    out.push(weights_with(&json.replacen("\"seed\":", &format!("\"{}\":1,\"seed\":", "y".repeat(5000)), 1), &valid[12 + json_len..]));
    out.push(weights_with(&"[".repeat(100_000), &[]));
    out.push(weights_with("{}", &[]));
    out.push(b"MAMLW\x001\n".to_vec());
    out.push(vec![]);
    out
}

#[test]
fn the_weights_reader_survives_mutated_files() {
    let valid = weights_file();
    let decoded = Weights::decode(&valid).unwrap();
    assert!(!decoded.values.is_empty());
    let mut tally = Tally::new("weights");
    fuzz(&mut tally, 1, std::slice::from_ref(&valid), &crafted_weights(&valid), |tally, kind, i, input| {
        tally.read(kind, i, input, weights_limit(input.len()), |bytes| {
            let w = Weights::decode(bytes).map_err(Refusal::whole)?;
            // an accepted file holds exactly the floats its shapes claim
            assert_eq!(w.values.len(), w.shapes.len(), "one value vector per shape");
            for (shape, values) in w.shapes.iter().zip(&w.values) {
                let n = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
                assert_eq!(n, Some(values.len()), "shape {shape:?} holds {} values", values.len());
            }
            Ok(())
        });
    });
    tally.finish();
}

// --- the checkpoint ---

/// A small sinusoid run's checkpoints: before Adam's first step, and after two.
fn checkpoint_run() -> (Trainer, Vec<Vec<u8>>) {
    let mut config = TrainerConfig::preset(TaskKind::Sinusoid);
    (config.model.hidden, config.maml.meta_batch) = (8, 2);
    let mut t = Trainer::new(config, &[], &Device::flex()).unwrap();
    let fresh = t.checkpoint().wait();
    for _ in 0..2 {
        t.step().wait().unwrap();
    }
    let stepped = t.checkpoint().wait();
    (t, vec![stepped, fresh])
}

fn crafted_checkpoints(valid: &[u8]) -> Vec<Vec<u8>> {
    let json_len = u32::from_le_bytes(valid[8..12].try_into().unwrap()) as usize;
    let json = std::str::from_utf8(&valid[12..12 + json_len]).unwrap();
    let rest = &valid[12 + json_len..];
    let with = |json: &str, rest: &[u8]| {
        let mut out = b"MAMLC\x001\n".to_vec();
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(json.as_bytes());
        out.extend_from_slice(rest);
        out
    };
    let mut out = vec![];
    for claimed in [u32::MAX, 0x7FFF_FFFF, json_len as u32 + 1, 0] {
        let mut c = valid.to_vec();
        c[8..12].copy_from_slice(&claimed.to_le_bytes());
        out.push(c);
    }
    // a weights section that claims more bytes than follow, or fewer
    let weights_len = u64::from_le_bytes(rest[..8].try_into().unwrap());
    for claimed in [u64::MAX, 1 << 62, weights_len + 1, weights_len - 1, 0] {
        out.push(with(json, &[&claimed.to_le_bytes()[..], &rest[8..]].concat()));
    }
    // Adam's header: moments claimed far longer than follow, impossible steps and parameters
    let adam_at = json.find("\"adam\":").unwrap();
    let with_adam = |adam: &str| with(&format!("{}\"adam\":{adam}}}", &json[..adam_at]), rest);
    for adam in [
        r#"{"time":1,"positions":[0],"len":18446744073709551615}"#,
        r#"{"time":1,"positions":[0],"len":4611686018427387904}"#,
        r#"{"time":0,"positions":[0,1,2,3,4,5],"len":384}"#,
        r#"{"time":-5,"positions":[0,1,2,3,4,5],"len":384}"#,
        r#"{"time":2,"positions":[],"len":384}"#,
        r#"{"time":2,"positions":[5,4,3,2,1,0],"len":384}"#,
        r#"{"time":2,"positions":[0,0,1,2,3,4],"len":384}"#,
        r#"{"time":2,"positions":[0,1,2,3,4,18446744073709551615],"len":384}"#,
        r#"{"time":2,"positions":[0,1,2,3,4,5,6,7],"len":384}"#,
        r#"{"time":2,"positions":[0,1,2,3,4,5],"len":0}"#,
        "null",
    ] {
        out.push(with_adam(adam));
    }
    // exact settings that contradict the config, or are not numbers
    let exact_at = json.find("\"exact\":").unwrap();
    let exact_end = exact_at + json[exact_at..].find('}').unwrap() + 1;
    for exact in [
        r#""exact":{"inner_lr":0,"meta_lr":0,"grad_clip":null}"#,
        r#""exact":{"inner_lr":9221120237041090560,"meta_lr":9221120237041090560,"grad_clip":9218868437227405312}"#,
    ] {
        out.push(with(&format!("{}{exact}{}", &json[..exact_at], &json[exact_end..]), rest));
    }
    out.push(with(&"[".repeat(100_000), &[]));
    out.push(with("{}", rest));
    out.push(b"MAMLC\x001\n".to_vec());
    out.push(vec![]);
    out
}

#[test]
fn the_checkpoint_reader_survives_mutated_files_and_a_refusal_changes_nothing() {
    let (mut t, bases) = checkpoint_run();
    let mut tally = Tally::new("checkpoint");
    fuzz(&mut tally, 4, &bases, &crafted_checkpoints(&bases[0]), |tally, kind, i, input| {
        let before = t.checkpoint().wait();
        let mut refused = false;
        tally.read(kind, i, input, weights_limit(input.len()), |bytes| {
            let out = t.resume(bytes).map_err(|e| Refusal::whole(e.to_string()));
            refused = out.is_err();
            out
        });
        if refused {
            assert_eq!(t.checkpoint().wait(), before, "checkpoint input {i} ({kind:?}) was refused but changed the run");
        }
    });
    tally.finish();
}

// --- the Omniglot zip and its PNGs ---

/// The zip reader may hold the unpacked PNG bytes it allows, the file itself, and the decoding
/// of one image of the most pixels it allows: up to four bytes a pixel, then an f32 of ink.
fn zip_limit(len: usize) -> usize {
    MAX_UNPACKED_BYTES as usize + len + 8 * MAX_IMAGE_PIXELS as usize + (1 << 20)
}

/// A `w` x `h` PNG of `color` and `depth`, its samples from `rng`, as the png crate writes it.
fn png_image(w: u32, h: u32, color: png::ColorType, depth: png::BitDepth, rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(color);
    enc.set_depth(depth);
    if color == png::ColorType::Indexed {
        enc.set_palette(random_bytes(rng, 3 * 4));
        enc.set_trns(vec![0xFF, 0x80, 0x00, 0xFF]);
    }
    let mut writer = enc.write_header().unwrap();
    let row = (w as usize * color.samples() * depth as usize).div_ceil(8);
    let mut data = random_bytes(rng, row * h as usize);
    if color == png::ColorType::Indexed && depth == png::BitDepth::Eight {
        // palette indices below four
        data.iter_mut().for_each(|b| *b &= 0x03);
    }
    writer.write_image_data(&data).unwrap();
    drop(writer);
    out
}

/// A `w` x `h` Adam7-interlaced PNG of `color` (its PNG code) with `bytes_per_pixel` random
/// bytes a pixel, written by hand (the png crate does not write interlaced images).
fn interlaced_png(w: u32, h: u32, color: u8, depth: u8, bytes_per_pixel: usize, rng: &mut Rng) -> Vec<u8> {
    const PASSES: [(u32, u32, u32, u32); 7] = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];
    let mut raw = vec![];
    for (x0, y0, dx, dy) in PASSES {
        let (pw, ph) = ((w + dx - 1 - x0) / dx, (h + dy - 1 - y0) / dy);
        if pw == 0 || ph == 0 {
            continue;
        }
        for _ in 0..ph {
            raw.push(0); // no filter
            raw.extend(random_bytes(rng, pw as usize * bytes_per_pixel));
        }
    }
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[depth, color, 0, 0, 1]);
    [PNG_SIGNATURE.to_vec(), chunk(b"IHDR", &ihdr), chunk(b"IDAT", &zlib_stored(&raw)), chunk(b"IEND", &[])].concat()
}

/// `raw` as a zlib stream of one stored deflate block.
fn zlib_stored(raw: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01, 1];
    out.extend_from_slice(&(raw.len() as u16).to_le_bytes());
    out.extend_from_slice(&(!(raw.len() as u16)).to_le_bytes());
    out.extend_from_slice(raw);
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in raw {
        a = (a + byte as u32) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// `alphabets` x `characters` classes of two PNGs each, inside a root folder, as Omniglot ships.
fn omniglot_zip(alphabets: usize, characters: usize, method: zip::CompressionMethod) -> Vec<u8> {
    let mut entries = vec![];
    for a in 0..alphabets {
        for c in 0..characters {
            for i in 0..2 {
                let name = format!("images_background/Alphabet_{a}/character{:02}/{a}{c}_{i:02}.png", c + 1);
                entries.push((name, omniglot_png(10 + 5 * c + i)));
            }
        }
    }
    zip(&entries, method)
}

/// The name a zip holding one PNG gives it.
const ONE_PNG: &str = "root/Alpha/character01/x.png";

fn one_png_zip(png: &[u8]) -> Vec<u8> {
    zip(&[(ONE_PNG.into(), png.to_vec())], zip::CompressionMethod::Stored)
}

/// Overwrites the little-endian u32 at `offset` after every `magic` in `bytes` with `value`.
fn set_after_each(bytes: &mut [u8], magic: &[u8; 4], offset: usize, value: u32) {
    let starts: Vec<usize> = bytes.windows(4).enumerate().filter(|(_, w)| w == magic).map(|(i, _)| i).collect();
    for s in starts {
        if s + offset + 4 <= bytes.len() {
            bytes[s + offset..s + offset + 4].copy_from_slice(&value.to_le_bytes());
        }
    }
}

/// Central file headers (sizes at 20 and 24, count and offset in the end record) and local ones.
const CENTRAL: &[u8; 4] = b"PK\x01\x02";
const LOCAL: &[u8; 4] = b"PK\x03\x04";
const END: &[u8; 4] = b"PK\x05\x06";

fn crafted_zips(valid: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![];
    // a central directory and local headers that claim enormous or just-allowed sizes
    for size in [u32::MAX, 0x7FFF_FFFF, MAX_UNPACKED_BYTES as u32, MAX_UNPACKED_BYTES as u32 / 3, 0] {
        for (magic, offsets) in [(CENTRAL, [20, 24]), (LOCAL, [18, 22])] {
            let mut z = valid.to_vec();
            for offset in offsets {
                set_after_each(&mut z, magic, offset, size);
            }
            out.push(z.clone());
            // both headers at once
            let other = if magic == CENTRAL { (LOCAL, [18, 22]) } else { (CENTRAL, [20, 24]) };
            for offset in other.1 {
                set_after_each(&mut z, other.0, offset, size);
            }
            out.push(z);
        }
    }
    // an end record that claims 65535 entries, or a directory far past the file
    for (offset, value) in [(8, 0xFFFF_FFFF), (12, 0xFFFF_FFFF), (16, 0xFFFF_FFFF), (16, 0)] {
        let mut z = valid.to_vec();
        set_after_each(&mut z, END, offset, value);
        out.push(z);
    }
    // names a person cannot read back in one line: a line break, and a very long one
    let bad = b"\x89PNG garbage".to_vec();
    out.push(zip(&[("root/Al\npha/char\r01/x.png".into(), bad.clone())], zip::CompressionMethod::Stored));
    out.push(zip(&[(format!("root/{}/character01/x.png", "A".repeat(2000)), bad.clone())], zip::CompressionMethod::Stored));
    out.push(zip(&[(format!("root/Alpha/character01/{}.png", "é".repeat(1000)), bad)], zip::CompressionMethod::Stored));
    // a stored entry whose bytes are the whole file again
    out.push(zip(&[(ONE_PNG.into(), valid.to_vec())], zip::CompressionMethod::Stored));
    out.push(vec![0; MAX_ZIP_BYTES + 1]);
    out
}

/// Checks an accepted set: one vector of SIDE x SIDE ink values in [0, 1] per image.
fn check_set(set: &ImageSet) {
    assert_eq!(set.names.len(), set.images.len());
    for class in &set.images {
        assert!(!class.is_empty(), "a class without images");
        for img in class {
            assert_eq!(img.len(), SIDE * SIDE);
            assert!(img.iter().all(|v| (-1e-4..=1.0 + 1e-4).contains(v)), "ink outside [0, 1]");
        }
    }
}

#[test]
fn the_zip_reader_survives_mutated_zips() {
    let bases = [omniglot_zip(2, 2, zip::CompressionMethod::Deflated), omniglot_zip(1, 3, zip::CompressionMethod::Stored)];
    for base in &bases {
        check_set(&ImageSet::from_zip(base).unwrap());
    }
    let crafted = crafted_zips(&bases[0]).into_iter().chain(crafted_zips(&bases[1])).collect::<Vec<_>>();
    let mut tally = Tally::new("zip");
    fuzz(&mut tally, 2, &bases, &crafted, |tally, kind, i, input| {
        tally.read(kind, i, input, zip_limit(input.len()), |bytes| match ImageSet::from_zip(bytes) {
            Ok(set) => {
                check_set(&set);
                Ok(())
            }
            Err(DataError::BadPng { file, reason }) => Err(Refusal::bad_png(file, reason)),
            Err(e) => Err(Refusal::whole(e.to_string())),
        });
    });
    tally.finish();
}

/// A zip's headers claim each entry's unpacked size: a claim reserves no more than the file's
/// own length, so a small file cannot make the reader hold what its headers claim; and claims
/// that add up past 2^64 are too large, not a small wrapped total.
#[test]
fn claimed_entry_sizes_are_not_reserved_nor_wrapped() {
    let valid = omniglot_zip(1, 2, zip::CompressionMethod::Deflated);
    for size in [MAX_UNPACKED_BYTES as u32 / 3, MAX_UNPACKED_BYTES as u32 / 8, 1 << 20] {
        let mut z = valid.clone();
        set_after_each(&mut z, CENTRAL, 24, size);
        set_after_each(&mut z, LOCAL, 22, size);
        let (out, peak) = measured(|| ImageSet::from_zip(&z).map(|_| ()));
        assert!(out.is_ok(), "a claimed size of {size} bytes made the reader panic");
        assert!(peak < 1 << 20, "a zip of {} bytes claiming {size}-byte entries made the reader hold {peak} bytes", z.len());
    }
    let png = omniglot_png(10);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
    for name in ["root/Alpha/character01/a.png", "root/Alpha/character01/b.png"] {
        w.start_file(name, options).unwrap();
        w.write_all(&png).unwrap();
    }
    let mut z = w.finish().unwrap().into_inner();
    // the second entry's zip64 unpacked size, in its local and central headers
    let starts = |magic: &[u8; 4], z: &[u8]| z.windows(4).enumerate().filter(|(_, w)| w == magic).map(|(i, _)| i).collect::<Vec<_>>();
    let wrap = (u64::MAX - png.len() as u64 + 10).to_le_bytes();
    for (magic, name_len_at, extra_at) in [(CENTRAL, 28, 46), (LOCAL, 26, 30)] {
        let s = starts(magic, &z)[1];
        let field = s + extra_at + u16::from_le_bytes([z[s + name_len_at], z[s + name_len_at + 1]]) as usize;
        assert_eq!(z[field..field + 2], [1, 0], "a zip64 extra field");
        z[field + 4..field + 12].copy_from_slice(&wrap);
    }
    let (out, _) = measured(|| ImageSet::from_zip(&z).map(|set| set.names));
    assert!(matches!(out, Ok(Err(DataError::UnpackedTooLarge { .. }))), "claims past 2^64 read as {out:?}");
}

/// The images of one zip entry: every colour type and depth `decode_ink` turns into ink.
fn png_bases() -> Vec<Vec<u8>> {
    use png::{BitDepth, ColorType};
    let mut rng = Rng::new(7);
    vec![
        omniglot_png(20),
        png_image(9, 7, ColorType::Grayscale, BitDepth::Eight, &mut rng),
        png_image(6, 5, ColorType::GrayscaleAlpha, BitDepth::Sixteen, &mut rng),
        png_image(7, 6, ColorType::Rgb, BitDepth::Eight, &mut rng),
        png_image(5, 9, ColorType::Rgba, BitDepth::Eight, &mut rng),
        png_image(8, 8, ColorType::Indexed, BitDepth::Two, &mut rng),
        png_image(4, 3, ColorType::Indexed, BitDepth::Eight, &mut rng),
        interlaced_png(11, 10, 4, 16, 4, &mut rng),
        interlaced_png(9, 6, 2, 8, 3, &mut rng),
    ]
}

/// A PNG's chunk: its length, type, data and CRC.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc_of = [kind.as_slice(), data].concat();
    out.extend_from_slice(&crc32(&crc_of).to_be_bytes());
    out
}

/// Rewrites the CRC of every whole chunk after the signature, up to the first that does not fit.
fn fix_crcs(png: &mut [u8]) {
    let mut at = PNG_SIGNATURE.len();
    while at + 12 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|&end| end + 4 <= png.len()) else { return };
        let crc = crc32(&png[at + 4..end]);
        png[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A PNG whose header claims `w` x `h` of 8-bit grayscale, with `idat` as its image data.
fn png_claiming(w: u32, h: u32, idat: &[u8]) -> Vec<u8> {
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    [PNG_SIGNATURE.to_vec(), chunk(b"IHDR", &ihdr), chunk(b"IDAT", idat), chunk(b"IEND", &[])].concat()
}

fn crafted_pngs() -> Vec<Vec<u8>> {
    let mut rng = Rng::new(8);
    let mut out = vec![];
    let side = MAX_IMAGE_PIXELS.isqrt() as u32;
    for (w, h) in [(u32::MAX, u32::MAX), (0x7FFF_FFFF, 1), (1, 0x7FFF_FFFF), (65_535, 65_535), (side + 1, side), (side, side), (0, 0), (0, 5)] {
        out.push(png_claiming(w, h, &[]));
        out.push(png_claiming(w, h, &random_bytes(&mut rng, 64)));
    }
    // a small file that decodes to the largest image the reader allows: a PNG bomb
    let white = {
        let mut o = Vec::new();
        let mut enc = png::Encoder::new(&mut o, side, side);
        enc.set_color(png::ColorType::Grayscale);
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(&vec![0xFF; (side * side) as usize]).unwrap();
        drop(writer);
        o
    };
    out.push(white);
    // a 1x1 indexed image whose palette is not whole colours
    for palette_len in [4, 5, 7, 8, 767] {
        let ihdr = [1u32.to_be_bytes(), 1u32.to_be_bytes()].concat().into_iter().chain([8, 3, 0, 0, 0]).collect::<Vec<_>>();
        let plte = random_bytes(&mut rng, palette_len);
        let idat = zlib_stored(&[0, 0]);
        out.push([PNG_SIGNATURE.to_vec(), chunk(b"IHDR", &ihdr), chunk(b"PLTE", &plte), chunk(b"IDAT", &idat), chunk(b"IEND", &[])].concat());
    }
    out.push(PNG_SIGNATURE.to_vec());
    out.push(vec![]);
    out
}

#[test]
fn the_png_reader_survives_mutated_images() {
    let bases = png_bases();
    for base in &bases {
        let set = ImageSet::from_zip(&one_png_zip(base)).unwrap();
        check_set(&set);
        assert_eq!(set.num_images(), 1);
    }
    let mut tally = Tally::new("png");
    fuzz(&mut tally, 3, &bases, &crafted_pngs(), |tally, kind, i, png| {
        // every other round of the kinds with its chunks' checksums made right again, so that
        // the mutation reaches the decoder behind them
        let mut png = png.to_vec();
        if (i / MUTATIONS.len()) % 2 == 1 && kind != Mutation::Crafted {
            fix_crcs(&mut png);
        }
        let png = png.as_slice();
        let input = one_png_zip(png);
        tally.read(kind, i, png, zip_limit(input.len()), |_| match ImageSet::from_zip(&input) {
            Ok(set) => {
                check_set(&set);
                assert_eq!(set.num_images(), 1);
                Ok(())
            }
            Err(DataError::BadPng { file, reason }) => {
                assert_eq!(file, ONE_PNG);
                Err(Refusal::bad_png(file, reason))
            }
            Err(e) => panic!("a valid zip around one PNG was refused as {e:?}"),
        });
    });
    tally.finish();
}

