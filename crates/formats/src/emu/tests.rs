//! The emulator against Debian's clamav-testfiles (each a packed dropper of clam.exe) and
//! against broken input.

use sha2::{Digest, Sha256};

use super::*;
use crate::le::testfile;

/// SHA-256 of clam.exe (544 bytes), the file every sample carries.
const CLAM: &str = "71e7b604d18aefd839e51a39c88df8383bb4c071dc31f87f00a2b5df580d4495";

/// Whether `image` holds clam.exe, as the embedded-object carver would cut it out, or as
/// the deflated member of a zip (the form several droppers carry it in).
fn holds_clam(image: &[u8]) -> bool {
    let hex = |d: &[u8]| {
        Sha256::digest(d)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let zipped = memchr::memmem::find_iter(image, b"PK\x03\x04").any(|p| {
        let field = |o: usize| crate::le::u32_at(image, p + o).unwrap_or(0) as usize;
        let n = crate::le::u16_at(image, p + 26).unwrap_or(0) as usize;
        let e = crate::le::u16_at(image, p + 28).unwrap_or(0) as usize;
        let start = p + 30 + n + e;
        let Some(raw) = image.get(start..start + field(18)) else {
            return false;
        };
        let mut out = Vec::new();
        use std::io::Read;
        flate2::read::DeflateDecoder::new(raw)
            .take(1 << 20)
            .read_to_end(&mut out)
            .is_ok()
            && hex(&out) == CLAM
    });
    zipped
        || memchr::memmem::find_iter(image, b"MZ").any(|p| {
            crate::pe::Headers::parse(&image[p..]).map(|h| h.file_end()) == Ok(544)
                && image.get(p..p + 544).is_some_and(|d| hex(d) == CLAM)
        })
}

fn sample(name: &str) -> Option<Emulated> {
    let data = testfile(name)?;
    let t = Instant::now();
    let r = unpack(&data, &EmuLimits::default());
    eprintln!(
        "{name}: {:?} in {:?}",
        r.as_ref().map(|e| (&e.stop, e.instructions)),
        t.elapsed()
    );
    Some(r.expect("unpacks"))
}

macro_rules! opens {
    ($test:ident, $file:literal) => {
        #[test]
        fn $test() {
            if let Some(e) = sample($file) {
                assert!(
                    holds_clam(&e.image),
                    "{}: clam.exe not in the image ({})",
                    $file,
                    e.stop
                );
                assert!(!e.stop.is_limit());
            }
        }
    };
}

opens!(aspack, "clam-aspack.exe");
opens!(mew, "clam-mew.exe");
opens!(petite, "clam-petite.exe");
opens!(wwpack, "clam-wwpack.exe");
opens!(upack, "clam-upack.exe");
opens!(yc, "clam-yc.exe");
opens!(pespin, "clam-pespin.exe");

/// Every sample cut short or with bytes flipped gives an error or a bounded result.
#[test]
fn truncated_and_corrupted() {
    let limits = EmuLimits {
        max_instructions: 20_000,
        ..EmuLimits::default()
    };
    for n in ["aspack", "mew", "pespin", "petite", "upack", "wwpack", "yc"] {
        let Some(d) = testfile(&format!("clam-{n}.exe")) else {
            return;
        };
        for cut in [0, 2, 0x40, 0x100, 0x200, d.len() / 2, d.len() - 1] {
            let _ = unpack(&d[..cut.min(d.len())], &limits);
        }
        let mut x = 0x1234_5678u32;
        for _ in 0..8 {
            let mut c = d.clone();
            for _ in 0..8 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let i = x as usize % c.len();
                c[i] ^= (x >> 24) as u8 | 1;
            }
            if let Ok(e) = unpack(&c, &limits) {
                assert!(e.instructions <= 20_000 + 4096);
            }
        }
    }
}

/// The instruction budget stops a stub and is reported as a limit.
#[test]
fn instruction_budget() {
    let Some(d) = testfile("clam-aspack.exe") else {
        return;
    };
    let limits = EmuLimits {
        max_instructions: 1000,
        ..EmuLimits::default()
    };
    let e = unpack(&d, &limits).expect("the image is returned");
    assert_eq!(e.stop, Stop::Instructions);
    assert!(e.stop.is_limit());
}

/// Headers that announce an image beyond the limit are refused before any allocation.
#[test]
fn image_limit() {
    let Some(d) = testfile("clam-aspack.exe") else {
        return;
    };
    let limits = EmuLimits {
        max_image: 0x1000,
        ..EmuLimits::default()
    };
    assert!(matches!(unpack(&d, &limits), Err(EmuError::TooBig(_))));
    assert!(matches!(unpack(b"MZ", &limits), Err(EmuError::NotPe(_))));
}

#[test]
#[ignore]
fn dump_images() {
    for n in ["aspack", "mew", "pespin", "petite", "upack", "wwpack", "yc"] {
        let f = format!("clam-{n}.exe");
        if let Some(d) = testfile(&f) {
            if let Ok(e) = unpack(&d, &EmuLimits::default()) {
                std::fs::write(format!("/tmp/emu-{n}.bin"), &e.image).unwrap();
            }
        }
    }
}
