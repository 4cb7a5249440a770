//! Tests of the InstallShield extractor (the clamav-testfiles samples when installed, built
//! containers, hostile inputs).

use super::*;
use crate::le::testfile;
use std::io::Write;

const BIG: usize = 64 << 20;

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn deflate_raw(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Checks that a result keeps within the limits it was given.
fn within(r: &Result<Vec<Extracted>, IShieldError>, max_out: usize, max_files: usize) {
    if let Ok(v) = r {
        assert!(v.len() <= max_files);
        assert!(v.iter().map(|e| e.data.len()).sum::<usize>() <= max_out);
    }
}

/// A format A stream holding `files`, after some unrelated bytes and a false tag.
fn make_stream(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut d = b"MZ junk InstallShield\0\0\0 more junk".to_vec();
    let tag = d.len();
    d.extend_from_slice(STREAM_TAG);
    d.extend_from_slice(&(files.len() as u16).to_le_bytes());
    d.resize(tag + STREAM_FIRST, 0);
    for (name, data) in files {
        let z = zlib(data);
        let key: Vec<u8> = name
            .bytes()
            .zip(NAME_KEY.iter().cycle())
            .map(|(n, k)| n ^ k)
            .collect();
        let mut entry = vec![0u8; ENTRY_DATA];
        entry[..name.len()].copy_from_slice(name.as_bytes());
        entry[0x104..0x108].copy_from_slice(&6u32.to_le_bytes());
        entry[ENTRY_CSIZE..ENTRY_CSIZE + 4].copy_from_slice(&(z.len() as u32).to_le_bytes());
        d.extend_from_slice(&entry);
        for (j, b) in z.iter().enumerate() {
            let s = !b ^ key[(j % 1024) % key.len()];
            d.push(s.rotate_left(4));
        }
    }
    d.extend_from_slice(b"trailer");
    d
}

fn overlay_record(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    out.extend_from_slice(format!("{name}\0Disk1\\{name}\x000.0.0.0\0{}\0", data.len()).as_bytes());
    out.extend_from_slice(data);
}

fn put32(d: &mut [u8], o: usize, v: u32) {
    d[o..o + 4].copy_from_slice(&v.to_le_bytes());
}

fn put64(d: &mut [u8], o: usize, v: usize) {
    d[o..o + 8].copy_from_slice(&(v as u64).to_le_bytes());
}

/// `data` as cabinet chunks: cut in `pieces`, each raw-deflated behind its `u16` length.
fn cab_chunks(data: &[u8], pieces: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in data.chunks(data.len().div_ceil(pieces).max(1)) {
        let z = deflate_raw(part);
        out.extend_from_slice(&(z.len() as u16).to_le_bytes());
        out.extend_from_slice(&z);
    }
    out
}

/// `data` as a cabinet stores it with the obfuscated flag.
fn obfuscate(data: &[u8]) -> Vec<u8> {
    data.iter()
        .enumerate()
        .map(|(seed, &x)| x.wrapping_add((seed % 0x47) as u8).rotate_left(2) ^ 0xd5)
        .collect()
}

/// One file of a synthetic cabinet: flags, name, directory index, expanded size, and which
/// stored blob holds its data.
struct Spec {
    flags: u16,
    name: &'static str,
    dir: u16,
    esize: usize,
    blob: usize,
}

/// A setup file: a minimal PE image, then an overlay with `readme.txt` and a v9 cabinet
/// (`data1.hdr`, `data1.cab`, `data2.cab`) whose one directory is `dir`. Each blob is stored
/// once in `data1.cab`, except the last, which is split: its first `split_at` bytes end
/// `data1.cab` and the rest start `data2.cab`.
fn make_cab_setup_with(blobs: &[Vec<u8>], files: &[Spec], split_at: usize) -> Vec<u8> {
    let n = files.len();
    let desc = 0x200;
    let base = 0x300;
    let strings = 0x10 + n * 0x57;
    let mut hdr = vec![0u8; base + strings + 0x20 * (n + 1)];
    hdr[0..4].copy_from_slice(CAB_SIG);
    put32(&mut hdr, 4, 0x0100_9000);
    put32(&mut hdr, 0xc, desc as u32);
    put32(&mut hdr, 0x10, 0x100);
    put32(&mut hdr, desc + 0xc, 0x100); // file table offset
    put32(&mut hdr, desc + 0x1c, 1); // directories
    put32(&mut hdr, desc + 0x28, n as u32); // files
    put32(&mut hdr, desc + 0x2c, 0x10); // descriptors
    put32(&mut hdr, base, strings as u32); // directory 0 name
    hdr[base + strings..base + strings + 4].copy_from_slice(b"dir\0");

    let mut cab1 = vec![0u8; 0x200];
    let mut cab2 = vec![0u8; 0x200];
    for cab in [&mut cab1, &mut cab2] {
        cab[0..4].copy_from_slice(CAB_SIG);
        put32(cab, 4, 0x0100_9000);
    }
    let last = blobs.len() - 1;
    let mut offsets = Vec::new();
    for (i, blob) in blobs.iter().enumerate() {
        offsets.push(cab1.len());
        if i == last {
            cab1.extend_from_slice(&blob[..split_at]);
            cab2.extend_from_slice(&blob[split_at..]);
        } else {
            cab1.extend_from_slice(blob);
        }
    }
    for (i, f) in files.iter().enumerate() {
        let p = base + 0x10 + i * 0x57;
        let name_at = strings + 0x20 * (i + 1);
        hdr[base + name_at..base + name_at + f.name.len()].copy_from_slice(f.name.as_bytes());
        let mut flags = f.flags;
        if f.blob == last {
            flags |= FILE_SPLIT;
            // Volume 1 ends with this file's first part; volume 2 starts with the rest.
            put32(&mut cab1, 0x14 + 12, i as u32);
            put64(&mut cab1, 0x14 + 40, offsets[last]);
            put64(&mut cab1, 0x14 + 56, split_at);
            put32(&mut cab2, 0x14 + 8, i as u32);
            put64(&mut cab2, 0x14 + 16, 0x200);
            put64(&mut cab2, 0x14 + 32, blobs[last].len() - split_at);
        }
        hdr[p..p + 2].copy_from_slice(&flags.to_le_bytes());
        put64(&mut hdr, p + 2, f.esize);
        put64(&mut hdr, p + 0xa, blobs[f.blob].len());
        put64(&mut hdr, p + 0x12, offsets[f.blob]);
        put32(&mut hdr, p + 0x3a, name_at as u32);
        hdr[p + 0x3e..p + 0x40].copy_from_slice(&f.dir.to_le_bytes());
        hdr[p + 0x55..p + 0x57].copy_from_slice(&1u16.to_le_bytes());
    }
    // A minimal PE image: one section whose raw data ends at 0x90, where the overlay starts.
    let mut setup = vec![0u8; 0x90];
    setup[0..2].copy_from_slice(b"MZ");
    setup[0x3c] = 0x40;
    setup[0x40..0x44].copy_from_slice(b"PE\0\0");
    setup[0x46] = 1; // one section, no optional header
    put32(&mut setup, 0x40 + 24 + 16, 0x10);
    put32(&mut setup, 0x40 + 24 + 20, 0x80);
    overlay_record(&mut setup, "readme.txt", b"hello");
    overlay_record(&mut setup, "data1.hdr", &hdr);
    overlay_record(&mut setup, "data1.cab", &cab1);
    overlay_record(&mut setup, "data2.cab", &cab2);
    setup
}

/// A setup file whose cabinet holds `dir\a.txt` (compressed in two chunks), `b.bin`
/// (stored, obfuscated) and `c.txt` (compressed, split across the two volumes).
fn make_cab_setup(a: &[u8], b: &[u8]) -> Vec<u8> {
    let c = b"split file, split file, split file!".repeat(40);
    let blobs = [cab_chunks(a, 2), obfuscate(b), cab_chunks(&c, 3)];
    let files = [
        Spec {
            flags: FILE_COMPRESSED,
            name: "a.txt",
            dir: 0,
            esize: a.len(),
            blob: 0,
        },
        Spec {
            flags: FILE_OBFUSCATED,
            name: "b.bin",
            dir: 5,
            esize: b.len(),
            blob: 1,
        },
        Spec {
            flags: FILE_COMPRESSED,
            name: "c.txt",
            dir: 0,
            esize: c.len(),
            blob: 2,
        },
    ];
    make_cab_setup_with(&blobs, &files, blobs[2].len() / 2)
}

#[test]
fn ismsi_ext_gives_clam_exe() {
    let (Some(exe), Some(clam)) = (testfile("clam_ISmsi_ext.exe"), testfile("clam.exe")) else {
        return;
    };
    let files = extract(&exe, BIG, 100).unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "clam.exe409.bmp",
            "0x0409.ini",
            "EvalMarker.dat",
            "clam.msi",
            "Setup.ini"
        ]
    );
    assert_eq!(files[0].data, clam);
    assert_eq!(files[3].data.len(), 724_992);
    assert!(files[3].data.starts_with(&[0xd0, 0xcf, 0x11, 0xe0]));
}

