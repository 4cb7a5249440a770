//! `bulwark config check` as an administrator meets it (issue 18): every problem of the file
//! in one run, each with its line, in plain words, "did you mean" for a mistyped key; unknown
//! keys are errors (exit 1) unless `--lenient`, and `serve` refuses the same file.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bulwark");

const FILE: &str = "[engine]\ndatabse = [\"/var/lib/clamav\"]\n[server]\nmax_connections = \
                    \"120\"\nread_timout_secs = 3\n[answer]\nmode = \"fast\"\n";

fn run(args: &[&str], file: &std::path::Path) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg(file)
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

#[test]
fn every_problem_in_one_run_and_unknown_keys_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bulwark.toml");
    std::fs::write(&file, FILE).expect("write");
    let (code, out) = run(&["config", "check"], &file);
    assert_eq!(code, 1, "{out}");
    let expected = [
        "invalid configuration (4 error(s)):",
        "  line 2: engine.databse: unknown key; did you mean `engine.database`?",
        "  line 4: server.max_connections: expected a whole number (no quotes), found the text \"120\"",
        "  line 5: server.read_timout_secs: unknown key; did you mean `server.read_timeout_secs`?",
        "  line 7: answer.mode: \"fast\" is not one of: \"partial\", \"complete\", \"trickle\"",
    ];
    for e in expected {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }

    let (code, out) = run(&["config", "check", "--lenient"], &file);
    assert_eq!(code, 1, "still two errors: {out}");
    assert!(out.contains("(2 error(s))"), "{out}");
    assert!(
        out.contains("warnings:\n  line 2: engine.databse: unknown key (ignored)"),
        "{out}"
    );

    // The server refuses the file, naming the same problems.
    let (code, out) = run(&["serve", "--listen", "127.0.0.1:0", "--config"], &file);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("engine.databse: unknown key"), "{out}");

    // Fixed, it passes.
    std::fs::write(
        &file,
        "[engine]\ndatabase = []\n[server]\nmax_connections = 120\n",
    )
    .expect("write");
    let (code, out) = run(&["config", "check"], &file);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK (0 warning(s))"), "{out}");
}

/// What only compiling finds (a policy's client range, a regex) comes out of `config check` and
/// `serve` the same way, on its line, beside the plain-data problems, in one run: the checks run
/// where the policy is compiled (`Snapshot::check`), the configuration crate places them.
#[test]
fn compile_problems_are_reported_with_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bulwark.toml");
    std::fs::write(
        &file,
        "[server]\nmax_connections = \"x\"\n\n[[policy.group]]\nname = \"b\"\nclients = \
         [\"10.0.0.0/33\"]\nurls = [\"(\"]\n",
    )
    .expect("write");
    let (code, out) = run(&["config", "check"], &file);
    assert_eq!(code, 1, "{out}");
    for e in [
        "(3 error(s))",
        "  line 2: server.max_connections:",
        "  line 6: policy.group.0.clients: ",
        "  line 7: policy.group.0.urls: ",
    ] {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
    let (code, out) = run(&["serve", "--listen", "127.0.0.1:0", "--config"], &file);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("policy.group.0.clients"), "{out}");
}

/// Without `--config`, `config show` (and `serve`, `ctl`) read `$BULWARK_CONFIG`, else the
/// packaged /etc/bulwark/bulwark.toml when it exists; an empty `$BULWARK_CONFIG` means the
/// embedded defaults.
#[test]
fn daemon_commands_find_their_configuration_without_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("site.toml");
    std::fs::write(&file, "[server]\nmax_connections = 77\n").expect("write");
    let show = |env: Option<&std::path::Path>| {
        let mut c = Command::new(BIN);
        c.args(["config", "show"]);
        match env {
            Some(p) => c.env("BULWARK_CONFIG", p),
            None => c.env("BULWARK_CONFIG", ""),
        };
        let out = c.output().expect("run bulwark");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(show(Some(&file)).contains("max_connections = 77"));
    assert!(!show(None).contains("max_connections = 77"));
}
