//! The evidence behind the span clock's choice (see ARCHITECTURE.md, Time):
//! what a monotonic reading costs, and whether time-stamp counter readings
//! taken on different cores stay in order.
//!
//! ```sh
//! cargo run --release --example tsc_order            # 2.5 s a case
//! cargo run --release --example tsc_order -- 500     # milliseconds a case
//! ```
//!
//! Each of the threads (two, then three) repeatedly loads the latest
//! reading any thread published, reads the counter, and publishes its own
//! reading: a reading taken after loading another thread's must not be
//! smaller. With a plain `RDTSC` it can be — the CPU executes the read while
//! the load is still waiting for the other core's cache line — and the
//! example counts how often and by how much. `LFENCE; RDTSC` and `RDTSCP`
//! (what TraceLite reads) wait for earlier loads first.
//!
//! Timings are per read, in a tight loop: a rough guide, not a benchmark.

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{__rdtscp, _mm_lfence, _rdtsc};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    #[derive(Clone, Copy, Debug)]
    pub enum Read {
        Plain,
        Lfence,
        Rdtscp,
    }

    #[inline(always)]
    fn read(how: Read) -> u64 {
        // SAFETY: the three instructions have no preconditions beyond the
        // CPU having them (RDTSCP is checked for before it is used); the
        // only memory RDTSCP writes is the local `aux`.
        unsafe {
            match how {
                Read::Plain => _rdtsc(),
                Read::Lfence => {
                    _mm_lfence();
                    _rdtsc()
                }
                Read::Rdtscp => {
                    let mut aux = 0u32;
                    __rdtscp(&mut aux)
                }
            }
        }
    }

    pub fn has_rdtscp() -> bool {
        std::fs::read_to_string("/proc/cpuinfo")
            .map(|c| {
                c.lines()
                    .find(|l| l.starts_with("flags"))
                    .is_some_and(|l| l.split_whitespace().any(|f| f == "rdtscp"))
            })
            .unwrap_or(false)
    }

    /// Nanoseconds a read, over a bounded loop.
    pub fn cost(how: Option<Read>) -> f64 {
        const N: u32 = 5_000_000;
        let began = Instant::now();
        let mut sum = 0u64;
        for _ in 0..N {
            sum = sum.wrapping_add(match how {
                Some(how) => read(how),
                None => Instant::now().duration_since(began).as_nanos() as u64,
            });
        }
        std::hint::black_box(sum);
        began.elapsed().as_nanos() as f64 / f64::from(N)
    }

    /// (readings, readings smaller than the one just loaded, the largest
    /// such difference in ticks).
    pub fn order(how: Read, threads: usize, run_for: Duration) -> (u64, u64, u64) {
        let latest = AtomicU64::new(0);
        let began = Instant::now();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let (mut reads, mut behind, mut worst) = (0u64, 0u64, 0u64);
                        while began.elapsed() < run_for {
                            for _ in 0..1_000 {
                                let seen = latest.load(Ordering::SeqCst);
                                let now = read(how);
                                if now < seen {
                                    behind += 1;
                                    worst = worst.max(seen - now);
                                }
                                latest.fetch_max(now, Ordering::SeqCst);
                                reads += 1;
                            }
                        }
                        (reads, behind, worst)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("reader thread"))
                .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2.max(b.2)))
        })
    }

    /// Counter ticks per nanosecond, over 200 ms.
    pub fn ghz() -> f64 {
        let (t0, i0) = (read(Read::Lfence), Instant::now());
        std::thread::sleep(Duration::from_millis(200));
        let (t1, i1) = (read(Read::Lfence), Instant::now());
        (t1 - t0) as f64 / i1.duration_since(i0).as_nanos() as f64
    }
}

#[cfg(target_arch = "x86_64")]
fn main() {
    use std::time::Duration;
    use x86::Read;

    let millis: u64 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 2_500,
        Some(Ok(ms)) if ms > 0 => ms,
        Some(_) => {
            eprintln!("tsc_order: the argument is milliseconds a case (a positive whole number)");
            std::process::exit(2);
        }
    };
    let clocksource =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .unwrap_or_else(|_| "unknown\n".into());
    let rdtscp = x86::has_rdtscp();
    let ghz = x86::ghz();
    println!("kernel clocksource: {}", clocksource.trim());
    println!(
        "counter: {ghz:.3} GHz; RDTSCP: {}",
        if rdtscp { "yes" } else { "no" }
    );
    let mut reads = vec![
        ("plain RDTSC", Read::Plain),
        ("LFENCE; RDTSC", Read::Lfence),
    ];
    if rdtscp {
        reads.push(("RDTSCP", Read::Rdtscp));
    }
    println!("\ncost a read (tight loop):");
    println!("  {:<16} {:>6.1} ns", "Instant elapsed", x86::cost(None));
    for (name, how) in &reads {
        println!("  {:<16} {:>6.1} ns", name, x86::cost(Some(*how)));
    }
    println!("\nreadings smaller than the one just loaded from another thread:");
    for threads in [2, 3] {
        for (name, how) in &reads {
            let (n, behind, worst) = x86::order(*how, threads, Duration::from_millis(millis));
            println!(
                "  {threads} threads, {name:<14} {behind:>9} of {n:>10}, by up to {worst} ticks ({:.2} µs)",
                worst as f64 / ghz / 1_000.0
            );
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("tsc_order: x86-64 only (elsewhere TraceLite reads std::time::Instant)");
}
