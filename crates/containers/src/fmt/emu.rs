//! Where the deep scanner calls the emulator (`bulwark_formats::emu`): packed i386 executables that no specific
//! unpacker opened are emulated, and the memory image is scanned as the member
//! `emu-unpacked`.

use std::time::{Duration, Instant};

use crate::scan::{join, note, shown, Abort, Finding, Limit, Scan, Walked};
use bulwark_formats::emu::{unpack, EmuError, EmuLimits, MARK_NOT_AT_OEP};

/// Most instructions one executable's stub may run (measured: the clamav-testfiles stubs
/// need 8 000 to 1.5 million; the interpreter runs about 9 million a second in a release
/// build, so this is about 11 s).
pub const MAX_INSTRUCTIONS: u64 = 100_000_000;

/// Most wall-clock time one emulation may take (also bounded by the scan-time limit).
const MAX_TIME: Duration = Duration::from_secs(15);

/// Emulates the executable in `data` (already known to be a PE) and scans its memory image
/// as one member at `depth`.
pub(crate) fn walk<'o>(
    ctx: &mut impl Scan<'o>,
    data: &[u8],
    path: &str,
    depth: u32,
    packer: &str,
) -> Result<Walked, Abort> {
    let mut w = Walked::default();
    // An image we emulated is emulated again only when its stub reached the original entry
    // point (a further layer may follow), at most three layers deep, and never the
    // executables carved out of an image.
    let layers = path.matches("emu-unpacked").count();
    if layers > 0
        && (!path.ends_with("emu-unpacked")
            || layers >= 3
            || data.get(0x1c..0x20) == Some(&MARK_NOT_AT_OEP[..]))
    {
        return Ok(w);
    }
    let l = &ctx.options().limits;
    let budget = l
        .max_member_bytes
        .min(l.max_total_bytes.saturating_sub(ctx.usage().bytes))
        .min(crate::fmt::nsis::MAX_DECOMPRESSED) as usize;
    // The ratio limit, judged on the image size the headers announce.
    let ratio_cap = (data.len() as u64)
        .saturating_mul(l.max_ratio)
        .max(l.ratio_min_bytes);
    let limits = EmuLimits {
        max_image: budget.min(usize::try_from(ratio_cap).unwrap_or(usize::MAX)),
        max_instructions: MAX_INSTRUCTIONS,
        deadline: Some(Instant::now() + l.max_scan_time.min(MAX_TIME)),
    };
    let started = Instant::now();
    match unpack(data, &limits) {
        Ok(e) => {
            tracing::debug!(
                packer,
                stop = %e.stop,
                instructions = e.instructions,
                elapsed = ?started.elapsed(),
                "emulated"
            );
            ctx.note(Finding::Note(format!(
                "{}: {packer} emulated: {} after {} instructions",
                shown(path),
                e.stop,
                e.instructions
            )));
            let r = ctx.member_bytes(&e.image, &join(path, "emu-unpacked"), depth)?;
            note(&mut w, 0, r);
            if e.stop.is_limit() {
                ctx.hit(Limit::Emulation);
            }
        }
        Err(EmuError::TooBig(n)) => {
            ctx.note(Finding::Note(format!(
                "{}: {packer} not emulated: image of {n} bytes over the limits",
                shown(path)
            )));
            ctx.hit(Limit::MemberSize);
        }
        Err(e) => ctx.note(Finding::Note(format!(
            "{}: {packer} not unpacked: {e}",
            shown(path)
        ))),
    }
    Ok(w)
}
