//! Engine benchmarks (not a test): database load, heap/RSS, matcher-only and end-to-end scan
//! throughput. Run through `bench/engine.sh`, which also runs clamscan on the same data.
//!
//! ```text
//! engine_bench load    [--cache DIR] SIGS...            load time, heap peak, peak RSS
//! engine_bench scan    [--cache DIR] SIGS... -- DIR     single-thread scan of every file in DIR
//! engine_bench small   [--cache DIR] SIGS... -- FILE    per-object cost of one small file, by part
//! engine_bench matcher N MIB                            N random 8-32-byte atoms, MIB of random data
//! engine_bench gen-sigs N FILE.ndb                      N random 8-32-byte body signatures
//! engine_bench gen-corpus DIR MIB                       mixed clean corpus
//! ```
//!
//! A counting global allocator reports the heap peak next to the kernel's peak RSS (VmHWM).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bulwark_engine::{Database, LoadOptions, ScanOptions, Scanner, Status};

struct Counting;
static CUR: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged;
// the counters are only statistics.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let n = CUR.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(n, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        CUR.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            let n = CUR.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
            PEAK.fetch_max(n, Ordering::Relaxed);
        } else {
            CUR.fetch_sub(l.size() - new, Ordering::Relaxed);
        }
        // SAFETY: forwarded as is.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn mib(n: usize) -> f64 {
    n as f64 / (1 << 20) as f64
}

fn proc_status(key: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len()..].trim().to_string())
        .unwrap_or_default()
}

/// CPU time of this thread so far (ns on the CPU, from the scheduler): throughput per CPU
/// second is what "per core" means on a machine shared with other builds.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// xorshift64*: deterministic, fast.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

fn random_sigs(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut r = Rng(seed);
    (0..n)
        .map(|_| {
            let len = 8 + r.below(25) as usize;
            let mut v = vec![0u8; len];
            r.fill(&mut v);
            v
        })
        .collect()
}

fn load(cache: Option<PathBuf>, sigs: &[PathBuf]) -> (Database, f64) {
    let opts = LoadOptions {
        cache_dir: cache,
        ..LoadOptions::default()
    };
    let t = Instant::now();
    let (db, r) = match Database::load(sigs, &opts) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
    };
    let secs = t.elapsed().as_secs_f64();
    println!("structures: {}", db.debug_stats());
    let loaded: u64 = r.files.iter().map(|f| f.loaded).sum();
    println!(
        "load: {secs:.3} s (compile {:.3} s, cache: {}), {loaded} signatures, {} atoms, matcher {:.1} MiB",
        r.compile_time.as_secs_f64(),
        r.cache.as_ref().map_or("off".to_string(), ToString::to_string),
        r.atoms,
        mib(r.matcher_bytes)
    );
    (db, secs)
}

fn report_mem(what: &str) {
    println!(
        "{what}: heap now {:.1} MiB, heap peak {:.1} MiB, RSS {}, peak RSS {}, loadavg {}",
        mib(CUR.load(Ordering::Relaxed)),
        mib(PEAK.load(Ordering::Relaxed)),
        proc_status("VmRSS:"),
        proc_status("VmHWM:"),
        loadavg()
    );
}

fn split_args(args: &[String]) -> (Option<PathBuf>, Vec<PathBuf>, Vec<PathBuf>) {
    let mut cache = None;
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut after = false;
    let mut it = args.iter();
    while let Some(x) = it.next() {
        if x == "--cache" {
            cache = it.next().map(PathBuf::from);
        } else if x == "--" {
            after = true;
        } else if after {
            b.push(PathBuf::from(x));
        } else {
            a.push(PathBuf::from(x));
        }
    }
    (cache, a, b)
}

