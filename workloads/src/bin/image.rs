//! `image`: realistic and memory-heavy. Generates a `width`×`height` RGB image (gradients, a
//! checker and seeded noise), encodes it to PNG in memory, decodes it (checking the round trip is
//! lossless), resizes it to half size with the Triangle filter and converts it to grayscale.
//!
//! Parameters: `width`, `height` (1..=4096 each, at most 4,194,304 pixels; default 256 × 256),
//! `seed` (any u64, default 42).
//! Result: `{"width", "height", "png_bytes", "out_width", "out_height", "gray_sum" (sum of the
//! grayscale bytes), "gray_blake3" (hex digest of the grayscale bytes)}`.

use image::codecs::png::PngEncoder;
use image::imageops::{self, FilterType};
use image::{ExtendedColorType, ImageEncoder, ImageFormat, RgbImage};
use wow_workloads::{Error, Params, SplitMix64, Value, json, uint};

const MAX_PIXELS: u64 = 4 * 1024 * 1024;

fn generate(width: u32, height: u32, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    let (wx, hy) = (width.max(2) - 1, height.max(2) - 1);
    for y in 0..height {
        for x in 0..width {
            let noise = rng.next_u64();
            let checker = if (x / 16 + y / 16) % 2 == 0 { 32 } else { 0 };
            let r = (x * 223 / wx) as u8;
            let g = (y * 223 / hy) as u8;
            let b = ((x ^ y) & 0xbf) as u8;
            pixels.push(r.wrapping_add(checker).wrapping_add((noise & 0x1f) as u8));
            pixels.push(g.wrapping_add((noise >> 8 & 0x1f) as u8));
            pixels.push(
                b.wrapping_add(checker)
                    .wrapping_add((noise >> 16 & 0x1f) as u8),
            );
        }
    }
    pixels
}

fn run(params: &Params) -> Result<Value, Error> {
    let width = uint(params, "width", 256, 1..=4096)? as u32;
    let height = uint(params, "height", 256, 1..=4096)? as u32;
    let seed = uint(params, "seed", 42, 0..=u64::MAX)?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(Error::new(format!(
            "width × height must be at most {MAX_PIXELS} pixels, got {width} × {height} = {pixels}"
        )));
    }

    let original = generate(width, height, seed);
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&original, width, height, ExtendedColorType::Rgb8)
        .map_err(|e| Error::new(format!("cannot encode PNG: {e}")))?;

    let decoded = image::load_from_memory_with_format(&png, ImageFormat::Png)
        .map_err(|e| Error::new(format!("cannot decode PNG: {e}")))?
        .into_rgb8();
    if decoded.dimensions() != (width, height) || decoded.as_raw() != &original {
        return Err(Error::new("the PNG round trip changed the image"));
    }
    drop(original);

    let (out_width, out_height) = ((width / 2).max(1), (height / 2).max(1));
    let small: RgbImage = imageops::resize(&decoded, out_width, out_height, FilterType::Triangle);
    drop(decoded);
    let gray = imageops::grayscale(&small);
    let gray_sum: u64 = gray.as_raw().iter().map(|&v| u64::from(v)).sum();
    let gray_blake3 = blake3::hash(gray.as_raw());

    Ok(json!({
        "width": width,
        "height": height,
        "png_bytes": png.len(),
        "out_width": out_width,
        "out_height": out_height,
        "gray_sum": gray_sum,
        "gray_blake3": gray_blake3.to_hex().as_str(),
    }))
}

fn main() {
    wow_workloads::main(run)
}
