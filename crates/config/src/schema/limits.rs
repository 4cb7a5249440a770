//! Unpacking limits (SPEC F-ENG-4): every one of them, when hit, gives `limits-exceeded`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Limits on what one object may unpack to. Sits in the configuration file as `[engine.limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Deepest nesting of containers (the object itself is depth 0, its members depth 1).
    pub max_depth: u32,
    /// Total bytes unpacked from one object, over all members at every depth.
    pub max_total_bytes: u64,
    /// Bytes of any single member once unpacked.
    pub max_member_bytes: u64,
    /// Members in one object, over all containers at every depth.
    pub max_members: u64,
    /// Largest ratio of unpacked to packed bytes of one member…
    pub max_ratio: u64,
    /// …once the member has unpacked at least this many bytes (small files compress well).
    pub ratio_min_bytes: u64,
    /// Wall-clock time to unpack and scan one object.
    #[serde(with = "secs")]
    pub max_scan_time: Duration,
    /// Largest object (raw body) kept for unpacking; beyond it only the streaming scan applies and
    /// a container gets `limits-exceeded`.
    pub max_object_bytes: u64,
    /// Bytes of an object or member kept in memory; larger ones spill to a temp file.
    pub spill_bytes: u64,
    /// Overlapping zip entries tolerated (real JARs overlap by a byte or two) before the archive is
    /// treated as an overlapping-entry bomb.
    pub max_zip_overlaps: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 10,
            max_total_bytes: 400 << 20,
            max_member_bytes: 100 << 20,
            max_members: 10_000,
            max_ratio: 250,
            ratio_min_bytes: 16 << 20,
            max_scan_time: Duration::from_secs(60),
            max_object_bytes: 512 << 20,
            spill_bytes: 2 << 20,
            max_zip_overlaps: 0,
        }
    }
}

/// Durations as (fractional) seconds in the configuration file.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        if !v.is_finite() || !(0.0..=86_400.0).contains(&v) {
            return Err(serde::de::Error::custom(
                "max_scan_time must be between 0 and 86400 seconds",
            ));
        }
        Ok(Duration::from_secs_f64(v))
    }
}
