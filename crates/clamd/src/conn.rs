//! The thin async driver of one clamd connection: reads into the [`Parser`], carries out its
//! events (scans off the async workers), writes the replies. Outside an IDSESSION the
//! connection closes after one command, as clamd's does; a client that goes quiet is dropped
//! without a reply after the command or read timeout.

use std::collections::VecDeque;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulwark_config::ClamdConfig;
use bulwark_server::Context;
use tracing::{debug, info, warn};

use crate::hooks::Hooks;
use crate::paths::{check, scan_path, Checked, PathScan};
use crate::proto::{Command, Event, Parser, Request, COMMAND_NAMES};
use crate::scan::{record, scan_reader, Feeder, Outcome, Settings};
use crate::sock::Sock;

/// Bytes read per socket read: the most the parser ever holds besides one command line.
const READ: usize = 64 * 1024;

/// What the connection does after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Keep reading.
    Read,
    /// Close the connection.
    Close,
    /// Close after an error while the client may still be sending: read and drop what comes
    /// for a moment, so that the reply is not lost to a TCP reset.
    Drain,
}

/// How long, and how much, is read and dropped after an error reply.
const DRAIN_TIME: Duration = Duration::from_secs(2);
const DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// The INSTREAM in progress.
struct Stream {
    req: Request,
    feeder: Feeder,
    started: Instant,
}

/// One connection's state.
pub(crate) struct Conn {
    sock: Sock,
    ctx: Arc<Context>,
    hooks: Hooks,
    cfg: ClamdConfig,
    settings: Settings,
    parser: Parser,
    fds: VecDeque<OwnedFd>,
    stream: Option<Stream>,
    /// The FILDES waiting for its byte.
    fildes: Option<Request>,
}

impl Conn {
    /// A connection on the snapshot in force now.
    /// A connection accepted on `listener` (the `listen` entry) from `client` (TCP peers).
    pub(crate) fn new(
        sock: Sock,
        ctx: Arc<Context>,
        hooks: Hooks,
        listener: &str,
        client: Option<String>,
    ) -> Self {
        let snap = ctx.snapshot.load_full();
        let cfg = snap.config.clamd.clone();
        let mut settings = Settings::new(&snap, &cfg, Some(listener));
        settings.client = client;
        Self {
            sock,
            parser: Parser::new(cfg.stream_max_length),
            ctx,
            hooks,
            cfg,
            settings,
            fds: VecDeque::new(),
            stream: None,
            fildes: None,
        }
    }

    /// Serves the connection to its end.
    pub(crate) async fn run(mut self) {
        let mut buf = vec![0u8; READ];
        let mut first = true;
        loop {
            while let Some(ev) = self.parser.next_event() {
                match self.event(ev).await {
                    Ok(Next::Read) => {}
                    Ok(Next::Close) => return self.sock.shutdown().await,
                    Ok(Next::Drain) => {
                        self.sock.shutdown().await;
                        return self.drain(&mut buf).await;
                    }
                    Err(e) => {
                        debug!("clamd: connection ended: {e}");
                        return;
                    }
                }
            }
            let secs = if first {
                self.cfg.command_read_timeout_secs
            } else {
                self.cfg.read_timeout_secs
            };
            first = false;
            let read = self.sock.read(&mut buf, &mut self.fds);
            match tokio::time::timeout(Duration::from_secs(secs.max(1)), read).await {
                Err(_) => {
                    info!(
                        in_stream = self.parser.in_stream(),
                        "clamd: client silent for {secs} s, disconnected"
                    );
                    return;
                }
                Ok(Ok(0)) => return,
                Ok(Ok(n)) => self.parser.push(&buf[..n]),
                Ok(Err(e)) => {
                    debug!("clamd: read failed: {e}");
                    return;
                }
            }
        }
    }

    /// Reads and drops input until EOF, [`DRAIN_TIME`] or [`DRAIN_BYTES`].
    async fn drain(&mut self, buf: &mut [u8]) {
        let deadline = tokio::time::Instant::now() + DRAIN_TIME;
        let mut total = 0;
        while total < DRAIN_BYTES {
            let read = self.sock.read(buf, &mut self.fds);
            match tokio::time::timeout_at(deadline, read).await {
                Ok(Ok(n)) if n > 0 => total += n,
                _ => return,
            }
            self.fds.clear();
        }
    }

    async fn send(&mut self, req: &Request, text: &str) -> std::io::Result<()> {
        self.sock.write_all(&req.reply(text)).await
    }

