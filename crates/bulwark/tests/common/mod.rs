//! Shared setup for the end-to-end tests: an origin, a real `bulwark serve`, and a real Squid
//! wired to it for RESPMOD and REQMOD.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use bulwark_testkit::bulwark::Bulwark;
use bulwark_testkit::client::{HttpResponse, ProxyClient};
use bulwark_testkit::origin::Origin;
use bulwark_testkit::squid::Squid;

/// The `bulwark` binary cargo built for these tests.
pub fn bulwark_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_bulwark"))
}

/// What `bulwark squid snippet --address <addr>` prints (checked to name the RESPMOD service
/// at `addr`).
pub fn squid_snippet(addr: std::net::SocketAddr) -> String {
    let text = bulwark_testkit::squid::bulwark_snippet(bulwark_bin(), addr, None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        text.contains(&format!("icap://{addr}/av/respmod")),
        "unexpected snippet:\n{text}"
    );
    text
}

/// Runs the `bulwark` binary with `args` in `dir`: its exit code (-1 when killed by a signal)
/// and what it printed (stdout, then stderr).
pub fn run_bulwark(args: &[&str], dir: &Path) -> (i32, String) {
    let out = Command::new(bulwark_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run bulwark");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Lower-case hex of `b`, as `.ndb` body signatures write bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `bulwark db build SRC --out OUT --key KEY --db-version VERSION` (run in `dir`): publishes the
/// signature files of `src` as a signed update source; panics with its output when it fails.
pub fn db_build(dir: &Path, src: &Path, out: &Path, key: &Path, version: u64) {
    let [src, out, key] = [src, out, key].map(|p| p.display().to_string());
    let version = version.to_string();
    let (code, text) = run_bulwark(
        &[
            "db",
            "build",
            &src,
            "--out",
            &out,
            "--key",
            &key,
            "--db-version",
            &version,
        ],
        dir,
    );
    assert_eq!(
        code, 0,
        "bulwark db build {src} --db-version {version}: {text}"
    );
}

/// Serves the files of the update source `dir` at `http://<origin>/files/<name>`, as a static web
/// server would: every regular, non-hidden file, the index last (so that an instance never
/// gets an index whose files are missing). Returns the source URL.
pub fn serve_dir(origin: &Origin, dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read the source directory")
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(names.len() < 100, "too many files in {}", dir.display());
    names.sort_by_key(|n| (n == "bulwark-db.index", n.clone()));
    for n in names {
        let bytes = std::fs::read(dir.join(&n)).expect("read a source file");
        origin.put_file(&n, bytes);
    }
    origin.url("/files")
}

/// Origin + Bulwark + Squid. Dropped in reverse order of fields: Squid first.
pub struct Stack {
    pub squid: Squid,
    pub bulwark: Bulwark,
    pub origin: Origin,
    pub client: ProxyClient,
}

impl Stack {
    /// Starts everything with Bulwark's embedded defaults (Bulwark first: Squid checks its
    /// ICAP service at startup).
    pub fn start() -> Stack {
        Self::start_with_config(None)
    }

    /// Starts everything, Bulwark with `config` (TOML) when given.
    pub fn start_with_config(config: Option<&str>) -> Stack {
        let text = config.map(str::to_string);
        Self::start_with(move |_| text)
    }

    /// Starts the origin first, then Bulwark with the configuration `make` writes for it (the
    /// origin's address may appear in URL rules), then Squid.
    pub fn start_with(make: impl FnOnce(&Origin) -> Option<String>) -> Stack {
        let origin = Origin::start().expect("origin server");
        let text = make(&origin);
        let config = text.as_deref();
        let bulwark = Bulwark::start_with_config(bulwark_bin(), config)
            .unwrap_or_else(|e| panic!("starting bulwark: {e}"));
        let squid = Squid::start(bulwark.port()).unwrap_or_else(|e| panic!("starting squid: {e}"));
        let client = ProxyClient::new(squid.addr());
        Stack {
            squid,
            bulwark,
            origin,
            client,
        }
    }

    /// GET `path` from the origin through Squid.
    pub fn get(&self, path: &str) -> HttpResponse {
        self.client
            .get(&self.origin.url(path))
            .unwrap_or_else(|e| panic!("GET {path} through squid: {e}\n{}", self.diagnostics()))
    }

    /// POST `body` to `path` on the origin through Squid.
    pub fn post(&self, path: &str, body: &[u8]) -> HttpResponse {
        self.client
            .post(&self.origin.url(path), "application/octet-stream", body)
            .unwrap_or_else(|e| panic!("POST {path} through squid: {e}\n{}", self.diagnostics()))
    }

    /// Logs of Squid and Bulwark, for failure messages.
    pub fn diagnostics(&self) -> String {
        let log = self.bulwark.log();
        let start = log.len().saturating_sub(6000);
        format!(
            "{}\n--- bulwark log ---\n{}",
            self.squid.logs(),
            log.get(start..).unwrap_or(&log)
        )
    }
}

/// Describes a response briefly (status, framing, length, head of the body) for assertions.
pub fn describe(r: &HttpResponse) -> String {
    let text = r.body_text();
    let head: String = text.chars().take(300).collect();
    format!(
        "status {} {}, complete {}, error {:?}, {} body bytes, content-type {:?}; body starts {:?}",
        r.status,
        r.reason,
        r.complete,
        r.error,
        r.body.len(),
        r.header("content-type"),
        head
    )
}

/// True if `hay` contains `needle`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
