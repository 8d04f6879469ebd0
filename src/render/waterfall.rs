//! The waterfall: one line per span, in tree order, with a bar on the
//! trace's time axis.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;

use super::{format_duration, neutralize};
use crate::analysis::CriticalPath;
use crate::trace::SpanId;

/// One span as the waterfall needs it. Built from a
/// [`SpanData`](crate::SpanData) or from a stored span.
#[derive(Debug, Clone, Copy)]
pub struct WaterfallSpan<'a> {
    /// The span's id.
    pub span_id: SpanId,
    /// Its parent's id ([`SpanId::INVALID`] for a root).
    pub parent_span_id: SpanId,
    /// The service that made it (untrusted: it is escaped).
    pub service: &'a str,
    /// The span's name (untrusted: it is escaped).
    pub name: &'a str,
    /// Start, nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End, nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
    /// Whether the span's status is an error.
    pub is_error: bool,
}

/// How to draw a waterfall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaterfallOptions {
    /// Total line width in columns.
    pub width: usize,
    /// Whether to use ANSI colours.
    pub color: bool,
}

impl Default for WaterfallOptions {
    /// 80 columns, no colour.
    fn default() -> Self {
        WaterfallOptions {
            width: 80,
            color: false,
        }
    }
}

/// Deepest indentation drawn; deeper spans line up at this level.
const MAX_INDENT: usize = 16;
const DURATION_WIDTH: usize = 7;
/// Columns besides the label and the bar: " ✗ " + duration + "  ".
const FIXED_COLUMNS: usize = 3 + DURATION_WIDTH + 2;
const MIN_BAR: usize = 10;
const PALETTE: [&str; 6] = ["36", "32", "35", "34", "33", "96"];
const RED: &str = "31";

