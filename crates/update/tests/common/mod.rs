//! Shared test helpers: a small HTTP file server on loopback (with faults to inject),
//! signature files, keys and mirrors.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bulwark_config::UpdateConfig;
use bulwark_update::publish::{self, BuildOptions};
use bulwark_update::UpdateRequest;

/// A fault to apply to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Send the full Content-Length but only half the body, then close.
    Truncate,
    /// Answer 500.
    Error,
    /// Answer this once with the named file of the same directory instead (a mirror caught
    /// between two versions), then serve the file itself.
    OnceFrom(&'static str),
}

/// An HTTP/1.1 server for one directory, one thread per connection.
pub struct FileServer {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<String>>>,
    pub faults: Arc<Mutex<HashMap<String, Fault>>>,
    stop: Arc<AtomicBool>,
}

impl FileServer {
    pub fn start(root: &Path) -> FileServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let faults: Arc<Mutex<HashMap<String, Fault>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (root, rq, fl, st) = (
            root.to_path_buf(),
            requests.clone(),
            faults.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (root, rq, fl) = (root.clone(), rq.clone(), fl.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &root, &rq, &fl);
                });
            }
        });
        FileServer {
            addr,
            requests,
            faults,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn fault(&self, name: &str, f: Fault) {
        self.faults.lock().unwrap().insert(name.to_string(), f);
    }

    /// Paths requested so far (then forgets them).
    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(
    conn: TcpStream,
    root: &Path,
    requests: &Mutex<Vec<String>>,
    faults: &Mutex<HashMap<String, Fault>>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split(' ').nth(1).unwrap_or("/").to_string();
        let mut range = None;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 || h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("range: bytes=0-") {
                range = v.trim().parse::<usize>().ok();
            }
        }
        let name = path.trim_start_matches('/').to_string();
        requests.lock().unwrap().push(name.clone());
        let fault = faults.lock().unwrap().get(&name).copied();
        if fault == Some(Fault::Error) {
            w.write_all(b"HTTP/1.1 500 Oops\r\ncontent-length: 0\r\n\r\n")?;
            continue;
        }
        let served = match fault {
            Some(Fault::OnceFrom(other)) => {
                faults.lock().unwrap().remove(&name);
                other.to_string()
            }
            _ => name.clone(),
        };
        let file = root.join(&served);
        let data = if served.contains("..") || served.contains('/') {
            None
        } else {
            std::fs::read(&file).ok()
        };
        let Some(mut data) = data else {
            w.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")?;
            continue;
        };
        let mut status = "200 OK";
        if let Some(last) = range {
            data.truncate(last + 1);
            status = "206 Partial Content";
        }
        write!(
            w,
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\ncontent-type: application/octet-stream\r\n\r\n",
            data.len()
        )?;
        if fault == Some(Fault::Truncate) {
            w.write_all(&data[..data.len() / 2])?;
            return Ok(());
        }
        w.write_all(&data)?;
    }
}

/// A port nothing listens on.
pub fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// Writes a small database: an `.ndb` signature for `marker` and an `.hdb` hash signature.
pub fn write_sigs(dir: &Path, marker: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let hex: String = marker.bytes().map(|b| format!("{b:02x}")).collect();
    std::fs::write(
        dir.join("test.ndb"),
        format!("Bulwark.Test.{marker}:0:*:{hex}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("test.hdb"),
        "44d88612fea8a8f36de82e1278abb02f:68:Bulwark.Test.Hash\n",
    )
    .unwrap();
}

/// A workspace: keys, a source directory and a mirror.
pub struct Setup {
    pub tmp: tempfile::TempDir,
    pub key: PathBuf,
    pub src: PathBuf,
    pub mirror: PathBuf,
    pub db: PathBuf,
}

impl Setup {
    pub fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let key = tmp.path().join("signing");
        publish::keygen(&key).unwrap();
        let src = tmp.path().join("src");
        write_sigs(&src, "MARKER-ONE");
        let mirror = tmp.path().join("mirror");
        let db = tmp.path().join("var").join("db");
        Setup {
            tmp,
            key,
            src,
            mirror,
            db,
        }
    }

    pub fn public(&self) -> PathBuf {
        bulwark_sign::public_path(&self.key)
    }

    /// Builds the mirror from `src` as `version`.
    pub fn build(&self, version: u64) {
        publish::build(
            &self.src,
            &self.mirror,
            &self.key,
            &BuildOptions {
                version: Some(version),
                no_check: false,
            },
        )
        .unwrap();
    }

    /// A request for `sources` into `self.db`.
    pub fn request(&self, sources: &[String]) -> UpdateRequest {
        let cfg = UpdateConfig {
            sources: sources.to_vec(),
            database_dir: self.db.clone(),
            trusted_keys: vec![self.public()],
            timeout_secs: 5,
            retries: 1,
            ..UpdateConfig::default()
        };
        UpdateRequest::new(cfg)
    }

    /// The content of a file of the installed database.
    pub fn installed(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.db.join(name)).ok()
    }

    /// The installed index's version.
    pub fn version(&self) -> Option<u64> {
        bulwark_update::install::read_index(&self.db).map(|i| i.version)
    }
}

/// Reads everything from a reader (helper for tests that speak raw protocols).
pub fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}
