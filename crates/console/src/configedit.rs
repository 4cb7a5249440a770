//! The configuration view and editor: secrets masked on the way out, put back on the way in,
//! every edit checked before it is written (atomically, keeping a backup).

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Value};

/// What a masked secret shows as. Sending it back unchanged keeps the value in the file.
pub(crate) const MASK: &str = "********";

/// True for keys whose value is a secret.
fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    if k.ends_with("_file") || k.ends_with("_path") || k.ends_with("_secs") {
        return false;
    }
    k.contains("password")
        || k.contains("secret")
        || k.contains("token")
        || k == "webhook"
        || k.ends_with("_key_data")
}

/// True for a URL that carries credentials (`user:pass@host`).
fn url_with_credentials(v: &str) -> bool {
    let Some(rest) = v
        .strip_prefix("http://")
        .or_else(|| v.strip_prefix("https://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.contains('@')
}

fn mask_value(key: Option<&str>, v: &mut Value) {
    match v {
        Value::String(s) => {
            let secret = key.is_some_and(secret_key) || url_with_credentials(s.value());
            if secret && !s.value().is_empty() {
                let decor = s.decor().clone();
                let mut m = toml_edit::Formatted::new(MASK.to_string());
                *m.decor_mut() = decor;
                *s = m;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| mask_value(key, x)),
        Value::InlineTable(t) => t.iter_mut().for_each(|(k, x)| mask_value(Some(k.get()), x)),
        _ => {}
    }
}

fn mask_item(key: Option<&str>, item: &mut Item) {
    match item {
        Item::Value(v) => mask_value(key, v),
        Item::Table(t) => t.iter_mut().for_each(|(k, x)| mask_item(Some(k.get()), x)),
        Item::ArrayOfTables(a) => a.iter_mut().for_each(|t| {
            t.iter_mut().for_each(|(k, x)| mask_item(Some(k.get()), x));
        }),
        Item::None => {}
    }
}

/// The TOML text with every secret replaced by [`MASK`]; `None` when it does not parse.
pub(crate) fn mask_text(text: &str) -> Option<String> {
    let mut doc: DocumentMut = text.parse().ok()?;
    mask_item(None, doc.as_item_mut());
    Some(doc.to_string())
}

/// One step of a path into a TOML document.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn describe(path: &[Step]) -> String {
    let mut s = String::new();
    for p in path {
        match p {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn lookup_item<'a>(item: &'a Item, path: &[Step]) -> Option<&'a Value> {
    let Some((first, rest)) = path.split_first() else {
        return item.as_value();
    };
    match (item, first) {
        (Item::Table(t), Step::Key(k)) => lookup_item(t.get(k)?, rest),
        (Item::ArrayOfTables(a), Step::Index(i)) => {
            let t = a.get(*i)?;
            let (k, rest) = rest.split_first()?;
            let Step::Key(k) = k else { return None };
            lookup_item(t.get(k)?, rest)
        }
        (Item::Value(v), _) => lookup_value(v, path),
        _ => None,
    }
}

fn lookup_value<'a>(v: &'a Value, path: &[Step]) -> Option<&'a Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(v);
    };
    match (v, first) {
        (Value::Array(a), Step::Index(i)) => lookup_value(a.get(*i)?, rest),
        (Value::InlineTable(t), Step::Key(k)) => lookup_value(t.get(k)?, rest),
        _ => None,
    }
}

fn restore_value(
    v: &mut Value,
    path: &mut Vec<Step>,
    original: &DocumentMut,
    missing: &mut Vec<String>,
) {
    match v {
        Value::String(s) if s.value() == MASK => match lookup_item(original.as_item(), path) {
            Some(Value::String(o)) => {
                let decor = s.decor().clone();
                let mut m = toml_edit::Formatted::new(o.value().clone());
                *m.decor_mut() = decor;
                *s = m;
            }
            _ => missing.push(describe(path)),
        },
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                path.push(Step::Index(i));
                restore_value(x, path, original, missing);
                path.pop();
            }
        }
        Value::InlineTable(t) => {
            for (k, x) in t.iter_mut() {
                path.push(Step::Key(k.get().to_string()));
                restore_value(x, path, original, missing);
                path.pop();
            }
        }
        _ => {}
    }
}

fn restore_item(
    item: &mut Item,
    path: &mut Vec<Step>,
    original: &DocumentMut,
    missing: &mut Vec<String>,
) {
    match item {
        Item::Value(v) => restore_value(v, path, original, missing),
        Item::Table(t) => {
            for (k, x) in t.iter_mut() {
                path.push(Step::Key(k.get().to_string()));
                restore_item(x, path, original, missing);
                path.pop();
            }
        }
        Item::ArrayOfTables(a) => {
            for (i, t) in a.iter_mut().enumerate() {
                path.push(Step::Index(i));
                for (k, x) in t.iter_mut() {
                    path.push(Step::Key(k.get().to_string()));
                    restore_item(x, path, original, missing);
                    path.pop();
                }
                path.pop();
            }
        }
        Item::None => {}
    }
}

