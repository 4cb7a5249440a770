//! Generic unpacking of packed 32-bit Windows executables by emulation: the PE is loaded as
//! Windows would (sections at their RVAs, the import table filled with thunks of a fake
//! KERNEL32), and its entry point, the packer's unpacking stub, runs on a small i386
//! interpreter (the `iced-x86` decoder, our own semantics) until it hands over to the
//! program it unpacked. The memory image is then returned for scanning.
//!
//! Emulation stops, and the image is taken, when:
//! - control reaches a page of the image that the stub wrote, outside the section holding
//!   the entry point (the original entry point: [`Stop::Oep`]);
//! - the stub calls an API the emulator does not implement (stubs only call a handful before
//!   handing over: [`Stop::Api`]), or `ExitProcess`, or returns from the entry point;
//! - an instruction faults with no handler, or is one the interpreter lacks;
//! - the instruction budget or the deadline is spent ([`Stop::Instructions`],
//!   [`Stop::Time`]): the caller treats these as a limit hit, never as clean.
//!
//! Memory is bounded by the caller's byte budget (the image plus as much again for stack,
//! allocations and the fake system structures); every loop is bounded by the instruction
//! budget. Nothing here panics on hostile input: faults are values.

mod cpu;
mod exec;
mod mem;
mod win;

use std::time::Instant;

use iced_x86::{Decoder, DecoderOptions};

use crate::pe;
use cpu::{Cpu, Trap};
use mem::{Mem, PAGE};
use win::Win;

/// Bounds of one emulation.
#[derive(Debug, Clone, Copy)]
pub struct EmuLimits {
    /// Largest image (`SizeOfImage`) loaded, in bytes; allocations get as much again.
    pub max_image: usize,
    /// Most instructions executed.
    pub max_instructions: u64,
    /// Wall-clock deadline.
    pub deadline: Option<Instant>,
}

impl Default for EmuLimits {
    fn default() -> Self {
        EmuLimits {
            max_image: 64 << 20,
            max_instructions: 30_000_000,
            deadline: None,
        }
    }
}

/// Why emulation stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Control reached code the stub wrote (the original entry point, as an address).
    Oep(u32),
    /// The stub called an API the emulator does not implement (its name).
    Api(String),
    /// `ExitProcess`, or a return from the entry point.
    Exit,
    /// An unhandled memory fault at this address.
    Fault(u32),
    /// An exception (its code) no handler took.
    Exception(u32),
    /// An instruction the interpreter does not implement (its mnemonic).
    Unsupported(String),
    /// The instruction budget was spent.
    Instructions,
    /// The deadline passed.
    Time,
}

impl Stop {
    /// Whether emulation ended on a limit (instruction budget or time) rather than on its
    /// own.
    pub fn is_limit(&self) -> bool {
        matches!(self, Stop::Instructions | Stop::Time)
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Oep(a) => write!(f, "reached the original entry point {a:#x}"),
            Stop::Api(n) => write!(f, "called {n}"),
            Stop::Exit => write!(f, "exited"),
            Stop::Fault(a) => write!(f, "unhandled memory fault at {a:#x}"),
            Stop::Exception(c) => write!(f, "unhandled exception {c:#x}"),
            Stop::Unsupported(m) => write!(f, "unsupported instruction {m}"),
            Stop::Instructions => write!(f, "instruction limit"),
            Stop::Time => write!(f, "time limit"),
        }
    }
}

/// Why nothing was unpacked.
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    /// Not a 32-bit i386 PE, or its headers are cut short or impossible.
    #[error("not an i386 PE executable: {0}")]
    NotPe(&'static str),
    /// The image is larger than the limit.
    #[error("the image of {0} bytes exceeds the limit")]
    TooBig(u64),
    /// The stub wrote nothing into the image before it stopped.
    #[error("the stub unpacked nothing ({0})")]
    NothingWritten(Stop),
}

/// What emulation produced.
#[derive(Debug)]
pub struct Emulated {
    /// The memory image, `SizeOfImage` bytes from the image base.
    pub image: Vec<u8>,
    /// Why emulation stopped.
    pub stop: Stop,
    /// The last jump into code the stub wrote (the original entry point, when found).
    pub oep: Option<u32>,
    /// Instructions executed.
    pub instructions: u64,
}

