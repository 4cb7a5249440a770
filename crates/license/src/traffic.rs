//! The daily traffic counter and its file (`Day: YYYY-MM-DD` and `Bytes: N` lines).

use std::path::Path;

use time::{Date, OffsetDateTime};

use crate::error::LicenseError;
use crate::keyfile::{format_date, parse_date};
use crate::store::{read_optional, write_atomic};

/// Bytes scanned on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficCounter {
    /// The day counted.
    pub day: Date,
    /// Bytes counted that day.
    pub bytes: u64,
}

impl TrafficCounter {
    /// An empty counter for the day of `now`.
    pub fn new(now: OffsetDateTime) -> Self {
        TrafficCounter {
            day: now.date(),
            bytes: 0,
        }
    }

    /// Adds `bytes`, starting a new count when `now` is on another day.
    pub fn add(&mut self, bytes: u64, now: OffsetDateTime) {
        if now.date() != self.day {
            *self = TrafficCounter::new(now);
        }
        self.bytes = self.bytes.saturating_add(bytes);
    }

    /// Bytes counted on the day of `now` (0 when the counter is of another day).
    pub fn used_on(&self, now: OffsetDateTime) -> u64 {
        if now.date() == self.day {
            self.bytes
        } else {
            0
        }
    }

    /// The file text.
    pub fn render(&self) -> String {
        format!("Day: {}\nBytes: {}\n", format_date(self.day), self.bytes)
    }

    /// Reads the counter file; `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<TrafficCounter>, LicenseError> {
        let Some(bytes) = read_optional(path)? else {
            return Ok(None);
        };
        let bad = |reason: &str| LicenseError::Traffic {
            path: path.into(),
            reason: reason.into(),
        };
        let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text"))?;
        let (mut day, mut count) = (None, None);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match line.split_once(": ") {
                Some(("Day", v)) => {
                    day = Some(parse_date(v.trim()).map_err(|e| bad(&e.to_string()))?)
                }
                Some(("Bytes", v)) => {
                    count = Some(
                        v.trim()
                            .parse()
                            .map_err(|_| bad("`Bytes` is not a number"))?,
                    )
                }
                _ => return Err(bad(&format!("unexpected line `{line}`"))),
            }
        }
        match (day, count) {
            (Some(day), Some(bytes)) => Ok(Some(TrafficCounter { day, bytes })),
            _ => Err(bad("`Day` or `Bytes` is missing")),
        }
    }

    /// Writes the counter file atomically.
    pub fn save(&self, path: &Path) -> Result<(), LicenseError> {
        write_atomic(path, self.render().as_bytes())
    }
}
