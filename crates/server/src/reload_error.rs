//! Why a configuration or database was not (re)loaded: the previous one keeps serving.

use bulwark_policy::PolicyError;

use crate::tls::TlsError;

/// A refused first load or reload, by the part that refused it.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The configuration file (every problem it has, as `config check` lists them).
    #[error("{0}")]
    Config(#[from] bulwark_config::ConfigError),
    /// The signature database.
    #[error("engine.database: {0}")]
    Database(#[from] bulwark_engine::LoadError),
    /// The blocking task that compiles the database ended abnormally.
    #[error("database loader failed: {0}")]
    Loader(#[from] tokio::task::JoinError),
    /// The TLS certificate or key.
    #[error("{0}")]
    Tls(#[from] TlsError),
    /// The av.stats log file could not be opened.
    #[error("log.av_stats_file: {0}")]
    AvStatsLog(std::io::Error),
    /// The policy groups do not compile.
    #[error("{}", join_policy(.0))]
    Policy(Vec<PolicyError>),
    /// An `[access] allow` entry is not a network.
    #[error("{0}")]
    Access(#[from] crate::access::AccessError),
}

fn join_policy(errs: &[PolicyError]) -> String {
    errs.iter()
        .map(|e| format!("{}: {}", e.key, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_part_that_refused() {
        let e = ReloadError::Policy(vec![
            PolicyError {
                key: "policy.groups.a".into(),
                message: "unknown action".into(),
            },
            PolicyError {
                key: "policy.groups.b".into(),
                message: "bad range".into(),
            },
        ]);
        assert_eq!(
            e.to_string(),
            "policy.groups.a: unknown action; policy.groups.b: bad range"
        );
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        assert_eq!(
            ReloadError::AvStatsLog(io).to_string(),
            "log.av_stats_file: denied"
        );
    }
}
