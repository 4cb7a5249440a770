//! `bulwark console`: helpers for the administration web console (`[console]`).

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;

/// `bulwark console` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConsoleCommand {
    /// Read a password from standard input (one line) and print its Argon2id hash for
    /// `console.password_hash`.
    HashPassword,
}

/// Runs a console subcommand; returns the exit status.
pub fn run(cmd: ConsoleCommand) -> anyhow::Result<i32> {
    match cmd {
        ConsoleCommand::HashPassword => hash_password(),
    }
}

fn hash_password() -> anyhow::Result<i32> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password (echoed; pipe it in to avoid that): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("bulwark: no password on standard input");
        return Ok(2);
    }
    if password.chars().count() < 8 {
        eprintln!("bulwark: warning: a password under 8 characters is weak");
    }
    let hash = bulwark_console::hash_password(password)?;
    println!("{hash}");
    eprintln!("put it in the configuration as:  [console] password_hash = \"{hash}\"");
    Ok(0)
}