    /// After a command's last reply: keep reading inside a session, else close.
    fn done(&self) -> Next {
        if self.parser.in_session() {
            Next::Read
        } else {
            Next::Close
        }
    }

    async fn event(&mut self, ev: Event) -> std::io::Result<Next> {
        match ev {
            Event::Request(r) => self.request(r).await,
            Event::Data(b) => {
                if let Some(s) = self.stream.as_mut() {
                    s.feeder.feed(&b);
                }
                Ok(Next::Read)
            }
            Event::StreamEnd => {
                let Some(s) = self.stream.take() else {
                    return Ok(Next::Close);
                };
                let scanned = s.feeder.finish_async().await;
                let lines = match scanned {
                    Ok(x) => {
                        record(
                            &self.ctx,
                            &self.settings,
                            "stream",
                            x.size,
                            &x.verdict.verdict,
                            s.started,
                        );
                        Outcome::of(&x.verdict, &x.head, &self.settings.alerts)
                            .lines("stream", false)
                    }
                    Err(e) => {
                        warn!("clamd: scan task failed: {e}");
                        vec!["stream: Scan failed. ERROR".into()]
                    }
                };
                for l in lines {
                    self.send(&s.req, &l).await?;
                }
                Ok(self.done())
            }
            Event::StreamTooLarge => {
                let req = match self.stream.take() {
                    Some(s) => s.req,
                    None => return Ok(Next::Close),
                };
                warn!(
                    max = self.cfg.stream_max_length,
                    "clamd: INSTREAM size limit reached"
                );
                self.send(&req, "INSTREAM size limit exceeded. ERROR")
                    .await?;
                Ok(Next::Drain)
            }
            Event::FdByte => {
                let Some(req) = self.fildes.take() else {
                    return Ok(Next::Close);
                };
                let Some(fd) = self.fds.pop_front() else {
                    self.send(&req, "No file descriptor received. ERROR")
                        .await?;
                    return Ok(Next::Close);
                };
                let lines = self.scan_fd(fd).await;
                for l in lines {
                    self.send(&req, &l).await?;
                }
                Ok(self.done())
            }
            Event::Garbage => {
                let req = Request {
                    command: Command::Unknown,
                    term: b'\n',
                    id: None,
                };
                self.send(&req, "Error processing command. ERROR").await?;
                Ok(Next::Drain)
            }
        }
    }

    async fn scan_fd(&mut self, fd: OwnedFd) -> Vec<String> {
        let name = format!("fd[{}]", fd.as_raw_fd());
        let file = File::from(fd);
        match file.metadata() {
            Ok(m) if m.is_file() => {}
            _ => return vec![format!("{name}: Not a regular file. ERROR")],
        }
        let settings = self.settings.clone();
        let started = Instant::now();
        // From the file's start whatever its offset (c-icap passes the body file it just
        // wrote), without moving the offset the sender shares: positioned reads, as clamd's.
        let reader = AtStart { file, pos: 0 };
        let res = tokio::task::spawn_blocking(move || scan_reader(&settings, reader, false)).await;
        match res {
            Ok(Ok(x)) => {
                record(
                    &self.ctx,
                    &self.settings,
                    &name,
                    x.size,
                    &x.verdict.verdict,
                    started,
                );
                Outcome::of(&x.verdict, &x.head, &self.settings.alerts).lines(&name, false)
            }
            Ok(Err(e)) => vec![format!("{name}: {e}. ERROR")],
            Err(e) => {
                warn!("clamd: scan task failed: {e}");
                vec![format!("{name}: Scan failed. ERROR")]
            }
        }
    }

