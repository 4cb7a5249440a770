//! Starts Bulwark's clamd listener in process (on a temporary Unix socket and a loopback TCP
//! port) over the same signatures as a real clamd from the testkit, and a sample directory.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bulwark_config::Config;
use bulwark_server::{Context, LogFile, Snapshot};

/// A running listener; stopped with its runtime on drop.
pub struct Bulwark {
    pub socket: PathBuf,
    pub tcp: SocketAddr,
    /// The `av.stats` file the listener writes.
    pub av_stats: PathBuf,
    pub ctx: Arc<Context>,
    stop: tokio::sync::watch::Sender<bool>,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Bulwark {
    /// Starts on the signature directory `db`, with `edit` applied to the configuration.
    pub fn start(db: &Path, roots: &[&Path], edit: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("clamd.sock");
        let mut cfg = Config::default();
        cfg.engine.database = vec![db.to_path_buf()];
        cfg.clamd.listen = vec![socket.display().to_string(), "127.0.0.1:0".into()];
        cfg.clamd.scan_roots = roots.iter().map(|p| p.to_path_buf()).collect();
        cfg.server.temp_path = dir.path().to_path_buf();
        edit(&mut cfg);
        let database = bulwark_server::control::load_database(&cfg.engine).expect("database");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let snapshot = Snapshot::new(Arc::new(cfg.clone()), Arc::new(database)).expect("snap");
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let av_stats = dir.path().join("av.stats");
        let (ctx, tcp) = rt.block_on(async {
            let ctx = Context::new(
                snapshot,
                LogFile::open(Some(&av_stats), true).expect("log"),
                None,
                bulwark_notify::Notifier::disabled(),
            );
            let l = bulwark_clamd::bind(&cfg.clamd).await.expect("bind");
            let tcp = l.tcp_addrs()[0];
            tokio::spawn(bulwark_clamd::serve(
                l,
                ctx.clone(),
                bulwark_clamd::Hooks::default(),
                stop_rx,
            ));
            (ctx, tcp)
        });
        Self {
            socket,
            tcp,
            av_stats,
            ctx,
            stop,
            _rt: rt,
            _dir: dir,
        }
    }
}

impl Drop for Bulwark {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A zip archive holding `members` (stored with deflate).
pub fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(*name, opts).expect("zip member");
        w.write_all(data).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

/// A zip bomb: one member of `mib` MiB of zeros (a few hundred KiB compressed).
pub fn bomb(mib: usize) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    w.start_file("zeros.bin", opts).expect("zip member");
    let block = vec![0u8; 1024 * 1024];
    for _ in 0..mib {
        w.write_all(&block).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

/// The sample directory: clean, infected, archived, bomb, empty files.
pub fn samples(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    std::fs::write(dir.join("clean.txt"), b"nothing to see here\n").expect("write");
    std::fs::write(dir.join("eicar.com"), bulwark_testkit::eicar()).expect("write");
    std::fs::write(
        dir.join("sub/archive.zip"),
        zip(&[
            ("readme.txt", b"hello"),
            ("eicar.com", &bulwark_testkit::eicar()),
        ]),
    )
    .expect("write");
    std::fs::write(
        dir.join("clean.zip"),
        zip(&[("a.txt", b"a"), ("b.txt", b"b")]),
    )
    .expect("write");
    std::fs::write(dir.join("bomb.zip"), bomb(120)).expect("write");
    std::fs::write(dir.join("empty.txt"), b"").expect("write");
}

/// Sends `input` on the Unix socket, half-closes, and reads the whole reply (bounded).
pub fn talk_unix(socket: &Path, input: &[u8]) -> Vec<u8> {
    let mut s = std::os::unix::net::UnixStream::connect(socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(input).expect("write");
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// The same over TCP.
pub fn talk_tcp(addr: SocketAddr, input: &[u8]) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(input).expect("write");
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// An INSTREAM of `data` in chunks of `chunk` bytes, ended by the zero length.
pub fn instream(prefix: &[u8], data: &[u8], chunk: usize) -> Vec<u8> {
    let mut v = prefix.to_vec();
    for c in data.chunks(chunk) {
        v.extend_from_slice(&(c.len() as u32).to_be_bytes());
        v.extend_from_slice(c);
    }
    v.extend_from_slice(&0u32.to_be_bytes());
    v
}
