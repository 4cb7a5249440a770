//! The container parsers Bulwark writes itself, on arbitrary bytes: the zip end-record reader,
//! the embedded-PE carver, the packer detector, the text-encoded object decoders, the magic-number detector and the
//! Content-Encoding header parser. Checked: no panic; carved ranges lie inside the input.
#![no_main]

use bulwark_containers::detect::{detect, Kind};
use bulwark_containers::fmt::{embedded, eocd, packer, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = eocd::claimed_entries(data);
    let _ = embedded::pe_size(data);
    for host in [Kind::Pe, Kind::Other] {
        for (pos, len, _) in embedded::candidates(data, host) {
            assert!(pos + len <= data.len());
        }
    }
    let _ = packer::identify(data);
    for (_, b) in text::objects(data, 1 << 20) {
        assert!(b.len() <= (1 << 20) + 4096);
    }
    let _ = text::binhex(data, 1 << 20);
    let _ = detect(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = bulwark_containers::encoding::parse(s);
    }
});
