//! The nearest-neighbour baselines against answers worked out by hand: a shifted copy fools the pixel distance but not the modified Hausdorff distance.

use maml_lab::tasks::baselines::{Distance, accuracy, ink, modified_hausdorff, pixel_distance};
use maml_lab::tasks::{ImageSet, InputShape, test_run};

mod common;

const SHAPE: InputShape = InputShape { channels: 1, height: 28, width: 28 };

/// A: a vertical bar, column 5, rows 5..15. B: a horizontal bar, row 10, columns 7..17.
fn bar_a(r: usize, c: usize) -> bool {
    c == 5 && (5..15).contains(&r)
}
fn bar_b(r: usize, c: usize) -> bool {
    r == 10 && (7..17).contains(&c)
}
/// A moved two columns right: column 7, which crosses B at (10, 7).
fn bar_a_shifted(r: usize, c: usize) -> bool {
    c == 7 && (5..15).contains(&r)
}

fn image(ink: fn(usize, usize) -> bool) -> Vec<f32> {
    (0..784).map(|p| if ink(p / 28, p % 28) { 1.0 } else { 0.0 }).collect()
}

/// By hand: the shifted A is 2 from A in every point, both ways: MHD 2. From its points to B's
/// row the distances are |r - 10|, r = 5..14: mean 2.5; from B's points to its column, |c - 7|,
/// c = 7..16: mean 4.5; MHD 4.5.
#[test]
fn the_modified_hausdorff_distance_of_the_bars_is_as_worked_out_by_hand() {
    let (a, b, q) = (ink(&image(bar_a), SHAPE), ink(&image(bar_b), SHAPE), ink(&image(bar_a_shifted), SHAPE));
    assert_eq!((a.len(), b.len(), q.len()), (10, 10, 10));
    assert!((modified_hausdorff(&q, &a, 40.0) - 2.0).abs() < 1e-12);
    assert!((modified_hausdorff(&q, &b, 40.0) - 4.5).abs() < 1e-12);
    assert_eq!(modified_hausdorff(&q, &b, 40.0), modified_hausdorff(&b, &q, 40.0), "symmetric");
    // the pixel distance: A and its shift share no pixel (20 differ), B and the shift share one (18)
    assert!((pixel_distance(&image(bar_a_shifted), &image(bar_a)) - 20f64.sqrt()).abs() < 1e-9);
    assert!((pixel_distance(&image(bar_a_shifted), &image(bar_b)) - 18f64.sqrt()).abs() < 1e-9);
    // no ink: the same as no ink, and farther than any inked image from one with ink
    assert_eq!(modified_hausdorff(&[], &[], 40.0), 0.0);
    assert_eq!(modified_hausdorff(&[], &a, 40.0), 40.0);
}

/// A zip laid out as one test run of two characters: A with its shifted copy as the query, B
/// with itself. Pixel NN calls the shifted A a B (one of two right); MHD gets both.
#[test]
fn on_a_hand_made_run_pixel_nn_takes_the_shift_for_the_other_class_and_mhd_does_not() {
    let entries = vec![
        ("run/Alphabet/character01/0001_01.png".to_string(), common::png_of(28, bar_a)),
        ("run/Alphabet/character01/0001_02.png".to_string(), common::png_of(28, bar_a_shifted)),
        ("run/Alphabet/character02/0002_01.png".to_string(), common::png_of(28, bar_b)),
        ("run/Alphabet/character02/0002_02.png".to_string(), common::png_of(28, bar_b)),
    ];
    let set = ImageSet::from_zip(&common::zip(&entries, zip::CompressionMethod::Deflated)).unwrap();
    assert_eq!(set.images[0][1], image(bar_a_shifted), "a 28x28 PNG is read pixel for pixel");
    let task = test_run::one_task(&set, 2, 1).unwrap();
    assert_eq!(accuracy(&task, SHAPE, Distance::Pixels), 0.5);
    assert_eq!(accuracy(&task, SHAPE, Distance::Hausdorff), 1.0);
    // the first image of each character (by file name) is its support
    assert_eq!(&task.support.x[..784], &image(bar_a)[..]);
    assert_eq!(test_run::sampling(&set, 1), (true, true), "one alphabet; support by drawer 01, queries by 02");
}

/// With two shots the nearest single example decides: a query equal to one of its class's two
/// examples is that class's, however far the other example is.
#[test]
fn with_several_shots_the_nearest_single_example_decides() {
    let entries = vec![
        ("r/A/c1/1_01.png".to_string(), common::png_of(28, bar_a)),
        ("r/A/c1/1_02.png".to_string(), common::png_of(28, |r, c| r > 20 && c > 20)), // far from everything
        ("r/A/c1/1_03.png".to_string(), common::png_of(28, bar_a)),
        ("r/A/c2/2_01.png".to_string(), common::png_of(28, bar_a_shifted)),
        ("r/A/c2/2_02.png".to_string(), common::png_of(28, bar_b)),
        ("r/A/c2/2_03.png".to_string(), common::png_of(28, bar_b)),
    ];
    let set = ImageSet::from_zip(&common::zip(&entries, zip::CompressionMethod::Stored)).unwrap();
    let task = test_run::one_task(&set, 2, 2).unwrap();
    for distance in [Distance::Pixels, Distance::Hausdorff] {
        assert_eq!(accuracy(&task, SHAPE, distance), 1.0, "{distance:?}");
    }
}
