//! The configuration reference (`docs/configuration.md`) and the packaged default file
//! (`packaging/bulwark.toml`) are generated from the schema: its structs, their doc comments
//! (read from the source files) and `Config::default()`. These tests fail when either file
//! differs from what the code says, so neither can drift.
//!
//! After changing the schema (a key, a default or a doc comment), regenerate both files with
//!
//! ```sh
//! BULWARK_BLESS=1 cargo test -p bulwark-config --test reference
//! ```
//!
//! and commit them. The other tests check the generated files themselves: every key present,
//! no key that the schema lacks, and the packaged file loading with no warning into exactly the
//! embedded defaults.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bulwark_config::{load_str, Config};

// ---------------------------------------------------------------------------------------------
// Reading the schema from the source files.

#[derive(Debug, Clone)]
struct Field {
    /// The key as written in TOML (serde rename applied).
    key: String,
    /// The field's type, without `Vec<…>`, `Option<…>` and module paths.
    ty: String,
    /// The crate the type comes from (`bulwark_policy`), when the path names one.
    krate: Option<String>,
    is_vec: bool,
    is_option: bool,
    doc: String,
}

#[derive(Debug, Clone)]
struct Struct {
    fields: Vec<Field>,
}

/// The structs of each crate of the workspace, by crate name (`bulwark_config`) and struct name.
type Schema = BTreeMap<String, BTreeMap<String, Vec<Struct>>>;

fn workspace_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    let p = workspace_file(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn crate_dirs(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if dir.join("Cargo.toml").is_file() && depth > 0 {
        out.push(dir.to_path_buf());
    }
    if depth >= 3 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.ends_with("src") && !p.ends_with("target"))
        .collect();
    entries.sort();
    for p in entries {
        crate_dirs(&p, depth + 1, out);
    }
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Every workspace crate's `pub struct`s with their `pub` fields and doc comments. This is a
/// line parser for the style of the configuration structs (one field per line, `///` docs,
/// serde renames); the tests cross-check it against what serde actually reads and writes.
fn parse_schema() -> Schema {
    let mut schema = Schema::new();
    // Every crate under crates/, nested ones included.
    let mut dirs = Vec::new();
    crate_dirs(&workspace_file(".."), 0, &mut dirs);
    for dir in dirs {
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let Some(name) = manifest.lines().find_map(|l| {
            let v = l.trim().strip_prefix("name")?.trim().strip_prefix('=')?;
            Some(v.trim().trim_matches('"').replace('-', "_"))
        }) else {
            continue;
        };
        let mut files = Vec::new();
        rs_files(&dir.join("src"), &mut files);
        let structs = schema.entry(name).or_default();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            parse_structs(&text, structs);
        }
    }
    schema
}

fn parse_structs(text: &str, out: &mut BTreeMap<String, Vec<Struct>>) {
    let mut doc: Vec<String> = Vec::new();
    let mut rename: Option<String> = None;
    let mut current: Option<(String, Struct)> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(d) = line.strip_prefix("///") {
            doc.push(d.strip_prefix(' ').unwrap_or(d).to_string());
            continue;
        }
        if line.starts_with("#[") {
            if let Some(i) = line.find("rename = \"") {
                let rest = &line[i + 10..];
                rename = rest.split('"').next().map(str::to_string);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("pub struct ") {
            if line.ends_with('{') && raw.starts_with("pub struct") {
                let name = rest.trim_end_matches('{').trim().to_string();
                current = Some((name, Struct { fields: Vec::new() }));
            }
            doc.clear();
            rename = None;
            continue;
        }
        if raw.starts_with('}') {
            if let Some((name, s)) = current.take() {
                out.entry(name).or_default().push(s);
            }
            doc.clear();
            rename = None;
            continue;
        }
        if let (Some((_, s)), Some(rest)) = (current.as_mut(), line.strip_prefix("pub ")) {
            if let Some((name, ty)) = rest.split_once(':') {
                let mut ty = ty.trim().trim_end_matches(',').to_string();
                let is_vec = ty.starts_with("Vec<");
                let is_option = ty.starts_with("Option<");
                if is_vec || is_option {
                    ty = ty[ty.find('<').unwrap() + 1..ty.len() - 1].to_string();
                }
                let krate = ty
                    .split_once("::")
                    .map(|(c, _)| c.to_string())
                    .filter(|c| c.starts_with("bulwark_"));
                let ty = ty.rsplit("::").next().unwrap_or(&ty).to_string();
                s.fields.push(Field {
                    key: rename.take().unwrap_or_else(|| name.trim().to_string()),
                    ty,
                    krate,
                    is_vec,
                    is_option,
                    doc: doc.join("\n"),
                });
            }
        }
        doc.clear();
        rename = None;
    }
}

/// The struct a field's type names, if it is one of the workspace's structs (a table).
fn resolve<'a>(schema: &'a Schema, krate: &str, f: &Field) -> Option<(String, &'a Struct)> {
    let k = f.krate.clone().unwrap_or_else(|| krate.to_string());
    let found = schema.get(&k)?.get(&f.ty)?;
    assert!(
        found.len() == 1,
        "{k} has {} structs named {}: cannot tell which one is the table",
        found.len(),
        f.ty
    );
    Some((k, &found[0]))
}

