//! Images to network input (resize, center crop, ImageNet normalization, CHW f32) and back.

use std::borrow::Cow;
#[cfg(feature = "cli")]
use std::io::ErrorKind;
use std::path::Path;

use image::imageops::FilterType;
use image::{
    DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage,
    error::LimitErrorKind,
};

#[cfg(feature = "cli")]
use crate::app::input_file::{SizeLimit, read_limited};
use crate::error::{Error, Result};

/// ImageNet channel means (RGB) of pixel values scaled to 0..1.
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB) of pixel values scaled to 0..1.
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The normalized range of each channel, [(lo, hi); 3]: the values of pixel levels 0 and 255.
pub fn image_bounds() -> [(f32, f32); 3] {
    std::array::from_fn(|c| ((0.0 - MEAN[c]) / STD[c], (1.0 - MEAN[c]) / STD[c]))
}

/// The largest width or height the decoder accepts.
const MAX_SIDE: u32 = 16384;
/// The most memory the decoder may allocate.
const MAX_ALLOC: u64 = 512 << 20;
/// The largest image file read.
#[cfg(feature = "cli")]
const IMAGE_FILE_LIMIT: SizeLimit = SizeLimit {
    bytes: MAX_ALLOC,
    what: "image files",
};

/// Reads an image in any format the `image` crate decodes (detected from the content, not the
/// extension) as 8-bit RGB: grayscale is replicated, alpha is dropped, 16-bit and float samples
/// are scaled to 8 bits. Only regular files are read (see [`read_limited`]). Images over 16384
/// pixels on a side, files over 512 MiB and images needing more than 512 MiB to decode are
/// refused.
///
/// JPEGs are decoded with libjpeg-turbo as PIL's `Image.open(f).convert("RGB")` decodes them (and
/// so the PyTorch references): the same pixels, bit for bit, CMYK and YCCK JPEGs included.
#[cfg(feature = "cli")]
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    let bytes = read_limited(path, IMAGE_FILE_LIMIT).map_err(|e| Error::Image {
        path: path.to_path_buf(),
        reason: match e.kind() {
            ErrorKind::FileTooLarge => e.to_string(),
            _ => format!("cannot read the file: {e}"),
        },
    })?;
    rgb_from_bytes(&bytes, path)
}

/// Decodes the bytes of an image file as [`load_rgb`] does; `path` only names the file in errors.
pub fn rgb_from_bytes(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    decode(bytes).map_err(|reason| Error::Image {
        path: path.to_path_buf(),
        reason,
    })
}

/// [`rgb_from_bytes`] with the error as the reason alone.
fn decode(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    if bytes.is_empty() {
        return Err("the file is empty".to_string());
    }
    let format = image::guess_format(bytes)
        .map_err(|_| "not an image in a format this build can decode".to_string())?;
    let image = match format {
        #[cfg(feature = "libjpeg-turbo")]
        ImageFormat::Jpeg => crate::jpeg::decode_jpeg(bytes)?,
        _ => decode_with_image_crate(bytes, format)?,
    };
    if image.width() == 0 || image.height() == 0 {
        return Err(format!(
            "the image is empty ({}x{})",
            image.width(),
            image.height()
        ));
    }
    Ok(image)
}

/// The reason for refusing a `width`×`height` image, if it is over the side limit.
pub(crate) fn check_side(width: u32, height: u32) -> std::result::Result<(), String> {
    if width.max(height) > MAX_SIDE {
        return Err(format!(
            "too large: {width}x{height} pixels, more than {MAX_SIDE} on a side"
        ));
    }
    Ok(())
}

/// The reason for refusing to decode `width`×`height` pixels needing `needed` bytes, if over
/// the memory limit.
pub(crate) fn check_alloc(width: u32, height: u32, needed: u64) -> std::result::Result<(), String> {
    if needed > MAX_ALLOC {
        return Err(format!(
            "too large: decoding {width}x{height} pixels needs {needed} bytes, more than {} MiB",
            MAX_ALLOC >> 20
        ));
    }
    Ok(())
}

/// Decodes with the `image` crate under the decoder limits: the decoded pixels and their 8-bit
/// RGB conversion together must fit in `MAX_ALLOC`.
fn decode_with_image_crate(
    bytes: &[u8],
    format: ImageFormat,
) -> std::result::Result<RgbImage, String> {
    let mut reader = ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(describe_image_error)?;
    let (w, h) = decoder.dimensions();
    check_side(w, h)?;
    let needed = decoder
        .total_bytes()
        .saturating_add(u64::from(w) * u64::from(h) * 3);
    check_alloc(w, h, needed)?;
    let image = DynamicImage::from_decoder(decoder).map_err(describe_image_error)?;
    Ok(image.into_rgb8())
}

