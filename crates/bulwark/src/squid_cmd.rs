//! `bulwark squid snippet|apply`: the squid.conf lines that point Squid at Bulwark (F-OPS-7).

use std::path::{Path, PathBuf};

use anyhow::Context;
use bulwark_squid::{
    ApplyError, Placement, SnippetOptions, SquidVersion, TlsOptions, DEFAULT_REQMOD_PATH,
    DEFAULT_RESPMOD_PATH,
};
use clap::{Args, Subcommand};

/// `bulwark squid …`.
#[derive(Debug, Args)]
pub struct SquidArgs {
    #[command(subcommand)]
    command: SquidCommand,
}

#[derive(Debug, Subcommand)]
enum SquidCommand {
    /// Print the squid.conf lines for Bulwark (between '# BEGIN bulwark' and '# END bulwark').
    Snippet(SnippetArgs),
    /// Put those lines into a squid.conf: backup, atomic replace, `squid -k parse` check; the
    /// original is restored byte for byte if Squid rejects the result. Idempotent.
    Apply(ApplyArgs),
}

#[derive(Debug, Args)]
struct SnippetArgs {
    /// squid.conf dialect: 3.0 (icap_class/icap_access) or 3.1+ (adaptation_access); a concrete
    /// version such as 5.7 works too.
    #[arg(long = "squid", value_name = "VERSION", default_value = "3.1+", value_parser = parse_version)]
    squid: SquidVersion,
    /// Bulwark's ICAP address [default: 127.0.0.1:1344, or 127.0.0.1:11344 with --tls].
    #[arg(long, value_name = "HOST:PORT")]
    address: Option<String>,
    /// RESPMOD service path.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_RESPMOD_PATH)]
    respmod_path: String,
    /// REQMOD service path.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_REQMOD_PATH)]
    reqmod_path: String,
    /// Let Squid serve objects UNSCANNED when Bulwark is unreachable (default: fail closed).
    #[arg(long)]
    bypass: bool,
    /// Send GET requests through REQMOD too (default: only requests that may carry a body).
    #[arg(long)]
    reqmod_get: bool,
    /// Secure ICAP: icaps:// service URIs (Squid 4 and later).
    #[arg(long)]
    tls: bool,
    /// Squid's client certificate for mutual TLS (tls-cert=; needs a Squid built with OpenSSL).
    #[arg(long, value_name = "FILE", requires = "tls")]
    tls_cert: Option<PathBuf>,
    /// Key of --tls-cert (tls-key=); without it the certificate file must hold the key too.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// CA certificate(s) that signed Bulwark's certificate (tls-cafile=; needs OpenSSL Squid).
    #[arg(long, value_name = "FILE", requires = "tls")]
    tls_cafile: Option<PathBuf>,
    /// Name expected in Bulwark's certificate when it is not the ICAP host (tls-domain=).
    #[arg(long, value_name = "NAME", requires = "tls")]
    tls_domain: Option<String>,
    /// The Squid binary whose version (`squid -v`) decides the hold budget advice
    /// [default: /usr/sbin/squid, else squid in PATH].
    #[arg(long, value_name = "PATH")]
    squid_bin: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    /// The squid.conf to change.
    #[arg(long, value_name = "FILE")]
    squid_conf: PathBuf,
    /// The snippet's options; its --squid-bin is also the Squid used for `squid -k parse`.
    #[command(flatten)]
    snippet: SnippetArgs,
}

fn parse_version(s: &str) -> Result<SquidVersion, String> {
    s.parse()
        .map_err(|e: bulwark_squid::SnippetError| e.to_string())
}

impl SnippetArgs {
    fn options(&self) -> SnippetOptions {
        SnippetOptions {
            squid_version: self.squid,
            address: self.address.clone(),
            respmod_path: self.respmod_path.clone(),
            reqmod_path: self.reqmod_path.clone(),
            bypass: self.bypass,
            reqmod_get: self.reqmod_get,
            tls: self.tls.then(|| TlsOptions {
                cert: self.tls_cert.clone(),
                key: self.tls_key.clone(),
                cafile: self.tls_cafile.clone(),
                domain: self.tls_domain.clone(),
            }),
            upload_buffer_fix: false,
        }
    }
}

fn default_squid_bin() -> PathBuf {
    let sbin = Path::new("/usr/sbin/squid");
    if sbin.is_file() {
        sbin.to_path_buf()
    } else {
        PathBuf::from("squid")
    }
}

