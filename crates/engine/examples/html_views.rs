//! Writes Bulwark's normalised HTML views of each input file as `OUT/NAME.nocomment`,
//! `OUT/NAME.notags` and, when it has scripts, `OUT/NAME.javascript` (only for files typed
//! HTML), to compare with clamscan's `--leave-temps` output (`nocomment.html`, `notags.html`,
//! `javascript`): `bench/html-views.sh` and `bench/js-views.sh` run both.
//!
//! `cargo run -p bulwark-engine --example html_views -- OUT FILE...`

use bulwark_engine::{filetype, normalise};

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(out) = args.next().map(std::path::PathBuf::from) else {
        eprintln!("usage: html_views OUT FILE...");
        std::process::exit(2);
    };
    for f in args {
        let p = std::path::PathBuf::from(&f);
        let data = match std::fs::read(&p) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{}: {e}", p.display());
                continue;
            }
        };
        // As the scanner types them: HTML magic in the head, or anywhere in a text object.
        let t = filetype::detect(&data[..data.len().min(4096)]);
        if t != filetype::Target::Html
            && !(t == filetype::Target::Text && filetype::html_magic(&data))
        {
            continue;
        }
        let v = normalise::html(&data);
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let write = |ext: &str, b: &[u8]| {
            if let Err(e) = std::fs::write(out.join(format!("{name}.{ext}")), b) {
                eprintln!("{name}: {e}");
            }
        };
        write("nocomment", &v.nocomment);
        write("notags", &v.notags);
        if !v.javascript.is_empty() {
            write("javascript", &v.javascript);
        }
    }
}
