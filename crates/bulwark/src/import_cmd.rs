//! `bulwark config import FILE`: converts a kav4proxy 5.5 `kav4proxy.conf` to Bulwark's TOML.
//! The TOML goes to stdout, the keys that were not converted to stderr (`FILE: line N: key:
//! why`). The result is checked like `bulwark config check` would.

use std::path::Path;

use anyhow::Context;

/// Runs the import; the exit status is 0 when the converted configuration is valid, 1 when the
/// file could not be parsed or the conversion does not load.
pub fn run(path: &Path) -> anyhow::Result<i32> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    // Old kav4proxy.conf files may carry Latin-1 comments; they do not matter for the keys.
    let text = String::from_utf8_lossy(&bytes);
    let origin = path.display();
    let imported = match bulwark_policy::import::kav4proxy(&text) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{origin}: {e}");
            return Ok(1);
        }
    };
    print!("{}", imported.toml);
    for n in &imported.notes {
        eprintln!("{origin}: {n}");
    }
    if !imported.notes.is_empty() {
        eprintln!(
            "{origin}: {} key(s) not converted or to review (listed above)",
            imported.notes.len()
        );
    }
    match bulwark_config::load_str_with(
        &imported.toml,
        "converted configuration",
        bulwark_config::Strictness::Strict,
        &bulwark_server::Snapshot::check,
    ) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("converted configuration: warning: {w}");
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(1)
        }
    }
}