/// The parts of the PE headers the loader needs.
struct Headers {
    base: u32,
    size: u32,
    entry: u32,
    /// (RVA, virtual size, file offset, raw size) of each section.
    sections: Vec<(u32, u32, usize, usize)>,
    /// Whether each section is mapped writable.
    writable: Vec<bool>,
    imports: u32,
    headers: usize,
    /// File offsets of the PE signature and of the section table.
    pe: usize,
    table: usize,
}

fn headers(data: &[u8]) -> Result<Headers, EmuError> {
    let bad = EmuError::NotPe;
    let h = pe::Headers::parse(data).map_err(|e| match e {
        pe::PeError::NoMz => bad("no MZ"),
        pe::PeError::Short => bad("short"),
        pe::PeError::NoSignature => bad("no PE signature"),
    })?;
    if h.machine != pe::MACHINE_I386 {
        return Err(bad("not i386"));
    }
    let o = match h.optional {
        Some(o) if o.magic == pe::MAGIC_PE32 => o,
        Some(_) => return Err(bad("not PE32")),
        None if h.entry.is_some() && !h.is_plus() => return Err(bad("short optional header")),
        None => return Err(bad("not PE32")),
    };
    let imports = if h.declared_data_dirs() > 1 {
        h.data_dir(data, pe::DIR_IMPORT).map_or(0, |d| d.0)
    } else {
        0
    };
    let file_align = if o.file_alignment.is_power_of_two() && o.file_alignment <= 0x1_0000 {
        o.file_alignment as usize
    } else {
        0x200
    };
    let sections = h
        .sections
        .iter()
        .map(|s| {
            // The loader's rounding: the file offset down to 512, the raw size up to the file
            // alignment, never more than the (page-rounded) virtual size.
            let ptr = (s.raw_offset as usize) & !0x1ff;
            let mut raw = (s.raw_size as usize).div_ceil(file_align) * file_align;
            if s.virtual_size != 0 {
                raw = raw.min((s.virtual_size as usize).div_ceil(PAGE as usize) * PAGE as usize);
            }
            (s.rva, s.virtual_size, ptr, raw)
        })
        .collect();
    let writable = h.sections.iter().map(pe::Section::writable).collect();
    Ok(Headers {
        // A PE32 image base is a u32 field.
        base: o.image_base as u32,
        size: o.size_of_image,
        entry: o.entry,
        sections,
        writable,
        imports,
        headers: o.size_of_headers as usize,
        pe: h.signature,
        table: h.section_table,
    })
}

/// Whether the PE in `data` looks packed even though no packer mark was recognised: its
/// entry point lies in a writable section that is not the first one, or in no section at
/// all. Only i386 PE32 executables (those [`unpack`] loads) may look packed.
pub fn looks_packed(data: &[u8]) -> bool {
    let Ok(h) = headers(data) else {
        return false;
    };
    let mut found = false;
    for (i, (s, &writable)) in h.sections.iter().zip(&h.writable).enumerate() {
        let span = s.1.max(s.3 as u32);
        if (s.0..s.0.saturating_add(span)).contains(&h.entry) {
            found = true;
            if i > 0 && writable {
                return true;
            }
        }
    }
    !found && !h.sections.is_empty()
}

