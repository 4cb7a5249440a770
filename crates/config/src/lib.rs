//! Bulwark's configuration: one TOML file, every key with a default.
//!
//! [`Config::default()`] is the embedded default that `bulwark serve` runs with no file;
//! [`load_str`] parses a file and reports every problem in one pass, each with its line and in
//! plain words; an unknown key is an error (with the key it probably meant) unless
//! [`Strictness::Lenient`], so that the server never starts half-configured.

mod check;
mod cluster;
mod load;
mod schema;

pub use check::{parse_net, ConfigError, Diagnostic, Loaded};
pub use cluster::{ClusterConfig, MAX_TIMEOUT_MS, MAX_VERDICT_TTL_SECS};
pub use load::{load_file, load_file_with, load_str, load_str_with, Strictness};
pub use schema::{
    AccessConfig, AnswerConfig, AnswerMode, ApiConfig, ClamdConfig, Config, ControlConfig,
    EngineConfig, IdentityConfig, LogConfig, MetricsConfig, OverBudget, ServerConfig, TlsConfig,
};
