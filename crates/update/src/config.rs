//! What `bulwark update -c FILE` reads of a Bulwark configuration file: `[update]` and
//! `[control] socket` (the types are `bulwark-config`'s).

use std::path::{Path, PathBuf};

use bulwark_config::UpdateConfig;
use serde::Deserialize;

use crate::error::UpdateError;

/// What `bulwark update -c FILE` reads from a Bulwark configuration file (its `[license]` is the
/// caller's: see [`crate::LicenseGate`]).
#[derive(Debug, Clone, Default)]
pub struct FileSettings {
    /// `[update]`, with `control_socket` filled from `[control] socket` when unset.
    pub update: UpdateConfig,
}

#[derive(Deserialize)]
struct ControlPart {
    #[serde(default = "default_socket")]
    socket: Option<PathBuf>,
}

impl Default for ControlPart {
    fn default() -> Self {
        ControlPart {
            socket: default_socket(),
        }
    }
}

fn default_socket() -> Option<PathBuf> {
    Some(PathBuf::from("/run/bulwark/control.sock"))
}

#[derive(Deserialize)]
struct FilePart {
    #[serde(default)]
    update: UpdateConfig,
    #[serde(default)]
    control: Option<toml::Table>,
}

impl FileSettings {
    /// Settings when no configuration file is given: defaults, and the default control socket.
    pub fn defaults() -> Self {
        let mut s = FileSettings::default();
        s.update.control_socket = default_socket();
        s
    }

    /// Reads `[update]` and `[control] socket` of a Bulwark configuration file (other tables
    /// are ignored; defaults when absent).
    pub fn from_file(path: &Path) -> Result<Self, UpdateError> {
        let text = std::fs::read_to_string(path).map_err(|e| UpdateError::Config {
            path: path.into(),
            reason: e.to_string(),
        })?;
        Self::from_str(&text, path)
    }

    /// Like [`FileSettings::from_file`], from text (`path` names it in errors).
    pub fn from_str(text: &str, path: &Path) -> Result<Self, UpdateError> {
        let bad = |reason: String| UpdateError::Config {
            path: path.into(),
            reason,
        };
        let part: FilePart = toml::from_str(text).map_err(|e| bad(e.message().to_string()))?;
        let control = match part.control {
            Some(t) => toml::Value::Table(t)
                .try_into::<ControlPart>()
                .map_err(|e| bad(format!("[control]: {}", e.message())))?,
            None => ControlPart::default(),
        };
        let mut update = part.update;
        if update.control_socket.is_none() {
            update.control_socket = control.socket;
        }
        Ok(FileSettings { update })
    }
}