/// One key of the configuration file.
#[derive(Debug, Clone)]
struct Key {
    /// Dotted path (`server.listen`, `policy.group.actions.infected`).
    path: String,
    /// The last segment.
    name: String,
    doc: String,
    is_option: bool,
}

/// One table of the configuration file, in schema order.
#[derive(Debug, Clone)]
struct Table {
    path: String,
    doc: String,
    keys: Vec<Key>,
    /// Written `[[path]]` (an array of tables).
    array: bool,
}

/// Walks the schema from `Config`: tables in declaration order, each with its leaf keys.
fn walk() -> Vec<Table> {
    let schema = parse_schema();
    let root = &schema["bulwark_config"]
        .get("Config")
        .expect("struct Config in crates/config/src")[0];
    let mut tables = Vec::new();
    for f in &root.fields {
        let (k, s) = resolve(&schema, "bulwark_config", f)
            .unwrap_or_else(|| panic!("`{}`: struct {} not found", f.key, f.ty));
        walk_table(&schema, &k, s, &f.key, &f.doc, f.is_vec, &mut tables);
    }
    tables
}

fn walk_table(
    schema: &Schema,
    krate: &str,
    s: &Struct,
    path: &str,
    doc: &str,
    array: bool,
    out: &mut Vec<Table>,
) {
    let idx = out.len();
    out.push(Table {
        path: path.to_string(),
        doc: doc.to_string(),
        keys: Vec::new(),
        array,
    });
    for f in &s.fields {
        let p = format!("{path}.{}", f.key);
        if let Some((k, sub)) = resolve(schema, krate, f) {
            walk_table(schema, &k, sub, &p, &f.doc, f.is_vec, out);
        } else {
            assert!(!f.doc.trim().is_empty(), "`{p}` has no doc comment");
            out[idx].keys.push(Key {
                path: p,
                name: f.key.clone(),
                doc: f.doc.clone(),
                is_option: f.is_option,
            });
        }
    }
}

fn all_keys(tables: &[Table]) -> BTreeSet<String> {
    tables
        .iter()
        .flat_map(|t| t.keys.iter().map(|k| k.path.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Defaults.

/// Keys whose default depends on the machine: the value shown, and what the default really is.
fn machine_dependent(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "server.temp_path" => Some((
            "\"/tmp\"",
            "the system's temporary directory (`$TMPDIR`, else `/tmp`; private under systemd)",
        )),
        _ => None,
    }
}

/// An example value for keys that are unset by default (`Option` keys).
fn example(path: &str) -> &'static str {
    match path {
        "log.report_file" => "\"/var/log/bulwark/bulwark.log\"",
        "log.av_stats_file" => "\"/var/log/bulwark/av.stats\"",
        "log.counter_stats_file" => "\"/var/log/bulwark/counter.stats\"",
        "control.socket" => "\"/run/bulwark/control.sock\"",
        "control.pid_file" => "\"/run/bulwark/bulwark.pid\"",
        "control.user" => "\"bulwark\"",
        "tls.cert" => "\"/etc/bulwark/tls/server.pem\"",
        "tls.key" => "\"/etc/bulwark/tls/server.key\"",
        "tls.client_ca" => "\"/etc/bulwark/tls/clients-ca.pem\"",
        "notify.script" => "\"/usr/local/bin/bulwark-notify\"",
        "notify.webhook" => "\"https://alerts.example.com/bulwark\"",
        "policy.templates_dir" => "\"/etc/bulwark/templates\"",
        _ => "\"\"",
    }
}

/// `Config::default()` as a TOML tree, with one `[[policy.group]]` so that the group keys have
/// their (built-in) defaults too.
fn default_tree() -> toml::Table {
    let mut c = Config::default();
    c.policy.groups.push(c.policy.default_group.clone());
    c.policy.groups[0].name = String::new();
    match toml::Value::try_from(&c).expect("the default configuration serialises") {
        toml::Value::Table(t) => t,
        other => panic!("not a table: {other:?}"),
    }
}

fn lookup<'a>(tree: &'a toml::Table, path: &str) -> Option<&'a toml::Value> {
    let mut cur = tree;
    let segs: Vec<&str> = path.split('.').collect();
    for (i, seg) in segs.iter().enumerate() {
        let v = cur.get(*seg)?;
        if i + 1 == segs.len() {
            return Some(v);
        }
        cur = match v {
            toml::Value::Table(t) => t,
            toml::Value::Array(a) => a.first()?.as_table()?,
            _ => return None,
        };
    }
    None
}

