//! A PNG of one drawn character as ink on 28x28: the image's darkness (alpha included) in [0, 1],
//! resized by area. Omniglot's files are black strokes on white; any colour type and depth is read.

use std::io::Cursor;

use super::omniglot::{MAX_IMAGE_PIXELS, SIDE};

/// The png crate's error in plain words: its own messages print chunk types as debug structs.
fn png_reason(e: png::DecodingError) -> String {
    match e {
        png::DecodingError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => "the PNG data ends early".into(),
        png::DecodingError::IoError(e) => e.to_string(),
        png::DecodingError::Format(_) => "the PNG data is corrupt".into(),
        png::DecodingError::Parameter(e) => e.to_string(),
        png::DecodingError::LimitsExceeded => "the image is too large".into(),
    }
}

/// Whether every palette chunk in `chunks` holds whole colours, as the PNG spec requires: png
/// 0.18 panics on one that does not (image-rs/image-png#694). Stops at a chunk that does not fit.
fn palettes_are_whole(mut chunks: &[u8]) -> bool {
    while let Some((head, rest)) = chunks.split_at_checked(8) {
        let len = u32::from_be_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        if &head[4..] == b"PLTE" && !len.is_multiple_of(3) {
            return false;
        }
        let Some(next) = rest.get(len.saturating_add(4)..) else { break };
        chunks = next;
    }
    true
}

/// Decodes a PNG of any colour type to SIDE x SIDE ink values (dark pixels are ink).
pub fn decode_ink(png_bytes: &[u8]) -> Result<Vec<f32>, String> {
    if !png_bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err("it is not a PNG image".into());
    }
    if !palettes_are_whole(&png_bytes[8..]) {
        return Err("its palette is not a whole number of colours".into());
    }
    let mut decoder = png::Decoder::new(Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(png_reason)?;
    let (w, h) = reader.info().size();
    if u64::from(w) * u64::from(h) > MAX_IMAGE_PIXELS {
        return Err(format!("the image is {w} x {h} pixels, over the {MAX_IMAGE_PIXELS}-pixel limit"));
    }
    let size = reader.output_buffer_size().ok_or("the image is too large")?;
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(png_reason)?;
    let (w, h) = (info.width as usize, info.height as usize);
    if w == 0 || h == 0 {
        return Err("the image is empty".into());
    }
    let channels = info.color_type.samples();
    let ink: Vec<f32> = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|px| {
            let (lum, alpha) = match px {
                [g] => (px_f(*g), 1.0),
                [g, a] => (px_f(*g), px_f(*a)),
                [r, g, b] => (0.299 * px_f(*r) + 0.587 * px_f(*g) + 0.114 * px_f(*b), 1.0),
                [r, g, b, a] => (0.299 * px_f(*r) + 0.587 * px_f(*g) + 0.114 * px_f(*b), px_f(*a)),
                _ => unreachable!("PNG pixels have 1 to 4 samples"),
            };
            // composite on white paper, then ink = darkness
            1.0 - (lum * alpha + (1.0 - alpha))
        })
        .collect();
    Ok(area_resize(&ink, h, w, SIDE))
}

fn px_f(v: u8) -> f32 {
    v as f32 / 255.0
}

/// Area averaging: each output pixel is the mean of the input area it covers, fractional
/// pixels weighted by their overlap (105 -> 28 averages 3.75 x 3.75 input pixels).
pub fn area_resize(src: &[f32], h: usize, w: usize, side: usize) -> Vec<f32> {
    let weights = |n_in: usize| -> Vec<Vec<(usize, f32)>> {
        let scale = n_in as f64 / side as f64;
        (0..side)
            .map(|o| {
                let (lo, hi) = (o as f64 * scale, (o + 1) as f64 * scale);
                (lo.floor() as usize..(hi.ceil() as usize).min(n_in))
                    .map(|i| (i, (((i + 1) as f64).min(hi) - (i as f64).max(lo)) / scale))
                    .filter(|&(_, wt)| wt > 0.0)
                    .map(|(i, wt)| (i, wt as f32))
                    .collect()
            })
            .collect()
    };
    let (rows, cols) = (weights(h), weights(w));
    let mut out = vec![0f32; side * side];
    for (r, row_w) in rows.iter().enumerate() {
        for (c, col_w) in cols.iter().enumerate() {
            out[r * side + c] = row_w
                .iter()
                .map(|&(i, wi)| wi * col_w.iter().map(|&(j, wj)| wj * src[i * w + j]).sum::<f32>())
                .sum();
        }
    }
    out
}
