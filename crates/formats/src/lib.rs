//! Bulwark's format decoders: pure functions from bytes to what the bytes hold, with no scan
//! engine, no I/O and no `unsafe` behind them, so that each can be read, tested and fuzzed alone.
//!
//! - [`pe`]: the one reader of PE headers (used by the engine, the containers crate and the
//!   decoders below).
//! - [`eocd`]: zip end-of-central-directory records (what a zip claims to hold).
//! - [`upx`], [`emu`]: packed executables — UPX by its own algorithms, every other packer by
//!   emulating the unpacking stub ([`emu::looks_packed`] tells when to try).
//! - [`packer`]: which packer made an executable.
//! - [`szdd`], [`autoit`], [`ishield`]: `compress.exe` files, AutoIt scripts and InstallShield
//!   installers.
//! - [`le`]: little-endian fields at untrusted offsets, shared by the parsers here.
//!
//! Every decoder takes its output budget as an argument and fails with a typed error past it;
//! the deep scanner (`bulwark-containers`) turns those errors into limits and findings.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod autoit;
pub mod emu;
pub mod eocd;
pub mod ishield;
pub mod le;
pub mod packer;
pub mod pe;
pub mod szdd;
pub mod upx;
