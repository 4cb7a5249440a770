//! PDF streams are decoded and scanned: EICAR in a `FlateDecode` stream (zlib and raw
//! deflate), behind `ASCIIHexDecode` + `FlateDecode`, `ASCII85Decode`, `RunLengthDecode`, in an
//! object stream, with an indirect `/Length` and with a wrong one. Each document is also given to
//! clamscan, which must agree (EICAR found by both; the clean twin clean for both) except on raw
//! deflate without the zlib header, which clamscan 1.4.6 does not inflate (Acrobat does), on a
//! `RunLengthDecode` stream, which it extracts (`--debug`) but does not scan, and on an object
//! stream, whose decoded content it does not scan as a whole (Bulwark finds more there).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::Write;

use bulwark_engine::Status;
use bulwark_testkit::eicar;
use common::*;

fn zlib(d: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(d).unwrap();
    e.finish().unwrap()
}

fn deflate(d: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(d).unwrap();
    e.finish().unwrap()
}

fn hex(d: &[u8]) -> Vec<u8> {
    let mut s: Vec<u8> = d
        .iter()
        .flat_map(|b| format!("{b:02X}").into_bytes())
        .collect();
    s.push(b'>');
    s
}

fn a85(d: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in d.chunks(4) {
        let mut g = [0u8; 4];
        g[..c.len()].copy_from_slice(c);
        let mut v = u32::from_be_bytes(g) as u64;
        let mut digits = [0u8; 5];
        for x in digits.iter_mut().rev() {
            *x = (v % 85) as u8 + b'!';
            v /= 85;
        }
        out.extend_from_slice(&digits[..c.len() + 1]);
    }
    out.extend_from_slice(b"~>");
    out
}

fn run_length(d: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in d.chunks(100) {
        out.push((c.len() - 1) as u8);
        out.extend_from_slice(c);
    }
    out.push(128);
    out
}

/// A PDF with one stream object `1 0 obj` holding `data` under `dict`, and a page object.
fn pdf(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut d = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n2 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec();
    d.extend_from_slice(format!("1 0 obj\n{dict}\nstream\r\n").as_bytes());
    d.extend_from_slice(data);
    d.extend_from_slice(
        b"\nendstream\nendobj\n3 0 obj\n7\nendobj\ntrailer\n<< /Root 2 0 R >>\n%%EOF\n",
    );
    d
}

fn documents(payload: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let z = zlib(payload);
    vec![
        (
            "flate",
            pdf(
                &format!("<< /Length {} /Filter /FlateDecode >>", z.len()),
                &z,
            ),
        ),
        (
            "raw deflate",
            pdf(
                &format!(
                    "<< /Length {} /Filter /FlateDecode >>",
                    deflate(payload).len()
                ),
                &deflate(payload),
            ),
        ),
        (
            "hex + flate",
            pdf(
                "<< /Length 9999 /Filter [/ASCIIHexDecode /FlateDecode] >>",
                &hex(&z),
            ),
        ),
        ("ascii85", pdf("<< /Filter /A85 >>", &a85(payload))),
        (
            "run length",
            pdf("<</Filter/RunLengthDecode>>", &run_length(payload)),
        ),
        (
            "indirect length",
            pdf("<< /Length 3 0 R /Filter /FlateDecode >>", &z),
        ),
        (
            "object stream",
            pdf(
                "<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode >>",
                &zlib(&[b"4 0 ".as_slice(), payload].concat()),
            ),
        ),
    ]
}

fn clamscan(data: &[u8]) -> Option<bool> {
    let dir = tempfile::tempdir().ok()?;
    let f = dir.path().join("d.pdf");
    std::fs::write(&f, data).ok()?;
    let db = dir.path().join("eicar.hdb");
    std::fs::write(
        &db,
        "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n",
    )
    .ok()?;
    let out = std::process::Command::new("clamscan")
        .arg("--no-summary")
        .arg("-d")
        .arg(&db)
        .arg(&f)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).contains("FOUND"))
}

#[test]
fn eicar_in_pdf_streams_is_found_as_clamscan_finds_it() {
    let have_clamscan = clamscan(b"%PDF-1.4\n").is_some();
    for (what, d) in documents(&eicar()) {
        let v = scan(&d);
        assert_eq!(
            v.verdict.status,
            Status::Infected,
            "{what}: {:?}",
            v.verdict
        );
        // Run-length literals leave the payload readable in the document itself.
        assert!(
            what == "run length" || v.verdict.threats.iter().any(|t| t.path.contains("obj 1 0")),
            "{what}: {:?}",
            v.verdict.threats
        );
        if have_clamscan && !matches!(what, "raw deflate" | "run length" | "object stream") {
            assert_eq!(clamscan(&d), Some(true), "{what}: clamscan disagrees");
        }
    }
    let clean = b"BT /F1 12 Tf 72 712 Td (Hello, world) Tj ET".repeat(20);
    for (what, d) in documents(&clean) {
        let v = scan(&d);
        assert_eq!(
            v.verdict.status,
            Status::Clean,
            "{what} (clean): {:?}",
            v.verdict
        );
        if have_clamscan {
            assert_eq!(
                clamscan(&d),
                Some(false),
                "{what} (clean): clamscan disagrees"
            );
        }
    }
}

