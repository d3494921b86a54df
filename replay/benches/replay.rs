//! Prefix replay of a 10,000-write log over a 64 MiB device: incremental
//! copy-on-write images versus a naive rebuild per state, and 1 versus 2
//! checker threads. Prints a states/s summary with the ratio first, then
//! runs the criterion measurements.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use replay::{
    check, image_of, CheckOptions, CrashState, EnumOptions, Image, Log, LogBuilder, Mode, StateId,
    WriteFlags,
};

const DEVICE: u64 = 64 << 20;
const WRITES: usize = 10_000;

/// 4 KiB writes at random block offsets, each completed right away, a flush
/// every 100 writes and a mark every 1,000.
fn make_log() -> Log {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let mut b = LogBuilder::new(DEVICE);
    let mut data = vec![0u8; 4096];
    for i in 0..WRITES {
        rng.fill(&mut data[..]);
        let block = rng.gen_range(0..DEVICE / 4096);
        let id = b.submit_write(block * 8, &data, WriteFlags::default());
        b.complete(id);
        if i % 100 == 99 {
            let f = b.submit_flush();
            b.complete(f);
        }
        if i % 1000 == 999 {
            b.mark("checkpoint", &(i as u64).to_le_bytes());
        }
    }
    b.finish()
}

fn cheap_checker(_: &CrashState, image: &Image) -> Result<(), ()> {
    let mut buf = [0u8; 512];
    image.read(0, &mut buf);
    black_box(buf);
    Ok(())
}

/// A checker with some work per state (reads and hashes 256 KiB), so that
/// threads have something to share.
fn busy_checker(_: &CrashState, image: &Image) -> Result<(), ()> {
    let mut buf = vec![0u8; 256 << 10];
    image.read(0, &mut buf);
    black_box(blake3::hash(&buf));
    Ok(())
}

fn opts(jobs: usize) -> CheckOptions {
    CheckOptions {
        enumerate: EnumOptions {
            mode: Mode::Prefix,
            ..EnumOptions::default()
        },
        jobs,
        keep_going: false,
    }
}

/// Prefix states at evenly spaced positions, for the naive rebuild.
fn sample_states(log: &Log, n: usize) -> Vec<CrashState> {
    let all: Vec<CrashState> = replay::StateIter::new(log, &opts(1).enumerate)
        .unwrap()
        .map(|s| s.state)
        .collect();
    (0..n)
        .map(|i| all[i * (all.len() - 1) / (n - 1)].clone())
        .collect()
}

fn naive(log: &Log, states: &[CrashState]) {
    for s in states {
        let img = image_of(log, s).unwrap();
        black_box(img.content_key());
        cheap_checker(s, &img).unwrap();
    }
}

fn summary(log: &Log) {
    let t = Instant::now();
    let r = check(log, &opts(1), cheap_checker).unwrap();
    let inc = t.elapsed();
    let inc_rate = r.states_checked as f64 / inc.as_secs_f64();
    let states = sample_states(log, 30);
    let t = Instant::now();
    naive(log, &states);
    let nav = t.elapsed();
    let nav_rate = states.len() as f64 / nav.as_secs_f64();
    let mut rates = Vec::new();
    for jobs in [1, 2] {
        let t = Instant::now();
        let r = check(log, &opts(jobs), busy_checker).unwrap();
        rates.push(r.states_checked as f64 / t.elapsed().as_secs_f64());
    }
    eprintln!(
        "summary: {} prefix states of a {WRITES}-write log, 64 MiB device\n  \
         incremental: {inc_rate:.0} states/s ({inc:?} for all)\n  \
         naive rebuild: {nav_rate:.1} states/s (30 evenly spaced states)\n  \
         ratio incremental/naive: {:.0}x\n  \
         busy checker (256 KiB read+hash per state): 1 thread {:.0} states/s, 2 threads {:.0} states/s ({:.2}x)",
        r.states_checked,
        inc_rate / nav_rate,
        rates[0],
        rates[1],
        rates[1] / rates[0]
    );
}

fn bench(c: &mut Criterion) {
    let log = make_log();
    // REPLAY_BENCH_NO_SUMMARY=1 skips the one-shot summary (for profiling).
    if std::env::var_os("REPLAY_BENCH_NO_SUMMARY").is_none() {
        summary(&log);
    }
    let states = replay::StateIter::new(&log, &opts(1).enumerate)
        .unwrap()
        .count() as u64;

    let mut g = c.benchmark_group("prefix_10k_writes_64MiB");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(states));
    g.bench_function("incremental_all_states", |b| {
        b.iter(|| check(&log, &opts(1), cheap_checker).unwrap())
    });
    let sampled = sample_states(&log, 10);
    g.throughput(Throughput::Elements(sampled.len() as u64));
    g.bench_function("naive_rebuild_10_sampled_states", |b| {
        b.iter(|| naive(&log, &sampled))
    });
    g.throughput(Throughput::Elements(states));
    for jobs in [1, 2] {
        g.bench_function(format!("incremental_busy_checker_{jobs}_threads"), |b| {
            b.iter(|| check(&log, &opts(jobs), busy_checker).unwrap())
        });
    }
    g.finish();

    // The harness's hot path: a small log, prefix mode, one thread.
    let mut b = LogBuilder::new(4 << 20);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut data = vec![0u8; 4096];
    for _ in 0..150 {
        rng.fill(&mut data[..]);
        let id = b.submit_write(rng.gen_range(0..1024u64) * 8, &data, WriteFlags::default());
        b.complete(id);
    }
    let small = b.finish();
    let mut g = c.benchmark_group("harness_hot_path");
    g.throughput(Throughput::Elements(1));
    g.bench_function("check_150_writes_4MiB_prefix_jobs1", |b| {
        b.iter(|| check(&small, &opts(1), cheap_checker).unwrap())
    });
    g.finish();
    let _ = StateId::Prefix { position: 0 };
}

criterion_group!(benches, bench);
criterion_main!(benches);