/// Loads the PE and runs its entry point until the stub hands over (see the module docs).
pub fn unpack(pe: &[u8], limits: &EmuLimits) -> Result<Emulated, EmuError> {
    let h = headers(pe)?;
    if h.size as usize > limits.max_image || h.size == 0 {
        return Err(EmuError::TooBig(u64::from(h.size)));
    }
    let end = u64::from(h.base) + u64::from(h.size);
    if h.base % PAGE != 0 || h.base < 0x0020_0000 || end > u64::from(win::K32) {
        return Err(EmuError::NotPe("image base outside the user range"));
    }
    let pages = (h.size as usize).div_ceil(PAGE as usize);
    let mut m = Mem::new(2 * pages + 512);
    let mut c = Cpu::default();
    let oom = |_| EmuError::TooBig(u64::from(h.size));
    m.map(h.base, h.size).map_err(oom)?;
    let hdr = h.headers.min(pe.len()).min(h.size as usize);
    m.write_bytes(h.base, &pe[..hdr]).map_err(oom)?;
    for &(rva, _, ptr, raw) in &h.sections {
        let data = pe.get(ptr..).unwrap_or(&[]);
        let n = raw
            .min(data.len())
            .min((h.size as usize).saturating_sub(rva as usize));
        if n > 0 {
            let _ = m.write_bytes(h.base.wrapping_add(rva), &data[..n]);
        }
    }
    let mut w = Win::new(&mut m, &mut c, h.base, pe).map_err(|_| EmuError::NotPe("memory"))?;
    fill_imports(&mut m, &mut w, h.base, h.imports);
    m.clear_written();

    let spans: Vec<(u32, u32)> = h
        .sections
        .iter()
        .map(|s| {
            let a = h.base.wrapping_add(s.0);
            (a, a.saturating_add(s.1.max(s.3 as u32)))
        })
        .collect();
    c.eip = h.base.wrapping_add(h.entry);
    let (stop, oep, n) = run(&mut c, &mut m, &mut w, &h, &spans, limits);
    let image_written = (0..pages as u32).any(|p| m.was_written(h.base.wrapping_add(p * PAGE)));
    if !image_written && !stop.is_limit() {
        return Err(EmuError::NothingWritten(stop));
    }
    let mut image = m.dump(h.base, h.size);
    rebuild(&mut image, &h, oep);
    Ok(Emulated {
        image,
        stop,
        oep,
        instructions: n,
    })
}

/// Marks an image whose emulation stopped before the original entry point (its stub would
/// only run again): `rebuild` writes it into the DOS header's reserved words.
pub const MARK_NOT_AT_OEP: &[u8; 4] = b"BwEm";
/// Marks an image whose emulation reached the original entry point.
pub const MARK_AT_OEP: &[u8; 4] = b"BwOe";

/// Turns the memory image into a PE file whose layout is the image (each section's file
/// offset is its RVA), as a rebuilt executable: parsers that read file offsets (the UPX
/// unpacker under an encryptor, the embedded-object carver) then see the unpacked data.
/// The entry point becomes the original one when emulation reached it.
fn rebuild(image: &mut [u8], h: &Headers, oep: Option<u32>) {
    let mut put = |at: usize, v: u32| {
        if let Some(b) = image.get_mut(at..at.saturating_add(4)) {
            b.copy_from_slice(&v.to_le_bytes());
        }
    };
    put(
        0x1c,
        u32::from_le_bytes(*if oep.is_some() {
            MARK_AT_OEP
        } else {
            MARK_NOT_AT_OEP
        }),
    );
    let o = h.pe + 24;
    put(o + 36, PAGE);
    if let Some(a) = oep {
        put(o + 16, a.wrapping_sub(h.base));
    }
    for (i, &(rva, vsize, _, raw)) in h.sections.iter().enumerate() {
        let s = h.table + 40 * i;
        let span = (vsize.max(raw as u32)).min(h.size.saturating_sub(rva));
        put(s + 16, span);
        put(s + 20, rva);
    }
}

/// Writes a thunk address for every imported function into the import address table, as
/// the loader would. Malformed tables are filled as far as they read.
fn fill_imports(m: &mut Mem, w: &mut Win, base: u32, rva: u32) {
    if rva == 0 {
        return;
    }
    let mut filled = 0;
    for d in 0..256u32 {
        let desc = base.wrapping_add(rva).wrapping_add(20 * d);
        let (Ok(oft), Ok(name), Ok(ft)) = (
            m.read(desc, 4),
            m.read(desc.wrapping_add(12), 4),
            m.read(desc.wrapping_add(16), 4),
        ) else {
            return;
        };
        if name == 0 && ft == 0 {
            return;
        }
        let lookup = if oft != 0 { oft } else { ft };
        for i in 0..4096u32 {
            if filled > 8192 {
                return;
            }
            let Ok(v) = m.read(base.wrapping_add(lookup).wrapping_add(4 * i), 4) else {
                break;
            };
            if v == 0 {
                break;
            }
            let fname = if v & 0x8000_0000 != 0 {
                format!("#{}", v & 0xffff)
            } else {
                match m.cstr(base.wrapping_add(v).wrapping_add(2), 256) {
                    Ok(s) => s,
                    Err(_) => break,
                }
            };
            let t = w.thunk(&fname);
            if m.write(base.wrapping_add(ft).wrapping_add(4 * i), t, 4)
                .is_err()
            {
                break;
            }
            filled += 1;
        }
    }
}

