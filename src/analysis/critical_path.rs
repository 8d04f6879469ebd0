//! The critical path: the chain of span segments that decides a trace's
//! end-to-end latency.

use std::collections::HashMap;

use super::SpanInfo;
use crate::trace::SpanId;

/// A stretch of time on the critical path, spent in one span's own work
/// (not waiting for a child on the path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The span doing the work.
    pub span_id: SpanId,
    /// Its service.
    pub service: String,
    /// Its name.
    pub name: String,
    /// Start of the stretch, ns since the Unix epoch.
    pub start: u64,
    /// End of the stretch.
    pub end: u64,
}

impl Segment {
    /// The segment's length (the span's self time on the path), in ns.
    pub fn duration(&self) -> u64 {
        self.end - self.start
    }
}

/// The critical path of a trace: segments in time order, covering the root
/// span exactly (their durations add up to the root's duration).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CriticalPath {
    /// The root the path covers.
    pub root: Option<SpanId>,
    /// The segments, earliest first.
    pub segments: Vec<Segment>,
    /// What had to be assumed: orphans attached under the root, children
    /// clamped into their parent (clock skew, async children).
    pub notes: Vec<String>,
}

impl CriticalPath {
    /// Whether `span` has a segment on the path.
    pub fn contains(&self, span: SpanId) -> bool {
        self.segments.iter().any(|s| s.span_id == span)
    }

    /// Time on the path per span, in ns, largest first.
    pub fn self_times(&self) -> Vec<(SpanId, u64)> {
        let mut by_span: Vec<(SpanId, u64)> = Vec::new();
        for s in &self.segments {
            match by_span.iter_mut().find(|(id, _)| *id == s.span_id) {
                Some((_, t)) => *t += s.duration(),
                None => by_span.push((s.span_id, s.duration())),
            }
        }
        by_span.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
        by_span
    }
}

/// The critical path of one trace's spans; `None` when there are none.
///
/// From the root: within a span, the child that finishes last (before the
/// parent's end) is on the path, then, recursively, the latest child that
/// ends before that child started; the gaps between are the parent's own
/// time. Children are clamped into their parent's interval (a child that
/// starts before its parent — clock skew between services — or ends after
/// it — an async child — is cut, with a note). Spans whose parent is
/// missing attach under the root; with several parentless spans the
/// earliest is the root.
pub fn critical_path(spans: &[SpanInfo]) -> Option<CriticalPath> {
    let mut path = CriticalPath::default();
    let ids: HashMap<SpanId, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id, i))
        .collect();
    let is_root =
        |s: &SpanInfo| !s.parent_span_id.is_valid() || !ids.contains_key(&s.parent_span_id);
    let root = spans
        .iter()
        .enumerate()
        .filter(|(_, s)| is_root(s))
        // A true root (no parent id) first, then the earliest orphan.
        .min_by_key(|(_, s)| (s.parent_span_id.is_valid(), s.start))
        .map(|(i, _)| i)?;
    path.root = Some(spans[root].span_id);

    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, s) in spans.iter().enumerate() {
        if i == root {
            continue;
        }
        let parent = if is_root(s) {
            path.notes.push(format!(
                "span {} ({}) has no parent in the trace; attached under the root",
                s.span_id, s.name
            ));
            root
        } else {
            ids[&s.parent_span_id]
        };
        children.entry(parent).or_default().push(i);
    }

    let mut segments = Vec::new();
    let mut visiting = vec![false; spans.len()];
    let (start, end) = (spans[root].start, spans[root].end);
    walk(
        spans,
        &children,
        root,
        start,
        end,
        &mut segments,
        &mut path.notes,
        &mut visiting,
    );
    segments.reverse();
    path.segments = segments;
    Some(path)
}

