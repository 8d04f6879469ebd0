//! TraceLite / OpenTelemetry ratios measured *interleaved*: for each shape,
//! many short rounds, each timing TraceLite and `opentelemetry_sdk` back to
//! back (in alternating order), so both libraries see the same state of a
//! shared VM. The per-round ratios' median and quartiles are printed. The
//! criterion `peers` bench gives each library's absolute figures; this one
//! is for the ratio, which criterion's one-library-after-the-other groups
//! cannot hold steady on a noisy machine (BENCHMARKS.md). The batch shapes
//! flush each library's processor after its side of a round (untimed), so
//! one library's export thread is not still draining its queue while the
//! other is timed.
//!
//! `cargo bench -p tracelite-peers-bench --bench ratios [-- FILTER]`

use std::time::{Duration, Instant};

// Shared with the other benches; not every shape is used here.
#[allow(dead_code)]
#[path = "../../common/shapes.rs"]
mod shapes;

#[path = "common/otel_shapes.rs"]
mod otel_shapes;

use opentelemetry::trace::TracerProvider as _;

/// Rounds per shape.
const ROUNDS: usize = 101;
/// Each side's share of a round, roughly.
const SIDE: Duration = Duration::from_millis(15);

/// Iterations of `f` that take about `SIDE` (at least 1).
fn calibrate(f: &mut dyn FnMut(u64) -> Duration) -> u64 {
    let mut n = 1_000u64;
    loop {
        let took = f(n);
        if took >= SIDE / 4 || n >= 1 << 30 {
            let per = took.as_secs_f64() / n as f64;
            return ((SIDE.as_secs_f64() / per.max(1e-12)) as u64).clamp(1, 1 << 30);
        }
        n *= 4;
    }
}

/// The median and quartiles of TraceLite / OpenTelemetry over the rounds.
fn interleave(name: &str, tl: impl FnMut(u64) -> Duration, ot: impl FnMut(u64) -> Duration) {
    interleave_settled(name, tl, ot, || {}, || {});
}

/// [`interleave`], with each side followed (untimed) by its `settle`: for
/// the batch shapes, a flush, so that neither library's export thread is
/// still working off its queue while the other is timed.
fn interleave_settled(
    name: &str,
    mut tl: impl FnMut(u64) -> Duration,
    mut ot: impl FnMut(u64) -> Duration,
    mut settle_tl: impl FnMut(),
    mut settle_ot: impl FnMut(),
) {
    let mut tl = move |n| {
        let took = tl(n);
        settle_tl();
        took
    };
    let mut ot = move |n| {
        let took = ot(n);
        settle_ot();
        took
    };
    let n_tl = calibrate(&mut tl);
    let n_ot = calibrate(&mut ot);
    let mut ratios = Vec::with_capacity(ROUNDS);
    let (mut tl_ns, mut ot_ns) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (a, b) = if round % 2 == 0 {
            let a = tl(n_tl);
            (a, ot(n_ot))
        } else {
            let b = ot(n_ot);
            (tl(n_tl), b)
        };
        let per_tl = a.as_secs_f64() * 1e9 / n_tl as f64;
        let per_ot = b.as_secs_f64() * 1e9 / n_ot as f64;
        tl_ns.push(per_tl);
        ot_ns.push(per_ot);
        ratios.push(per_tl / per_ot);
    }
    let sorted = |v: &mut Vec<f64>| v.sort_by(|a, b| a.total_cmp(b));
    sorted(&mut ratios);
    sorted(&mut tl_ns);
    sorted(&mut ot_ns);
    let q = |v: &[f64], p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    println!(
        "{name:<40} ratio median {:.3}  (quartiles {:.3}–{:.3})   tracelite {:.1} ns   opentelemetry {:.1} ns",
        q(&ratios, 0.5),
        q(&ratios, 0.25),
        q(&ratios, 0.75),
        q(&tl_ns, 0.5),
        q(&ot_ns, 0.5),
    );
}

fn timed(n: u64, mut f: impl FnMut()) -> Duration {
    let began = Instant::now();
    for _ in 0..n {
        f();
    }
    began.elapsed()
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));

    for (name, sampled, processor) in [
        ("sampled_4_attrs_no_processor", true, false),
        ("sampled_4_attrs_noop_processor", true, true),
        ("unsampled_4_attrs", false, true),
    ] {
        if !wanted(name) {
            continue;
        }
        let tl = shapes::provider(sampled, processor);
        let tl_tracer = tl.tracer("bench");
        let ot = otel_shapes::otel_provider(sampled, processor);
        let ot_tracer = ot.tracer("bench");
        interleave(
            name,
            |n| timed(n, || shapes::span_with_4_attributes(&tl_tracer)),
            |n| timed(n, || otel_shapes::otel_span_with_4_attributes(&ot_tracer)),
        );
    }

    for threads in [1usize, 2] {
        let name = format!("batch_sampled_4_attrs_{threads}_thread");
        if !wanted(&name) {
            continue;
        }
        let (tl, _) = shapes::batch_provider();
        let tl_tracer = tl.tracer("bench");
        let ot = otel_shapes::otel_batch_provider();
        let ot_tracer = ot.tracer("bench");
        interleave_settled(
            &name,
            |n| shapes::on_threads(threads, n, || shapes::span_with_4_attributes(&tl_tracer)),
            |n| {
                shapes::on_threads(threads, n, || {
                    otel_shapes::otel_span_with_4_attributes(&ot_tracer)
                })
            },
            || {
                let _ = tl.force_flush();
            },
            || {
                let _ = ot.force_flush();
            },
        );
    }
}
