//! A ClamAV-layout source: `main.cvd`, `daily.cvd` and `bytecode.cvd`, each fetched only when
//! its header (read with a range request) shows a newer version than the installed (or
//! mirrored) `.cvd`/`.cld`, then checked (MD5 and digital signature) before the test load.

use std::path::{Path, PathBuf};

use crate::cvd::{parse_header, verify_cvd, CvdError, CvdHeader, HEADER_LEN};
use crate::error::{FetchError, UpdateError};
use crate::fetch::Location;
use crate::install::Installation;
use crate::mirror;
use crate::source::{Source, Step, UpdateEnv};
use crate::verify::test_load;

/// The databases of a ClamAV mirror; `bytecode` may be absent.
pub const DATABASES: [&str; 3] = ["main", "daily", "bytecode"];

/// The header of the installed `NAME.cvd` or `NAME.cld` in `dir` (the newer one).
pub fn local_header(dir: &Path, name: &str) -> Option<(PathBuf, CvdHeader)> {
    ["cvd", "cld"]
        .iter()
        .filter_map(|ext| {
            let p = dir.join(format!("{name}.{ext}"));
            let mut head = vec![0u8; HEADER_LEN];
            let mut f = std::fs::File::open(&p).ok()?;
            std::io::Read::read_exact(&mut f, &mut head).ok()?;
            parse_header(&head).ok().map(|h| (p, h))
        })
        .max_by_key(|(_, h)| h.version)
}

/// What a ClamAV mirror has that is newer: `(name, remote header)` to download, and notes.
type Newer = (Vec<(String, CvdHeader)>, Vec<String>);

/// A source with ClamAV's layout (`clamav:` in the configuration).
#[derive(Debug, Clone)]
pub(crate) struct ClamAvSource {
    location: Location,
}

impl ClamAvSource {
    /// The source at `location`.
    pub(crate) fn new(location: Location) -> Self {
        ClamAvSource { location }
    }
}

/// The databases on `loc` newer than those in `local_dir` (all of them without one).
fn newer_on(
    env: &UpdateEnv,
    loc: &Location,
    local_dir: Option<&Path>,
) -> Result<Newer, UpdateError> {
    let mut fetch = Vec::new();
    let mut notes = Vec::new();
    let mut older = None;
    for name in DATABASES {
        let file = format!("{name}.cvd");
        let head = match env.fetcher.head(loc, &file, HEADER_LEN as u64) {
            Ok(h) => h,
            Err(FetchError::NotFound(_)) if name == "bytecode" => continue,
            Err(e) => return Err(e.into()),
        };
        let remote = parse_header(&head).map_err(|reason| UpdateError::Cvd {
            name: file.clone(),
            reason,
        })?;
        let local = local_dir
            .and_then(|d| local_header(d, name))
            .map(|(_, h)| h.version);
        match local {
            Some(l) if remote.version < l => {
                notes.push(format!(
                    "{file}: the mirror has {}, older than {l}",
                    remote.version
                ));
                older = Some((remote.version, l));
            }
            Some(l) if remote.version == l => {}
            _ => fetch.push((name.to_string(), remote)),
        }
    }
    if fetch.is_empty() {
        if let Some((offered, installed)) = older {
            return Err(UpdateError::Older {
                offered: offered.to_string(),
                installed: installed.to_string(),
            });
        }
    }
    Ok((fetch, notes))
}

/// Downloads `NAME.cvd` to `dest` and verifies it (signature, and the version announced).
fn fetch_cvd(
    env: &UpdateEnv,
    loc: &Location,
    name: &str,
    announced: &CvdHeader,
    dest: &Path,
) -> Result<u64, UpdateError> {
    let file = format!("{name}.cvd");
    let got = env.fetcher.to_file(loc, &file, dest, env.max_file)?;
    let data = std::fs::read(dest).map_err(|e| UpdateError::io(dest, e))?;
    let h = verify_cvd(&data, &env.cvd_key).map_err(|reason| UpdateError::Cvd {
        name: file.clone(),
        reason,
    })?;
    if h.version != announced.version {
        return Err(UpdateError::Cvd {
            name: file,
            reason: CvdError::VersionChanged {
                announced: announced.version,
                got: h.version,
            },
        });
    }
    if let Some(secs) = h.build_secs {
        let t = time::OffsetDateTime::from_unix_timestamp(secs as i64)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        env.check_published(t)?;
    }
    Ok(got.size)
}

impl Source for ClamAvSource {
    fn name(&self) -> String {
        format!("clamav:{}", self.location.display())
    }

    fn needs_trusted_keys(&self) -> bool {
        false
    }

    fn install(&self, env: &UpdateEnv, inst: &Installation) -> Result<Step, UpdateError> {
        let loc = &self.location;
        let current = inst.current_dir();
        let (fetch, notes) = newer_on(env, loc, current.as_deref())?;
        for n in &notes {
            tracing::warn!("{n}");
        }
        let versions = |dir: &Path| -> String {
            DATABASES
                .iter()
                .map(|n| {
                    local_header(dir, n).map_or("-".to_string(), |(_, h)| h.version.to_string())
                })
                .collect::<Vec<_>>()
                .join(".")
        };
        let from = current.as_deref().map(versions);
        if fetch.is_empty() {
            return Ok(Step::Current {
                version: from.unwrap_or_default(),
            });
        }
        let staging = inst.staging()?;
        // Keep what is installed and not replaced.
        if let Some(dir) = &current {
            let replaced: Vec<&str> = fetch.iter().map(|(n, _)| n.as_str()).collect();
            let rd = std::fs::read_dir(dir).map_err(|e| UpdateError::io(dir, e))?;
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let stem = name.split('.').next().unwrap_or_default();
                let keep = e.file_type().map(|t| t.is_file()).unwrap_or(false)
                    && !name.starts_with('.')
                    && name != crate::index::INDEX_FILE
                    && !replaced.contains(&stem);
                if keep {
                    let dest = staging.path().join(&name);
                    std::fs::copy(e.path(), &dest).map_err(|err| UpdateError::io(&dest, err))?;
                }
            }
        }
        let mut bytes = 0;
        for (name, announced) in &fetch {
            let dest = staging.path().join(format!("{name}.cvd"));
            bytes += fetch_cvd(env, loc, name, announced, &dest)?;
        }
        let to = versions(staging.path());
        let loaded = test_load(staging.path())?;
        inst.install(staging, &format!("cvd-{to}"))?;
        Ok(Step::Installed {
            from,
            to,
            files: fetch.len(),
            bytes,
            signatures: loaded.signatures,
        })
    }

    fn mirror(&self, env: &UpdateEnv, dir: &Path) -> Result<Step, UpdateError> {
        let loc = &self.location;
        let (fetch, _) = newer_on(env, loc, Some(dir))?;
        if fetch.is_empty() {
            return Ok(Step::Current {
                version: String::new(),
            });
        }
        let mut bytes = 0;
        for (name, announced) in &fetch {
            let file = format!("{name}.cvd");
            bytes += mirror::put(dir, &file, |tmp| fetch_cvd(env, loc, name, announced, tmp))?;
        }
        let to = fetch
            .iter()
            .map(|(n, h)| format!("{n}.cvd {}", h.version))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Step::Installed {
            from: None,
            to,
            files: fetch.len(),
            bytes,
            signatures: 0,
        })
    }
}