#[test]
fn ismsi_int_gives_clam_msi() {
    let Some(exe) = testfile("clam_ISmsi_int.exe") else {
        return;
    };
    let files = extract(&exe, BIG, 100).unwrap();
    assert_eq!(files.len(), 4);
    let msi = files.iter().find(|f| f.name == "clam.msi").unwrap();
    assert_eq!(msi.data.len(), 658_432);
    assert!(msi.data.starts_with(&[0xd0, 0xcf, 0x11, 0xe0]));
}

#[test]
fn iscab_int_gives_clam_exe() {
    let (Some(exe), Some(clam)) = (testfile("clam_IScab_int.exe"), testfile("clam.exe")) else {
        return;
    };
    let files = extract(&exe, BIG, 1000).unwrap();
    let hit = files.iter().find(|f| f.data == clam).unwrap();
    assert_eq!(hit.name, "clam.exe");
    let engine = files
        .iter()
        .find(|f| f.name == "Disk1/engine32.cab")
        .unwrap();
    assert!(engine.data.starts_with(b"MSCF"));
    assert_eq!(engine.data.len(), 543_481);
    assert_eq!(
        files
            .iter()
            .filter(|f| f.name.starts_with("Disk1/"))
            .count(),
        9
    );
    let isrt = files.iter().find(|f| f.name == "isrt.dll").unwrap();
    assert_eq!(isrt.data.len(), 425_984);
    assert!(isrt.data.starts_with(b"MZ"));
}

