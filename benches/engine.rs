//! Per-step engine overhead with a durable store, and the time from cancel to the last process
//! gone. Run with `cargo bench --bench engine`.

use std::time::{Duration, Instant};

use baton::engine::{Command, Engine, EngineConfig, RunControl, RunReader, StartRequest};
use baton::store::{RunState, Store};
use criterion::{Criterion, criterion_group, criterion_main};

fn chain(n: usize) -> String {
    let mut y = String::from("name: chain\nsteps:\n  - id: s0\n    transform: { expr: \"1\" }\n");
    for i in 1..n {
        y.push_str(&format!(
            "  - id: s{i}\n    transform: {{ expr: \"steps.s{}.output + 1\" }}\n    depends_on: [s{}]\n",
            i - 1,
            i - 1
        ));
    }
    y
}

fn fan_out(n: usize) -> String {
    let mut y = String::from("name: fan\nconcurrency: 5000\nsteps:\n");
    for i in 0..n {
        y.push_str(&format!(
            "  - id: s{i}\n    transform: {{ expr: \"{i} * 2\" }}\n"
        ));
    }
    y
}

fn sleepers(n: usize) -> String {
    let mut y = String::from("name: sleepers\nconcurrency: 200\nsteps:\n");
    for i in 0..n {
        y.push_str(&format!("  - id: s{i}\n    run: sleep 60\n"));
    }
    y
}

struct Bench {
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    engine: Engine,
}

fn bench_engine(config: EngineConfig) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = Store::open(dir.path()).unwrap();
    let engine = Engine::open(store, config, rt.handle().clone()).unwrap();
    Bench {
        _dir: dir,
        rt,
        engine,
    }
}

fn run_once(b: &Bench, yaml: &str) -> Duration {
    let start = Instant::now();
    let _g = b.rt.enter();
    let id = b
        .engine
        .start(StartRequest {
            source: yaml.to_string(),
            path: None,
            params: Default::default(),
            workdir: None,
        })
        .unwrap();
    let state = b.rt.block_on(b.engine.wait(&id));
    assert_eq!(state, Some(RunState::Succeeded));
    start.elapsed()
}

fn engine_overhead(c: &mut Criterion) {
    let b = bench_engine(EngineConfig::default());
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    let chain_yaml = chain(1000);
    g.bench_function("chain_1000_transform_steps", |bench| {
        bench.iter_custom(|iters| (0..iters).map(|_| run_once(&b, &chain_yaml)).sum())
    });
    let fan_yaml = fan_out(5000);
    g.bench_function("fan_out_5000_transform_steps", |bench| {
        bench.iter_custom(|iters| (0..iters).map(|_| run_once(&b, &fan_yaml)).sum())
    });
    g.finish();
}

fn cancel_latency(c: &mut Criterion) {
    let b = bench_engine(EngineConfig {
        grace: Duration::from_secs(5),
        ..EngineConfig::default()
    });
    let yaml = sleepers(100);
    let mut g = c.benchmark_group("cancel");
    g.sample_size(10);
    g.bench_function("cancel_100_running_sleeps", |bench| {
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let _g = b.rt.enter();
                let id = b
                    .engine
                    .start(StartRequest {
                        source: yaml.clone(),
                        path: None,
                        params: Default::default(),
                        workdir: None,
                    })
                    .unwrap();
                // Wait until all 100 are running.
                loop {
                    let d = b.engine.run_detail(&id).unwrap();
                    if d.steps.iter().filter(|s| s.attempt == 1).count() == 100 {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                std::thread::sleep(Duration::from_millis(50));
                let start = Instant::now();
                b.engine.send(Command::Cancel(id.clone())).unwrap();
                let state = b.rt.block_on(b.engine.wait(&id));
                total += start.elapsed();
                assert_eq!(state, Some(RunState::Cancelled));
            }
            total
        })
    });
    g.finish();
}

/// What the per-step figures are compared with, measured in the same run: one durable write
/// (a record inserted and flushed, i.e. the fsync a finishing step needs), and one tokio task
/// spawned and joined.
fn baselines(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let tree = db.open_tree("t").unwrap();
    let mut g = c.benchmark_group("baseline");
    g.sample_size(20);
    let mut n = 0u64;
    g.bench_function("sled_insert_and_flush", |bench| {
        bench.iter(|| {
            n += 1;
            tree.insert(n.to_be_bytes(), &[0u8; 300][..]).unwrap();
            db.flush().unwrap();
        })
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    g.bench_function("tokio_spawn_and_join", |bench| {
        bench.iter(|| rt.block_on(async { tokio::spawn(async { 1 }).await.unwrap() }))
    });
    g.finish();
}

criterion_group!(benches, baselines, engine_overhead, cancel_latency);
criterion_main!(benches);
