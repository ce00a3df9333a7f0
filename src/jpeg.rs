//! JPEG decoding with libjpeg-turbo, as PIL and torchvision decode JPEGs (feature
//! `libjpeg-turbo`).

use image::RgbImage;

use crate::preprocess::{check_alloc, check_side};

/// Decodes a JPEG with libjpeg-turbo's defaults (ISLOW integer IDCT, fancy upsampling), which is
/// what PIL and torchvision use: grayscale, YCbCr and RGB JPEGs of every subsampling, baseline,
/// progressive or arithmetic-coded. CMYK and YCCK (Adobe) JPEGs are converted as PIL's
/// `convert("RGB")` does: the samples are inverted (Adobe's convention, which PIL assumes for every
/// CMYK JPEG), then `R = (255 − K) − C·(255 − K)/255`, rounded as PIL rounds, likewise G and B.
///
/// Like PIL, a truncated JPEG is refused and one with libjpeg's other warnings (junk bytes before
/// a marker, a corrupt entropy code) is decoded as libjpeg leaves it (see
/// [`is_tolerated_warning`]).
pub(crate) fn decode_jpeg(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    let fail = |e: turbojpeg::Error| match e {
        turbojpeg::Error::TurboJpegError(message) => format!("cannot decode the JPEG: {message}"),
        e => format!("cannot decode the JPEG: {e}"),
    };
    let mut decompressor = turbojpeg::Decompressor::new().map_err(fail)?;
    let header = decompressor.read_header(bytes).map_err(fail)?;
    let (w, h) = (header.width, header.height);
    let (w32, h32) = (
        u32::try_from(w).unwrap_or(u32::MAX),
        u32::try_from(h).unwrap_or(u32::MAX),
    );
    check_side(w32, h32)?;
    let cmyk = matches!(
        header.colorspace,
        turbojpeg::Colorspace::CMYK | turbojpeg::Colorspace::YCCK
    );
    let (format, channels) = if cmyk {
        (turbojpeg::PixelFormat::CMYK, 4)
    } else {
        (turbojpeg::PixelFormat::RGB, 3)
    };
    let pixels = w as u64 * h as u64;
    // The output, its RGB conversion for CMYK, and for a progressive JPEG the coefficients of the
    // whole image that libjpeg keeps between scans (2 bytes a sample, at most one sample a pixel
    // per component).
    let components = match header.colorspace {
        turbojpeg::Colorspace::Gray => 1,
        _ => channels as u64,
    };
    let coefficients = if header.is_progressive {
        2 * components
    } else {
        0
    };
    check_alloc(w32, h32, pixels * (if cmyk { 7 } else { 3 } + coefficients))?;
    let mut image = turbojpeg::Image {
        pixels: vec![0; w * h * channels],
        width: w,
        pitch: w * channels,
        height: h,
        format,
    };
    match decompressor.decompress(bytes, image.as_deref_mut()) {
        Ok(()) => {}
        Err(turbojpeg::Error::TurboJpegError(m)) if is_tolerated_warning(&m) => {}
        Err(e) => return Err(fail(e)),
    }
    let rgb = if cmyk {
        image
            .pixels
            .chunks_exact(4)
            .flat_map(inverted_cmyk_to_rgb)
            .collect()
    } else {
        image.pixels
    };
    RgbImage::from_raw(w32, h32, rgb)
        .ok_or_else(|| "cannot decode the JPEG: fewer pixels than its size".to_string())
}

/// Whether libjpeg-turbo's `message` is one of libjpeg's warnings after which PIL keeps the
/// decoded image: every warning about the data (corrupt entropy codes, junk bytes before a
/// marker, an odd progression or colour transform) but the end of the file coming too soon,
/// which PIL refuses as a truncated image ("Premature end of JPEG file").
fn is_tolerated_warning(message: &str) -> bool {
    const WARNINGS: [&str; 4] = [
        "Corrupt JPEG data",
        "Inconsistent progression sequence",
        "Invalid SOS parameters for sequential JPEG",
        "Unknown Adobe color transform code",
    ];
    WARNINGS.iter().any(|w| message.starts_with(w))
}

/// The RGB pixel of an Adobe (inverted) CMYK pixel, as PIL's CMYK to RGB conversion gives it.
fn inverted_cmyk_to_rgb(inverted: &[u8]) -> [u8; 3] {
    // PIL holds C, M, Y, K = 255 − the stored samples; 255 − K is the stored K.
    let white = u32::from(inverted[3]);
    std::array::from_fn(|c| {
        let ink = 255 - u32::from(inverted[c]);
        let t = ink * white + 128;
        let scaled = ((t >> 8) + t) >> 8;
        white.saturating_sub(scaled) as u8
    })
}