/// Runs `bulwark squid …`. Exit status: 0 done; 1 Squid rejected the result (the file was
/// restored); errors (bad options, unreadable file, no Squid…) come back as `Err`.
pub fn run(args: SquidArgs) -> anyhow::Result<i32> {
    match args.command {
        SquidCommand::Snippet(a) => {
            let bin = a.squid_bin.clone().unwrap_or_else(default_squid_bin);
            let build = bulwark_squid::probe_squid(&bin).ok();
            let mut opts = a.options();
            opts.upload_buffer_fix = build.as_ref().is_none_or(|b| b.drops_held_uploads());
            opts.validate().context("invalid options")?;
            print!("{}", bulwark_squid::snippet(&opts));
            // The advice goes to stderr: stdout stays exactly the squid.conf block.
            match build {
                Some(build) => eprintln!("note: {}", build.hold_advice()),
                None => eprintln!(
                    "note: no Squid found at {} to read its version; {}",
                    bin.display(),
                    bulwark_squid::SquidBuild::default().hold_advice()
                ),
            }
            Ok(0)
        }
        SquidCommand::Apply(a) => {
            let bin = a
                .snippet
                .squid_bin
                .clone()
                .unwrap_or_else(default_squid_bin);
            let mut opts = a.snippet.options();
            opts.upload_buffer_fix = bulwark_squid::probe_squid(&bin)
                .ok()
                .is_none_or(|b| b.drops_held_uploads());
            match bulwark_squid::apply(&a.squid_conf, &opts, &bin) {
                Ok(r) => {
                    let file = r.path.display();
                    match (r.changed, r.placement) {
                        (false, _) => println!("{file}: already up to date (no change, no backup)"),
                        (true, Placement::Replaced { line }) => {
                            println!("{file}: Bulwark block at line {line} replaced")
                        }
                        (true, Placement::BeforeDenyAll { line }) => println!(
                            "{file}: Bulwark block inserted before `http_access deny all` (line {line})"
                        ),
                        (true, Placement::End) => {
                            println!("{file}: Bulwark block appended at the end")
                        }
                    }
                    if let Some(b) = &r.backup {
                        println!("backup: {}", b.display());
                    }
                    for w in &r.warnings {
                        eprintln!("warning: {w}");
                    }
                    println!(
                        "squid -k parse: OK (Squid {}, {})",
                        if r.squid.version.is_empty() {
                            "?"
                        } else {
                            &r.squid.version
                        },
                        bin.display()
                    );
                    println!("hold budget: {}", r.squid.hold_advice());
                    if r.changed {
                        println!(
                            "reload Squid to use it: systemctl reload squid (or squid -k reconfigure)"
                        );
                    }
                    Ok(0)
                }
                Err(e @ ApplyError::ParseFailed { .. }) => {
                    eprintln!("bulwark: {e}");
                    Ok(1)
                }
                Err(e) => Err(anyhow::Error::new(e)
                    .context(format!("applying to {}", a.squid_conf.display()))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Top {
        Squid(SquidArgs),
    }

    fn parse(args: &[&str]) -> Result<SquidArgs, clap::Error> {
        let mut v = vec!["bulwark", "squid"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).map(|c| match c.command {
            Top::Squid(s) => s,
        })
    }

    #[test]
    fn snippet_defaults() {
        let a = parse(&["snippet"]).unwrap();
        let SquidCommand::Snippet(s) = a.command else {
            panic!("not snippet")
        };
        assert_eq!(s.options(), SnippetOptions::default());
    }

    #[test]
    fn snippet_all_flags() {
        let a = parse(&[
            "snippet",
            "--squid",
            "3.0",
            "--address",
            "10.1.1.1:1345",
            "--bypass",
            "--reqmod-get",
        ])
        .unwrap();
        let SquidCommand::Snippet(s) = a.command else {
            panic!("not snippet")
        };
        let o = s.options();
        assert_eq!(o.squid_version, SquidVersion::V3_0);
        assert!(o.bypass && o.reqmod_get);
        assert_eq!(o.effective_address(), "10.1.1.1:1345");
    }

    #[test]
    fn tls_flags_need_tls() {
        assert!(parse(&["snippet", "--tls-cafile", "/ca.pem"]).is_err());
        assert!(parse(&["snippet", "--tls", "--tls-key", "/k"]).is_err());
        let a = parse(&[
            "apply",
            "--squid-conf",
            "/etc/squid/squid.conf",
            "--tls",
            "--tls-cert",
            "/c",
            "--tls-key",
            "/k",
            "--tls-cafile",
            "/ca",
            "--squid-bin",
            "/opt/squid/sbin/squid",
        ])
        .unwrap();
        let SquidCommand::Apply(ap) = a.command else {
            panic!("not apply")
        };
        let o = ap.snippet.options();
        assert_eq!(o.effective_address(), "127.0.0.1:11344");
        assert_eq!(o.tls.unwrap().cafile, Some(PathBuf::from("/ca")));
        assert_eq!(
            ap.snippet.squid_bin,
            Some(PathBuf::from("/opt/squid/sbin/squid"))
        );
    }

    #[test]
    fn bad_version_and_missing_conf() {
        assert!(parse(&["snippet", "--squid", "2.7"]).is_err());
        assert!(parse(&["apply"]).is_err());
    }
}
