//! Bulwark's policy: the pure decision layer between the ICAP server and the engine.
//!
//! Configuration is plain data (`bulwark_config::PolicyConfig`, `[policy]` in `bulwark.toml`);
//! [`Policy::compile`] checks it (regexes, client ranges, the template directory, which it
//! reads: the only I/O in this crate) and returns a [`Policy`] the server keeps in its snapshot.
//! Per ICAP transaction the server:
//!
//! 1. selects the group: [`Policy::select`]`(client, user, url)`; groups are tried by
//!    priority (highest first), then by name; none matching gives the default group;
//! 2. maps [`Group::engine`] to the engine's scan options;
//! 3. asks [`Group::filter`] with the HTTP heads (`first_bytes: None`); on
//!    [`FilterDecision::NeedBytes`] asks again with the preview's first bytes, so that a
//!    renamed executable under an excluded Content-Type is still scanned;
//!    [`FilterDecision::Skip`] delivers unscanned, [`FilterDecision::Deny`] blocks unscanned;
//! 4. after the scan applies [`Group::action`]`(status)`: `Skip` delivers, `Deny` blocks,
//!    `Cure` delivers the cured copy when there is one, else blocks;
//! 5. renders blocks with [`Policy::render_block_page`] (HTTP 403, `Cache-Control: no-store`).
//!
//! [`check_config`] is what `bulwark config check` learns from compiling: every compile error and
//! the cache-safety warnings, by key. [`cache_safety_warnings`] lists client- or user-based groups, whose RESPMOD verdicts Squid
//! would cache for everyone; [`import::kav4proxy`] converts a kav4proxy 5.5 configuration.

mod actions;
mod filter;
mod groups;
pub mod import;
mod regexes;
mod sniff;
mod templates;

use std::fmt;
use std::net::IpAddr;

use bulwark_config::{Findings, KeyProblem, PolicyConfig};

pub use filter::{FilterDecision, ObjectInfo, SkipReason};
pub use groups::{parse_client_range, ClientRangeError, Group};
pub use sniff::{sniff, FileKind, FileType, SNIFF_BYTES};
pub use templates::{
    choose_language, html_escape, PageValues, RenderedPage, Template, BUILTIN_LANGS, PRODUCT,
};

/// A problem in the policy configuration, under its dotted key (`policy.group.1.urls`; group
/// indexes count from 0 in file order).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct PolicyError {
    /// Dotted path of the offending key.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl PolicyError {
    pub(crate) fn new(key: String, message: String) -> Self {
        Self { key, message }
    }
}

/// A compiled policy: groups in selection order, the default group, block pages.
#[derive(Debug, Clone)]
pub struct Policy {
    groups: Vec<Group>,
    default_group: Group,
    templates: templates::TemplateSet,
}

impl Policy {
    /// Checks `config` and compiles it; reads the template directory, if one is set. Every
    /// problem found is returned.
    pub fn compile(config: &PolicyConfig) -> Result<Policy, Vec<PolicyError>> {
        let mut errors = Vec::new();
        let default_group =
            Group::compile(&config.default_group, "policy.default", true, &mut errors);
        let mut groups = Vec::new();
        for (i, g) in config.groups.iter().enumerate() {
            let key = format!("policy.group.{i}");
            if g.name.trim().is_empty() {
                errors.push(PolicyError::new(
                    format!("{key}.name"),
                    "a group needs a name".into(),
                ));
            } else if g.name == config.default_group.name
                || config.groups[..i].iter().any(|o| o.name == g.name)
            {
                errors.push(PolicyError::new(
                    format!("{key}.name"),
                    format!("the group name `{}` is used twice", g.name),
                ));
            }
            groups.push(Group::compile(g, &key, false, &mut errors));
        }
        groups.sort_by(|a, b| {
            b.priority()
                .cmp(&a.priority())
                .then_with(|| a.name().cmp(b.name()))
        });
        let templates = templates::TemplateSet::load(config.templates_dir.as_deref(), &mut errors);
        if errors.is_empty() {
            Ok(Policy {
                groups,
                default_group,
                templates,
            })
        } else {
            Err(errors)
        }
    }

    /// The group for a request: the first named group (priority descending, then name) whose
    /// criteria all match, else the default group.
    pub fn select(&self, client: Option<IpAddr>, user: Option<&str>, url: &str) -> &Group {
        self.groups
            .iter()
            .find(|g| g.matches(client, user, url))
            .unwrap_or(&self.default_group)
    }

    /// The named groups in selection order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The default group.
    pub fn default_group(&self) -> &Group {
        &self.default_group
    }

    /// The block page for `template` (a [`bulwark_engine::Status`] converts into one) in the
    /// language best matching `accept_language` (an `Accept-Language` header value).
    pub fn render_block_page(
        &self,
        template: impl Into<Template>,
        values: &PageValues<'_>,
        accept_language: Option<&str>,
    ) -> RenderedPage {
        self.templates
            .render(template.into(), values, accept_language)
    }
}

/// A warning about the configuration, under its dotted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWarning {
    /// Dotted path of the key concerned (`policy.group.0.clients`).
    pub key: String,
    /// The warning.
    pub message: String,
}

impl fmt::Display for PolicyWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Warns about groups selected by client address or user name whose settings differ from the
/// default group's (F-POL-6): Squid asks for RESPMOD before caching (`respmod_precache`) and
/// serves the cached answer to every client, so an object passed for a laxer group reaches
/// everyone. URL-based groups, and groups that set `mark_uncacheable`, are safe.
pub fn cache_safety_warnings(config: &PolicyConfig) -> Vec<PolicyWarning> {
    let d = &config.default_group;
    config
        .groups
        .iter()
        .enumerate()
        .filter(|(_, g)| !g.clients.is_empty() || !g.users.is_empty())
        .filter(|(_, g)| g.engine != d.engine || g.filter != d.filter || g.actions != d.actions)
        // What such a group lets through is marked uncacheable: nothing reaches others.
        .filter(|(_, g)| !g.mark_uncacheable)
        .map(|(i, g)| {
            let by = if g.clients.is_empty() { "users" } else { "clients" };
            PolicyWarning {
                key: format!("policy.group.{i}.{by}"),
                message: format!(
                    "group `{}` is chosen by {by} and its rules differ from the default group's: \
                     Squid caches RESPMOD answers (respmod_precache) for every client, so an object \
                     this group lets through may be served from the cache to others; set \
                     mark_uncacheable = true in the group, prefer URL-based groups, or keep such \
                     groups for REQMOD",
                    g.name
                ),
            }
        })
        .collect()
}

/// Compiles `config` to find what only compiling finds (regexes, client ranges, templates), and
/// adds the [`cache_safety_warnings`]: the policy's part of `bulwark config check`.
pub fn check_config(config: &PolicyConfig) -> Findings {
    let errors = match Policy::compile(config) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .into_iter()
            .map(|e| KeyProblem::new(e.key, e.message))
            .collect(),
    };
    let warnings = cache_safety_warnings(config)
        .into_iter()
        .map(|w| KeyProblem::new(w.key, w.message))
        .collect();
    Findings { errors, warnings }
}

#[cfg(test)]
mod tests;
