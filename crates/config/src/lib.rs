//! Bulwark's configuration: one TOML file, every key with a default.
//!
//! [`Config::default()`] is the embedded default that `bulwark serve` runs with no file;
//! [`load_str`] parses a file and reports every problem in one pass, each with its line and in
//! plain words; an unknown key is an error (with the key it probably meant) unless
//! [`Strictness::Lenient`], so that the server never starts half-configured.
//!
//! This crate is a leaf: plain data (serde, toml, ipnet), one module per section
//! ([`policy`], [`notify`], [`license`], [`update`], [`console`], [`limits`], [`syslog`],
//! [`cluster`] and the server's own sections), no I/O beyond reading the file. Each domain crate
//! compiles its section into its own objects (`bulwark_policy::Policy::compile`, …); checks that
//! need those objects run where they are built and reach the loader as [`Findings`] through a
//! [`CompiledChecks`] function (`bulwark_server::Snapshot::check`), so `bulwark config check`
//! reports every problem of a file, located by line, in one pass.

mod check;
mod load;
mod schema;

pub use check::{
    no_compiled_checks, parse_net, CompiledChecks, ConfigError, Diagnostic, Findings, KeyProblem,
    Loaded,
};
pub use load::{load_file, load_file_with, load_str, load_str_with, Strictness};
pub use schema::{
    cluster, console, license, limits, notify, policy, syslog, update, AccessConfig, AnswerConfig,
    AnswerMode, ApiConfig, ClamdConfig, ClusterConfig, Config, ConsoleConfig, ControlConfig,
    EngineConfig, IdentityConfig, LicenseConfig, Limits, LogConfig, MetricsConfig, NotifyConfig,
    OverBudget, PolicyConfig, ServerConfig, SyslogConfig, TlsConfig, UpdateConfig,
};
