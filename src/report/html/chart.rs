//! Inline SVG charts for report.html, drawn in Rust so that the page needs
//! no script and fetches nothing.
//!
//! Data marks are the only `rect`, `circle` and `polyline` elements a chart
//! draws. Axes, grid lines and legend swatches are `line` and `text`
//! elements, so a reader or a test finds a chart's marks by element name.
//! Every coordinate goes through [`Px`], so no attribute contains NaN or an
//! infinity whatever the report contains.

use std::fmt::{self, Write};

use super::{format_number, Escape};
use crate::report::model::Percentiles;

/// Width of every chart's view box, in CSS pixels at 100 % zoom.
const WIDTH: f64 = 760.0;
/// Estimated advance of one character of the 12 px sans-serif font, used
/// for layout only. DejaVu Sans, Debian's default, takes about 7.5 px per
/// character of a step name. A wider font makes labels overlap a little.
const CHAR_WIDTH: f64 = 7.5;
const ROW_HEIGHT: f64 = 22.0;
const LEGEND_ROW_HEIGHT: f64 = 18.0;
/// Labels longer than this are shortened in the middle, with the whole
/// label in a tooltip.
const MAX_LABEL_CHARS: usize = 32;
/// Characters kept from the start of a shortened label; the rest of
/// [`MAX_LABEL_CHARS`] comes from its end, which names the step.
const LABEL_HEAD_CHARS: usize = 12;
/// Space under the plot area for tick labels and the axis title.
const X_AXIS_HEIGHT: f64 = 44.0;

/// Okabe and Ito's colour-blind-safe palette with grey in place of yellow,
/// which is hard to see on white. Series past its end reuse its colours.
const PALETTE: [&str; 8] = [
    "#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#7f7f7f", "#000000",
];

fn colour(series: usize) -> &'static str {
    PALETTE[series % PALETTE.len()]
}

/// A coordinate or length in an SVG attribute, with one decimal. NaN and
/// infinities are written as 0, so the attribute stays valid.
#[derive(Debug, Clone, Copy)]
struct Px(f64);

impl fmt::Display for Px {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = if self.0.is_finite() { self.0 } else { 0.0 };
        write!(formatter, "{value:.1}")
    }
}

/// Maps data values onto pixels, linearly or by their logarithm.
#[derive(Debug, Clone, Copy)]
struct Scale {
    low: f64,
    high: f64,
    start: f64,
    end: f64,
    log: bool,
}

impl Scale {
    /// Returns the pixel of `value`, clamped to the scale's range. Values
    /// at or below 0 sit at the start of a log scale.
    fn at(&self, value: f64) -> f64 {
        let fraction = if self.log {
            let value = if value > self.low { value } else { self.low };
            (value.log10() - self.low.log10()) / (self.high.log10() - self.low.log10())
        } else {
            (value - self.low) / (self.high - self.low)
        };
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.start + fraction * (self.end - self.start)
    }
}

/// Returns a linear scale from 0 to a round number at or above `max`, and its ticks.
fn linear_axis(max: f64, start: f64, end: f64) -> (Scale, Vec<Tick>) {
    // Capped so that the rounded top stays finite.
    let max = if max.is_finite() && max > 0.0 {
        max.min(1e300)
    } else {
        1.0
    };
    let step = nice_step(max / 5.0);
    let steps = (max / step).ceil().max(1.0);
    let scale = Scale {
        low: 0.0,
        high: steps * step,
        start,
        end,
        log: false,
    };
    let decimals = decimals_for(step);
    let ticks = (0..=steps as usize)
        .map(|index| {
            let value = index as f64 * step;
            Tick {
                at: scale.at(value),
                label: format_number(value, decimals),
            }
        })
        .collect();
    (scale, ticks)
}

/// Rounds `raw` up to 1, 2 or 5 times a power of ten.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let residual = raw / magnitude;
    let nice = if residual <= 1.0 {
        1.0
    } else if residual <= 2.0 {
        2.0
    } else if residual <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Returns how many decimals a tick step of `step` needs.