fn render(v: &toml::Value) -> String {
    v.to_string()
}

/// The default of a key as TOML text, `None` when unset by default.
fn default_text(tree: &toml::Table, k: &Key) -> Option<String> {
    if let Some((shown, _)) = machine_dependent(&k.path) {
        return Some(shown.to_string());
    }
    match lookup(tree, &k.path) {
        Some(v) => Some(render(v)),
        None => {
            assert!(
                k.is_option,
                "`{}` is not an Option but has no serialised default",
                k.path
            );
            None
        }
    }
}

/// Doc comment text for plain-text and Markdown output: intra-doc links become code spans.
fn clean_doc(doc: &str) -> String {
    let mut s = doc.to_string();
    while let Some(i) = s.find("[`") {
        let Some(j) = s[i..].find("`]") else { break };
        let inner = &s[i + 2..i + j];
        let last = inner.rsplit("::").next().unwrap_or(inner).to_string();
        s.replace_range(i..i + j + 2, &format!("`{last}`"));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Generating the two files.

/// `[policy.group]` tables are documented together with `[policy.default]`.
fn is_group(path: &str) -> bool {
    path == "policy.group" || path.starts_with("policy.group.")
}

fn as_default_group(path: &str) -> String {
    path.replacen("policy.group", "policy.default", 1)
}

const TOML_HEAD: &str = "\
# /etc/bulwark/bulwark.toml: Bulwark's configuration.
#
# Every key is listed below with its default value and what it does, in the order of the
# configuration reference (/usr/share/doc/bulwark/configuration.md). As shipped, nothing is set:
# the server runs on its embedded defaults. To change a setting, uncomment its table header
# (`#[server]` -> `[server]`) once, and the key below it.
#
#   #key = value    a setting at its default: uncommenting it changes nothing
#   # key = value   unset by default; the value is only an example
#
# After editing: `bulwark config check /etc/bulwark/bulwark.toml`, then
# `systemctl reload bulwark` (or `bulwark ctl reload`). Listen addresses and max_connections
# need a restart.
#
# GENERATED from the schema by crates/config/tests/reference.rs; do not edit by hand.
";

const TOML_GROUP_EXAMPLE: &str = "\
# ---------------------------------------------------------------------------------------------
# Named groups: [[policy.group]], one block per group, tried by priority (highest first). A group
# takes every key of [policy.default] above, with the same meaning; a key it does not write
# takes the built-in default (not the value of [policy.default]). For example, to let suspicious
# objects from a trusted site through and not scan its downloads over 100 MB (URL-based groups
# are safe with Squid's cache; client- or user-based groups get a warning, see
# /usr/share/doc/bulwark/operations.md):
#
#[[policy.group]]
#name = \"trusted-site\"
#priority = 10
#urls = ['^([a-z0-9-]+\\.)*example\\.com/']
#
#[policy.group.filter]
#max_req_length = 104857600
#
#[policy.group.actions]
#suspicious = \"skip\"
";

fn gen_toml(tables: &[Table]) -> String {
    let tree = default_tree();
    let mut out = String::from(TOML_HEAD);
    for t in tables.iter().filter(|t| !is_group(&t.path)) {
        out.push('\n');
        out.push_str(
            "# ---------------------------------------------------------------------------------------------\n",
        );
        for l in wrap(&table_doc(&t.path, &t.doc), 96) {
            out.push_str(&format!("# {l}\n"));
        }
        out.push_str(&format!("#[{}]\n", t.path));
        for k in &t.keys {
            out.push('\n');
            for l in clean_doc(&k.doc).lines() {
                out.push_str(&format!("# {l}\n").replace("# \n", "#\n"));
            }
            if let Some((_, real)) = machine_dependent(&k.path) {
                for l in wrap(&format!("Default: {}.", strip_md(real)), 96) {
                    out.push_str(&format!("# {l}\n"));
                }
            }
            match default_text(&tree, k) {
                Some(v) => out.push_str(&format!("#{} = {v}\n", k.name)),
                None => out.push_str(&format!("# {} = {}\n", k.name, example(&k.path))),
            }
        }
    }
    out.push('\n');
    out.push_str(TOML_GROUP_EXAMPLE);
    out
}

/// A table's doc, starting with its name once.
fn table_doc(path: &str, doc: &str) -> String {
    let d = clean_doc(doc).replace('\n', " ");
    if d.starts_with("`[") {
        d
    } else {
        format!("`[{path}]`: {d}")
    }
}

/// Splits text into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for w in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + w.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

fn strip_md(s: &str) -> String {
    s.replace('`', "")
}

const MD_HEAD: &str = "\
# Configuration reference

<!-- GENERATED from the schema (crates/config/src/schema.rs and the notify, license and policy
     crates' configuration structs) by crates/config/tests/reference.rs. Do not edit by hand:
     change the doc comments, then run
     BULWARK_BLESS=1 cargo test -p bulwark-config --test reference -->

Bulwark reads one TOML file, given with `bulwark serve --config FILE` (the Debian package's
service uses `/etc/bulwark/bulwark.toml`). Every key has a default; a file that sets nothing (or no
`--config` at all) runs on the embedded defaults. `bulwark config check FILE` reports every error
with its line number in one run, and refuses unknown keys (naming the key they probably meant), as the server
does; `bulwark config show --config FILE` prints
the effective configuration with the defaults filled in. The packaged
`/etc/bulwark/bulwark.toml` lists every key below, commented out, at its default.

A reload (`SIGHUP`, `bulwark ctl reload`, `systemctl reload bulwark`) re-reads the file; a file
that does not load is refused and the running configuration stays. `server.listen`,
`tls.listen` and `server.max_connections` apply only after a restart. The command line's
`--listen` and `--database` replace `server.listen` and `engine.database`, also across reloads.

Keys are written as dotted paths: `server.listen` is `listen` in the `[server]` table. Each entry
gives the default as TOML; *unset* means the key is absent by default (an optional path or value).

";

fn gen_md(tables: &[Table]) -> String {
    let tree = default_tree();
    let mut out = String::from(MD_HEAD);
    out.push_str("Tables: ");
    let heads: Vec<String> = tables
        .iter()
        .filter(|t| !is_group(&t.path))
        .map(|t| format!("[`[{}]`](#{})", t.path, t.path.replace('.', "")))
        .collect();
    out.push_str(&heads.join(", "));
    out.push_str(".\n");
    for t in tables.iter().filter(|t| !is_group(&t.path)) {
        let group = tables
            .iter()
            .find(|g| g.path == t.path.replacen("policy.default", "policy.group", 1));
        let group = group.filter(|_| t.path.starts_with("policy.default"));
        match group {
            Some(g) => out.push_str(&format!(
                "\n## `[{}]`\n\n`[{}]` and `{}{}{}`: {}\n",
                t.path,
                t.path,
                if g.array { "[[" } else { "[" },
                g.path,
                if g.array { "]]" } else { "]" },
                clean_doc(&t.doc).replace('\n', " ")
            )),
            None => out.push_str(&format!(
                "\n## `[{}]`\n\n{}\n",
                t.path,
                table_doc(&t.path, &t.doc)
            )),
        }
        if t.path == "policy.default" {
            out.push_str(
                "\nA named group (`[[policy.group]]`) has the same keys as `[policy.default]`; a key \
                 a group does not write takes the built-in default shown here, not the value of \
                 `[policy.default]`. `name` is required in a named group (its default, `\"\"`, \
                 is refused). Example:\n\n```toml\n[[policy.group]]\nname = \"trusted-site\"\n\
                 priority = 10\nurls = ['^([a-z0-9-]+\\.)*example\\.com/']\n\n\
                 [policy.group.actions]\nsuspicious = \"skip\"\n```\n",
            );
        }
        for k in &t.keys {
            let also = group
                .and_then(|g| g.keys.iter().find(|gk| gk.name == k.name))
                .map(|gk| format!(", `{}`", gk.path))
                .unwrap_or_default();
            let default = match (machine_dependent(&k.path), default_text(&tree, k)) {
                (Some((_, real)), _) => real.to_string(),
                (None, Some(v)) => format!("`{v}`"),
                (None, None) => format!("*unset* (example: `{}`)", example(&k.path)),
            };
            out.push_str(&format!(
                "\n### `{}`{also}\n\nDefault: {default}\n\n{}\n",
                k.path,
                clean_doc(&k.doc)
            ));
        }
    }
    out
}

fn check_generated(rel: &str, generated: &str) {
    let path = workspace_file(rel);
    if std::env::var_os("BULWARK_BLESS").is_some() {
        std::fs::write(&path, generated).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()) + 1);
        panic!(
            "{rel} is not what the schema generates (first difference at line {line}).\n\
             Regenerate it: BULWARK_BLESS=1 cargo test -p bulwark-config --test reference"
        );
    }
}

const MD: &str = "../../docs/configuration.md";
const PACKAGED: &str = "../../packaging/bulwark.toml";
const OPERATIONS: &str = "../../docs/operations.md";

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn reference_files_are_generated_from_the_schema() {
    let tables = walk();
    check_generated(MD, &gen_md(&tables));
    check_generated(PACKAGED, &gen_toml(&tables));
}

/// The source parser sees exactly the keys serde writes (every key that is not unset by
/// default), so no key can be missing from the generated files.
#[test]
fn parsed_schema_matches_what_serde_writes() {
    fn leaves(prefix: &str, t: &toml::Table, out: &mut BTreeSet<String>) {
        for (k, v) in t {
            let p = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t) => leaves(&p, t, out),
                toml::Value::Array(a) if a.first().is_some_and(|x| x.is_table()) => {
                    for x in a {
                        leaves(&p, x.as_table().unwrap(), out);
                    }
                }
                _ => {
                    out.insert(p);
                }
            }
        }
    }
    let mut written = BTreeSet::new();
    leaves("", &default_tree(), &mut written);
    let tables = walk();
    let parsed = all_keys(&tables);
    let optional: BTreeSet<String> = tables
        .iter()
        .flat_map(|t| {
            t.keys
                .iter()
                .filter(|k| k.is_option)
                .map(|k| k.path.clone())
        })
        .collect();
    let missing: Vec<_> = written.difference(&parsed).collect();
    assert!(
        missing.is_empty(),
        "serde writes keys the parser missed: {missing:?}"
    );
    let extra: Vec<_> = parsed
        .difference(&written)
        .filter(|k| !optional.contains(*k))
        .collect();
    assert!(
        extra.is_empty(),
        "parsed keys serde does not write: {extra:?}"
    );
}

