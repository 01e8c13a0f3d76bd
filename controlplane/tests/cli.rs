//! The binary as an operator runs it: logs to a pipe carry no terminal colour codes.
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