fn decimals_for(step: f64) -> usize {
    if step >= 1.0 || step <= 0.0 {
        0
    } else {
        (-step.log10()).ceil().min(6.0) as usize
    }
}

/// Returns a log scale between the powers of ten around `min_positive` and
/// `max`, with a tick on every power of ten, or every few when they are many.
fn log_axis(min_positive: f64, max: f64, start: f64, end: f64) -> (Scale, Vec<Tick>) {
    let clean = |value: f64| {
        if value.is_finite() && value > 0.0 {
            value.clamp(1e-6, 1e300)
        } else {
            1.0
        }
    };

    let low_exponent = clean(min_positive).log10().floor() as i32;
    let high_exponent = (clean(max).log10().ceil() as i32).max(low_exponent + 1);
    let decades = (high_exponent - low_exponent) as usize;
    let stride = decades.div_ceil(8);
    let high_exponent = low_exponent + (decades.div_ceil(stride) * stride) as i32;
    let scale = Scale {
        low: 10f64.powi(low_exponent),
        high: 10f64.powi(high_exponent),
        start,
        end,
        log: true,
    };

    // One or two decades get ticks at 2 and 5 times each power of ten too.
    let multiples: &[f64] = if decades <= 2 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };

    let mut ticks = Vec::new();
    for exponent in (low_exponent..=high_exponent).step_by(stride) {
        for multiple in multiples {
            let value = multiple * 10f64.powi(exponent);
            if value > scale.high {
                break;
            }
            ticks.push(Tick {
                at: scale.at(value),
                label: format_number(value, (-exponent).max(0) as usize),
            });
        }
    }
    (scale, ticks)
}

#[derive(Debug)]
struct Tick {
    at: f64,
    label: String,
}