#[test]
fn iscab_ext_gives_clam_exe() {
    let (Some(exe), Some(clam)) = (testfile("clam_IScab_ext.exe"), testfile("clam.exe")) else {
        return;
    };
    let files = extract(&exe, BIG, 1000).unwrap();
    assert!(files
        .iter()
        .any(|f| f.name == "Disk1/clam.exe" && f.data == clam));
}

#[test]
fn synthetic_stream_round_trips() {
    let payload: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let exe = make_stream(&[("first.bin", &payload), ("sub\\second.txt", b"second file")]);
    let files = extract(&exe, BIG, 10).unwrap();
    assert_eq!(
        files,
        vec![
            Extracted {
                name: "first.bin".into(),
                data: payload.clone()
            },
            Extracted {
                name: "sub/second.txt".into(),
                data: b"second file".to_vec()
            },
        ]
    );
}

#[test]
fn synthetic_cabinet_round_trips() {
    let a: Vec<u8> = (0..70_000u32).map(|i| (i % 13) as u8).collect();
    let b = b"obfuscated stored bytes".to_vec();
    let c = b"split file, split file, split file!".repeat(40);
    let exe = make_cab_setup(&a, &b);
    let files = extract(&exe, BIG, 10).unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Disk1/readme.txt",
            "Disk1/data1.hdr",
            "Disk1/data1.cab",
            "Disk1/data2.cab",
            "dir/a.txt",
            "b.bin",
            "dir/c.txt"
        ]
    );
    assert_eq!(files[0].data, b"hello");
    assert_eq!(files[4].data, a);
    assert_eq!(files[5].data, b);
    assert_eq!(files[6].data, c);

    // Not a PE: the list is found from the cabinet signature, records before it are missed.
    let mut not_pe = exe.clone();
    not_pe[0..2].copy_from_slice(b"XX");
    let files = extract(&not_pe, BIG, 10).unwrap();
    assert_eq!(files.len(), 6);
    assert_eq!(files[0].name, "Disk1/data1.hdr");
}

