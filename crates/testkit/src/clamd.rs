//! Launches clamd with its own configuration and a small signature database in a temporary
//! directory (the benchmark peer behind c-icap's virus_scan service).

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::proc::ChildGuard;
use crate::{eicar, find_program, tail_of_file, Error};

/// Which signatures clamd loads.
#[derive(Debug, Clone, Default)]
pub enum ClamdDb {
    /// One `.ndb` signature matching the EICAR test string (the same thing Bulwark's built-in
    /// database detects): `Bulwark.Test.EICAR`.
    #[default]
    Eicar,
    /// The EICAR signature plus these database files, referenced by path (a `.gz` file is
    /// decompressed into the temporary directory with `gzip -dc`; others are symlinked).
    EicarPlus(Vec<PathBuf>),
}

/// A running clamd, listening on a Unix socket in its temporary directory; killed on drop.
#[derive(Debug)]
pub struct Clamd {
    child: ChildGuard,
    dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Clamd {
    /// Starts clamd and waits (bounded: 120 s, loading big databases takes time) until it
    /// answers `PING` with `PONG`.
    pub fn start(db: ClamdDb) -> Result<Self, Error> {
        Self::start_with_conf(db, "")
    }

    /// Like [`Clamd::start`], with extra `clamd.conf` lines (e.g. `DisableCache yes` for
    /// benchmarks that send the same object again and again).
    pub fn start_with_conf(db: ClamdDb, extra: &str) -> Result<Self, Error> {
        let clamd = find_program("clamd", "clamav-daemon")?;
        let dir = crate::temp_dir("clamd-e2e-")?;
        let dbdir = dir.path().join("db");
        std::fs::create_dir(&dbdir)
            .map_err(|e| Error::io(format!("creating {}", dbdir.display()), e))?;
        write_database(&dbdir, &db)?;
        let socket = dir.path().join("clamd.sock");
        let conf = dir.path().join("clamd.conf");
        let d = dir.path().display();
        let text = format!(
            "Foreground yes\nLocalSocket {}\nDatabaseDirectory {}\nLogFile {d}/clamd.log\n\
             PidFile {d}/clamd.pid\nTemporaryDirectory {d}\nUser root\nMaxThreads 16\n\
             SelfCheck 0\nMaxConnectionQueueLength 200\n{extra}",
            socket.display(),
            dbdir.display()
        );
        crate::write_file(&conf, text)?;
        let output = dir.path().join("stdout.log");
        let (out, err) = crate::output_file(&output)?;
        let mut cmd = Command::new(clamd);
        cmd.arg("-c").arg(&conf);
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let mut child = ChildGuard::spawn(cmd, "clamd", Duration::from_secs(3))?;
        let timeout = Duration::from_secs(120);
        let deadline = Instant::now() + timeout;
        let not_ready = |e: Error| Error::NotReady {
            component: "clamd".into(),
            source: Box::new(e),
            logs: format!("--- clamd output ---\n{}", tail_of_file(&output, 6000)),
        };
        loop {
            if let Err(e) = child.check_running() {
                return Err(not_ready(e));
            }
            let last = match ping(&socket) {
                Ok(()) => break,
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(not_ready(Error::Timeout {
                    what: "clamd to answer PING".into(),
                    after: timeout,
                    last: last.to_string(),
                }));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self { child, dir, socket })
    }

    /// The clamd Unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The temporary directory (config, database, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Writes the EICAR signature in `dbdir`, and decompresses or links the files of `db` there.
fn write_database(dbdir: &Path, db: &ClamdDb) -> Result<(), Error> {
    let sig: String = eicar().iter().map(|b| format!("{b:02x}")).collect();
    crate::write_file(
        &dbdir.join("bulwark-test.ndb"),
        format!("Bulwark.Test.EICAR:0:*:{sig}\n"),
    )?;
    if let ClamdDb::EicarPlus(files) = db {
        for f in files {
            let name = f
                .file_name()
                .ok_or_else(|| Error::Options(format!("{} has no file name", f.display())))?
                .to_string_lossy()
                .into_owned();
            if let Some(plain) = name.strip_suffix(".gz") {
                let target = dbdir.join(plain);
                let out = File::create(&target)
                    .map_err(|e| Error::io(format!("creating {}", target.display()), e))?;
                let st = Command::new("gzip")
                    .arg("-dc")
                    .arg(f)
                    .stdout(out)
                    .status()
                    .map_err(|e| Error::io(format!("cannot run gzip -dc {}", f.display()), e))?;
                if !st.success() {
                    return Err(Error::Command {
                        command: format!("gzip -dc {}", f.display()),
                        status: st,
                        output: String::new(),
                    });
                }
            } else {
                let link = dbdir.join(&name);
                std::os::unix::fs::symlink(f, &link).map_err(|e| {
                    Error::io(format!("linking {} to {}", link.display(), f.display()), e)
                })?;
            }
        }
    }
    Ok(())
}

/// Sends `zPING\0` to clamd and expects `PONG`.
pub fn ping(socket: &Path) -> Result<(), Error> {
    let context = || format!("PING to clamd at {}", socket.display());
    let mut s = UnixStream::connect(socket).map_err(|e| Error::io(context(), e))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| Error::io(context(), e))?;
    s.write_all(b"zPING\0")
        .map_err(|e| Error::io(context(), e))?;
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).map_err(|e| Error::io(context(), e))?;
    if buf[..n].starts_with(b"PONG") {
        Ok(())
    } else {
        Err(Error::Protocol(format!(
            "unexpected PING answer {:?} from clamd at {}",
            String::from_utf8_lossy(&buf[..n]),
            socket.display()
        )))
    }
}
