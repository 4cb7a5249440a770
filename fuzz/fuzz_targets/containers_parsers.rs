//! The container parsers Bulwark writes itself, on arbitrary bytes: the PE header reader, the zip end-record reader,
//! the embedded-PE carver, the packer detector, the text-encoded object decoders, the SZDD
//! decoder, the AutoIt extractor, the UPX unpacker, the InstallShield extractor, the NSIS solid-stream reader, the magic-number detectors and the Content-Encoding header
//! parser. Checked: no panic; carved ranges lie inside the input; outputs within their caps.
#![no_main]

use bulwark_containers::fmt::{chm, embedded, legacy, nsis, text};
use bulwark_containers::{detect, Kind};
use bulwark_formats::{autoit, eocd, ishield, packer, pe, szdd, upx};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = eocd::claimed_entries(data);
    let _ = embedded::pe_size(data);
    if let Ok(h) = pe::Headers::parse(data) {
        assert!(h.sections.len() <= pe::MAX_SECTIONS);
        let _ = (
            h.entry_offset(),
            h.file_end(),
            h.data_dir(data, pe::DIR_IMPORT),
        );
    }
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
    let _ = legacy::detect(data);
    let _ = chm::detect(data);
    let mut n = 0u64;
    let r = szdd::decode::<()>(data, 1 << 20, |c| {
        n += c.len() as u64;
        Ok(())
    });
    if let Ok(Ok((written, _))) = r {
        assert_eq!(written, n);
        assert!(n <= 1 << 20);
    }
    if let Ok(blocks) = nsis::solid_blocks(data, 1 << 20) {
        assert!(blocks.iter().map(Vec::len).sum::<usize>() <= 1 << 20);
    }
    if let Ok(image) = upx::unpack(data, 1 << 20) {
        assert!(image.len() <= 1 << 20);
    }
    if let Ok(files) = ishield::extract(data, 1 << 20, 64) {
        assert!(files.len() <= 64);
        assert!(files.iter().map(|f| f.data.len()).sum::<usize>() <= 1 << 20);
    }
    if let Ok(files) = autoit::extract(data, 1 << 20, 64) {
        assert!(files.len() <= 64);
        assert!(files.iter().map(|f| f.data.len()).sum::<usize>() <= 1 << 20);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = bulwark_containers::encoding::parse(s);
    }
});
