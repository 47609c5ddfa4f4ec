//! A progress line for long CLI commands (`paymux dev seed`, `paymux reconcile`): one line on
//! stderr, redrawn in place with a carriage return a few times a second, ended when the command
//! is done. It shows only on a terminal, so scripts and pipes read stdout and stderr as if it
//! did not exist; `PAYMUX_PROGRESS=always` (or `never`) overrides the terminal check.
//!
//! The line is drawn from a closure called only when it is due, so a command can report after
//! every batch or page: between draws that costs one clock read.

use std::io::{IsTerminal, Stderr, Write};
use std::time::{Duration, Instant};

/// The environment variable that overrides the terminal check: `always`, `never` or `auto`.
pub const PROGRESS_ENV: &str = "PAYMUX_PROGRESS";

/// How long a drawn line stays before the next one: a few redraws a second.
pub const INTERVAL: Duration = Duration::from_millis(250);

/// Whether to show progress, given `PAYMUX_PROGRESS` and whether stderr is a terminal: on a
/// terminal unless told otherwise.
pub fn wanted(setting: Option<&str>, stderr_is_terminal: bool) -> bool {
    match setting.map(str::trim) {
        Some(always) if always.eq_ignore_ascii_case("always") => true,
        Some(never) if never.eq_ignore_ascii_case("never") => false,
        _ => stderr_is_terminal,
    }
}

/// One line of progress, redrawn in place on `W` (stderr but in tests).
pub struct ProgressLine<W: Write> {
    /// Where the line is drawn; `None` when progress is off or the line has ended.
    out: Option<W>,
    started: Instant,
    /// When the line was last drawn; `None` before the first draw.
    drawn_at: Option<Instant>,
    /// Characters on screen, so that a shorter line blanks out the rest of a longer one.
    width: usize,
}

impl ProgressLine<Stderr> {
    /// A line on stderr, on when it is a terminal or `PAYMUX_PROGRESS` says so; its clock starts
    /// now.
    pub fn stderr() -> ProgressLine<Stderr> {
        let setting = std::env::var(PROGRESS_ENV).ok();
        let stderr = std::io::stderr();
        let on = wanted(setting.as_deref(), stderr.is_terminal());
        ProgressLine::new(on.then_some(stderr), Instant::now())
    }
}

impl<W: Write> ProgressLine<W> {
    /// A line drawn on `out` (none: progress is off), its elapsed time counted from `started`.
    pub fn new(out: Option<W>, started: Instant) -> ProgressLine<W> {
        ProgressLine {
            out,
            started,
            drawn_at: None,
            width: 0,
        }
    }

    /// Redraws the line with the text `line` makes of the elapsed time, unless it was drawn
    /// less than [`INTERVAL`] ago. The first update draws at once: a sign of life.
    pub fn update(&mut self, line: impl FnOnce(Duration) -> String) {
        if self.out.is_some() {
            self.update_at(Instant::now(), line);
        }
    }

    /// [`ProgressLine::update`] at `now`.
    pub fn update_at(&mut self, now: Instant, line: impl FnOnce(Duration) -> String) {
        let due = self
            .drawn_at
            .is_none_or(|drawn_at| now.saturating_duration_since(drawn_at) >= INTERVAL);
        if due {
            self.draw(now, line);
        }
    }

    /// Draws the final state whatever the interval, and ends the line with a newline: it stays
    /// on screen as a record of the run.
    pub fn finish(&mut self, line: impl FnOnce(Duration) -> String) {
        if self.out.is_some() {
            self.finish_at(Instant::now(), line);
        }
    }

    /// [`ProgressLine::finish`] at `now`.
    pub fn finish_at(&mut self, now: Instant, line: impl FnOnce(Duration) -> String) {
        self.draw(now, line);
        self.end();
    }

    /// Blanks the line out and leaves the cursor at its start, for output that replaces it.
    pub fn clear(&mut self) {
        if let Some(mut out) = self.out.take()
            && self.drawn_at.is_some()
        {
            let _ = write!(out, "\r{:width$}\r", "", width = self.width);
            let _ = out.flush();
        }
    }

    fn draw(&mut self, now: Instant, line: impl FnOnce(Duration) -> String) {
        let Some(out) = &mut self.out else { return };
        let text = line(now.saturating_duration_since(self.started));
        let width = text.chars().count();
        let blank = self.width.saturating_sub(width);
        // Progress is a courtesy: a stderr that cannot be written to must not fail the command.
        let _ = write!(out, "\r{text}{:blank$}", "");
        let _ = out.flush();
        self.width = width;
        self.drawn_at = Some(now);
    }

    /// Moves past a drawn line, so that what comes next starts on a line of its own.
    fn end(&mut self) {
        if let Some(mut out) = self.out.take()
            && self.drawn_at.is_some()
        {
            let _ = writeln!(out);
            let _ = out.flush();
        }
    }
}

