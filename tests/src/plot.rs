//! Latency over time, as an SVG file: one dot per completed operation at
//! (invocation time, latency), coloured by outcome, over shaded bands for
//! the nemesis's fault windows.
//!
//! ```text
//!   latency (ms, log)
//!    1000 ┤        ░░partition░░
//!     100 ┤        ░░ • •   ░░░        • ok    • fail    • info
//!      10 ┤ •  • • ░░•  • • ░░ • •  •
//!       1 ┤•• •• ••░░ •• •• ░░•• •• •
//!         └──────────────────────────── time since start (s)
//! ```
//!
//! Latency uses a log scale: fault windows push some operations to seconds
//! while the rest take milliseconds. Operations that never completed have no
//! latency and are not drawn. Text is laid out by plotters' built-in
//! estimate (no system fonts), so labels may sit a little off in a viewer.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use thiserror::Error;

use crate::history::{History, Outcome};

/// A stretch of the run during which the nemesis had a fault in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NemesisWindow {
    /// When the fault started (nanoseconds since the run started).
    pub start_ns: u64,
    /// When it healed.
    pub end_ns: u64,
    /// What it was, e.g. "partition n1 | n2 n3" or "kill n2".
    pub label: String,
}

/// The plot could not be drawn or written.
#[derive(Debug, Error)]
pub enum PlotError {
    /// The history could not be read as pairs of invocation and completion.
    #[error("history")]
    History(#[from] crate::history::HistoryError),
    /// Drawing or writing the SVG file failed (I/O on the path, usually).
    #[error("drawing the latency plot")]
    Draw(#[from] DrawingAreaErrorKind<std::io::Error>),
}

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 600;

fn color(outcome: Outcome) -> RGBColor {
    match outcome {
        Outcome::Ok => RGBColor(31, 119, 180),
        Outcome::Fail => RGBColor(214, 39, 40),
        Outcome::Info => RGBColor(255, 127, 14),
    }
}

/// Draws the latency of every completed operation of `history` over time,
/// with `nemesis` windows shaded and labelled, into an SVG file at `path`
/// (created or replaced; its directory must exist).
pub fn latency_svg(
    history: &History,
    nemesis: &[NemesisWindow],
    path: &Path,
) -> Result<(), PlotError> {
    let mut points: Vec<(Outcome, f64, f64)> = Vec::new(); // (outcome, seconds, ms)
    for pair in history.pairs()? {
        if let Some(latency) = pair.latency_ns() {
            let at = pair.invoke.time_ns as f64 / 1e9;
            // A zero latency cannot sit on a log scale: one microsecond.
            let ms = (latency as f64 / 1e6).max(0.001);
            points.push((pair.outcome(), at, ms));
        }
    }
    let end_s = points
        .iter()
        .map(|p| p.1)
        .chain(nemesis.iter().map(|w| w.end_ns as f64 / 1e9))
        .chain(history.ops.last().map(|op| op.time_ns as f64 / 1e9))
        .fold(0.0f64, f64::max)
        .max(0.001);
    let (low_ms, high_ms) = points
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), p| (lo.min(p.2), hi.max(p.2)));
    let (low_ms, high_ms) = if points.is_empty() {
        (0.1, 1000.0)
    } else {
        (low_ms / 2.0, high_ms * 2.0)
    };

    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    draw(&root, &points, nemesis, end_s, (low_ms, high_ms))?;
    root.present()?;
    Ok(())
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    points: &[(Outcome, f64, f64)],
    nemesis: &[NemesisWindow],
    end_s: f64,
    (low_ms, high_ms): (f64, f64),
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let mut chart = ChartBuilder::on(root)
        .caption("Latency over time", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..end_s * 1.02, (low_ms..high_ms).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc("latency (ms, log scale)")
        .draw()?;

    let shade = RGBColor(120, 120, 120).mix(0.18);
    chart.draw_series(nemesis.iter().map(|w| {
        let corners = [
            (w.start_ns as f64 / 1e9, low_ms),
            (w.end_ns as f64 / 1e9, high_ms),
        ];
        Rectangle::new(corners, shade.filled())
    }))?;
    chart.draw_series(nemesis.iter().map(|w| {
        let at = (w.start_ns as f64 / 1e9, high_ms / 1.3);
        Text::new(
            w.label.clone(),
            at,
            ("sans-serif", 13).into_font().color(&BLACK),
        )
    }))?;

    for (outcome, name) in [
        (Outcome::Ok, "ok"),
        (Outcome::Fail, "fail"),
        (Outcome::Info, "info"),
    ] {
        let c = color(outcome);
        let count = points.iter().filter(|p| p.0 == outcome).count();
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.0 == outcome)
                    .map(|p| Circle::new((p.1, p.2), 2, c.filled())),
            )?
            .label(format!("{name} ({count})"))
            .legend(move |(x, y)| Circle::new((x, y), 4, c.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{MicroOp, OpKind, OpValue};

    #[test]
    fn writes_an_svg_with_points_windows_and_labels() {
        let mut history = History::new();
        let txn = OpValue::Txn(vec![MicroOp::Append { key: 1, value: 1 }]);
        let mut process = 0;
        for i in 0..60u64 {
            let start = i * 50_000_000;
            let latency = if (20..30).contains(&i) {
                800_000_000
            } else {
                2_000_000 + i * 10_000
            };
            let outcome = match i % 10 {
                3 => OpKind::Fail,
                7 => OpKind::Info,
                _ => OpKind::Ok,
            };
            history.push(process, OpKind::Invoke, txn.clone(), start);
            history.push(process, outcome, txn.clone(), start + latency);
            if outcome == OpKind::Info {
                process += 1;
            }
        }
        let windows = [NemesisWindow {
            start_ns: 1_000_000_000,
            end_ns: 1_500_000_000,
            label: "partition n1 | n2 n3".to_string(),
        }];
        let dir = std::env::temp_dir().join(format!("spanlite-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("latency.svg");
        latency_svg(&history, &windows, &path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("partition n1 | n2 n3"));
        assert!(svg.contains("Latency over time"));
        assert!(svg.contains("ok (48)") && svg.contains("fail (6)") && svg.contains("info (6)"));
        // 60 dots plus 3 legend markers.
        assert_eq!(svg.matches("<circle").count(), 63);
        assert!(svg.contains("<rect"));
    }

    #[test]
    fn an_empty_history_still_draws_and_a_bad_path_is_an_error() {
        let dir = std::env::temp_dir().join(format!("spanlite-plot-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.svg");
        latency_svg(&History::new(), &[], &path).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("</svg>"));
        std::fs::remove_dir_all(&dir).unwrap();

        let missing = dir.join("no-such-dir").join("x.svg");
        assert!(matches!(
            latency_svg(&History::new(), &[], &missing),
            Err(PlotError::Draw(_))
        ));
    }
}
