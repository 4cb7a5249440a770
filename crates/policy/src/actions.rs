//! Actions per status: which configured action applies to a scan status.

use bulwark_engine::Status;

use bulwark_config::policy::{Action, ActionsConfig};

/// The action configured for `status`; a clean object is always delivered.
pub fn action_for(actions: &ActionsConfig, status: Status) -> Action {
    match status {
        Status::Clean => Action::Skip,
        Status::Infected => actions.infected,
        Status::Suspicious => actions.suspicious,
        Status::Warning => actions.warning,
        Status::Cured => actions.cured,
        Status::Protected => actions.protected,
        Status::Corrupted => actions.corrupted,
        Status::Error => actions.error,
        Status::LimitsExceeded => actions.limits_exceeded,
        Status::TooLarge => actions.too_large,
        Status::LicenseError => actions.license_error,
        Status::BasesError => actions.bases_error,
    }
}

/// `(key, action)` pairs where `cure` makes no sense: only infected, suspicious and warning
/// objects can be cured.
pub fn misplaced_cures(actions: &ActionsConfig) -> Vec<&'static str> {
    [
        ("cured", actions.cured),
        ("protected", actions.protected),
        ("corrupted", actions.corrupted),
        ("error", actions.error),
        ("limits_exceeded", actions.limits_exceeded),
        ("too_large", actions.too_large),
        ("license_error", actions.license_error),
        ("bases_error", actions.bases_error),
    ]
    .into_iter()
    .filter(|(_, a)| *a == Action::Cure)
    .map(|(k, _)| k)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fail_closed_for_errors() {
        let a = ActionsConfig::default();
        assert_eq!(action_for(&a, Status::Clean), Action::Skip);
        for s in [
            Status::Infected,
            Status::Suspicious,
            Status::Warning,
            Status::Protected,
            Status::Corrupted,
            Status::Error,
            Status::LimitsExceeded,
            Status::LicenseError,
            Status::BasesError,
        ] {
            assert_eq!(action_for(&a, s), Action::Deny, "{s}");
        }
        assert_eq!(action_for(&a, Status::Cured), Action::Skip);
        assert_eq!(action_for(&a, Status::TooLarge), Action::Skip);
    }

    #[test]
    fn cure_only_where_it_can_apply() {
        let a = ActionsConfig {
            infected: Action::Cure,
            error: Action::Cure,
            ..ActionsConfig::default()
        };
        assert_eq!(misplaced_cures(&a), vec!["error"]);
        assert_eq!(action_for(&a, Status::Infected), Action::Cure);
    }
}