/// Renders spans as a waterfall, one line each, children under their parent
/// in start order:
///
/// ```text
/// my-api › GET /users       245ms  ████████████████████████████
/// my-api ›   fetch_from_db  172ms      ████████████████████
/// ```
///
/// Spans whose parent is missing are drawn as roots; a cycle of parent ids
/// (possible in data from the network) cannot loop. Error spans are marked
/// `✗`. Names and services are escaped with [`neutralize`].
///
/// ```
/// use tracelite::render::{render_waterfall, WaterfallOptions, WaterfallSpan};
/// use tracelite::SpanId;
///
/// let spans = [
///     WaterfallSpan { span_id: SpanId::from_u64(1), parent_span_id: SpanId::INVALID,
///         service: "api", name: "GET /", start_unix_nanos: 0, end_unix_nanos: 100_000_000, is_error: false },
///     WaterfallSpan { span_id: SpanId::from_u64(2), parent_span_id: SpanId::from_u64(1),
///         service: "api", name: "db", start_unix_nanos: 50_000_000, end_unix_nanos: 100_000_000, is_error: true },
/// ];
/// let text = render_waterfall(&spans, &WaterfallOptions { width: 40, color: false });
/// assert_eq!(text, "api › GET /     100ms  █████████████████\n\
///                   api ›   db  ✗  50.0ms          █████████\n");
/// ```
pub fn render_waterfall(spans: &[WaterfallSpan<'_>], options: &WaterfallOptions) -> String {
    render(spans, options, None)
}

/// Like [`render_waterfall`], with the critical path drawn in: the parts of
/// each bar that lie on the path are solid (`█`), the rest light (`░`), so
/// the chain that decided the trace's latency reads top to bottom.
///
/// ```
/// use tracelite::analysis::{critical_path, SpanInfo};
/// use tracelite::render::{render_waterfall_with_path, WaterfallOptions, WaterfallSpan};
/// use tracelite::{SpanId, SpanKind, TraceId};
///
/// let ws = |id: u64, parent: u64, name: &'static str, start: u64, end: u64| WaterfallSpan {
///     span_id: SpanId::from_u64(id), parent_span_id: SpanId::from_u64(parent),
///     service: "api", name, start_unix_nanos: start, end_unix_nanos: end, is_error: false };
/// let spans = [ws(1, 0, "GET /", 0, 100), ws(2, 1, "cache", 0, 20), ws(3, 1, "db", 10, 100)];
/// let infos: Vec<SpanInfo> = spans.iter().map(|s| SpanInfo::new(TraceId::from_u128(1),
///     s.span_id, s.parent_span_id, s.service, s.name, SpanKind::Internal,
///     s.start_unix_nanos, s.end_unix_nanos)).collect();
/// let path = critical_path(&infos).unwrap();
/// let text = render_waterfall_with_path(&spans, &WaterfallOptions { width: 40, color: false }, &path);
/// // db ended last, so it is on the path; cache overlaps it, so it is not;
/// // the root's own time is before db started.
/// assert_eq!(text, "api › GET /       100ns  ██░░░░░░░░░░░░░\n\
///                   api ›   cache      20ns  ░░░\n\
///                   api ›   db         90ns   ██████████████\n");
/// ```
pub fn render_waterfall_with_path(
    spans: &[WaterfallSpan<'_>],
    options: &WaterfallOptions,
    path: &CriticalPath,
) -> String {
    render(spans, options, Some(path))
}

fn render(
    spans: &[WaterfallSpan<'_>],
    options: &WaterfallOptions,
    path: Option<&CriticalPath>,
) -> String {
    if spans.is_empty() {
        return String::new();
    }
    let rows = tree_order(spans);

    let labels: Vec<(String, String)> = rows
        .iter()
        .map(|&(i, depth)| {
            let s = &spans[i];
            let indent = "  ".repeat(depth.min(MAX_INDENT));
            (
                neutralize(s.service).into_owned(),
                format!("{indent}{}", neutralize(s.name)),
            )
        })
        .collect();
    let longest = labels
        .iter()
        .map(|(svc, name)| svc.chars().count() + 3 + name.chars().count())
        .max()
        .unwrap_or(0);
    let label_width = longest.min((options.width * 2 / 5).max(20));
    let bar_width = options
        .width
        .saturating_sub(label_width + FIXED_COLUMNS)
        .max(MIN_BAR);

    let t0 = spans.iter().map(|s| s.start_unix_nanos).min().unwrap_or(0);
    let t1 = spans
        .iter()
        .map(|s| s.end_unix_nanos.max(s.start_unix_nanos))
        .max()
        .unwrap_or(t0);
    let total = u128::from((t1 - t0).max(1));

    let mut colors: HashMap<&str, &str> = HashMap::new();
    let mut out = String::new();
    for (&(i, _), (service, name)) in rows.iter().zip(&labels) {
        let span = &spans[i];
        let next = PALETTE[colors.len() % PALETTE.len()];
        let color = *colors.entry(span.service).or_insert(next);
        let bar_color = if span.is_error { RED } else { color };

        // Label, cut to its column with an ellipsis.
        let full = format!("{service} › {name}");
        let label: String = if full.chars().count() > label_width {
            let mut cut: String = full.chars().take(label_width.saturating_sub(1)).collect();
            cut.push('…');
            cut
        } else {
            full
        };
        let pad = label_width.saturating_sub(label.chars().count());
        if options.color {
            // Colour the service part only; the label was built from it.
            let split = label
                .char_indices()
                .nth(service.chars().count().min(label.chars().count()))
                .map_or(label.len(), |(b, _)| b);
            let _ = write!(
                out,
                "\x1b[{color}m{}\x1b[0m{}",
                &label[..split],
                &label[split..]
            );
        } else {
            out.push_str(&label);
        }
        out.extend(std::iter::repeat_n(' ', pad));

        // Error mark and duration.
        let duration = span.end_unix_nanos.saturating_sub(span.start_unix_nanos);
        match (span.is_error, options.color) {
            (true, true) => out.push_str(" \x1b[31m✗\x1b[0m "),
            (true, false) => out.push_str(" ✗ "),
            (false, _) => out.push_str("   "),
        }
        let _ = write!(out, "{:>DURATION_WIDTH$}  ", format_duration(duration));

        // The bar on the trace's time axis.
        let offset = u128::from(span.start_unix_nanos - t0);
        let end = u128::from(span.end_unix_nanos.max(span.start_unix_nanos) - t0);
        let width = bar_width as u128;
        let first = ((offset * width / total) as usize).min(bar_width - 1);
        let last = (end * width).div_ceil(total) as usize;
        let len = last.saturating_sub(first).clamp(1, bar_width - first);
        out.extend(std::iter::repeat_n(' ', first));
        if options.color {
            let _ = write!(out, "\x1b[{bar_color}m");
        }
        match path {
            None => out.extend(std::iter::repeat_n('█', len)),
            Some(path) => {
                // A cell is solid when a path segment of this span overlaps it.
                let cell_time = |c: usize| -> (u64, u64) {
                    let from = t0 + (c as u128 * total / width) as u64;
                    let to = t0 + ((c as u128 + 1) * total).div_ceil(width) as u64;
                    (from, to)
                };
                for c in first..first + len {
                    let (from, to) = cell_time(c);
                    let on_path = path
                        .segments
                        .iter()
                        .any(|seg| seg.span_id == span.span_id && seg.start < to && seg.end > from);
                    out.push(if on_path { '█' } else { '░' });
                }
            }
        }
        if options.color {
            out.push_str("\x1b[0m");
        }
        out.push('\n');
    }
    out
}

/// The spans in tree order, as (index, depth): roots by start time, each
/// followed by its subtree. Every span appears exactly once.
fn tree_order(spans: &[WaterfallSpan<'_>]) -> Vec<(usize, usize)> {
    let mut by_id: HashMap<SpanId, usize> = HashMap::with_capacity(spans.len());
    for (i, s) in spans.iter().enumerate() {
        by_id.entry(s.span_id).or_insert(i);
    }
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match by_id.get(&s.parent_span_id) {
            Some(&p) if s.parent_span_id.is_valid() && p != i => {
                children.entry(p).or_default().push(i)
            }
            _ => roots.push(i),
        }
    }
    let by_start = |a: &usize, b: &usize| {
        (spans[*a].start_unix_nanos, *a).cmp(&(spans[*b].start_unix_nanos, *b))
    };
    roots.sort_by(by_start);
    for list in children.values_mut() {
        list.sort_by(by_start);
    }

    let mut order = Vec::with_capacity(spans.len());
    let mut seen = HashSet::with_capacity(spans.len());
    let mut visit = |start: usize, order: &mut Vec<(usize, usize)>| {
        let mut stack = vec![(start, 0usize)];
        while let Some((i, depth)) = stack.pop() {
            if !seen.insert(i) {
                continue;
            }
            order.push((i, depth));
            if let Some(kids) = children.get(&i) {
                stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
            }
        }
    };
    for &r in &roots {
        visit(r, &mut order);
    }
    // Spans caught in a parent cycle are reachable from no root.
    let mut rest: Vec<usize> = (0..spans.len()).collect();
    rest.sort_by(by_start);
    for i in rest {
        visit(i, &mut order);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span<'a>(
        id: u64,
        parent: u64,
        service: &'a str,
        name: &'a str,
        start_ms: u64,
        end_ms: u64,
    ) -> WaterfallSpan<'a> {
        WaterfallSpan {
            span_id: SpanId::from_u64(id),
            parent_span_id: SpanId::from_u64(parent),
            service,
            name,
            start_unix_nanos: 1_700_000_000_000_000_000 + start_ms * 1_000_000,
            end_unix_nanos: 1_700_000_000_000_000_000 + end_ms * 1_000_000,
            is_error: false,
        }
    }

    #[test]
    fn fixed_tree_renders_exactly() {
        // Given out of order: children before parents, siblings reversed.
        let mut spans = vec![
            span(4, 2, "my-api", "cache.get", 20, 30),
            span(3, 1, "my-api", "fetch_from_db", 40, 212),
            span(2, 1, "my-api", "auth", 5, 35),
            span(1, 0, "my-api", "GET /users", 0, 245),
        ];
        spans[1].is_error = true;
        let text = render_waterfall(
            &spans,
            &WaterfallOptions {
                width: 72,
                color: false,
            },
        );
        let expected = "\
my-api › GET /users          245ms  ████████████████████████████████████
my-api ›   auth             30.0ms  ██████
my-api ›     cache.get      10.0ms    ███
my-api ›   fetch_from_db ✗   172ms       ███████████████████████████
";
        assert_eq!(text, expected);
        for line in text.lines() {
            assert_eq!(line.chars().count(), line.trim_end().chars().count());
            assert!(line.chars().count() <= 72, "{line}");
        }
    }

    #[test]
    fn colour_codes_only_when_asked() {
        let spans = [span(1, 0, "a", "root", 0, 10)];
        let plain = render_waterfall(
            &spans,
            &WaterfallOptions {
                width: 60,
                color: false,
            },
        );
        assert!(!plain.contains('\x1b'));
        let coloured = render_waterfall(
            &spans,
            &WaterfallOptions {
                width: 60,
                color: true,
            },
        );
        assert!(coloured.contains("\x1b[36ma\x1b[0m"));
        assert!(coloured.contains("\x1b[36m█"));
    }

    #[test]
    fn untrusted_names_are_neutralised() {
        let spans = [span(
            1,
            0,
            "svc\x1b]0;pwned\x07",
            "GET \x1b[2J/\u{202e}",
            0,
            10,
        )];
        for color in [false, true] {
            let text = render_waterfall(&spans, &WaterfallOptions { width: 120, color });
            assert!(!text.contains("\x1b]"), "{text:?}");
            assert!(!text.contains("\x1b[2J"), "{text:?}");
            assert!(!text.contains('\u{202e}'));
            assert!(text.contains("\\x1b[2J"));
        }
    }

    #[test]
    fn orphans_cycles_and_self_parents_are_drawn_once() {
        let spans = [
            span(1, 2, "s", "a", 0, 10), // cycle 1 -> 2 -> 1
            span(2, 1, "s", "b", 1, 9),
            span(3, 99, "s", "orphan", 2, 5),
            span(4, 4, "s", "self", 3, 4),
        ];
        let order = tree_order(&spans);
        let mut seen: Vec<usize> = order.iter().map(|&(i, _)| i).collect();
        seen.sort();
        assert_eq!(seen, vec![0, 1, 2, 3]);
        let text = render_waterfall(&spans, &WaterfallOptions::default());
        assert_eq!(text.lines().count(), 4);
    }

    #[test]
    fn long_labels_are_cut_and_bars_stay_in_bounds() {
        let long = "x".repeat(300);
        let spans = [
            span(1, 0, "svc", &long, 0, 1000),
            // Ends before it starts: drawn as a one-cell bar, no panic.
            WaterfallSpan {
                end_unix_nanos: 0,
                ..span(2, 1, "svc", "backwards", 500, 500)
            },
        ];
        let text = render_waterfall(
            &spans,
            &WaterfallOptions {
                width: 80,
                color: false,
            },
        );
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "{line}");
        }
        assert!(text.contains('…'));
        // Tiny widths still work.
        let narrow = render_waterfall(
            &spans,
            &WaterfallOptions {
                width: 5,
                color: false,
            },
        );
        assert_eq!(narrow.lines().count(), 2);
    }
}