/// Uncomments `#key = value` lines and `#[table]` headers; with `examples`, also the
/// `# key = value` examples of keys that are unset by default.
fn uncomment(text: &str, examples: bool) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let setting = line.strip_prefix('#').filter(|rest| {
            rest.starts_with('[')
                || rest.split_once(" = ").is_some_and(|(k, _)| is_bare_key(k))
                || (examples
                    && rest
                        .strip_prefix(' ')
                        .and_then(|r| r.split_once(" = "))
                        .is_some_and(|(k, _)| is_bare_key(k)))
        });
        match setting {
            Some(rest) => out.push_str(rest.strip_prefix(' ').unwrap_or(rest)),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

fn is_bare_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Keys assigned in a TOML text, as dotted paths without array indices.
fn assigned_keys(text: &str) -> BTreeSet<String> {
    fn walk(prefix: &str, t: &toml::Table, out: &mut BTreeSet<String>) {
        for (k, v) in t {
            let p = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t) => walk(&p, t, out),
                toml::Value::Array(a) if a.first().is_some_and(|x| x.is_table()) => {
                    for x in a {
                        walk(&p, x.as_table().unwrap(), out);
                    }
                }
                _ => {
                    out.insert(p);
                }
            }
        }
    }
    let t: toml::Table = toml::from_str(text).expect("valid TOML");
    let mut out = BTreeSet::new();
    walk("", &t, &mut out);
    out
}

