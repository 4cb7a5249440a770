//! The form editor of the policy (groups, their filters and actions): the console page edits
//! the `[policy]` section as data, and [`with_policy`] writes it back into the configuration
//! file's text in place of the old section, the rest of the file (comments included) kept; the
//! handlers (`api::policy`) then check, back up and reload as the text editor does.

use bulwark_config::PolicyConfig;
use serde::Serialize;
use toml_edit::DocumentMut;

/// Why the form's policy could not be put into the file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PolicyFormError {
    /// The file on disk is not TOML (edit it with the text editor first).
    #[error("the configuration file does not parse as TOML: {0}")]
    File(toml_edit::TomlError),
    /// The policy could not be written as TOML.
    #[error("the policy cannot be written as TOML: {0}")]
    Serialize(#[from] toml::ser::Error),
}

/// A document holding only `[policy]`.
#[derive(Serialize)]
struct PolicyOnly<'a> {
    policy: &'a PolicyConfig,
}

/// `current` (a configuration file's text) with its `[policy]` section replaced by `policy`;
/// every other section, and the comments outside `[policy]`, are kept as written.
pub(crate) fn with_policy(current: &str, policy: &PolicyConfig) -> Result<String, PolicyFormError> {
    let mut doc: DocumentMut = current.parse().map_err(PolicyFormError::File)?;
    let text = toml::to_string(&PolicyOnly { policy })?;
    let new: DocumentMut = text.parse().map_err(PolicyFormError::File)?;
    doc.remove("policy");
    if let Some(item) = new.get("policy") {
        doc.insert("policy", item.clone());
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# Bulwark, edited by hand\n\
        [server]\n\
        # the ICAP port\n\
        listen = [\"127.0.0.1:1344\"]\n\
        \n\
        [policy.default.actions]\n\
        protected = \"skip\"\n\
        \n\
        [[policy.group]]\n\
        name = \"old\"\n\
        \n\
        [log]\n\
        # keep this comment\n\
        level = \"info\"\n";

    #[test]
    fn replaces_the_policy_and_keeps_the_rest() {
        let mut p = PolicyConfig::default();
        let mut g = p.default_group.clone();
        g.name = "managers".into();
        g.priority = 5;
        g.clients = vec!["10.1.0.0/16".into()];
        g.actions.suspicious = bulwark_config::policy::Action::Skip;
        p.groups.push(g);
        let out = with_policy(FILE, &p).expect("written");
        assert!(out.contains("# the ICAP port") && out.contains("# keep this comment"));
        assert!(!out.contains("\"old\""), "{out}");
        let loaded = bulwark_config::load_str(&out, "test").expect("valid");
        assert_eq!(loaded.config.policy, p);
        assert_eq!(loaded.config.server.listen.len(), 1);
        assert_eq!(loaded.config.server.listen[0].to_string(), "127.0.0.1:1344");
    }

    #[test]
    fn a_file_that_is_not_toml_is_refused() {
        let e = with_policy("[server\n", &PolicyConfig::default()).expect_err("refused");
        assert!(matches!(e, PolicyFormError::File(_)));
    }
}