/// Appends (latest first) the segments covering `[start, end]` of `span`.
#[allow(clippy::too_many_arguments)]
fn walk(
    spans: &[SpanInfo],
    children: &HashMap<usize, Vec<usize>>,
    span: usize,
    start: u64,
    end: u64,
    out: &mut Vec<Segment>,
    notes: &mut Vec<String>,
    visiting: &mut [bool],
) {
    let me = &spans[span];
    let segment = |from: u64, to: u64| Segment {
        span_id: me.span_id,
        service: me.service.clone(),
        name: me.name.clone(),
        start: from,
        end: to,
    };
    if visiting[span] {
        // A cycle in the parent links: treat the span as a leaf.
        out.push(segment(start, end));
        return;
    }
    visiting[span] = true;
    // Children clamped into [start, end], latest end first.
    let mut kids: Vec<(u64, u64, usize)> = Vec::new();
    for &c in children.get(&span).map(Vec::as_slice).unwrap_or(&[]) {
        let child = &spans[c];
        let (mut s, mut e) = (child.start, child.end);
        if s < start || e > end {
            notes.push(format!(
                "span {} ({}) lies partly outside its parent; clamped",
                child.span_id, child.name
            ));
            s = s.clamp(start, end);
            e = e.clamp(start, end);
        }
        if e > s {
            kids.push((s, e, c));
        }
    }
    kids.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    let mut cursor = end;
    for (s, e, c) in kids {
        if e > cursor {
            continue; // runs in parallel with what is already on the path
        }
        if cursor > e {
            out.push(segment(e, cursor));
        }
        walk(spans, children, c, s, e, out, notes, visiting);
        cursor = s;
    }
    if cursor > start {
        out.push(segment(start, cursor));
    }
    visiting[span] = false;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{SpanKind, TraceId};

    fn span(id: u64, parent: u64, start: u64, end: u64) -> SpanInfo {
        SpanInfo::new(
            TraceId::from_u128(1),
            SpanId::from_u64(id),
            SpanId::from_u64(parent),
            "svc",
            format!("s{id}"),
            SpanKind::Internal,
            start,
            end,
        )
    }

    fn shape(path: &CriticalPath) -> Vec<(u64, u64, u64)> {
        path.segments
            .iter()
            .map(|s| (s.span_id.to_u64(), s.start, s.end))
            .collect()
    }

    fn total(path: &CriticalPath) -> u64 {
        path.segments.iter().map(Segment::duration).sum()
    }

    #[test]
    fn sequential_children() {
        let p =
            critical_path(&[span(1, 0, 0, 100), span(2, 1, 10, 40), span(3, 1, 50, 90)]).unwrap();
        assert_eq!(
            shape(&p),
            [
                (1, 0, 10),
                (2, 10, 40),
                (1, 40, 50),
                (3, 50, 90),
                (1, 90, 100)
            ]
        );
        assert_eq!(total(&p), 100);
        assert!(p.notes.is_empty());
    }

    #[test]
    fn overlapping_children_take_the_last_to_finish() {
        // 2 and 3 run in parallel; 3 ends last, 2 overlaps it and is skipped;
        // 4 ends before 3 starts.
        let spans = [
            span(1, 0, 0, 100),
            span(4, 1, 5, 20),
            span(2, 1, 25, 70),
            span(3, 1, 30, 80),
        ];
        let p = critical_path(&spans).unwrap();
        assert_eq!(
            shape(&p),
            [
                (1, 0, 5),
                (4, 5, 20),
                (1, 20, 30),
                (3, 30, 80),
                (1, 80, 100)
            ]
        );
        assert_eq!(total(&p), 100);
        assert!(!p.contains(SpanId::from_u64(2)));
    }

    #[test]
    fn nested_children_recurse() {
        let spans = [
            span(1, 0, 0, 100),
            span(2, 1, 10, 90),
            span(3, 2, 20, 60),
            span(4, 3, 30, 50),
        ];
        let p = critical_path(&spans).unwrap();
        assert_eq!(
            shape(&p),
            [
                (1, 0, 10),
                (2, 10, 20),
                (3, 20, 30),
                (4, 30, 50),
                (3, 50, 60),
                (2, 60, 90),
                (1, 90, 100)
            ]
        );
        let times = p.self_times();
        assert_eq!(times[0], (SpanId::from_u64(2), 40));
    }

    #[test]
    fn async_children_and_skew_are_clamped_and_noted() {
        // 2 outlives its parent (async); 3 starts before it (skew).
        let spans = [
            span(1, 0, 100, 200),
            span(2, 1, 150, 260),
            span(3, 1, 90, 120),
        ];
        let p = critical_path(&spans).unwrap();
        assert_eq!(shape(&p), [(3, 100, 120), (1, 120, 150), (2, 150, 200)]);
        assert_eq!(total(&p), 100);
        assert_eq!(p.notes.len(), 2);
    }

    #[test]
    fn orphans_attach_under_the_root() {
        // 5's parent (9) never arrived.
        let spans = [span(1, 0, 0, 100), span(5, 9, 60, 95)];
        let p = critical_path(&spans).unwrap();
        assert_eq!(shape(&p), [(1, 0, 60), (5, 60, 95), (1, 95, 100)]);
        assert!(p.notes[0].contains("no parent"));
        // Without a true root, the earliest parentless span is the root.
        let spans = [span(7, 3, 10, 50), span(8, 4, 0, 80)];
        let p = critical_path(&spans).unwrap();
        assert_eq!(p.root, Some(SpanId::from_u64(8)));
        assert_eq!(total(&p), 80);
        assert!(critical_path(&[]).is_none());
    }

    #[test]
    fn a_parent_cycle_does_not_hang() {
        let spans = [span(1, 0, 0, 100), span(2, 3, 10, 90), span(3, 2, 20, 80)];
        let p = critical_path(&spans).unwrap();
        assert_eq!(total(&p), 100);
    }
}
