//! What the store and reports benches share for reporting: nearest-rank percentiles, the
//! table of results against their targets, file sizes and the machine's load. Included by
//! each bench with `#[path]`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Stats {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Stats {
    /// Percentiles of `samples` in milliseconds.
    pub fn of(samples: &[Duration]) -> Stats {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        Stats { p50: nearest_rank(&ms, 50.0), p99: nearest_rank(&ms, 99.0), max: ms.last().copied().unwrap_or(0.0) }
    }
}

/// The nearest-rank percentile of sorted samples: the smallest value with at least `p`%
/// of the samples at or below it.
pub fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One line of the results table: a figure, and the most it may be if it has a target.
pub struct Row {
    pub name: String,
    pub value: f64,
    pub target: Option<f64>,
}

impl Row {
    pub fn info(name: &str, value: f64) -> Row {
        Row { name: name.to_owned(), value, target: None }
    }

    pub fn target(name: &str, value: f64, target: f64) -> Row {
        Row { name: name.to_owned(), value, target: Some(target) }
    }
}

/// Prints the rows, each target with OK or MISSED, and how many were met.
pub fn print_table(rows: &[Row], started: Instant) {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in rows {
        match r.target {
            Some(t) => {
                let verdict = if r.value <= t { "OK" } else { "MISSED" };
                println!("{:<width$}  {:>9.2}  (target ≤ {t})  {verdict}", r.name, r.value);
            }
            None => println!("{:<width$}  {:>9.2}", r.name, r.value),
        }
    }
    let targets = rows.iter().filter(|r| r.target.is_some()).count();
    let missed = rows.iter().filter(|r| r.target.is_some_and(|t| r.value > t)).count();
    println!();
    println!(
        "{} of {targets} targets met; whole bench took {:.1} s",
        targets - missed,
        started.elapsed().as_secs_f64()
    );
}

/// The size of a SQLite file and its WAL.
pub fn size_with_wal(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path.to_path_buf(), PathBuf::from(wal)].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

/// How many records a bench seeds: `SOTAY_BENCH_RECORDS`, else `default`.
pub fn records_from_env(default: usize) -> usize {
    std::env::var("SOTAY_BENCH_RECORDS")
        .ok()
        .map(|s| s.trim().parse::<usize>().expect("SOTAY_BENCH_RECORDS must be a whole number"))
        .unwrap_or(default)
}

/// The machine's cores, for the table's heading.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// The 1, 5 and 15 minute load averages, to tell a noisy run from a slow one.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `runs` timings of `f` after one warm-up call (which fills the caches), its p50 said on
/// stderr under `label`.
pub fn measure<T>(label: &str, runs: usize, mut f: impl FnMut() -> T) -> Vec<Duration> {
    std::hint::black_box(f());
    let samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    eprintln!("{label}: p50 {:.1} ms", Stats::of(&samples).p50);
    samples
}
