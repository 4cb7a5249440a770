//! `icap-load harness`: starts the benchmark stack with the e2e harness's launchers and keeps it
//! running until SIGTERM/SIGINT or the time limit, so a shell script can drive the load runs.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bulwark_testkit::bulwark::Bulwark;
use bulwark_testkit::cicap::{CIcap, CIcapOptions};
use bulwark_testkit::clamd::{Clamd, ClamdDb};
use bulwark_testkit::origin::Origin;
use bulwark_testkit::squid::{bulwark_snippet, Squid, SquidOptions};
use clap::Args;

/// Arguments of `icap-load harness`.
#[derive(Debug, Args)]
pub struct HarnessArgs {
    /// The `bulwark` binary (a release build for benchmarks).
    #[arg(long)]
    pub bulwark: PathBuf,
    /// Optional Bulwark configuration file (TOML).
    #[arg(long)]
    pub bulwark_config: Option<PathBuf>,
    /// Extra signature files for clamd (e.g. ../shared/clamav-sigs/daily.ndb.gz); by default
    /// clamd gets only the EICAR signature, like Bulwark's built-in database.
    #[arg(long)]
    pub clamd_db: Vec<PathBuf>,
    /// Turn clamd's cache of clean objects off (`DisableCache yes`): a benchmark that sends
    /// the same object again and again must make it scan every time.
    #[arg(long)]
    pub clamd_no_cache: bool,
    /// Also start a second Bulwark on its built-in database (the EICAR test signature only),
    /// printed as `bulwark_eicar=ADDR`: the reference for the real database's per-object cost.
    #[arg(long)]
    pub bulwark_eicar: bool,
    /// Serve this file at `/files/object` on the origin (for the runs through Squid).
    #[arg(long)]
    pub object: Option<PathBuf>,
    /// Stop by itself after this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub max_seconds: u64,
    /// An extra squid.conf line for both ICAP Squids (Bulwark's and the echo's), after the
    /// `bulwark squid snippet` lines: to measure a setting of Squid's ICAP client.
    #[arg(long = "squid-line")]
    pub squid_lines: Vec<String>,
}

/// Starts everything, prints one `HARNESS key=value ...` line, waits for a signal or the limit.
pub async fn run(a: HarnessArgs) -> anyhow::Result<()> {
    let config = match &a.bulwark_config {
        Some(p) => Some(std::fs::read_to_string(p).with_context(|| p.display().to_string())?),
        None => None,
    };
    let object = match &a.object {
        Some(p) => Some(std::fs::read(p).with_context(|| p.display().to_string())?),
        None => None,
    };
    let started = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let origin = Origin::start().context("origin")?;
        if let Some(body) = object {
            origin.put_file("object", body);
        }
        let bulwark = Bulwark::start_with_config(&a.bulwark, config.as_deref())
            .context("starting bulwark")?;
        let bulwark_eicar = if a.bulwark_eicar {
            Some(
                Bulwark::start_with_config(&a.bulwark, None)
                    .context("starting bulwark (built-in EICAR)")?,
            )
        } else {
            None
        };
        let db = if a.clamd_db.is_empty() {
            ClamdDb::Eicar
        } else {
            ClamdDb::EicarPlus(a.clamd_db.clone())
        };
        let conf = if a.clamd_no_cache {
            "DisableCache yes\n"
        } else {
            ""
        };
        let clamd = Clamd::start_with_conf(db, conf).context("starting clamd")?;
        let cicap = CIcap::start(CIcapOptions {
            clamd_socket: Some(clamd.socket().to_path_buf()),
            ..CIcapOptions::default()
        })
        .context("starting c-icap")?;
        let squid_plain =
            Squid::start_with(SquidOptions::default()).context("starting squid without ICAP")?;
        // Both ICAP Squids as the field runs them: configured by `bulwark squid snippet`.
        let snippet = |port: u16, paths| {
            bulwark_snippet(&a.bulwark, ([127, 0, 0, 1], port).into(), paths)
                .context("running bulwark squid snippet")
        };
        let squid_bulwark = Squid::start_with(SquidOptions {
            icap_snippet: Some(snippet(bulwark.port(), None)?),
            extra: a.squid_lines.clone(),
            ..SquidOptions::default()
        })
        .context("starting squid with Bulwark")?;
        let squid_echo = Squid::start_with(SquidOptions {
            // c-icap's one echo service answers both; the query only makes the two URIs
            // differ, as the snippet requires.
            icap_snippet: Some(snippet(cicap.port(), Some(("/echo", "/echo?reqmod")))?),
            extra: a.squid_lines.clone(),
            ..SquidOptions::default()
        })
        .context("starting squid with c-icap's echo")?;
        Ok((
            origin,
            bulwark,
            bulwark_eicar,
            clamd,
            cicap,
            squid_plain,
            squid_bulwark,
            squid_echo,
        ))
    })
    .await
    .context("harness start task")??;
    let (origin, bulwark, bulwark_eicar, clamd, cicap, squid_plain, squid_bulwark, squid_echo) =
        started;
    println!(
        "HARNESS origin={} bulwark={} bulwark_pid={} bulwark_eicar={} bulwark_eicar_pid={} cicap={} cicap_pid={} clamd_pid={} squid_plain={} squid_plain_pid={} squid_bulwark={} squid_bulwark_pid={} squid_echo={} squid_echo_pid={}",
        origin.addr(),
        bulwark.addr(),
        bulwark.pid(),
        bulwark_eicar
            .as_ref()
            .map_or_else(|| "-".to_string(), |b| b.addr().to_string()),
        bulwark_eicar
            .as_ref()
            .map_or_else(|| "-".to_string(), |b| b.pid().to_string()),
        cicap.addr(),
        cicap.pid(),
        clamd.pid(),
        squid_plain.addr(),
        squid_plain.pid(),
        squid_bulwark.addr(),
        squid_bulwark.pid(),
        squid_echo.addr(),
        squid_echo.pid(),
    );
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = tokio::time::sleep(Duration::from_secs(a.max_seconds)) => {
            eprintln!("harness: time limit reached, stopping");
        }
    }
    // Stop in dependency order, off the async threads (the drops wait for the processes).
    tokio::task::spawn_blocking(move || {
        drop(squid_echo);
        drop(squid_bulwark);
        drop(squid_plain);
        drop(cicap);
        drop(clamd);
        drop(bulwark_eicar);
        drop(bulwark);
        drop(origin);
    })
    .await
    .context("harness stop task")?;
    Ok(())
}
