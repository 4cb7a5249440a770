//! `icap-load`: a small load generator for Bulwark's benchmarks.
//!
//! * `icap-load respmod`: N concurrent persistent ICAP connections sending RESPMOD of one object
//!   for a fixed duration, with or without preview, and reporting req/s, MB/s, latency
//!   percentiles and errors;
//! * `icap-load http`: the same through an HTTP proxy (absolute-URI GETs, keep-alive), to compare
//!   Squid alone with Squid + an ICAP server;
//! * `icap-load idle`: opens many idle ICAP connections and reports the server's RSS growth per
//!   connection, read from `/proc/<pid>/status`;
//! * `icap-load harness`: starts the benchmark stack (origin, Bulwark, clamd, c-icap, Squid) with
//!   the e2e harness's launchers and keeps it up until SIGTERM.
//!
//! It writes raw ICAP/HTTP itself and only ever connects to loopback addresses. Every loop is
//! bounded by the run's duration and every read by a timeout. The last line of every run is a
//! machine-readable `RESULT key=value ...` line.

mod harness;
mod icap;
mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use crate::stats::{Summary, WorkerStats};

/// Load generator for ICAP servers and HTTP proxies (loopback only).
#[derive(Debug, Parser)]
#[command(name = "icap-load", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// RESPMOD load against an ICAP service.
    Respmod(RespmodArgs),
    /// GET load through an HTTP proxy.
    Http(HttpArgs),
    /// Idle connections: RSS growth of the server process per connection.
    Idle(IdleArgs),
    /// Start the benchmark stack (origin, Bulwark, clamd, c-icap, Squid alone, Squid+Bulwark)
    /// and keep it up until SIGTERM; prints a `HARNESS` line with the addresses.
    Harness(harness::HarnessArgs),
}

/// Options common to the load modes.
#[derive(Debug, Args)]
struct LoadArgs {
    /// Concurrent connections.
    #[arg(short = 'c', long, default_value_t = 16)]
    concurrency: usize,
    /// Duration of the run, in seconds.
    #[arg(short = 'd', long, default_value_t = 10.0)]
    duration: f64,
    /// Per-request timeout, in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// A label printed in the RESULT line.
    #[arg(long, default_value = "")]
    label: String,
    /// A server process whose CPU time (with its child processes') the run reports per
    /// completed request (`server_cpu_us=`); repeat for several (c-icap and clamd).
    #[arg(long = "pid")]
    pids: Vec<u32>,
}

#[derive(Debug, Args)]
struct RespmodArgs {
    /// ICAP server address (loopback).
    #[arg(short, long, default_value = "127.0.0.1:1344")]
    addr: SocketAddr,
    /// Service path, e.g. `av/respmod`, `echo`, `virus_scan`.
    #[arg(short, long, default_value = "av/respmod")]
    service: String,
    /// Object size in bytes (generated deterministic content), unless --file is given.
    #[arg(long, default_value_t = 15 * 1024)]
    size: usize,
    /// Send this file as the object.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Send a preview of this many bytes (0: no preview).
    #[arg(long, default_value_t = 0)]
    preview: usize,
    /// Send `Allow: 204` (the server may answer 204 outside preview).
    #[arg(long)]
    allow_204: bool,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Debug, Args)]
struct HttpArgs {
    /// The proxy (loopback).
    #[arg(short, long)]
    proxy: SocketAddr,
    /// Absolute URL to GET through the proxy (loopback origin).
    #[arg(short, long)]
    url: String,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Debug, Args)]
struct IdleArgs {
    /// ICAP server address (loopback).
    #[arg(short, long, default_value = "127.0.0.1:1344")]
    addr: SocketAddr,
    /// Service for the OPTIONS request sent on each connection.
    #[arg(short, long, default_value = "av/respmod")]
    service: String,
    /// The server's process id (RSS is read from `/proc/<pid>/status`).
    #[arg(long)]
    pid: u32,
    /// Connections to open.
    #[arg(short = 'n', long, default_value_t = 1000)]
    connections: usize,
    /// Seconds to let the server settle before measuring.
    #[arg(long, default_value_t = 1.0)]
    settle: f64,
    /// Send nothing on the connections (pure TCP idle) instead of one OPTIONS each.
    #[arg(long)]
    silent: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        match cli.command {
            Mode::Respmod(a) => respmod(a).await,
            Mode::Http(a) => http(a).await,
            Mode::Idle(a) => idle(a).await,
            Mode::Harness(a) => harness::run(a).await,
        }
    })
}

/// Refuses any non-loopback address.
fn ensure_loopback(addr: SocketAddr) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        bail!("{addr} is not a loopback address: icap-load only talks to this machine");
    }
    Ok(())
}