/// The plot area of a chart, inside its margins.
#[derive(Debug, Clone, Copy)]
struct Area {
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Area {
    /// Returns the height of the whole chart, x axis included.
    fn chart_height(&self) -> f64 {
        self.bottom + X_AXIS_HEIGHT
    }
}

/// Lays out a legend of `names` from the top left corner, one swatch and
/// name after another, wrapping at the chart's width. Calls `place` with
/// each name's index and position, and returns the legend's height, which
/// is 0 for a single series.
fn layout_legend(names: &[&str], mut place: impl FnMut(usize, f64, f64)) -> f64 {
    if names.len() < 2 {
        return 0.0;
    }
    let (mut x, mut y) = (12.0, 14.0);
    for (index, name) in names.iter().enumerate() {
        let width = 24.0 + name.chars().count().min(MAX_LABEL_CHARS) as f64 * CHAR_WIDTH + 16.0;
        if x + width > WIDTH && x > 12.0 {
            x = 12.0;
            y += LEGEND_ROW_HEIGHT;
        }
        place(index, x, y);
        x += width;
    }
    y + LEGEND_ROW_HEIGHT - 6.0
}

fn write_legend(out: &mut String, names: &[&str]) {
    layout_legend(names, |index, x, y| {
        let _ = write!(
            out,
            r#"<g class="legend"><line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="10"/><text x="{}" y="{}">"#,
            Px(x),
            Px(y),
            Px(x + 16.0),
            Px(y),
            colour(index),
            Px(x + 22.0),
            Px(y + 4.0),
        );
        write_label(out, names[index]);
        out.push_str("</text></g>");
    });
}

/// Writes `label` as text content. A label longer than
/// [`MAX_LABEL_CHARS`] loses characters from its middle, and the whole
/// label goes into a tooltip.
fn write_label(out: &mut String, label: &str) {
    let chars = label.chars().count();
    if chars <= MAX_LABEL_CHARS {
        let _ = write!(out, "{}", Escape(label));
        return;
    }
    let tail_chars = MAX_LABEL_CHARS - LABEL_HEAD_CHARS - 1;
    let byte_at = |char_index: usize| {
        label
            .char_indices()
            .nth(char_index)
            .map_or(label.len(), |(byte, _)| byte)
    };
    let _ = write!(
        out,
        "<title>{}</title>{}…{}",
        Escape(label),
        Escape(&label[..byte_at(LABEL_HEAD_CHARS)]),
        Escape(&label[byte_at(chars - tail_chars)..])
    );
}

/// Opens the figure and its SVG element. `caption` labels the chart for
/// screen readers and is the figure's caption.
fn open_figure(out: &mut String, name: &str, caption: &str, height: f64) {
    let _ = write!(
        out,
        r#"<figure class="chart" data-chart="{name}"><svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{caption}">"#,
        name = Escape(name),
        width = Px(WIDTH),
        height = Px(height),
        caption = Escape(caption),
    );
}

fn close_figure(out: &mut String, caption: &str) {
    let _ = writeln!(
        out,
        "</svg><figcaption>{}</figcaption></figure>",
        Escape(caption)
    );
}

/// Writes the x axis under `area` with vertical grid lines and a title.
fn write_x_axis(out: &mut String, area: Area, ticks: &[Tick], title: &str) {
    out.push_str(r#"<g class="axis x">"#);
    for tick in ticks {
        let _ = write!(
            out,
            r#"<line class="grid" x1="{x}" y1="{top}" x2="{x}" y2="{bottom}"/><line x1="{x}" y1="{bottom}" x2="{x}" y2="{tick_end}"/><text x="{x}" y="{text_y}" text-anchor="middle">{label}</text>"#,
            x = Px(tick.at),
            top = Px(area.top),
            bottom = Px(area.bottom),
            tick_end = Px(area.bottom + 5.0),
            text_y = Px(area.bottom + 18.0),
            label = Escape(&tick.label),
        );
    }
    let _ = write!(
        out,
        r#"<line x1="{}" y1="{bottom}" x2="{}" y2="{bottom}"/><text class="title" x="{}" y="{}" text-anchor="middle">{}</text></g>"#,
        Px(area.left),
        Px(area.right),
        Px((area.left + area.right) / 2.0),
        Px(area.bottom + 36.0),
        Escape(title),
        bottom = Px(area.bottom),
    );
}

/// Writes the y axis left of `area` with horizontal grid lines and a
/// title above it.
fn write_y_axis(out: &mut String, area: Area, ticks: &[Tick], title: &str) {
    out.push_str(r#"<g class="axis y">"#);
    for tick in ticks {
        let _ = write!(
            out,
            r#"<line class="grid" x1="{left}" y1="{y}" x2="{right}" y2="{y}"/><line x1="{tick_start}" y1="{y}" x2="{left}" y2="{y}"/><text x="{text_x}" y="{text_y}" text-anchor="end">{label}</text>"#,
            y = Px(tick.at),
            left = Px(area.left),
            right = Px(area.right),
            tick_start = Px(area.left - 5.0),
            text_x = Px(area.left - 8.0),
            text_y = Px(tick.at + 4.0),
            label = Escape(&tick.label),
        );
    }
    let _ = write!(
        out,
        r#"<line x1="{left}" y1="{}" x2="{left}" y2="{}"/><text class="title" x="{}" y="{}">{}</text></g>"#,
        Px(area.top),
        Px(area.bottom),
        Px(area.left - 8.0),
        Px(area.top - 10.0),
        Escape(title),
        left = Px(area.left),
    );
}

/// Returns the plot area of a chart with one row per label, the labels on
/// the left and `right_margin` pixels kept free on the right.
fn row_area(
    labels: impl Iterator<Item = usize>,
    rows: usize,
    legend: &[&str],
    right_margin: f64,
) -> Area {
    let longest = labels.max().unwrap_or(0).min(MAX_LABEL_CHARS);
    let left = (longest as f64 * CHAR_WIDTH + 16.0).max(60.0);
    let top = layout_legend(legend, |_, _, _| {}) + 12.0;
    Area {
        left,
        right: WIDTH - right_margin,
        top,
        bottom: top + rows as f64 * ROW_HEIGHT,
    }
}

fn write_row_label(out: &mut String, area: Area, y: f64, label: &str) {
    let _ = write!(
        out,
        r#"<text class="row" x="{}" y="{}" text-anchor="end">"#,
        Px(area.left - 8.0),
        Px(y + 4.0)
    );
    write_label(out, label);
    out.push_str("</text>");
}

/// Names of the five percentiles, in the order [`percentile_values`] returns them.
const PERCENTILE_NAMES: [&str; 5] = ["p50", "p90", "p99", "p99.9", "max"];

/// Returns the five percentiles in milliseconds.
fn percentile_values(percentiles: &Percentiles) -> [f64; 5] {
    [
        percentiles.p50,
        percentiles.p90,
        percentiles.p99,
        percentiles.p999,
        percentiles.max,
    ]
    .map(|micros| micros as f64 / 1000.0)
}

/// Draws one row per label with a dot for each percentile (in
/// microseconds) on a log scale of milliseconds, joined by a whisker from
/// p50 to max. `rows` must not be empty.
pub(super) fn percentile_dots(
    out: &mut String,
    name: &str,
    caption: &str,
    rows: &[(&str, Percentiles)],
) {
    let area = row_area(
        rows.iter().map(|(label, _)| label.chars().count()),
        rows.len(),
        &PERCENTILE_NAMES,
        24.0,
    );
    let all_values = rows.iter().flat_map(|(_, p)| percentile_values(p));
    let max = all_values.clone().fold(0.0, f64::max);
    let min_positive = all_values
        .filter(|value| *value > 0.0)
        .fold(f64::INFINITY, f64::min);
    let (scale, ticks) = log_axis(min_positive, max, area.left, area.right);

    open_figure(out, name, caption, area.chart_height());
    write_legend(out, &PERCENTILE_NAMES);
    write_x_axis(out, area, &ticks, "milliseconds (log scale)");
    for (index, (label, percentiles)) in rows.iter().enumerate() {
        let y = area.top + (index as f64 + 0.5) * ROW_HEIGHT;
        write_row_label(out, area, y, label);
        let values = percentile_values(percentiles);
        let _ = write!(
            out,
            r#"<line class="whisker" x1="{}" y1="{y}" x2="{}" y2="{y}"/>"#,
            Px(scale.at(values[0])),
            Px(scale.at(values[4])),
            y = Px(y),
        );
        for (series, value) in values.iter().enumerate() {
            let _ = write!(
                out,
                r#"<circle cx="{}" cy="{}" r="4.5" fill="{}"><title>{} {}: {} ms</title></circle>"#,
                Px(scale.at(*value)),
                Px(y),
                colour(series),
                Escape(label),
                PERCENTILE_NAMES[series],
                format_number(*value, 1),
            );
        }
    }
    close_figure(out, caption);
}

/// One bar of [`stacked_bars`].
#[derive(Debug)]
pub(super) struct BarRow<'a> {
    pub label: &'a str,
    /// The length of each series' segment, in the order of the series.
    pub segments: Vec<u64>,
    /// A short text written right of the bar.
    pub note: String,
}

/// Draws one horizontal bar per row, made of one segment per series laid
/// end to end, on a linear scale. `rows` must not be empty.
pub(super) fn stacked_bars(
    out: &mut String,
    name: &str,
    caption: &str,
    axis_title: &str,
    series: &[&str],
    rows: &[BarRow<'_>],
) {
    let note_width = rows
        .iter()
        .map(|row| row.note.chars().count())
        .max()
        .unwrap_or(0) as f64
        * CHAR_WIDTH;
    let area = row_area(
        rows.iter().map(|row| row.label.chars().count()),
        rows.len(),
        series,
        note_width.clamp(24.0, 260.0) + 12.0,
    );
    let total = |row: &BarRow<'_>| row.segments.iter().map(|value| *value as f64).sum::<f64>();
    let max = rows.iter().map(total).fold(0.0, f64::max);
    let (scale, ticks) = linear_axis(max, area.left, area.right);

    open_figure(out, name, caption, area.chart_height());
    write_legend(out, series);
    write_x_axis(out, area, &ticks, axis_title);
    for (index, row) in rows.iter().enumerate() {
        let y = area.top + index as f64 * ROW_HEIGHT;
        write_row_label(out, area, y + ROW_HEIGHT / 2.0, row.label);
        let mut sum = 0.0;
        for (series_index, value) in row.segments.iter().enumerate() {
            if *value == 0 {
                continue;
            }
            let start = scale.at(sum);
            sum += *value as f64;
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} {}</title></rect>"#,
                Px(start),
                Px(y + 3.0),
                Px((scale.at(sum) - start).max(1.0)),
                Px(ROW_HEIGHT - 6.0),
                colour(series_index),
                Escape(row.label),
                Escape(series.get(series_index).copied().unwrap_or("")),
                value,
            );
        }
        let _ = write!(
            out,
            r#"<text class="note" x="{}" y="{}">{}</text>"#,
            Px(scale.at(sum) + 6.0),
            Px(y + ROW_HEIGHT / 2.0 + 4.0),
            Escape(&row.note),
        );
    }
    close_figure(out, caption);
}

/// One line of [`line_chart`]: `(x, y)` points, where `None` breaks the line.
#[derive(Debug)]
pub(super) struct Series<'a> {
    pub name: &'a str,
    pub points: Vec<Option<(f64, f64)>>,
}