#[test]
fn a_pdf_bomb_meets_the_limits() {
    let zeros = vec![0u8; 64 << 20];
    let z = zlib(&zeros);
    let d = pdf(
        &format!("<< /Length {} /Filter /FlateDecode >>", z.len()),
        &z,
    );
    let v = scan(&d);
    assert_ne!(v.verdict.status, Status::Clean, "{:?}", v.verdict);
}

/// A well-formed one-page PDF (cross-reference table included) whose page content is `content`.
fn document_with_xref(content: &[u8]) -> Vec<u8> {
    let objs: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Contents 4 0 R >>".to_vec(),
        [
            format!("<< /Length {} >>\nstream\n", content.len()).as_bytes(),
            content,
            b"\nendstream",
        ]
        .concat(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(o);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// `plain` encrypted by qpdf with `args` (user password, owner password, key length, options),
/// or `None` when qpdf is not installed.
fn qpdf_encrypt(plain: &[u8], args: &[&str]) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().ok()?;
    let (i, o) = (dir.path().join("in.pdf"), dir.path().join("out.pdf"));
    std::fs::write(&i, plain).ok()?;
    let status = std::process::Command::new("qpdf")
        .arg("--allow-weak-crypto")
        .arg("--encrypt")
        .args(args)
        .arg("--")
        .arg(&i)
        .arg(&o)
        .status()
        .ok()?;
    // 0: done; 3: done with warnings.
    assert!(
        matches!(status.code(), Some(0 | 3)),
        "qpdf {args:?}: {status}"
    );
    std::fs::read(o).ok()
}

/// Documents encrypted with the empty user password (RC4 40 and 128 bits, AES-128, AES-256 in
/// revisions 5 and 6, as
/// qpdf writes them, streams compressed) are opened as clamscan opens them: EICAR in the page
/// content is found in `obj 4 0` by both, the clean twins are clean (not corrupted); a document
/// with a user password is `protected`, and clamscan finds nothing in it either.
#[test]
fn encrypted_pdfs_are_opened_with_the_empty_user_password() {
    if qpdf_encrypt(&document_with_xref(b"x"), &["", "o", "256"]).is_none() {
        eprintln!("skipped: qpdf is not installed (apt-get install qpdf)");
        return;
    }
    let have_clamscan = clamscan(b"%PDF-1.4\n").is_some();
    let forms: [(&str, &[&str]); 5] = [
        ("rc4-40", &["", "owner", "40"]),
        ("rc4-128", &["", "owner", "128", "--use-aes=n"]),
        ("aes-128", &["", "owner", "128", "--use-aes=y"]),
        ("aes-256 (R6)", &["", "owner", "256"]),
        ("aes-256 (R5)", &["", "owner", "256", "--force-R5"]),
    ];
    for (what, args) in forms {
        let d = qpdf_encrypt(&document_with_xref(&eicar()), args).expect("qpdf");
        assert!(
            memchr::memmem::find(&d, b"EICAR").is_none(),
            "{what}: not encrypted"
        );
        let v = scan(&d);
        assert_eq!(
            v.verdict.status,
            Status::Infected,
            "{what}: {:?}",
            v.verdict
        );
        assert!(
            v.verdict.threats.iter().any(|t| t.path.contains("obj 4 0")),
            "{what}: {:?}",
            v.verdict.threats
        );
        if have_clamscan {
            assert_eq!(clamscan(&d), Some(true), "{what}: clamscan disagrees");
        }
        let clean = qpdf_encrypt(&document_with_xref(b"BT (Hello) Tj ET"), args).expect("qpdf");
        let v = scan(&clean);
        assert_eq!(v.verdict.status, Status::Clean, "{what} clean: {:?}", v);
    }
    let locked =
        qpdf_encrypt(&document_with_xref(&eicar()), &["user", "owner", "256"]).expect("qpdf");
    let v = scan(&locked);
    assert_eq!(v.verdict.status, Status::Protected, "{:?}", v);
    assert!(
        v.notes.iter().any(|n| n.contains("a user password")),
        "{:?}",
        v.notes
    );
    if have_clamscan {
        assert_eq!(clamscan(&locked), Some(false), "clamscan opened it");
    }
}
