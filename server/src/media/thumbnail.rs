//! Thumbnails of unencrypted PNG and JPEG images, generated on first request and cached
//! beside the originals. Decoding runs with limits so that a crafted image cannot exhaust
//! memory, on the blocking pool so that it cannot stall request handling.

use std::io::Cursor;
use std::path::PathBuf;

use image::{ImageFormat, ImageReader, Limits};

use crate::api::error::{Error, Result};

/// Images this large (in pixels per side) are not thumbnailed.
const MAX_SOURCE_SIDE: u32 = 12_000;
/// Requests above this size are clamped.
const MAX_THUMBNAIL_SIDE: u32 = 1_600;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Fit within the box, keeping the aspect ratio.
    Scale,
    /// Fill the box exactly, cropping the overflow around the centre.
    Crop,
}

/// The thumbnail's content type, for the types thumbnails are made of.
pub fn output_type(content_type: &str) -> Option<&'static str> {
    match content_type.split(';').next().unwrap_or("").trim() {
        "image/png" => Some("image/png"),
        "image/jpeg" => Some("image/jpeg"),
        _ => None,
    }
}

pub fn cache_path(
    root: &std::path::Path,
    sha256: &str,
    width: u32,
    height: u32,
    method: Method,
) -> PathBuf {
    let method = match method {
        Method::Scale => "scale",
        Method::Crop => "crop",
    };
    root.join("thumbnails")
        .join(format!("{sha256}-{width}x{height}-{method}"))
}

/// Makes a thumbnail of `original` that fits (or, cropping, fills) `width`×`height`;
/// never enlarges the image.
pub fn render(
    original: &[u8],
    content_type: &str,
    width: u32,
    height: u32,
    method: Method,
) -> Result<Vec<u8>> {
    let format = match output_type(content_type) {
        Some("image/png") => ImageFormat::Png,
        Some(_) => ImageFormat::Jpeg,
        None => return Err(Error::not_found("No thumbnail for this type of media")),
    };
    let (width, height) = (
        width.clamp(1, MAX_THUMBNAIL_SIDE),
        height.clamp(1, MAX_THUMBNAIL_SIDE),
    );
    let mut reader = ImageReader::with_format(Cursor::new(original), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_SIDE);
    limits.max_image_height = Some(MAX_SOURCE_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| Error::not_found(format!("Cannot thumbnail this image: {e}")))?;
    let thumbnail = if image.width() <= width && image.height() <= height {
        image
    } else {
        match method {
            Method::Scale => image.thumbnail(width, height),
            Method::Crop => {
                let (w, h) = (width.min(image.width()), height.min(image.height()));
                image.resize_to_fill(w, h, image::imageops::FilterType::Triangle)
            }
        }
    };
    let mut out = Cursor::new(Vec::new());
    let output = if format == ImageFormat::Jpeg {
        image::DynamicImage::ImageRgb8(thumbnail.to_rgb8())
    } else {
        thumbnail
    };
    output.write_to(&mut out, format).map_err(Error::internal)?;
    Ok(out.into_inner())
}
