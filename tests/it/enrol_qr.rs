//! The enrol screen's camera: a photo of the office's QR code gives back the enrolment link
//! it holds (PNG or JPEG, small or a phone camera's size, the code anywhere in the frame);
//! a picture without a code, a code that is not an enrolment link and bytes that are not a
//! picture are each told apart.

use std::io::Cursor;

use image::{GrayImage, ImageFormat, Luma};
use sotay::enrol_link::{EnrolLink, Fingerprint};
use sotay::enrol_photo::{qr_text, read_link, PhotoError};

fn link() -> EnrolLink {
    EnrolLink {
        server: "https://192.168.1.10:8443".into(),
        code: "BJGW-2XMB".into(),
        fingerprint: Some(Fingerprint::of_der(b"the server's certificate")),
    }
}

/// A picture `side` pixels square, light grey, with the QR code of `text` drawn at
/// (`x`, `y`) with `scale` pixels per module, as the server's `qrcode` crate draws it.
fn picture(text: &str, side: u32, x: u32, y: u32, scale: u32) -> GrayImage {
    let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
    let width = code.width() as u32;
    let colors = code.to_colors();
    let mut img = GrayImage::from_pixel(side, side, Luma([235]));
    // The quiet zone, then the modules.
    for py in y.saturating_sub(4 * scale)..(y + (width + 4) * scale).min(side) {
        for px in x.saturating_sub(4 * scale)..(x + (width + 4) * scale).min(side) {
            img.put_pixel(px, py, Luma([255]));
        }
    }
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (mx, my) = ((i as u32 % width) * scale + x, (i as u32 / width) * scale + y);
            for py in my..my + scale {
                for px in mx..mx + scale {
                    img.put_pixel(px, py, Luma([20]));
                }
            }
        }
    }
    img
}

fn encode(img: &GrayImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

#[test]
fn a_photo_of_the_offices_qr_code_gives_back_its_enrolment_link() {
    let text = link().to_link();
    // A screenshot-sized PNG.
    assert_eq!(read_link(&encode(&picture(&text, 400, 40, 40, 6), ImageFormat::Png)), Ok(link()));
    // A phone camera's JPEG (3000 pixels, scaled down before the code is looked for), the
    // code off-centre.
    let photo = encode(&picture(&text, 3000, 1700, 900, 16), ImageFormat::Jpeg);
    assert!(photo.len() > 100_000, "{} bytes", photo.len());
    assert_eq!(read_link(&photo), Ok(link()));
}

#[test]
fn a_picture_without_a_code_another_code_or_no_picture_at_all_is_told_apart() {
    let blank = GrayImage::from_pixel(300, 300, Luma([240]));
    assert_eq!(read_link(&encode(&blank, ImageFormat::Png)), Err(PhotoError::NoCode));
    let other = encode(&picture("https://example.com/not-an-enrolment", 400, 40, 40, 6), ImageFormat::Png);
    assert_eq!(qr_text(&other).as_deref(), Ok("https://example.com/not-an-enrolment"));
    assert_eq!(read_link(&other), Err(PhotoError::NotALink));
    assert_eq!(read_link(b"not a picture"), Err(PhotoError::NotAPicture));
    assert_eq!(read_link(&[]), Err(PhotoError::NotAPicture));
    // A GIF is not among the formats read.
    assert_eq!(read_link(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"), Err(PhotoError::NotAPicture));
}