#[test]
fn old_compression_is_read() {
    // Two chunks, each a raw-deflate stream ended by a sync flush, no length prefixes.
    let a: Vec<u8> = (0..50_000u32).map(|i| (i % 29) as u8).collect();
    let mut blob = Vec::new();
    for part in a.chunks(30_000) {
        let mut z = flate2::Compress::new(flate2::Compression::default(), false);
        let mut buf = vec![0u8; 64 * 1024];
        z.compress(part, &mut buf, flate2::FlushCompress::Sync)
            .unwrap();
        blob.extend_from_slice(&buf[..z.total_out() as usize]);
        assert!(blob.ends_with(&[0, 0, 0xff, 0xff]));
    }
    let files = [Spec {
        flags: FILE_COMPRESSED,
        name: "old.bin",
        dir: 0,
        esize: a.len(),
        blob: 0,
    }];
    let exe = make_cab_setup_with(&[blob, cab_chunks(b"tail", 1)], &files, 2);
    let out = extract(&exe, BIG, 10).unwrap();
    assert_eq!(out.last().unwrap().name, "dir/old.bin");
    assert_eq!(out.last().unwrap().data, a);
}

#[test]
fn shared_data_does_not_amplify() {
    // Many descriptors naming one 200 KB obfuscated blob: the work budget (a few times the
    // input size) stops the copies long before the output budget would.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let spec = |i: usize| Spec {
        flags: FILE_OBFUSCATED,
        name: ["x", "y"][i & 1],
        dir: 9,
        esize: big.len(),
        blob: 0,
    };
    let files: Vec<Spec> = (0..2000).map(spec).collect();
    let blobs = [obfuscate(&big), cab_chunks(b"tail", 1)];
    let exe = make_cab_setup_with(&blobs, &files, 2);
    let out = extract(&exe, usize::MAX, usize::MAX).unwrap();
    let copies = out.iter().filter(|f| f.data == big).count();
    assert!(
        copies >= 1 && copies <= 4 * exe.len() / big.len() + 8,
        "{copies}"
    );

    // Many descriptors naming one broken stream that inflates to 1 MB first: the thrown-away
    // output is charged to the byte budget.
    let mut broken = cab_chunks(&vec![0u8; 1 << 20], 1);
    broken.extend_from_slice(&[3, 0, 0xff, 0xff, 0xff]);
    let files: Vec<Spec> = (0..2000)
        .map(|_| Spec {
            flags: FILE_COMPRESSED,
            name: "z",
            dir: 0,
            esize: 1 << 20,
            blob: 0,
        })
        .collect();
    let exe = make_cab_setup_with(&[broken, cab_chunks(b"tail", 1)], &files, 2);
    assert!(matches!(
        extract(&exe, 16 << 20, usize::MAX),
        Err(IShieldError::TooLarge { .. })
    ));
}

#[test]
fn nothing_to_find() {
    assert!(extract(b"", BIG, 10).unwrap().is_empty());
    assert!(extract(b"MZ plain program", BIG, 10).unwrap().is_empty());
    // A tag with no files, as found in ordinary InstallShield binaries.
    assert!(extract(b"InstallShield\0\0\0This Setup was", BIG, 10)
        .unwrap()
        .is_empty());
}

#[test]
fn stray_tag_is_not_a_container() {
    // A tag with a count and a plausible first entry whose data is not zlib.
    let mut d = STREAM_TAG.to_vec();
    d.extend_from_slice(&3u16.to_le_bytes());
    d.resize(STREAM_FIRST, 0);
    let mut entry = vec![0u8; ENTRY_DATA];
    entry[..8].copy_from_slice(b"name.txt");
    entry[ENTRY_CSIZE] = 16;
    d.extend_from_slice(&entry);
    d.extend_from_slice(&[0x55; 64]);
    assert!(extract(&d, BIG, 10).unwrap().is_empty());
}

#[test]
fn corrupt_only_container_is_an_error() {
    let mut exe = make_stream(&[("x.bin", b"some data to compress")]);
    let data_at = exe.len() - b"trailer".len() - 5;
    exe[data_at] ^= 0xff; // break the zlib data
    assert!(matches!(
        extract(&exe, BIG, 10),
        Err(IShieldError::Corrupt(_))
    ));
}