/// The reason for a failure of the `image` crate.
fn describe_image_error(e: ImageError) -> String {
    match &e {
        ImageError::Limits(l) => match l.kind() {
            LimitErrorKind::DimensionError => {
                format!("too large: more than {MAX_SIDE} pixels on a side ({e})")
            }
            LimitErrorKind::InsufficientMemory => format!(
                "too large: decoding needs more than {} MiB ({e})",
                MAX_ALLOC >> 20
            ),
            _ => format!("decoder limits: {e}"),
        },
        ImageError::Unsupported(_) => format!("unsupported image: {e}"),
        _ => format!("cannot decode: {e}"),
    }
}

/// The shorter side an image is resized to before the center crop: `round(size · 256 / 224)`,
/// 256 for 224 as in the usual ImageNet evaluation.
fn resize_target(size: usize) -> usize {
    (size * 256 + 112) / 224
}

/// The longest side, as a multiple of the shorter one, that [`to_input`] resizes; longer sides
/// are center cropped to it first.
const MAX_ASPECT: usize = 4;

/// The network input for `img`: `size`×`size`, CHW, `(v / 255 − MEAN) / STD` per channel.
///
/// An image of exactly `size`×`size` is used as it is. Otherwise it is resized so that its shorter
/// side is `round(size · 256 / 224)` (the longer side as torchvision computes it,
/// `floor(target · long / short)`), unless the shorter side already has that length, and then
/// center cropped with `left = (w − size) / 2`, `top = (h − size) / 2`. Resizing uses
/// [`FilterType::Triangle`]: a bilinear filter widened when shrinking (antialiased), which is what
/// torchvision's bilinear `Resize` of a PIL image does.
///
/// Images smaller than the crop work: they are upscaled like any other (a 1×1 image gives a
/// uniform input), as torchvision's `Resize` would. Images whose longer side is more than 4 times
/// the shorter one (a 1×10000 strip, say) are first center cropped to 4 times the shorter side, so
/// that resizing never makes a huge intermediate image; the crop keeps the centered region the
/// network sees with a wide margin, so the input differs from a full resize only by the rounding
/// of the resized length.
pub fn to_input(img: &RgbImage, size: usize) -> Result<Vec<f32>> {
    let img = resized_for_crop(img, size)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (left, top) = ((w - size) / 2, (h - size) / 2);
    let mut out = vec![0.0; 3 * size * size];
    for (c, plane) in out.chunks_exact_mut(size * size).enumerate() {
        for (y, row) in plane.chunks_exact_mut(size).enumerate() {
            for (x, v) in row.iter_mut().enumerate() {
                let p = img.get_pixel((left + x) as u32, (top + y) as u32)[c];
                *v = (p as f32 / 255.0 - MEAN[c]) / STD[c];
            }
        }
    }
    Ok(out)
}

/// The image [`to_input`] center crops for `size`: narrowed to 4:1 and resized so that its
/// shorter side is `round(size · 256 / 224)`, or the image itself when it is `size`×`size` or
/// already has that shorter side. Errors on an empty image or size.
pub fn resized_for_crop(img: &RgbImage, size: usize) -> Result<Cow<'_, RgbImage>> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 || size == 0 {
        return Err(Error::InvalidInput(format!(
            "cannot make a {size}x{size} input from an image of {w}x{h} pixels"
        )));
    }
    let (short, long) = (w.min(h), w.max(h));
    let img = if long > MAX_ASPECT * short {
        // Keep the parity of the long side so that the crop is exactly centered.
        let keep = MAX_ASPECT * short + (long - MAX_ASPECT * short) % 2;
        let offset = ((long - keep) / 2) as u32;
        let (x, y, cw, ch) = if w > h {
            (offset, 0, keep as u32, h as u32)
        } else {
            (0, offset, w as u32, keep as u32)
        };
        Cow::Owned(image::imageops::crop_imm(img, x, y, cw, ch).to_image())
    } else {
        Cow::Borrowed(img)
    };
    let (w, h) = (img.width() as usize, img.height() as usize);
    if (w, h) == (size, size) {
        return Ok(img);
    }
    let target = resize_target(size);
    let short = w.min(h);
    if short == target {
        return Ok(img);
    }
    let long = (target as u64 * w.max(h) as u64 / short as u64) as u32;
    let (nw, nh) = if w <= h {
        (target as u32, long)
    } else {
        (long, target as u32)
    };
    Ok(Cow::Owned(image::imageops::resize(
        img.as_ref(),
        nw,
        nh,
        FilterType::Triangle,
    )))
}

