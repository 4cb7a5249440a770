//! The MIME / mbox / multipart/form-data parser (ours) through the deep scanner, with cure on
//! or off. Input: first byte picks the mode; the rest is the body, fed in 1–4096-byte pieces.
//! Checked: no panic, no hang (time limit), bounded memory (small limits).
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bulwark_config::Limits;
use bulwark_containers::{DeepOptions, DeepScanner};
use bulwark_engine::Database;
use libfuzzer_sys::fuzz_target;

fn db() -> Arc<Database> {
    static DB: OnceLock<Arc<Database>> = OnceLock::new();
    DB.get_or_init(|| Arc::new(Database::builtin())).clone()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let mut opts = DeepOptions {
        scan_archives: mode & 1 != 0,
        cure: mode & 2 != 0,
        multipart_boundary: (mode & 4 != 0).then(|| "b".to_string()),
        limits: Limits {
            max_total_bytes: 8 << 20,
            max_member_bytes: 4 << 20,
            max_scan_time: Duration::from_secs(5),
            ..Limits::default()
        },
        ..DeepOptions::default()
    };
    opts.limits.max_depth = 1 + u32::from(mode >> 4);
    let mut s = DeepScanner::new(db(), opts);
    let step = 1 + usize::from(mode) * 16;
    for c in body.chunks(step) {
        s.feed(c);
    }
    let _ = s.finish();
});