    async fn request(&mut self, r: Request) -> std::io::Result<Next> {
        self.ctx.stats.request("clamd");
        debug!(command = ?r.command, id = ?r.id, "clamd: command");
        if self.parser.in_session() && r.id.is_some() && !allowed_in_session(&r.command) {
            self.send(&r, "Command invalid inside IDSESSION. ERROR")
                .await?;
            self.parser.end_session();
            return Ok(Next::Close);
        }
        match &r.command {
            Command::Ping => self.send(&r, "PONG").await?,
            Command::Version => self.send(&r, &self.version()).await?,
            Command::VersionCommands => {
                let text = format!("{}| COMMANDS: {COMMAND_NAMES}", self.version());
                self.send(&r, &text).await?
            }
            Command::Reload => {
                self.send(&r, "RELOADING").await?;
                if let Some(reload) = self.hooks.reload.clone() {
                    tokio::spawn(async move {
                        match reload().await {
                            Ok(m) => info!("clamd RELOAD: {m}"),
                            Err(e) => warn!("clamd RELOAD failed: {e}"),
                        }
                    });
                }
                return Ok(Next::Close);
            }
            Command::Shutdown => {
                match (&self.hooks.shutdown, self.cfg.allow_shutdown) {
                    (Some(stop), true) => {
                        info!("clamd SHUTDOWN: stopping the server");
                        stop();
                    }
                    _ => warn!("clamd SHUTDOWN refused (clamd.allow_shutdown is off)"),
                }
                return Ok(Next::Close);
            }
            Command::Scan(p) | Command::ContScan(p) | Command::MultiScan(p) => {
                let kind = match r.command {
                    Command::Scan(_) => PathScan::Scan,
                    Command::MultiScan(_) => PathScan::Multi,
                    _ => PathScan::Cont,
                };
                let p = p.clone();
                self.path_scan(&r, &p, kind).await?;
            }
            Command::AllMatchScan(p) => {
                let p = p.clone();
                self.path_scan(&r, &p, PathScan::AllMatch).await?;
            }
            Command::InStream => {
                self.stream = Some(Stream {
                    req: r.clone(),
                    feeder: Feeder::new(&self.settings, false),
                    started: Instant::now(),
                });
                return Ok(Next::Read);
            }
            Command::Fildes => {
                self.fildes = Some(r.clone());
                return Ok(Next::Read);
            }
            Command::Stats => {
                let text = self.stats();
                self.send(&r, &text).await?
            }
            Command::IdSession => return Ok(Next::Read),
            Command::End => {
                if r.id.is_none() {
                    self.send(&r, "UNKNOWN COMMAND").await?;
                }
                return Ok(Next::Close);
            }
            Command::Obsolete("STREAM") | Command::Unknown => {
                self.send(&r, "UNKNOWN COMMAND").await?;
                return Ok(Next::Close);
            }
            Command::Obsolete(_) => return Ok(Next::Close),
        }
        Ok(self.done())
    }

    async fn path_scan(&mut self, r: &Request, arg: &[u8], kind: PathScan) -> std::io::Result<()> {
        let shown = String::from_utf8_lossy(arg).into_owned();
        let lines = match check(arg, &self.cfg.scan_roots) {
            Checked::Refused(text) => {
                warn!(path = %shown, "clamd: path scan refused: {text}");
                vec![text]
            }
            Checked::Allowed(path) => {
                let (ctx, settings) = (self.ctx.clone(), self.settings.clone());
                let shown = path.display().to_string();
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                tokio::task::spawn_blocking(move || {
                    scan_path(&ctx, &settings, &shown, &path, kind, threads)
                })
                .await
                .unwrap_or_else(|e| vec![format!("Scan failed: {e}. ERROR")])
            }
        };
        for l in lines {
            self.send(r, &l).await?;
        }
        Ok(())
    }

    /// `ClamAV VERSION/DATABASE`, as clamd's VERSION (Bulwark's own version and database).
    fn version(&self) -> String {
        let snap = self.ctx.snapshot.load();
        format!(
            "ClamAV {}-bulwark/{}",
            env!("CARGO_PKG_VERSION"),
            snap.database.version()
        )
    }

    /// STATS in clamd's layout, from the server's counters, ending with `END`.
    fn stats(&self) -> String {
        let s = &self.ctx.stats;
        format!(
            "POOLS: 1\n\nSTATE: VALID PRIMARY\nTHREADS: live {}  idle 0 max {} idle-timeout {}\n\
             QUEUE: 0 items\n\tSTATS 0.000000 \n\nMEMSTATS: heap N/A mmap N/A used N/A free N/A \
             releasable N/A pools 1 pools_used N/A pools_total N/A\nEND",
            s.open_connections().max(1),
            self.cfg.max_connections,
            self.cfg.read_timeout_secs
        )
    }
}

/// Reads a file from its start with positioned reads (`pread`), leaving its offset alone.
struct AtStart {
    file: File,
    pos: u64,
}

impl std::io::Read for AtStart {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = std::os::unix::fs::FileExt::read_at(&self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// clamd's list of commands accepted inside an IDSESSION.
fn allowed_in_session(c: &Command) -> bool {
    matches!(
        c,
        Command::Fildes
            | Command::Scan(_)
            | Command::End
            | Command::InStream
            | Command::Version
            | Command::Ping
            | Command::Stats
            | Command::VersionCommands
    )
}