fn files_in(d: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(d) {
        let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        v.sort();
        for p in v {
            if p.is_dir() {
                files_in(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

fn cmd_scan(args: &[String]) {
    let (cache, sigs, dirs) = split_args(args);
    let (db, _) = load(cache, &sigs);
    report_mem("after load");
    let db = Arc::new(db);
    let mut files = Vec::new();
    for d in &dirs {
        files_in(d, &mut files);
    }
    let opts = ScanOptions::default();
    // BENCH_DIGEST=1: also compute the verdict-cache key of every object (blake3) and keep the
    // verdicts in a VerdictCache, to measure what the key costs.
    let digest = std::env::var_os("BENCH_DIGEST").is_some_and(|v| v == "1");
    let vcache = bulwark_engine::VerdictCache::new(100_000);
    let mut buf = vec![0u8; 64 << 10];
    let (mut bytes, mut infected, mut read_s) = (0u64, 0u64, 0f64);
    let t = Instant::now();
    let c0 = cpu_ns();
    for f in &files {
        let Ok(mut fh) = std::fs::File::open(f) else {
            continue;
        };
        let size = fh.metadata().map(|m| m.len()).unwrap_or(0);
        let mut s = if digest {
            Scanner::new_with_digest(Arc::clone(&db), &opts)
        } else {
            Scanner::new(Arc::clone(&db), &opts)
        };
        s.set_size_hint(size);
        loop {
            let tr = Instant::now();
            let n = fh.read(&mut buf).unwrap_or(0);
            read_s += tr.elapsed().as_secs_f64();
            if n == 0 {
                break;
            }
            s.feed(&buf[..n]);
            bytes += n as u64;
        }
        let key = s.verdict_key();
        let v = s.finish();
        if let Some(k) = key {
            vcache.insert(k, v.clone());
        }
        if v.status == Status::Infected {
            infected += 1;
            println!("{}: {:?}", f.display(), v.threats);
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let cpu = (cpu_ns() - c0) as f64 / 1e9;
    println!(
        "scan: {} files, {:.1} MiB, {infected} infected, {secs:.3} s wall ({:.3} s reading) = {:.0} MB/s; {cpu:.3} s CPU (reads included) = {:.0} MB/s per core; loadavg {}",
        files.len(),
        mib(bytes as usize),
        read_s,
        bytes as f64 / 1e6 / secs,
        bytes as f64 / 1e6 / cpu,
        loadavg()
    );
    if digest {
        println!("verdict cache: {} entries", vcache.len());
    }
    report_mem("after scan");
}

/// Mean wall time of `f` over `n` runs, in microseconds.
fn per_op(n: u32, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

/// The per-object cost of one small file, by part: the whole scan, an empty object, the HTML
/// normaliser, one view scanned as HTML and as text, and the same bytes scanned as binary data.
fn cmd_small(args: &[String]) {
    let (cache, sigs, files) = split_args(args);
    let (db, _) = load(cache, &sigs);
    let db = Arc::new(db);
    let Some(data) = files.first().and_then(|f| std::fs::read(f).ok()) else {
        eprintln!("usage: engine_bench small [--cache DIR] SIGS... -- FILE");
        std::process::exit(2);
    };
    let n: u32 = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let opts = ScanOptions::default();
    let scan = |d: &[u8], as_type: Option<bulwark_engine::cltype::ClType>| {
        let mut s = match as_type {
            Some(t) => Scanner::new_as(Arc::clone(&db), &opts, t),
            None => Scanner::new(Arc::clone(&db), &opts),
        };
        s.set_size_hint(d.len() as u64);
        s.feed(d);
        std::hint::black_box(s.finish());
    };
    use bulwark_engine::cltype::ClType;
    let views = bulwark_engine::normalise::html(&data);
    let mut noise = data.clone();
    let mut x = 0x9e37_79b9u32;
    for b in &mut noise {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    println!(
        "object {} bytes; views: nocomment {}, notags {}, javascript {} bytes; {n} runs each",
        data.len(),
        views.nocomment.len(),
        views.notags.len(),
        views.javascript.len()
    );
    // BENCH_ONLY=WORDS: only the rows whose label contains WORDS (e.g. to profile one).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let run = |label: &str, f: &mut dyn FnMut()| {
        if label.contains(only.as_str()) {
            println!("{:>9.1} µs  {label}", per_op(n, f));
        }
    };
    type Row<'a> = (&'static str, Box<dyn FnMut() + 'a>);
    let rows: Vec<Row<'_>> = vec![
        (
            "whole scan (as the server scans it)",
            Box::new(|| scan(&data, None)),
        ),
        ("empty object", Box::new(|| scan(b"", None))),
        (
            "16 bytes of text",
            Box::new(|| scan(b"just a few words", None)),
        ),
        (
            "HTML normaliser (three views)",
            Box::new(|| {
                std::hint::black_box(bulwark_engine::normalise::html(&data));
            }),
        ),
        // A view's scan without normalising it again: target 0 (and target 5's few
        // signatures) on its bytes, as target 0 and 3 (or 7) run on a view.
        (
            "nocomment view, target 0",
            Box::new(|| scan(&views.nocomment, Some(ClType::Graphics))),
        ),
        (
            "notags view, target 0",
            Box::new(|| scan(&views.notags, Some(ClType::Graphics))),
        ),
        (
            "javascript view, target 0",
            Box::new(|| scan(&views.javascript, Some(ClType::Graphics))),
        ),
        ("same size of random bytes", Box::new(|| scan(&noise, None))),
    ];
    for (label, mut f) in rows {
        run(label, &mut *f);
    }
}

fn cmd_matcher(args: &[String]) {
    let n: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let mb: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(256);
    let sigs = random_sigs(n, 0x5eed);
    // Raw atom matcher: every signature is one atom.
    let atoms: Vec<(Vec<u8>, bool)> = sigs.iter().map(|s| (s.clone(), false)).collect();
    let t = Instant::now();
    let adb = match bulwark_engine::matcher::AtomDb::compile(&atoms) {
        Ok(d) => Arc::new(d),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    println!(
        "matcher: {n} atoms compiled in {:.2} s, {:.1} MiB",
        t.elapsed().as_secs_f64(),
        mib(adb.size())
    );
    let mut data = vec![0u8; mb << 20];
    Rng(0xda7a).fill(&mut data);
    for round in 0..3 {
        let mut hits = Vec::new();
        let t = Instant::now();
        let c0 = cpu_ns();
        let Ok(mut s) = bulwark_engine::matcher::open(&adb) else {
            return;
        };
        for c in data.chunks(64 << 10) {
            if s.scan(c, &mut hits).is_err() {
                eprintln!("scan error");
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let cpu = (cpu_ns() - c0) as f64 / 1e9;
        println!(
            "matcher round {round}: {mb} MiB random in {secs:.3} s wall = {:.0} MB/s; {cpu:.3} s CPU = {:.0} MB/s per core; {} hits, loadavg {}",
            data.len() as f64 / 1e6 / secs,
            data.len() as f64 / 1e6 / cpu,
            hits.len(),
            loadavg()
        );
    }
    // Whole engine on the same data, with the signatures as an .ndb database.
    let dir = std::env::temp_dir().join(format!("engine-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let p = dir.join("synthetic.ndb");
    write_ndb(&sigs, &p);
    let (db, _) = load(None, &[p]);
    let _ = std::fs::remove_dir_all(&dir);
    let db = Arc::new(db);
    for round in 0..3 {
        let t = Instant::now();
        let c0 = cpu_ns();
        let mut bad = 0;
        for obj in data.chunks(4 << 20) {
            let mut s = Scanner::new(Arc::clone(&db), &ScanOptions::default());
            s.set_size_hint(obj.len() as u64);
            for c in obj.chunks(64 << 10) {
                s.feed(c);
            }
            if s.finish().status != Status::Clean {
                bad += 1;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let cpu = (cpu_ns() - c0) as f64 / 1e9;
        println!(
            "engine round {round}: {mb} MiB random (4 MiB objects) in {secs:.3} s wall = {:.0} MB/s; {cpu:.3} s CPU = {:.0} MB/s per core; {bad} not clean, loadavg {}",
            data.len() as f64 / 1e6 / secs,
            data.len() as f64 / 1e6 / cpu,
            loadavg()
        );
    }
}

fn write_ndb(sigs: &[Vec<u8>], p: &Path) {
    let mut out = String::with_capacity(sigs.len() * 60);
    for (i, s) in sigs.iter().enumerate() {
        out.push_str(&format!("Bench.Synthetic.Sig-{i}:0:*:"));
        for b in s {
            out.push_str(&format!("{b:02x}"));
        }
        out.push('\n');
    }
    if let Err(e) = std::fs::write(p, out) {
        eprintln!("{}: {e}", p.display());
        std::process::exit(2);
    }
}

fn cmd_gen_sigs(args: &[String]) {
    let n: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let Some(p) = args.get(1) else {
        eprintln!("gen-sigs N FILE");
        std::process::exit(2);
    };
    write_ndb(&random_sigs(n, 0x5eed), Path::new(p));
}

/// A mixed clean corpus: random binary, text, HTML/JS, and PE-like files (an MZ/PE header
/// followed by random code-like bytes); sizes log-uniform 1 KiB..4 MiB, one file in eight of a
/// round size (4 KiB, 64 KiB, 1 MiB).
fn cmd_gen_corpus(args: &[String]) {
    let Some(dir) = args.first() else {
        eprintln!("gen-corpus DIR MIB");
        std::process::exit(2);
    };
    let total_mib: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let _ = std::fs::create_dir_all(dir);
    let mut r = Rng(0xc0ffee);
    let words: Vec<String> = (0..2000)
        .map(|_| {
            let n = 2 + r.below(8) as usize;
            (0..n).map(|_| (b'a' + r.below(26) as u8) as char).collect()
        })
        .collect();
    let (mut total, mut i) = (0usize, 0usize);
    while total < total_mib << 20 {
        let size = if i % 8 == 7 {
            [4096usize, 65536, 1 << 20][r.below(3) as usize]
        } else {
            let l = 10.0 + 12.0 * (r.below(1 << 20) as f64 / (1 << 20) as f64);
            2f64.powf(l) as usize
        };
        let mut d: Vec<u8> = Vec::with_capacity(size + 64);
        match i % 4 {
            0 => {
                d.resize(size, 0);
                r.fill(&mut d);
            }
            3 => {
                d.resize(size, 0);
                r.fill(&mut d);
                d[..2].copy_from_slice(b"MZ");
                if size > 0x200 {
                    d[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
                    d[0x80..0x84].copy_from_slice(b"PE\0\0");
                }
            }
            k => {
                if k == 2 {
                    d.extend_from_slice(b"<html><head><script>var x = 1;</script></head><body><p>");
                }
                while d.len() < size {
                    d.extend_from_slice(words[r.below(2000) as usize].as_bytes());
                    d.push(if r.below(12) == 0 { b'\n' } else { b' ' });
                }
                if k == 2 {
                    d.truncate(size.saturating_sub(16));
                    d.extend_from_slice(b"</p></body></html>");
                }
                d.truncate(size);
            }
        }
        let p = Path::new(dir).join(format!("f{i:05}"));
        match std::fs::File::create(&p).and_then(|mut f| f.write_all(&d)) {
            Ok(()) => {}
            Err(e) => {
                eprintln!("{}: {e}", p.display());
                std::process::exit(2);
            }
        }
        total += d.len();
        i += 1;
    }
    println!("corpus: {i} files, {:.1} MiB in {dir}", mib(total));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or(&[]);
    match args.first().map(String::as_str) {
        Some("load") => {
            let (cache, sigs, _) = split_args(rest);
            let db = load(cache, &sigs);
            report_mem("after load");
            drop(db);
        }
        Some("scan") => cmd_scan(rest),
        Some("small") => cmd_small(rest),
        Some("matcher") => cmd_matcher(rest),
        Some("gen-sigs") => cmd_gen_sigs(rest),
        Some("gen-corpus") => cmd_gen_corpus(rest),
        _ => {
            eprintln!(
                "usage: engine_bench load|scan|matcher|gen-sigs|gen-corpus … (see the source)"
            );
            std::process::exit(2);
        }
    }
}
