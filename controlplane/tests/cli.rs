//! The binary as an operator runs it: logs to a pipe carry no terminal colour codes; backup
//! destination and retention flags are checked at start-up.
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

#[test]
fn logs_to_a_pipe_have_no_ansi_colours() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nexbii-controlplane"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(dir.path().join("n.db"))
        .arg("--keys-file")
        .arg(dir.path().join("keys.json"))
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let started = Instant::now();
    let mut lines = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        let done = line.contains("listening");
        lines.push(line);
        if done || started.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let text = lines.join("\n");
    assert!(
        text.contains("listening"),
        "the server logged its start: {text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no escape codes in piped logs: {text:?}"
    );
}

/// Runs `serve` with extra arguments and environment until it logs that it listens (killed
/// then) or exits; returns whether it exited and its stderr.
fn serve(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexbii-controlplane"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(dir.path().join("n.db"))
        .arg("--keys-file")
        .arg(dir.path().join("keys.json"))
        .args(args)
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    for v in [
        "NEXBII_BACKUP_S3_ACCESS_KEY_ID",
        "NEXBII_BACKUP_S3_SECRET_ACCESS_KEY",
        "NEXBII_BACKUP_S3_SESSION_TOKEN",
    ] {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let started = Instant::now();
    let mut lines = Vec::new();
    let mut listening = false;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        listening = line.contains("listening");
        lines.push(line);
        if listening || started.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    if listening {
        child.kill().unwrap();
    }
    let status = child.wait().unwrap();
    (!listening && !status.success(), lines.join("\n"))
}

#[test]
fn backup_destination_and_retention_flags_are_checked_at_start_and_secrets_never_logged() {
    let (failed, text) = serve(&["--backup-s3-bucket", "nexbii-backups"], &[]);
    assert!(failed, "no credentials: {text}");
    assert!(
        text.contains("credentials") && text.contains("NEXBII_BACKUP_S3_ACCESS_KEY_ID"),
        "{text}"
    );
    let creds = [
        ("NEXBII_BACKUP_S3_ACCESS_KEY_ID", "AKIDCLITEST"),
        (
            "NEXBII_BACKUP_S3_SECRET_ACCESS_KEY",
            "cli-secret-never-logged",
        ),
    ];
    let (failed, text) = serve(
        &[
            "--backup-s3-bucket",
            "nexbii-backups",
            "--backup-s3-endpoint",
            "ftp://x",
        ],
        &creds,
    );
    assert!(failed && text.contains("endpoint"), "{text}");
    let (failed, text) = serve(&["--backup-keep-last", "0"], &[]);
    assert!(failed && text.contains("keepLast"), "{text}");
    let (failed, text) = serve(
        &[
            "--backup-s3-bucket",
            "nexbii-backups",
            "--backup-s3-endpoint",
            "http://127.0.0.1:9",
            "--backup-s3-prefix",
            "prod",
            "--backup-keep-daily",
            "7",
        ],
        &creds,
    );
    assert!(!failed, "{text}");
    assert!(text.contains("s3://nexbii-backups/prod"), "{text}");
    assert!(
        !text.contains("cli-secret-never-logged") && !text.contains("AKIDCLITEST"),
        "{text}"
    );
}
