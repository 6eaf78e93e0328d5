//! What every benchmark binary needs: its arguments and its memory figures.
//! Shared by the catalog-core benches and, through `#[path]`, the builder's
//! (which cannot depend on the other's dev-only code any other way).
#![allow(dead_code)]

use std::io::Read;

/// The arguments, without the `--bench` cargo adds.
pub fn args() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect()
}

/// The peak resident set of this process (`VmHWM`), in MB.
pub fn peak_rss_mb() -> f64 {
    status_field_mb("VmHWM:")
}

/// The resident set of this process now (`VmRSS`), in MB.
pub fn rss_mb() -> f64 {
    status_field_mb("VmRSS:")
}

fn status_field_mb(field: &str) -> f64 {
    let mut status = String::new();
    std::fs::File::open("/proc/self/status")
        .and_then(|mut f| f.read_to_string(&mut status))
        .ok();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// User + system CPU time of this process, in seconds (`/proc/self/stat`,
/// at the usual 100 ticks a second): on a shared machine the wall clock
/// counts other processes' time too.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |at: usize| {
        fields
            .get(at)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15; `fields` starts at field 3.
    (ticks(11) + ticks(12)) / 100.0
}
