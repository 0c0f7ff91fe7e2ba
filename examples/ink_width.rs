//! The half-width of an Omniglot zip's strokes at 28x28, for the page's drawing panel
//! (`www/views/draw.js` renders a drawn stroke of half-width w as I = clamp(w + 0.5 - d, 0, 1)).
//!
//! Across such a stroke, pixels over 0.5 ink lie within w of its centre line and pixels over 0.1
//! within w + 0.4, so the share r of touched pixels that are core gives w = 0.4 r / (1 - r).
//!
//! `cargo run --release --example ink_width -- images_background_small1.zip`

use maml_lab::tasks::ImageSet;

fn main() {
    let path = std::env::args().nth(1).expect("usage: ink_width ZIP");
    let set = ImageSet::from_zip(&std::fs::read(&path).expect("readable zip")).expect("an Omniglot-layout zip");
    let images: Vec<&Vec<f32>> = set.images.iter().flatten().collect();
    let count = |above: f32| images.iter().map(|img| img.iter().filter(|&&v| v > above).count()).sum::<usize>() as f64;
    let (core, touched) = (count(0.5), count(0.1));
    let r = core / touched;
    println!(
        "{{\"images\":{},\"core_per_image\":{:.1},\"touched_per_image\":{:.1},\"half_width\":{:.2}}}",
        images.len(),
        core / images.len() as f64,
        touched / images.len() as f64,
        0.4 * r / (1.0 - r)
    );
}
