//! Packed executables through the deep scanner's emulator (`bulwark_formats::emu`): the seven packed
//! clamav-testfiles are clean when nothing in them matches (emulation alone never makes a
//! verdict), and an image over the limits is `limits-exceeded`, never clean.

mod common;

use bulwark_config::Limits;
use bulwark_containers::DeepOptions;
use bulwark_engine::Status;

const DIR: &str = "/usr/share/clamav-testfiles";
const PACKED: [&str; 7] = [
    "clam-aspack.exe",
    "clam-mew.exe",
    "clam-pespin.exe",
    "clam-petite.exe",
    "clam-upack.exe",
    "clam-wwpack.exe",
    "clam-yc.exe",
];

fn read(name: &str) -> Option<Vec<u8>> {
    match std::fs::read(format!("{DIR}/{name}")) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("skipped: {DIR}/{name}: {e} (apt-get install clamav-testfiles)");
            None
        }
    }
}

#[test]
fn packed_samples_are_emulated_and_clean_without_a_signature() {
    for name in PACKED {
        let Some(data) = read(name) else { return };
        let v = common::scan(&data);
        assert_eq!(v.verdict.status, Status::Clean, "{name}: {:?}", v.notes);
        assert!(
            v.notes.iter().any(|n| n.contains("emulated")),
            "{name}: {:?}",
            v.notes
        );
    }
}

#[test]
fn an_image_over_the_member_limit_is_limits_exceeded() {
    let Some(data) = read("clam-aspack.exe") else {
        return;
    };
    let opts = DeepOptions {
        limits: Limits {
            max_member_bytes: 0x4000,
            ..Limits::default()
        },
        ..DeepOptions::default()
    };
    let v = common::scan_with(common::db(), &data, opts);
    assert_eq!(v.verdict.status, Status::LimitsExceeded, "{:?}", v.notes);
}