#[test]
fn packaged_file_as_shipped_is_the_embedded_default() {
    let text = read(PACKAGED);
    let l = load_str(&text, "packaging/bulwark.toml").expect("loads");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert_eq!(l.config, Config::default());
}

#[test]
fn packaged_file_uncommented_is_still_the_embedded_default() {
    let text = uncomment(&read(PACKAGED), false);
    let l = load_str(&text, "uncommented packaging/bulwark.toml")
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let mut c = l.config;
    // The example named group at the end of the file is the only thing that is not a default.
    assert_eq!(c.policy.groups.len(), 1, "one example group");
    assert_eq!(c.policy.groups[0].name, "trusted-site");
    c.policy.groups.clear();
    // Machine-dependent: the file shows /tmp, the default is the system's temporary directory.
    assert_eq!(c.server.temp_path, Path::new("/tmp"));
    c.server.temp_path = Config::default().server.temp_path;
    assert_eq!(c, Config::default());
}

#[test]
fn packaged_file_lists_every_key_and_only_known_ones() {
    let all = uncomment(&read(PACKAGED), true);
    // Deserialised without the semantic checks (the example paths need not exist here).
    let mut unknown = Vec::new();
    let de = toml::Deserializer::new(&all);
    let _: Config = serde_ignored::deserialize(de, |p| unknown.push(p.to_string()))
        .unwrap_or_else(|e| panic!("{e}\n{all}"));
    assert!(unknown.is_empty(), "unknown keys: {unknown:?}");
    let tables = walk();
    let assigned = assigned_keys(&all);
    let schema = all_keys(&tables);
    // Named-group keys are documented once, under [policy.default].
    let expected: BTreeSet<String> = schema.iter().filter(|k| !is_group(k)).cloned().collect();
    let assigned_plain: BTreeSet<String> =
        assigned.iter().filter(|k| !is_group(k)).cloned().collect();
    let missing: Vec<_> = expected.difference(&assigned_plain).collect();
    assert!(
        missing.is_empty(),
        "keys missing from the file: {missing:?}"
    );
    for k in &assigned {
        assert!(schema.contains(k), "`{k}` is not in the schema");
        if is_group(k) {
            assert!(schema.contains(&as_default_group(k)));
        }
    }
}