/// Draws each series as a line from 0 on both linear axes, and a dot for a
/// point with no neighbour to join. Points with a NaN or infinite
/// coordinate are left out. Returns `false` without writing anything when
/// no series has a point.
pub(super) fn line_chart(
    out: &mut String,
    name: &str,
    caption: &str,
    (x_title, y_title): (&str, &str),
    series: &[Series<'_>],
) -> bool {
    let finite = |point: &Option<(f64, f64)>| point.filter(|(x, y)| x.is_finite() && y.is_finite());
    let points = || {
        series
            .iter()
            .flat_map(|line| line.points.iter().filter_map(finite))
    };
    if points().next().is_none() {
        return false;
    }
    let x_max = points().map(|(x, _)| x).fold(0.0, f64::max);
    let y_max = points().map(|(_, y)| y).fold(0.0, f64::max);
    let names: Vec<&str> = series.iter().map(|line| line.name).collect();
    let top = layout_legend(&names, |_, _, _| {}) + 30.0;
    let area = Area {
        left: 72.0,
        right: WIDTH - 24.0,
        top,
        bottom: top + 220.0,
    };
    let (x_scale, x_ticks) = linear_axis(x_max, area.left, area.right);
    let (y_scale, y_ticks) = linear_axis(y_max, area.bottom, area.top);

    open_figure(out, name, caption, area.chart_height());
    write_legend(out, &names);
    write_x_axis(out, area, &x_ticks, x_title);
    write_y_axis(out, area, &y_ticks, y_title);
    for (index, line) in series.iter().enumerate() {
        let mut run: Vec<(f64, f64)> = Vec::new();
        for point in line.points.iter().map(finite).chain([None]) {
            match point {
                Some((x, y)) => run.push((x_scale.at(x), y_scale.at(y))),
                None => {
                    write_run(out, &run, colour(index));
                    run.clear();
                }
            }
        }
    }
    close_figure(out, caption);
    true
}

/// Writes a run of joined points as a polyline, or a lone point as a dot.
fn write_run(out: &mut String, run: &[(f64, f64)], colour: &str) {
    match run {
        [] => {}
        [(x, y)] => {
            let _ = write!(
                out,
                r#"<circle cx="{}" cy="{}" r="3" fill="{colour}"/>"#,
                Px(*x),
                Px(*y)
            );
        }
        _ => {
            out.push_str(r#"<polyline fill="none" stroke-width="2" stroke=""#);
            out.push_str(colour);
            out.push_str(r#"" points=""#);
            for (x, y) in run {
                let _ = write!(out, "{},{} ", Px(*x), Px(*y));
            }
            out.push_str(r#""/>"#);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn px_writes_zero_for_nan_and_infinity() {
        assert_eq!(Px(f64::NAN).to_string(), "0.0");
        assert_eq!(Px(f64::INFINITY).to_string(), "0.0");
        assert_eq!(Px(12.345).to_string(), "12.3");
    }

    #[test]
    fn linear_axis_rounds_up_to_nice_ticks() {
        let (scale, ticks) = linear_axis(87.0, 0.0, 100.0);
        let labels: Vec<&str> = ticks.iter().map(|tick| tick.label.as_str()).collect();
        assert_eq!(labels, ["0", "20", "40", "60", "80", "100"]);
        assert_eq!(scale.at(50.0), 50.0);
    }

    #[test]
    fn linear_axis_survives_zero_and_nan() {
        for max in [0.0, -3.0, f64::NAN, f64::INFINITY] {
            let (scale, ticks) = linear_axis(max, 0.0, 100.0);
            assert!(!ticks.is_empty(), "max {max} has ticks");
            assert!(scale.at(0.5).is_finite(), "max {max} maps finitely");
        }
    }

    #[test]
    fn linear_axis_labels_fractions() {
        let (_, ticks) = linear_axis(0.3, 0.0, 100.0);
        assert_eq!(ticks[1].label, "0.1");
    }

    #[test]
    fn log_axis_thins_ticks_over_many_decades() {
        let (scale, ticks) = log_axis(0.001, u64::MAX as f64 / 1000.0, 0.0, 100.0);
        assert!(ticks.len() <= 10, "{} ticks", ticks.len());
        assert_eq!(scale.at(0.0), 0.0, "0 sits at the start of a log scale");
        assert_eq!(ticks[0].label, "0.001");
    }

    #[test]
    fn log_axis_spans_a_decade_for_one_value() {
        let (_, ticks) = log_axis(5.0, 5.0, 0.0, 100.0);
        let labels: Vec<&str> = ticks.iter().map(|tick| tick.label.as_str()).collect();
        assert_eq!(labels, ["1", "2", "5", "10"]);
    }

    #[test]
    fn line_chart_breaks_at_gaps() {
        let mut out = String::new();
        let series = [Series {
            name: "p50",
            points: vec![Some((0.0, 1.0)), Some((1.0, 2.0)), None, Some((3.0, 1.0))],
        }];
        assert!(line_chart(&mut out, "test", "Test", ("s", "ms"), &series));
        assert_eq!(out.matches("<polyline").count(), 1);
        assert_eq!(out.matches("<circle").count(), 1);
        assert!(!out.contains("NaN"));
    }

    #[test]
    fn line_chart_without_points_writes_nothing() {
        let mut out = String::new();
        let series = [Series {
            name: "p50",
            points: vec![None, Some((f64::NAN, 1.0))],
        }];
        assert!(!line_chart(&mut out, "test", "Test", ("s", "ms"), &series));
        assert!(out.is_empty());
    }

    #[test]
    fn long_labels_lose_their_middle() {
        let mut out = String::new();
        let label = format!("journey.{}.<step>", "é".repeat(100));
        write_label(&mut out, &label);
        let tooltip = format!("<title>{}</title>", Escape(&label));
        assert!(
            out.starts_with(&tooltip),
            "whole label in the tooltip: {out}"
        );
        let shown = &out[tooltip.len()..];
        assert_eq!(
            shown,
            format!("journey.éééé…{}.&lt;step&gt;", "é".repeat(12))
        );
    }

    #[test]
    fn short_labels_are_kept_whole() {
        let mut out = String::new();
        write_label(&mut out, "sign_in.code");
        assert_eq!(out, "sign_in.code");
    }
}