/// An edited copy still shows [`MASK`] where the current file has no value to put back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{keys} still show the mask `{mask}` but the current file has no value to keep: type the new \
     value",
    keys = .keys.join(", "),
    mask = MASK
)]
pub(crate) struct MaskWithoutValue {
    /// The dotted keys.
    pub keys: Vec<String>,
}

/// Puts back the secrets an edited copy still shows as [`MASK`], from the file's current
/// text. Returns the text to check and write. Text that does not parse is returned as it is
/// (the check reports why); a mask with nothing to put back is an error naming the key.
pub(crate) fn unmask(edited: &str, current: Option<&str>) -> Result<String, MaskWithoutValue> {
    if !edited.contains(MASK) {
        return Ok(edited.to_string());
    }
    let Ok(mut doc) = edited.parse::<DocumentMut>() else {
        return Ok(edited.to_string());
    };
    let original: DocumentMut = current.and_then(|c| c.parse().ok()).unwrap_or_default();
    let mut missing = Vec::new();
    restore_item(doc.as_item_mut(), &mut Vec::new(), &original, &mut missing);
    if missing.is_empty() {
        Ok(doc.to_string())
    } else {
        Err(MaskWithoutValue { keys: missing })
    }
}

/// Where the backup of `path` goes: `<path>.bak`.
pub(crate) fn backup_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".bak");
    PathBuf::from(s)
}

/// Why the console cannot write `path` (the file itself, and a temporary file and a backup
/// beside it), or `None` when it can. Nothing is changed on disk.
pub(crate) fn unwritable(path: &Path) -> Option<String> {
    if let Err(e) = std::fs::OpenOptions::new().append(true).open(path) {
        return Some(format!(
            "{} is not writable by the server ({e})",
            path.display()
        ));
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty())?;
    let probe = dir.join(format!(
        ".bulwark-console-probe-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    ));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(format!(
            "{} is not writable by the server ({e}): the console writes the new file and a \
             backup beside it",
            dir.display()
        )),
    }
}

/// Writes `data` to `path` through a temporary file in the same directory and a rename, with
/// the permissions of `like` (the configuration file: it may hold a password hash or a token);
/// a new file without `like` is made 0600.
pub(crate) fn write_atomic_like(path: &Path, data: &[u8], like: &Path) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(".console-tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        if let Ok(meta) = std::fs::metadata(like) {
            f.set_permissions(meta.permissions())?;
        }
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// [`write_atomic_like`] keeping `path`'s own permissions.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_atomic_like(path, data, path)
}

#[cfg(test)]
fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# main file
[console]
listen = ["127.0.0.1:9344"]
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$abc$def" # admin
token_file = "/etc/bulwark/token"

[notify]
webhook = "https://user:pw@hooks.example/x"

[metrics]
listen = []
"#;

    #[test]
    fn masks_secrets_and_keeps_the_rest() {
        let m = mask_text(FILE).expect("parses");
        assert!(!m.contains("argon2id"), "{m}");
        assert!(!m.contains("user:pw"), "{m}");
        assert!(m.contains("/etc/bulwark/token"), "{m}");
        assert!(m.contains("# main file") && m.contains("# admin"), "{m}");
        assert!(mask_text("not [toml").is_none());
        assert!(url_with_credentials("http://a:b@c/"));
        assert!(!url_with_credentials("http://c/a@b"));
    }

    #[test]
    fn unmask_puts_secrets_back() {
        let m = mask_text(FILE).expect("parses");
        let edited = m.replace("listen = []", "listen = [\"127.0.0.1:9090\"]");
        let back = unmask(&edited, Some(FILE)).expect("restored");
        assert!(
            back.contains("$argon2id$v=19$m=19456,t=2,p=1$abc$def"),
            "{back}"
        );
        assert!(back.contains("https://user:pw@hooks.example/x"));
        assert!(back.contains("127.0.0.1:9090"));
        let err = unmask(&format!("[console]\ntoken = \"{MASK}\"\n"), Some(FILE)).unwrap_err();
        assert_eq!(err.keys, ["console.token"]);
        let text = err.to_string();
        assert!(
            text.starts_with("console.token still show the mask `********`"),
            "{text}"
        );
    }

    #[test]
    fn atomic_write_and_backup_name() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("bulwark.toml");
        write_atomic(&p, b"a = 1\n").expect("write");
        write_atomic(&p, b"a = 2\n").expect("write");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "a = 2\n");
        assert_eq!(backup_path(&p), dir.path().join("bulwark.toml.bak"));
        // The backup gets the configuration's permissions, not the umask's.
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&p, "x = 1\n").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        write_atomic_like(&backup_path(&p), b"x = 1\n", &p).expect("backup");
        let mode = std::fs::metadata(backup_path(&p))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(unwritable(&p).is_none());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).expect("chmod");
        if nix_is_root() {
            // root writes anything: nothing more to check here.
        } else {
            assert!(unwritable(&p).is_some());
        }
    }
}