/// [`load_rgb`] then [`to_input`]; every error names the file.
#[cfg(feature = "cli")]
pub fn load_input(path: &Path, size: usize) -> Result<Vec<f32>> {
    to_input(&load_rgb(path)?, size).map_err(|e| Error::Image {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// The image of a CHW input: `(x · STD + MEAN) · 255`, rounded and clamped to 0..=255; the inverse
/// of [`to_input`] for a `size`×`size` image, exact for inputs that came from 8-bit pixels.
///
/// # Panics
/// When `chw.len()` is not `3 · size · size`.
pub fn to_rgb(chw: &[f32], size: usize) -> RgbImage {
    assert_eq!(
        chw.len(),
        3 * size * size,
        "to_rgb: {} values are not a 3x{size}x{size} image",
        chw.len()
    );
    let plane = size * size;
    RgbImage::from_fn(size as u32, size as u32, |x, y| {
        let i = y as usize * size + x as usize;
        image::Rgb(std::array::from_fn(|c| {
            ((chw[c * plane + i] * STD[c] + MEAN[c]) * 255.0)
                .round()
                .clamp(0.0, 255.0) as u8
        }))
    })
}

#[cfg(test)]
mod tests {
    use image::{ImageBuffer, Luma, Rgb, Rgba};
    use safetensors::SafeTensors;

    use super::*;

    /// An image whose pixels all differ, so that crops and flips show.
    fn pattern(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x * 7 + y) as u8, (y * 5 + 3 * x) as u8, (x ^ y) as u8])
        })
    }

    #[test]
    fn square_image_of_the_input_size_is_used_unchanged() {
        let img = pattern(8, 8);
        let x = to_input(&img, 8).unwrap();
        assert_eq!(x.len(), 3 * 64);
        // Channel 1, row 2, column 5.
        let p = img.get_pixel(5, 2)[1];
        assert_eq!(x[64 + 2 * 8 + 5], (p as f32 / 255.0 - MEAN[1]) / STD[1]);
    }

    #[test]
    fn short_side_at_target_is_only_cropped() {
        // 224 needs a shorter side of 256: this 300x256 image is cropped at left 38, top 16.
        let img = pattern(300, 256);
        let input = to_input(&img, 224).unwrap();
        let plane = 224 * 224;
        for (c, x, y) in [(0, 0, 0), (2, 223, 223), (1, 100, 7)] {
            let p = img.get_pixel(38 + x, 16 + y)[c];
            let want = (p as f32 / 255.0 - MEAN[c]) / STD[c];
            assert_eq!(input[c * plane + y as usize * 224 + x as usize], want);
        }
    }

    #[test]
    fn resizes_shorter_side_then_crops() {
        assert_eq!(resize_target(224), 256);
        assert_eq!(resize_target(64), 73);
        // A uniform image stays uniform through resizing; its values must be exact.
        let img = RgbImage::from_pixel(100, 40, Rgb([10, 128, 250]));
        let x = to_input(&img, 64).unwrap();
        assert_eq!(x.len(), 3 * 64 * 64);
        for (c, v) in [10u8, 128, 250].iter().enumerate() {
            let want = (*v as f32 / 255.0 - MEAN[c]) / STD[c];
            assert!(x[c * 4096..(c + 1) * 4096].iter().all(|&x| x == want));
        }
        // A left-to-right ramp keeps its orientation and stays centered after upscaling.
        let ramp = RgbImage::from_fn(60, 30, |x, _| Rgb([(x * 4) as u8; 3]));
        let x = to_input(&ramp, 16).unwrap();
        assert!(x[..16].windows(2).all(|w| w[0] < w[1]));
        let middle = (x[7] + x[8]) / 2.0;
        let center = ((29.5 * 4.0) / 255.0 - MEAN[0]) / STD[0];
        assert!((middle - center).abs() < 0.05, "{middle} vs {center}");
    }

    #[test]
    fn tiny_images_are_upscaled() {
        let dot = RgbImage::from_pixel(1, 1, Rgb([200, 100, 50]));
        let x = to_input(&dot, 224).unwrap();
        for (c, v) in [200u8, 100, 50].iter().enumerate() {
            let want = (*v as f32 / 255.0 - MEAN[c]) / STD[c];
            let plane = &x[c * 224 * 224..(c + 1) * 224 * 224];
            assert!(plane.iter().all(|&x| x == want), "channel {c}");
        }
        // A 7x5 pattern keeps its layout: the left column stays left.
        let small = pattern(7, 5);
        let x = to_input(&small, 32).unwrap();
        let left = (small.get_pixel(0, 2)[0] as f32 / 255.0 - MEAN[0]) / STD[0];
        let right = (small.get_pixel(6, 2)[0] as f32 / 255.0 - MEAN[0]) / STD[0];
        let (got_left, got_right) = (x[16 * 32], x[16 * 32 + 31]);
        assert!(
            (got_left - left).abs() < (got_left - right).abs()
                && (got_right - right).abs() < (got_right - left).abs(),
            "left {got_left}, right {got_right}: should be near {left} and {right}"
        );
    }

    #[test]
    fn extreme_aspect_ratios_are_cropped_before_resizing() {
        // A 20x2000 strip would be resized to 256x25600 (and a 1x16384 one to 256x4194304, 3 GB);
        // cropping first keeps it small and gives nearly the same input as the full resize.
        let strip = RgbImage::from_fn(20, 2000, |x, y| {
            Rgb([(y / 8) as u8, (x * 12) as u8, ((x + y) % 256) as u8])
        });
        let got = to_input(&strip, 64).unwrap();
        let full = image::imageops::resize(&strip, 73, 7300, FilterType::Triangle);
        let want = to_input(
            &image::imageops::crop_imm(&full, 4, (7300 - 64) / 2, 64, 64).to_image(),
            64,
        )
        .unwrap();
        let max = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        // Two levels of 255 at most (the resized length differs by rounding only).
        assert!(max <= 2.0 / 255.0 / 0.224, "max difference {max}");

        let line = RgbImage::from_pixel(16384, 1, Rgb([9, 99, 199]));
        let x = to_input(&line, 224).unwrap();
        assert_eq!(x.len(), 3 * 224 * 224);
        assert_eq!(x[0], (9.0 / 255.0 - MEAN[0]) / STD[0]);
    }

    #[test]
    fn empty_image_or_size_is_an_error() {
        assert!(to_input(&RgbImage::new(0, 5), 4).is_err());
        let err = to_input(&pattern(4, 4), 0).unwrap_err();
        assert!(err.to_string().contains("0x0 input"), "{err}");
    }

    #[test]
    fn rgb_round_trip_is_exact_for_8_bit_images() {
        let size = 16;
        let img = RgbImage::from_fn(16, 16, |x, y| {
            let v = (y * 16 + x) as u8;
            Rgb([v, 255 - v, v.wrapping_mul(37)])
        });
        let x = to_input(&img, size).unwrap();
        let back = to_rgb(&x, size);
        assert_eq!(back, img);
        assert_eq!(to_input(&back, size).unwrap(), x);
        // Values beyond the 8-bit range are clamped.
        let mut wild = x.clone();
        wild[0] = 100.0;
        wild[1] = -100.0;
        let clamped = to_rgb(&wild, size);
        assert_eq!(clamped.get_pixel(0, 0)[0], 255);
        assert_eq!(clamped.get_pixel(1, 0)[0], 0);
    }

    #[test]
    fn written_png_reads_back_to_the_same_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.png");
        let x = to_input(&pattern(12, 12), 12).unwrap();
        to_rgb(&x, 12).save(&path).unwrap();
        assert_eq!(load_input(&path, 12).unwrap(), x);
    }

    #[test]
    fn converts_gray_alpha_and_16_bit() {
        let dir = tempfile::tempdir().unwrap();
        let gray = dir.path().join("gray16.png");
        ImageBuffer::<Luma<u16>, _>::from_pixel(3, 2, Luma([0x8080]))
            .save(&gray)
            .unwrap();
        let img = load_rgb(&gray).unwrap();
        assert_eq!(img.dimensions(), (3, 2));
        assert!(img.pixels().all(|p| p.0 == [128; 3]));

        // Content decides the format, not the extension.
        let gray_jpeg = dir.path().join("gray.jpg");
        image::GrayImage::from_pixel(16, 8, Luma([77]))
            .save(&gray_jpeg)
            .unwrap();
        let img = load_rgb(&gray_jpeg).unwrap();
        assert_eq!(img.dimensions(), (16, 8));
        assert!(img.pixels().all(|p| p.0 == [77; 3]));

        let rgba = dir.path().join("rgba.jpg");
        ImageBuffer::<Rgba<u8>, _>::from_pixel(2, 2, Rgba([1, 2, 3, 4]))
            .save_with_format(&rgba, image::ImageFormat::Png)
            .unwrap();
        assert!(load_rgb(&rgba).unwrap().pixels().all(|p| p.0 == [1, 2, 3]));
    }

    #[test]
    fn bad_files_name_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let reason = |path: &Path| match load_rgb(path).unwrap_err() {
            Error::Image { path: p, reason } => {
                assert_eq!(p, path);
                reason
            }
            e => panic!("{e:?}"),
        };
        let missing = dir.path().join("missing.png");
        assert!(reason(&missing).starts_with("cannot read the file"));

        let empty = dir.path().join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(reason(&empty), "the file is empty");

        let text = dir.path().join("notes.png");
        std::fs::write(&text, b"just some text, no pixels here").unwrap();
        assert!(reason(&text).starts_with("not an image"));

        let cut = dir.path().join("cut.png");
        let mut png = Vec::new();
        pattern(64, 64)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        std::fs::write(&cut, &png[..png.len() / 2]).unwrap();
        assert!(!reason(&cut).is_empty());

        let wide = dir.path().join("wide.png");
        image::GrayImage::new(MAX_SIDE + 1, 1).save(&wide).unwrap();
        assert!(reason(&wide).starts_with("too large"), "{}", reason(&wide));

        let wide_jpeg = dir.path().join("wide.jpg");
        image::GrayImage::new(MAX_SIDE + 1, 8)
            .save(&wide_jpeg)
            .unwrap();
        assert!(reason(&wide_jpeg).starts_with("too large"));

        let cut_jpeg = dir.path().join("cut.jpg");
        let mut jpeg = Vec::new();
        pattern(64, 64)
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        std::fs::write(&cut_jpeg, &jpeg[..jpeg.len() / 2]).unwrap();
        assert!(reason(&cut_jpeg).starts_with("cannot decode the JPEG"));

        let err = load_input(&text, 224).unwrap_err();
        assert!(err.to_string().contains("notes.png"), "{err}");
    }

    /// CRC-32 (IEEE), as PNG chunks use.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn images_too_large_to_decode_are_refused_before_decoding() {
        // A small PNG whose header claims 16000x16000 RGB pixels (768 MB once decoded): within
        // the side limit, over the memory limit.
        let mut png = Vec::new();
        pattern(8, 8)
            .write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        png[16..20].copy_from_slice(&16000u32.to_be_bytes());
        png[20..24].copy_from_slice(&16000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = rgb_from_bytes(&png, Path::new("bomb.png")).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("image bomb.png: too large: decoding 16000x16000 pixels needs"),
            "{message}"
        );
        assert!(message.ends_with("more than 512 MiB"), "{message}");
    }

    #[test]
    fn progressive_jpegs_count_their_coefficients_against_the_memory_limit() {
        // 12000x12000 RGB pixels take 412 MiB, and a progressive JPEG's coefficients 824 MiB
        // more: refused before decoding.
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jpeg/progressive420_67x53.jpg");
        let mut jpeg = std::fs::read(&path).unwrap();
        let sof = jpeg.windows(2).position(|m| m == [0xFF, 0xC2]).unwrap();
        jpeg[sof + 5..sof + 9].copy_from_slice(&[0x2E, 0xE0, 0x2E, 0xE0]);
        let err = rgb_from_bytes(&jpeg, Path::new("p.jpg")).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "image p.jpg: too large: decoding 12000x12000 pixels needs 1296000000"
            ),
            "{err}"
        );
    }

    #[test]
    fn gallery_inputs_match_pytorch_preprocessing() {
        let data = crate::app::data::data_dir();
        let bytes =
            std::fs::read(data.join("reference/squeezenet1_1_reference.safetensors")).unwrap();
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let files = meta.metadata().as_ref().unwrap()["files"].clone();
        let reference = SafeTensors::deserialize(&bytes).unwrap();
        let input = reference.tensor("input").unwrap();
        assert_eq!(input.shape(), [4, 3, 224, 224]);
        let want: Vec<f32> = input
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();

        let files: Vec<&str> = files.split(',').collect();
        assert_eq!(files.len(), 4);
        for (file, want) in files.iter().zip(want.chunks_exact(3 * 224 * 224)) {
            let got = load_input(&crate::app::data::gallery_dir().join(file), 224).unwrap();
            let max = got
                .iter()
                .zip(want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            let diff: f32 = got.iter().zip(want).map(|(a, b)| (a - b).powi(2)).sum();
            let norm: f32 = want.iter().map(|b| b * b).sum();
            let rel = (diff / norm).sqrt();
            eprintln!("{file}: max abs error {max:.4}, relative L2 {rel:.2e}");
            // JPEGs decode to PIL's pixels and are normalized as PyTorch does: exactly equal.
            assert!(max == 0.0 && rel == 0.0, "{file}: max {max}, rel {rel}");
        }
    }
}