impl<W: Write> Drop for ProgressLine<W> {
    /// A command that fails midway leaves its last progress on screen, and its error below.
    fn drop(&mut self) {
        self.end();
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Whole seconds: `11 s`.
pub fn seconds(elapsed: Duration) -> String {
    format!("{} s", thousands(elapsed.as_secs()))
}

/// How many a second, `done` in `elapsed`; 0 before any time has passed.
pub fn per_second(done: u64, elapsed: Duration) -> u64 {
    let micros = elapsed.as_micros();
    if micros == 0 {
        return 0;
    }
    u64::try_from(u128::from(done) * 1_000_000 / micros).unwrap_or(u64::MAX)
}

/// `412,000 / 1,000,000 events (41%), 38,200/s, 11 s`: `done` of `total` `what`.
pub fn done_of(done: u64, total: u64, what: &str, elapsed: Duration) -> String {
    let percent = if total == 0 {
        100
    } else {
        (u128::from(done) * 100 / u128::from(total)).min(100)
    };
    format!(
        "{} / {} {what} ({percent}%), {}/s, {}",
        thousands(done),
        thousands(total),
        thousands(per_second(done, elapsed)),
        seconds(elapsed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(out: &[u8]) -> &str {
        std::str::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_have_thousands_separators() {
        let cases = [
            (0, "0"),
            (7, "7"),
            (999, "999"),
            (1_000, "1,000"),
            (38_200, "38,200"),
            (412_000, "412,000"),
            (1_000_000, "1,000,000"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ];
        for (n, expected) in cases {
            assert_eq!(thousands(n), expected);
        }
    }

    #[test]
    fn a_count_of_a_total_reads_with_percent_rate_and_time() {
        let line = done_of(412_000, 1_000_000, "events", Duration::from_millis(10_300));
        assert_eq!(line, "412,000 / 1,000,000 events (41%), 40,000/s, 10 s");
        // A seed writes whole scenarios, so it may go past the total asked for.
        let past = done_of(1_000_004, 1_000_000, "events", Duration::from_secs(25));
        assert_eq!(past, "1,000,004 / 1,000,000 events (100%), 40,000/s, 25 s");
        let start = done_of(0, 0, "events", Duration::ZERO);
        assert_eq!(start, "0 / 0 events (100%), 0/s, 0 s");
    }

    #[test]
    fn progress_shows_on_a_terminal_unless_told_otherwise() {
        assert!(wanted(None, true));
        assert!(!wanted(None, false));
        assert!(wanted(Some("auto"), true));
        assert!(!wanted(Some("auto"), false));
        assert!(wanted(Some("always"), false));
        assert!(wanted(Some("ALWAYS"), false));
        assert!(!wanted(Some("never"), true));
        assert!(!wanted(Some("sometimes"), false));
    }

    #[test]
    fn the_line_is_redrawn_in_place_at_most_once_an_interval_and_ended_with_a_newline() {
        let start = Instant::now();
        let at = |millis| start + Duration::from_millis(millis);
        let mut out = vec![];
        let mut line = ProgressLine::new(Some(&mut out), start);
        let mut built = vec![];
        let mut draw = |line: &mut ProgressLine<_>, millis, rows: u64| {
            line.update_at(at(millis), |elapsed| {
                built.push(rows);
                format!("rows {rows} at {}", elapsed.as_millis())
            });
        };
        // The first update draws at once; the next ones only an interval after the last draw.
        draw(&mut line, 0, 0);
        draw(&mut line, 100, 1_000);
        draw(&mut line, 249, 2_000);
        draw(&mut line, 250, 3_000);
        draw(&mut line, 400, 4_000);
        draw(&mut line, 600, 50);
        assert_eq!(built, [0, 3_000, 50], "only the lines drawn are built");
        line.finish_at(at(610), |elapsed| {
            format!("done at {}", elapsed.as_millis())
        });
        line.update_at(at(5_000), |_| unreachable!("an ended line draws nothing"));
        drop(line);
        // A shorter line blanks out what the longer one before it leaves.
        assert_eq!(
            text(&out),
            "\rrows 0 at 0\rrows 3000 at 250\rrows 50 at 600  \rdone at 610   \n"
        );
    }

    #[test]
    fn a_cleared_line_leaves_nothing_behind() {
        let start = Instant::now();
        let mut out = vec![];
        let mut line = ProgressLine::new(Some(&mut out), start);
        line.update_at(start, |_| {
            "reconciling demo: events 0 read · 0 s".to_owned()
        });
        line.clear();
        drop(line);
        let blank = " ".repeat("reconciling demo: events 0 read · 0 s".chars().count());
        assert_eq!(
            text(&out),
            format!("\rreconciling demo: events 0 read · 0 s\r{blank}\r")
        );
    }

    #[test]
    fn a_line_never_drawn_writes_nothing_even_when_finished() {
        let start = Instant::now();
        let mut out = vec![];
        ProgressLine::new(Some(&mut out), start).clear();
        assert!(out.is_empty());
        // Off: nothing is drawn, and the text is never even built.
        let mut line: ProgressLine<&mut Vec<u8>> = ProgressLine::new(None, start);
        line.update_at(start, |_| unreachable!());
        line.finish_at(start, |_| unreachable!());
    }

    #[test]
    fn a_line_dropped_midway_is_ended_so_an_error_starts_on_a_line_of_its_own() {
        let start = Instant::now();
        let mut out = vec![];
        let mut line = ProgressLine::new(Some(&mut out), start);
        line.update_at(start, |_| "seeding: 1,000 / 5,000 events".to_owned());
        drop(line);
        assert_eq!(text(&out), "\rseeding: 1,000 / 5,000 events\n");
    }
}
