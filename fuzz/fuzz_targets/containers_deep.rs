//! The whole unpack-and-scan path on arbitrary bytes: content decoding (first byte picks the
//! Content-Encoding), every container format, mail, embedded objects, cure. Checked: no panic,
//! no hang (the scan-time limit is 5 s), bounded memory (small limits; libFuzzer's -rss_limit_mb).
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

const CODINGS: [Option<&str>; 6] = [
    None,
    None,
    Some("gzip"),
    Some("br"),
    Some("zstd"),
    Some("deflate, gzip"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let opts = DeepOptions {
        cure: mode & 0x80 != 0,
        content_encoding: CODINGS[usize::from(mode & 7) % CODINGS.len()].map(str::to_string),
        limits: Limits {
            max_total_bytes: 16 << 20,
            max_member_bytes: 8 << 20,
            max_members: 2000,
            max_scan_time: Duration::from_secs(5),
            ..Limits::default()
        },
        ..DeepOptions::default()
    };
    let mut s = DeepScanner::new(db(), opts);
    for c in body.chunks(64 << 10) {
        s.feed(c);
    }
    let _ = s.finish();
});