/// Deterministic printable filler (no EICAR by construction).
fn filler(n: usize) -> Vec<u8> {
    const A: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..n)
        .map(|i| A[(i.wrapping_mul(2_654_435_761) ^ (i >> 7)) % A.len()])
        .collect()
}

async fn respmod(a: RespmodArgs) -> anyhow::Result<()> {
    ensure_loopback(a.addr)?;
    if a.load.concurrency == 0 || a.load.concurrency > 10_000 {
        bail!("--concurrency must be 1..=10000");
    }
    let body = match &a.file {
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        None => filler(a.size),
    };
    let size = body.len();
    let plan = Arc::new(icap::RespmodPlan::new(
        a.addr,
        &a.service,
        &body,
        a.preview,
        a.allow_204,
    ));
    let timeout = Duration::from_secs_f64(a.load.timeout);
    let target = format!("icap://{}/{}", a.addr, a.service.trim_start_matches('/'));
    let summary = run_workers(&a.load, move |deadline| {
        let plan = Arc::clone(&plan);
        async move { icap::respmod_worker(plan, deadline, timeout).await }
    })
    .await;
    let extra = format!("preview={} allow204={} size={size}", a.preview, a.allow_204);
    summary.print(
        "respmod",
        &target,
        (a.load.concurrency, &a.load.label),
        size,
        &extra,
    );
    Ok(())
}

async fn http(a: HttpArgs) -> anyhow::Result<()> {
    ensure_loopback(a.proxy)?;
    let host = a
        .url
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .context("--url must be http://IP:PORT/...")?
        .to_string();
    let origin: SocketAddr = host
        .parse()
        .context("--url host must be a loopback IP:PORT")?;
    ensure_loopback(origin)?;
    let request = Arc::new(
        format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: icap-load\r\nAccept: */*\r\n\r\n",
            a.url
        )
        .into_bytes(),
    );
    let timeout = Duration::from_secs_f64(a.load.timeout);
    let proxy = a.proxy;
    let summary = run_workers(&a.load, move |deadline| {
        let request = Arc::clone(&request);
        async move { icap::http_worker(proxy, request, deadline, timeout).await }
    })
    .await;
    let size = summary.mean_body();
    summary.print(
        "http",
        &a.url,
        (a.load.concurrency, &a.load.label),
        size,
        &format!("proxy={}", a.proxy),
    );
    Ok(())
}

/// Runs `concurrency` workers until the deadline and merges their statistics.
async fn run_workers<F, Fut>(load: &LoadArgs, make: F) -> Summary
where
    F: Fn(Instant) -> Fut,
    Fut: std::future::Future<Output = WorkerStats> + Send + 'static,
{
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(load.duration.clamp(0.1, 3600.0));
    let cpu_before = measure_cpu(&load.pids);
    let mut handles = Vec::with_capacity(load.concurrency);
    for _ in 0..load.concurrency {
        handles.push(tokio::spawn(make(deadline)));
    }
    let mut all = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(s) => all.push(s),
            Err(e) => {
                let mut s = WorkerStats::default();
                s.errors += 1;
                s.note_error(format!("worker panicked: {e}"));
                all.push(s);
            }
        }
    }
    let mut summary = Summary::merge(all, start.elapsed());
    summary.server_cpu = cpu_before
        .zip(measure_cpu(&load.pids))
        .map(|(a, b)| (b - a).max(0.0));
    summary
}

/// The CPU seconds of `pids` so far (`None` without pids or when one is gone: reported).
fn measure_cpu(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    match stats::cpu_seconds(pids) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("server CPU not measured: {e:#}");
            None
        }
    }
}

async fn idle(a: IdleArgs) -> anyhow::Result<()> {
    ensure_loopback(a.addr)?;
    if a.connections > 100_000 {
        bail!("--connections at most 100000");
    }
    let before = stats::rss_kib(a.pid)?;
    let mut conns = Vec::with_capacity(a.connections);
    let mut failed = 0usize;
    for _ in 0..a.connections {
        match icap::open_idle(a.addr, &a.service, a.silent).await {
            Ok(c) => conns.push(c),
            Err(_) => failed += 1,
        }
    }
    tokio::time::sleep(Duration::from_secs_f64(a.settle.clamp(0.0, 60.0))).await;
    let after = stats::rss_kib(a.pid)?;
    let open = conns.len();
    let per = if open > 0 {
        (after as f64 - before as f64) / open as f64
    } else {
        0.0
    };
    println!(
        "idle: {open} connections open ({failed} failed); server RSS {before} KiB -> {after} KiB; {per:.1} KiB per connection"
    );
    println!(
        "RESULT mode=idle target=icap://{}/{} connections={open} failed={failed} rss_before_kib={before} rss_after_kib={after} kib_per_conn={per:.1}",
        a.addr, a.service
    );
    drop(conns);
    Ok(())
}
