//! Seconds to decode and resize every image of a folder, as ImageFolder and `data.dataset =
//! "images"` read them: `cargo run --release -p selfsup-data --example decode_timing -- DIR SIDE`.

use std::time::Instant;

use selfsup_data::{ImageFolderOptions, Storage, load_images};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: decode_timing DIR SIDE");
    let side: usize = args
        .next()
        .map_or(64, |s| s.parse().expect("SIDE: a number of pixels"));
    let options = ImageFolderOptions {
        image_size: side,
        channels: 3,
        skip_bad: false,
        storage: Storage::Memory,
    };
    let started = Instant::now();
    let loaded = load_images(dir.as_ref(), &options).expect("a folder of images");
    let seconds = started.elapsed().as_secs_f64();
    let images = loaded.dataset.len();
    println!(
        "{images} images to {side}x{side} in {seconds:.3} s: {:.1} ms per image",
        1000.0 * seconds / images as f64
    );
}