#[test]
fn limits_are_errors() {
    let payload = vec![0u8; 100_000];
    let exe = make_stream(&[("a", &payload), ("b", b"x")]);
    assert!(matches!(
        extract(&exe, 99_999, 10),
        Err(IShieldError::TooLarge { .. })
    ));
    assert!(matches!(
        extract(&exe, 100_000, 10),
        Err(IShieldError::TooLarge { .. })
    ));
    assert_eq!(extract(&exe, 100_001, 10).unwrap().len(), 2);
    assert!(matches!(
        extract(&exe, BIG, 1),
        Err(IShieldError::TooManyFiles { .. })
    ));
    assert!(matches!(
        extract(&exe, BIG, 0),
        Err(IShieldError::TooManyFiles { .. })
    ));

    let a = vec![7u8; 300_000];
    let cab = make_cab_setup(&a, b"b");
    assert!(matches!(
        extract(&cab, 200_000, 10),
        Err(IShieldError::TooLarge { .. })
    ));
    assert!(matches!(
        extract(&cab, BIG, 6),
        Err(IShieldError::TooManyFiles { .. })
    ));

    if let Some(exe) = testfile("clam_IScab_int.exe") {
        assert!(matches!(
            extract(&exe, 1000, 100),
            Err(IShieldError::TooLarge { .. })
        ));
        assert!(matches!(
            extract(&exe, BIG, 3),
            Err(IShieldError::TooManyFiles { .. })
        ));
    }
    if let Some(exe) = testfile("clam_ISmsi_ext.exe") {
        assert!(matches!(
            extract(&exe, 100, 100),
            Err(IShieldError::TooLarge { .. })
        ));
        assert!(matches!(
            extract(&exe, BIG, 2),
            Err(IShieldError::TooManyFiles { .. })
        ));
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn hostile_inputs_do_not_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let a: Vec<u8> = (0..3000u32).map(|i| (i % 17) as u8).collect();
    let seeds = [
        make_stream(&[("one.bin", &a), ("two", b"2")]),
        make_cab_setup(&a, b"stored"),
    ];
    for seed in &seeds {
        // Every truncation.
        for len in 0..seed.len() {
            let r = extract(&seed[..len], 4096, 3);
            within(&r, 4096, 3);
        }
        // Random corruption, including of sizes and offsets.
        for _ in 0..400 {
            let mut d = seed.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(d.len());
                d[i] = match rng.below(3) {
                    0 => rng.next() as u8,
                    1 => 0xff,
                    _ => 0,
                };
            }
            let (max_out, max_files) = (rng.below(10_000), rng.below(6));
            within(&extract(&d, max_out, max_files), max_out, max_files);
        }
    }
    // Random bytes around signatures.
    for _ in 0..200 {
        let mut d: Vec<u8> = (0..rng.below(2000)).map(|_| rng.next() as u8).collect();
        let at = rng.below(d.len());
        let sig: &[u8] = if rng.below(2) == 0 {
            STREAM_TAG
        } else {
            b"1\0ISc("
        };
        d.splice(at..at, sig.iter().copied());
        within(&extract(&d, 1 << 20, 8), 1 << 20, 8);
    }
}

#[test]
fn truncated_real_files_do_not_panic() {
    for name in ["clam_IScab_int.exe", "clam_ISmsi_ext.exe"] {
        let Some(exe) = testfile(name) else {
            return;
        };
        let mut rng = Rng(exe.len() as u64);
        for _ in 0..3 {
            let len = rng.below(exe.len());
            within(&extract(&exe[..len], BIG, 1000), BIG, 1000);
        }
    }
    // Corrupt the cabinet header of the real file.
    if let Some(exe) = testfile("clam_IScab_int.exe") {
        let mut rng = Rng(99);
        let hdr = 0x7077b; // data1.hdr
        for _ in 0..6 {
            let mut d = exe.clone();
            for _ in 0..8 {
                let i = hdr + rng.below(10471);
                d[i] = rng.next() as u8;
            }
            within(&extract(&d, BIG, 1000), BIG, 1000);
        }
    }
}