/// Instructions run after the first jump into written code before emulation stops there
/// (a stub may jump to a second stage it wrote before the original entry point; the
/// original program itself needs not run long).
const GRACE: u64 = 3_000_000;

/// The interpreter loop: why it stopped, the original entry point if one was seen, and the
/// instructions executed.
fn run(
    c: &mut Cpu,
    m: &mut Mem,
    w: &mut Win,
    h: &Headers,
    spans: &[(u32, u32)],
    limits: &EmuLimits,
) -> (Stop, Option<u32>, u64) {
    let mut n: u64 = 0;
    let mut next_clock = 0u64;
    let image = h.base..h.base.saturating_add(h.size);
    let section = |a: u32| spans.iter().position(|&(s, e)| (s..e).contains(&a));
    let ep_section = section(c.eip);
    let mut last_section = ep_section;
    let mut oep: Option<u32> = None;
    let mut grace_end = u64::MAX;
    loop {
        if n >= limits.max_instructions {
            return (Stop::Instructions, oep, n);
        }
        if n >= grace_end {
            return (Stop::Oep(oep.unwrap_or(c.eip)), oep, n);
        }
        if n >= next_clock {
            next_clock = n + 16_384;
            if limits.deadline.is_some_and(|d| Instant::now() >= d) {
                return (Stop::Time, oep, n);
            }
        }
        let eip = c.eip;
        if eip == win::EXIT_THUNK {
            return (Stop::Exit, oep, n);
        }
        if eip == win::SEH_RETURN {
            if let Err(s) = w.seh_return(c, m) {
                return (s, oep, n);
            }
            n += 1;
            continue;
        }
        if Win::is_thunk(eip) {
            if let Err(s) = w.call(c, m) {
                return (s, oep, n);
            }
            n += 1;
            continue;
        }
        if image.contains(&eip) {
            // A jump from one section into code the stub wrote in another is a candidate
            // original entry point; the last one seen is kept.
            let sec = section(eip);
            if sec != last_section && sec != ep_section && m.was_written(eip) {
                oep = Some(eip);
                if grace_end == u64::MAX {
                    grace_end = n.saturating_add(GRACE);
                }
            }
            last_section = sec;
        }
        let mut buf = [0u8; 16];
        let got = m.read_some(eip, &mut buf);
        let mut dec = Decoder::with_ip(32, &buf[..got], u64::from(eip), DecoderOptions::NONE);
        let ins = dec.decode();
        let trap = if got == 0 {
            Trap::Mem(eip)
        } else if ins.is_invalid() {
            Trap::Privileged
        } else {
            c.eip = ins.next_ip32();
            match exec::exec(c, m, &ins) {
                Ok(k) => {
                    n += u64::from(k);
                    continue;
                }
                Err(t) => t,
            }
        };
        c.eip = eip;
        n += 1;
        let code = match trap {
            Trap::Mem(_) => 0xc000_0005,
            Trap::Breakpoint => 0x8000_0003,
            Trap::Divide => 0xc000_0094,
            Trap::Privileged => 0xc000_0096,
            Trap::Unsupported(mn) => return (Stop::Unsupported(format!("{mn:?}")), oep, n),
        };
        if let Err(s) = w.raise(c, m, code) {
            return (
                match (s, trap) {
                    (Stop::Exception(_), Trap::Mem(a)) => Stop::Fault(a),
                    (s, _) => s,
                },
                oep,
                n,
            );
        }
    }
}

#[cfg(test)]
mod tests;
