//! Progress a person can watch: on a terminal, a bar on stderr (phase, done
//! of total, rate, ETA); otherwise a plain line every few seconds; nothing
//! with `--quiet`. Every phase change is also logged with `tracing`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a plain progress line is printed.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Shared by the tasks of one command.
#[derive(Clone)]
pub struct Progress(Arc<Inner>);

struct Inner {
    /// `None`: plain lines or quiet.
    bar: Option<ProgressBar>,
    quiet: bool,
    plain: Mutex<Plain>,
}

struct Plain {
    phase: String,
    unit: &'static str,
    total: Option<u64>,
    done: u64,
    started: Instant,
    printed: Instant,
}

impl Progress {
    /// A bar if stderr is a terminal and not `quiet`, else plain lines (or nothing).
    pub fn new(quiet: bool) -> Self {
        use std::io::IsTerminal;
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Progress(Arc::new(Inner {
            bar,
            quiet,
            plain: Mutex::new(Plain {
                phase: String::new(),
                unit: "",
                total: None,
                done: 0,
                started: now,
                printed: now,
            }),
        }))
    }

    /// Starts a phase of `total` `unit`s (unknown: `None`).
    pub fn phase(&self, name: &str, total: Option<u64>, unit: &'static str) {
        tracing::info!(phase = name, total, unit, "phase");
        if let Some(bar) = &self.0.bar {
            // Position, length and unit first: the bar redraws in between.
            bar.reset();
            bar.set_length(total.unwrap_or(0));
            bar.set_message(unit);
            let template = match total {
                Some(_) => {
                    "{prefix:>12} [{bar:30}] {human_pos}/{human_len} {msg} ({per_sec}, ETA {eta})"
                }
                None => "{prefix:>12} {spinner} {human_pos} {msg} ({per_sec})",
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(name.to_string());
            return;
        }
        let mut p = self.0.plain.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        *p = Plain {
            phase: name.to_string(),
            unit,
            total,
            done: 0,
            started: now,
            printed: now,
        };
    }

    /// `done` units of the phase are done.
    pub fn set(&self, done: u64) {
        if let Some(bar) = &self.0.bar {
            bar.set_position(done);
            return;
        }
        if self.0.quiet {
            return;
        }
        let mut p = self.0.plain.lock().unwrap_or_else(|e| e.into_inner());
        p.done = done;
        if p.printed.elapsed() >= PLAIN_EVERY {
            p.printed = Instant::now();
            let rate = done as f64 / p.started.elapsed().as_secs_f64().max(1e-9);
            let of = p.total.map(|t| format!(" of {t}")).unwrap_or_default();
            eprintln!("{}: {done}{of} {} ({rate:.0}/s)", p.phase, p.unit);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.0.bar {
            bar.finish_and_clear();
        }
    }
}

/// A server's progress: sessions ended while serving, interrupted by the
/// phases of a bucketed run's partition (which `psi serve --state-dir` runs
/// for each new run).
#[derive(Clone)]
pub struct ServerProgress {
    progress: Progress,
    ended: Arc<std::sync::atomic::AtomicU64>,
}

impl ServerProgress {
    /// ServerProgress, drawn on `progress`.
    pub fn new(progress: Progress) -> Self {
        ServerProgress {
            progress,
            ended: Arc::default(),
        }
    }

    /// The progress it draws on.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// The serving phase, with the sessions ended so far.
    pub fn serving(&self) {
        self.progress.phase("serving", None, "sessions ended");
        self.progress
            .set(self.ended.load(std::sync::atomic::Ordering::Relaxed));
    }

    /// One more session ended.
    pub fn session_ended(&self) {
        let n = self
            .ended
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        self.progress.set(n);
    }

    /// A partition for a new run starts.
    pub fn partition(&self) {
        self.progress.phase("partition", None, "rows");
    }

    /// `rows` of the partition read.
    pub fn rows(&self, rows: u64) {
        self.progress.set(rows);
    }
}
