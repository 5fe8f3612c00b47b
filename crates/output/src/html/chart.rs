//! Bar charts as inline SVG, drawn in Rust: nothing to run or fetch when the page opens.
//! Every label is escaped; a label too long for its column is cut, and the whole of it is
//! the bar's tooltip (`<title>`).

use std::fmt::Write as _;

use super::escape;

/// Width of a chart, in SVG units (pixels at 100 %).
const WIDTH: u32 = 900;
/// Width of the label column of a horizontal chart.
const LABEL_WIDTH: u32 = 300;
/// Width kept right of the longest bar for its count.
const COUNT_WIDTH: u32 = 80;
/// Height of one bar of a horizontal chart, and the gap under it.
const ROW: u32 = 22;
/// Height of the bars' area of a histogram.
const HISTOGRAM_HEIGHT: u32 = 180;
/// Labels longer than this (in characters) are cut in the label column.
const LABEL_CHARS: usize = 42;

/// One bar: what it counts, how many, and its CSS class (a level's colour).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Bar {
    /// The label, as found (escaped when drawn).
    pub label: String,
    /// The count.
    pub value: u64,
    /// The class of the bar (`bar critical`, ...), from a fixed set, never from input.
    pub class: &'static str,
}

/// A horizontal bar chart, one labelled row per bar, longest bar the widest.
pub(super) fn horizontal(bars: &[Bar], caption: &str) -> String {
    let highest = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let span = WIDTH - LABEL_WIDTH - COUNT_WIDTH;
    let height = ROW * u32::try_from(bars.len()).unwrap_or(u32::MAX / ROW).max(1);
    let mut svg = open(height, caption);
    for (i, bar) in bars.iter().enumerate() {
        let y = ROW * u32::try_from(i).unwrap_or(0);
        // A count, however small, shows as a bar; none shows none.
        let width = scale(bar.value, highest, span).max(u32::from(bar.value > 0));
        let _ = write!(
            svg,
            "<g><title>{} ({})</title>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect class=\"{}\" x=\"{LABEL_WIDTH}\" y=\"{}\" width=\"{width}\" height=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text></g>",
            escape(&bar.label),
            bar.value,
            LABEL_WIDTH - 6,
            y + 15,
            escape(&cut(&bar.label)),
            bar.class,
            y + 3,
            ROW - 6,
            LABEL_WIDTH + width + 6,
            y + 15,
            bar.value,
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A histogram: one vertical bar per bin, left to right, with the first and last bins'
/// labels under the axis and each bin's label and count as its tooltip.
pub(super) fn histogram(bins: &[(String, u64)], caption: &str) -> String {
    let highest = bins.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let count = u32::try_from(bins.len()).unwrap_or(u32::MAX).max(1);
    let step = f64::from(WIDTH) / f64::from(count);
    let mut svg = open(HISTOGRAM_HEIGHT + 40, caption);
    let _ = write!(
        svg,
        "<text x=\"0\" y=\"12\">{highest}</text>\
         <line class=\"axis\" x1=\"0\" y1=\"{HISTOGRAM_HEIGHT}\" x2=\"{WIDTH}\" y2=\"{HISTOGRAM_HEIGHT}\"/>"
    );
    for (i, (label, value)) in bins.iter().enumerate() {
        let height = scale(*value, highest, HISTOGRAM_HEIGHT - 16);
        let x = step * i as f64;
        let _ = write!(
            svg,
            "<rect class=\"bar\" x=\"{x:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{height}\"><title>{}: {value}</title></rect>",
            HISTOGRAM_HEIGHT - height,
            (step * 0.9).max(0.5),
            escape(label),
        );
    }
    if let (Some(first), Some(last)) = (bins.first(), bins.last()) {
        let y = HISTOGRAM_HEIGHT + 18;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{y}\">{}</text><text x=\"{WIDTH}\" y=\"{y}\" text-anchor=\"end\">{}</text>",
            escape(&first.0),
            escape(&last.0)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The opening tag of a chart `height` units high, described by `caption` for screen
/// readers. The chart scales down with the page.
fn open(height: u32, caption: &str) -> String {
    format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"{}\">",
        escape(caption)
    )
}

/// `value` out of `highest` as a length out of `span`, rounded down.
fn scale(value: u64, highest: u64, span: u32) -> u32 {
    let scaled = u128::from(value) * u128::from(span) / u128::from(highest.max(1));
    u32::try_from(scaled).unwrap_or(span)
}

/// `label` cut to [`LABEL_CHARS`] characters, ending with `…` when cut.
fn cut(label: &str) -> String {
    match label.char_indices().nth(LABEL_CHARS) {
        Some((end, _)) => format!("{}…", &label[..end]),
        None => label.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, value: u64) -> Bar {
        Bar {
            label: label.into(),
            value,
            class: "bar",
        }
    }

    #[test]
    fn bars_are_scaled_to_the_highest_and_labels_escaped() {
        let svg = horizontal(&[bar("<b>big</b>", 10), bar("small", 5)], "rules");
        assert!(svg.contains("width=\"520\""), "{svg}");
        assert!(svg.contains("width=\"260\""), "{svg}");
        assert!(svg.contains("&lt;b&gt;big&lt;/b&gt;"), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.ends_with("</svg>\n"));
    }

    #[test]
    fn long_labels_are_cut_with_the_whole_in_the_tooltip() {
        let long = "x".repeat(100);
        let svg = horizontal(&[bar(&long, 1)], "c");
        assert!(svg.contains(&format!("<title>{long} (1)</title>")), "{svg}");
        assert!(svg.contains(&format!(">{}…</text>", "x".repeat(LABEL_CHARS))));
    }

    #[test]
    fn a_histogram_has_one_bar_per_bin_and_names_its_ends() {
        let bins = vec![
            ("day 1".to_owned(), 4),
            ("day 2".to_owned(), 0),
            ("day 3".to_owned(), 2),
        ];
        let svg = histogram(&bins, "over time");
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("<title>day 2: 0</title>"), "{svg}");
        assert!(svg.contains(">day 1</text>") && svg.contains(">day 3</text>"));
        assert!(
            svg.contains("height=\"164\""),
            "the highest bin fills the chart: {svg}"
        );
    }

    #[test]
    fn empty_charts_do_not_divide_by_zero() {
        assert!(horizontal(&[], "none").contains("<svg"));
        assert!(histogram(&[], "none").contains("<svg"));
        assert_eq!(scale(0, 0, 100), 0);
    }
}
