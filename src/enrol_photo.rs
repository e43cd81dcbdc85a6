//! The enrolment QR code read from a photo: the enrol screen's camera button gives the
//! picture a phone took (or any PNG or JPEG), and this finds the QR code in it and reads the
//! enrolment link it holds. Decoding is `image` (PNG and JPEG only); finding and reading the
//! code is `rqrr`. A big photo is scaled down to [`MAX_SIDE`] pixels first: a QR code filling
//! a fair part of the frame still has several pixels per module, and the work stays small.
//!
//! App only (the server never reads pictures); knows nothing of the UI.

use crate::enrol_link::EnrolLink;

/// The longest side a photo is scaled down to before the QR code is looked for.
pub const MAX_SIDE: u32 = 1600;
/// The largest picture file read (a phone's photo is a few megabytes).
pub const MAX_BYTES: usize = 20 * 1024 * 1024;

/// Why no enrolment link came out of a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoError {
    /// Not a PNG or JPEG picture this can read (or too large).
    NotAPicture,
    /// No QR code could be read in it.
    NoCode,
    /// A QR code, but not an enrolment link.
    NotALink,
}

/// The text of the first QR code that reads in the picture.
pub fn qr_text(bytes: &[u8]) -> Result<String, PhotoError> {
    if bytes.len() > MAX_BYTES {
        return Err(PhotoError::NotAPicture);
    }
    let picture = image::load_from_memory(bytes).map_err(|_| PhotoError::NotAPicture)?;
    let picture =
        if picture.width().max(picture.height()) > MAX_SIDE { picture.thumbnail(MAX_SIDE, MAX_SIDE) } else { picture };
    let grey = picture.to_luma8();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(grey.width() as usize, grey.height() as usize, |x, y| {
            grey.get_pixel(x as u32, y as u32)[0]
        });
    prepared
        .detect_grids()
        .into_iter()
        .find_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .ok_or(PhotoError::NoCode)
}

/// The enrolment link in a photo of the office's QR code.
pub fn read_link(bytes: &[u8]) -> Result<EnrolLink, PhotoError> {
    EnrolLink::parse(&qr_text(bytes)?).ok_or(PhotoError::NotALink)
}
