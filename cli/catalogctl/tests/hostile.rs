//! Hostile and broken input through the real binary: every case ends in
//! findings and a documented exit code, never an out-of-memory kill and
//! never a whole build failing on one bad row.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn catalogctl() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_catalogctl"));
    command.current_dir(workspace_root());
    command
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The peak resident set (VmHWM) of a running process, in bytes, if it is
/// still there to ask.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs `command` to the end, polling its high-water mark of resident
/// memory; returns its output and the highest mark seen.
fn run_measuring_peak_rss(mut command: Command) -> (Output, u64) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("catalogctl starts");
    let pid = child.id();
    let started = Instant::now();
    let mut peak = 0;
    // stdout and stderr are read on threads so a full pipe never stalls the child.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut bytes).unwrap();
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut bytes).unwrap();
        bytes
    });
    let status = loop {
        if let Some(rss) = peak_rss(pid) {
            peak = peak.max(rss);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("catalogctl ran for two minutes (peak RSS so far {peak} bytes)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let output = Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    (output, peak)
}

/// A zstd catalog whose one movie's `<Title>` is `runs` runs of `run`
/// bytes, each run under the token bound, separated by `<!---->`. Written
/// as one zstd frame per piece (a zstd stream may hold several frames), so
/// the run is compressed once and the file stays small.
fn write_title_in_runs(path: &Path, run: usize, runs: usize) {
    let frame = |bytes: &[u8]| zstd::encode_all(bytes, 1).unwrap();
    let mut file = fs::File::create(path).unwrap();
    file.write_all(&frame(
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
          <ProgramCatalog id=\"HOSTILE\" version=\"1\">\n\
          <Movie id=\"mv-long-title\" version=\"1\"><Title locale=\"en-US\">",
    ))
    .unwrap();
    let mut piece = vec![b'x'; run];
    piece.extend_from_slice(b"<!---->");
    let piece = frame(&piece);
    for _ in 0..runs {
        file.write_all(&piece).unwrap();
    }
    file.write_all(&frame(b"</Title></Movie>\n</ProgramCatalog>\n"))
        .unwrap();
}

/// Issue #15 item 8: a `<Title>` of 300 runs of 1 MiB split by comments
/// once grew one string to 300 MiB. It must end in one finding, with the
/// whole process staying under 100 MB.
#[test]
fn a_title_of_300_one_mib_runs_is_one_finding_under_100_mb() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("title-in-runs.xml.zst");
    write_title_in_runs(&path, 1 << 20, 300);
    assert!(fs::metadata(&path).unwrap().len() < 1 << 20);

    let mut command = catalogctl();
    command.args(["validate", "--json", path.to_str().unwrap()]);
    let (output, peak) = run_measuring_peak_rss(command);
    eprintln!("peak RSS of catalogctl validate: {} KiB", peak / 1024);

    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{}", describe(&output));
    assert_eq!(findings[0]["rule"], "xml.text-too-large");
    assert_eq!(findings[0]["item_id"], "mv-long-title");
    let message = findings[0]["message"].as_str().unwrap();
    assert!(
        message.contains("<Title>") && message.contains("8388608 bytes"),
        "{message}"
    );
    assert!(!findings[0]["fix"].as_str().unwrap().is_empty());
    assert_eq!(report["complete"], false);
    assert!(peak > 0, "the child's memory was never read");
    assert!(peak < 100_000_000, "peak RSS {peak} bytes is over 100 MB");
}