/// Dotted key paths quoted in a Markdown text (`` `server.listen` ``, `` `[log]` ``) whose first
/// segment is a top-level table.
fn mentioned_keys(text: &str, tables: &[Table]) -> BTreeSet<String> {
    let roots: BTreeSet<&str> = tables
        .iter()
        .map(|t| t.path.split('.').next().unwrap())
        .collect();
    let mut out = BTreeSet::new();
    for (i, span) in text.split('`').enumerate() {
        if i % 2 == 0 {
            continue;
        }
        let s = span.trim_start_matches('[').trim_end_matches(']');
        let Some((root, _)) = s.split_once('.') else {
            continue;
        };
        if roots.contains(root)
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
        {
            out.insert(s.to_string());
        }
    }
    out
}

fn known_paths(tables: &[Table]) -> BTreeSet<String> {
    let mut known = all_keys(tables);
    known.extend(tables.iter().map(|t| t.path.clone()));
    known
}

#[test]
fn reference_documents_every_key_and_only_known_ones() {
    let text = read(MD);
    let tables = walk();
    for k in all_keys(&tables) {
        assert!(
            text.contains(&format!("`{k}`")),
            "`{k}` is not documented in docs/configuration.md"
        );
    }
    let known = known_paths(&tables);
    for k in mentioned_keys(&text, &tables) {
        assert!(
            known.contains(&k),
            "docs/configuration.md mentions unknown `{k}`"
        );
    }
}

/// The operations guide is written by hand; every key it names must exist.
#[test]
fn operations_guide_names_only_known_keys() {
    let text = read(OPERATIONS);
    let tables = walk();
    let known = known_paths(&tables);
    let unknown: Vec<_> = mentioned_keys(&text, &tables)
        .into_iter()
        .filter(|k| !known.contains(k))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/operations.md names keys the schema lacks: {unknown:?}"
    );
}
