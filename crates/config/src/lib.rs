//! Bulwark's configuration: one TOML file, every key with a default.
//!
//! [`Config::default()`] is the embedded default that `bulwark serve` runs with no file;
//! [`load_str`] parses a file and reports errors with line numbers, and every unknown key as a
//! warning with its line, so that the server never starts half-configured.

mod check;
mod schema;

pub use check::{load_file, load_str, parse_net, ConfigError, Diagnostic, Loaded};
pub use schema::{
    AccessConfig, AnswerConfig, AnswerMode, Config, ControlConfig, EngineConfig, IdentityConfig,
    LogConfig, MetricsConfig, OverBudget, ServerConfig, TlsConfig,
};
