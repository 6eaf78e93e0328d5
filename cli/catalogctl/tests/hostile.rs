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
          <DataCollections><ProgramCatalog id=\"HOSTILE\" version=\"1\">\n\
          <Movie id=\"mv-long-title\" version=\"1\"><Titles><Title language=\"en-US\">",
    ))
    .unwrap();
    let mut piece = vec![b'x'; run];
    piece.extend_from_slice(b"<!---->");
    let piece = frame(&piece);
    for _ in 0..runs {
        file.write_all(&piece).unwrap();
    }
    file.write_all(&frame(
        b"</Title></Titles></Movie>\n</ProgramCatalog></DataCollections>\n",
    ))
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

/// The one summary in `dir`, parsed.
fn summary(dir: &Path) -> Value {
    let summaries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(".summary.json"))
        .collect();
    assert_eq!(summaries.len(), 1, "one summary in {dir:?}");
    serde_json::from_slice(&fs::read(&summaries[0]).unwrap()).unwrap()
}

fn catalogs_in(dir: &Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_str().unwrap().ends_with(".xml.zst")
        })
        .count()
}

/// The example export with line 3 holding bytes that are not UTF-8.
fn export_with_invalid_utf8(dir: &Path) -> PathBuf {
    let example = fs::read(workspace_root().join("examples/provider-export.jsonl")).unwrap();
    let mut lines: Vec<Vec<u8>> = example.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let third = &mut lines[2];
    let at = third.windows(7).position(|w| w == b"\"title\"").unwrap() + 9;
    third.splice(at..at, [0xff, 0xfe]);
    let path = dir.join("export-with-invalid-utf8.jsonl");
    fs::write(&path, lines.join(&b'\n')).unwrap();
    path
}

/// Issue #15 item 9: one line that is not UTF-8 failed the whole build with
/// an I/O error. It is a finding on its line: the build is refused (exit 1,
/// no catalog), and `--allow-partial` builds every other row.
#[test]
fn one_invalid_utf8_line_is_a_finding_and_allow_partial_builds_the_rest() {
    let scratch = tempfile::tempdir().unwrap();
    let source = export_with_invalid_utf8(scratch.path());
    let rows = fs::read(&source)
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64;

    let refused = scratch.path().join("refused");
    let output = catalogctl()
        .args(["build", "--quiet", "--source", source.to_str().unwrap()])
        .args(["--out", refused.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(catalogs_in(&refused), 0, "no catalog is written");
    let report = summary(&refused);
    // Errors only: the build-wide ember.not-sent warning (prices) is not the point here.
    let findings: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert_eq!(findings.len(), 1, "{report:#}");
    assert_eq!(findings[0]["rule"], "source.encoding");
    assert_eq!(findings[0]["position"]["line"], 3);
    assert_eq!(findings[0]["item_id"], "mv-fish-chips");

    let partial = scratch.path().join("partial");
    let output = catalogctl()
        .args(["build", "--quiet", "--source", source.to_str().unwrap()])
        .args(["--out", partial.to_str().unwrap(), "--allow-partial"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(catalogs_in(&partial), 1, "the good rows are built");
    let report = summary(&partial);
    let items: u64 = report["items"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(items, rows - 1, "{report:#}");
}
