//! Fixtures the test files share, built in the test: Omniglot-style PNGs and zips of them.
#![allow(dead_code)] // each test file uses some of them

use std::io::Write;

/// A 105x105 1-bit PNG as Omniglot ships, ink dark, with a filled square of `ink` side.
pub fn omniglot_png(ink: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, 105, 105);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::One);
    let mut writer = enc.write_header().unwrap();
    let row_bytes = 105usize.div_ceil(8);
    let mut data = vec![0xFFu8; row_bytes * 105];
    for r in 0..ink {
        for c in 0..ink {
            data[r * row_bytes + c / 8] &= !(0x80 >> (c % 8));
        }
    }
    writer.write_image_data(&data).unwrap();
    drop(writer);
    out
}

pub fn zip(entries: &[(String, Vec<u8>)], method: zip::CompressionMethod) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in entries {
        w.start_file(name.as_str(), options).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A `side` x `side` 1-bit PNG, ink dark where `ink(row, column)`.
pub fn png_of(side: usize, ink: impl Fn(usize, usize) -> bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, side as u32, side as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::One);
    let mut writer = enc.write_header().unwrap();
    let row_bytes = side.div_ceil(8);
    let mut data = vec![0xFFu8; row_bytes * side];
    for r in 0..side {
        for c in (0..side).filter(|&c| ink(r, c)) {
            data[r * row_bytes + c / 8] &= !(0x80 >> (c % 8));
        }
    }
    writer.write_image_data(&data).unwrap();
    drop(writer);
    out
}

/// Drives a future to completion; on the CPU backend every read is ready at once.
pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// The `maml` binary run with `args`.
pub fn maml(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_maml")).args(args).output().expect("the binary should run")
}

/// The last line of a successful run's output, as JSON.
pub fn last_json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    serde_json::from_str(stdout.lines().last().expect("some output")).expect("the last line is JSON")
}

/// The binary refuses `args` with a sentence holding `words`, without a panic.
pub fn refused(args: &[&str], words: &str) {
    let out = maml(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert!(stderr.contains(words), "{args:?}: '{stderr}' should mention '{words}'");
}
