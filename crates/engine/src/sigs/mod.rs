//! Parsers for ClamAV's signature formats (one line → one signature), independent of matching.

pub mod expr;
pub mod hash;
pub mod hex;
pub mod logical;
pub mod offset;

pub use expr::Expr;
pub use hex::Pattern;
pub use offset::Offset;

/// The functionality level this engine claims (ClamAV 1.4.x is 210-214).
pub const FLEVEL: u32 = 212;

/// Why a line did not become a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// A feature this engine does not implement (counted by reason at load).
    Unsupported(&'static str),
    /// The line is malformed.
    Malformed(&'static str),
    /// The signature's functionality-level range excludes this engine (ClamAV skips it too).
    Flevel,
    /// Loaded, but matched with different semantics than ClamAV's (counted by reason).
    Approximated(&'static str),
}

/// Checks optional `min[:max]` functionality-level fields.
pub fn flevel_ok(min: Option<&str>, max: Option<&str>) -> Result<(), LineError> {
    let p = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| LineError::Malformed("bad functionality level"))
    };
    if let Some(m) = min.filter(|s| !s.is_empty()) {
        if p(m)? > FLEVEL {
            return Err(LineError::Flevel);
        }
    }
    if let Some(m) = max.filter(|s| !s.is_empty()) {
        if p(m)? < FLEVEL {
            return Err(LineError::Flevel);
        }
    }
    Ok(())
}
