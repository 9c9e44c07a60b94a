//! Small runs through an owner (`baton serve`, a console) against the same runs with no owner,
//! side by side on one engine: one run end to end (subscribe, start, its final Event), and
//! runs a second from concurrent clients. Run with `cargo bench --bench owner`.

use std::time::{Duration, Instant};

use baton::control::{Client, Remote, Role};
use baton::engine::{Engine, EngineConfig, Feed, RunControl, RunReader, StartRequest};
use baton::store::{EventKind, RunId, RunState, Store};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A small run: five transform steps in a chain.
const SMALL: &str = "name: small\nsteps:\n  - id: s0\n    transform: { expr: \"1\" }\n  - id: s1\n    transform: { expr: \"steps.s0.output + 1\" }\n    depends_on: [s0]\n  - id: s2\n    transform: { expr: \"steps.s1.output + 1\" }\n    depends_on: [s1]\n  - id: s3\n    transform: { expr: \"steps.s2.output + 1\" }\n    depends_on: [s2]\n  - id: s4\n    transform: { expr: \"steps.s3.output + 1\" }\n    depends_on: [s3]\n";

/// Concurrent clients, and the runs they start between them per measurement.
const CLIENTS: usize = 16;
const BATCH: usize = 320;

struct Owner {
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    engine: Engine,
    _server: baton::control::Server,
}

fn owner() -> Owner {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = Store::open(dir.path()).unwrap();
    let engine = Engine::open(store, EngineConfig::default(), rt.handle().clone()).unwrap();
    let server = baton::control::serve(engine.clone(), Role::Console, rt.handle()).unwrap();
    Owner {
        dir,
        rt,
        engine,
        _server: server,
    }
}

impl Owner {
    /// A client of this owner, as another process would have.
    fn remote(&self) -> Remote {
        Remote::new(Client::connect(self.dir.path(), None).unwrap().unwrap())
    }

    /// One small run with no owner in between: the engine itself.
    fn run_here(&self) {
        let id = {
            let _g = self.rt.enter();
            self.engine.start(request()).unwrap()
        };
        let state = self.rt.handle().block_on(self.engine.wait(&id));
        assert_eq!(state, Some(RunState::Succeeded));
    }
}

fn request() -> StartRequest {
    StartRequest {
        source: SMALL.to_string(),
        path: None,
        params: Default::default(),
        workdir: None,
    }
}

/// One small run through the owner, as `baton run` does it: start it following its Events
/// (the owner streams that run's only), and wait for its final state to be pushed.
fn run_through(remote: &Remote) {
    let (id, mut feed) = remote.start_following(request()).unwrap();
    assert_eq!(wait_end(&mut feed, remote, &id), RunState::Succeeded);
}

/// The same as protocol 3 had it: subscribe to every run's Events, start, and drop the other
/// runs' Events here.
fn run_through_unfiltered(remote: &Remote) {
    let mut feed = remote.subscribe();
    let id = remote.start(request()).unwrap();
    assert_eq!(wait_end(&mut feed, remote, &id), RunState::Succeeded);
}

fn wait_end(feed: &mut baton::engine::Subscription, remote: &Remote, id: &RunId) -> RunState {
    loop {
        match feed.next_blocking() {
            Feed::Event(e) if e.run == *id => {
                if let EventKind::RunState { state, .. } = e.kind
                    && state.is_terminal()
                {
                    return state;
                }
            }
            Feed::Event(_) => {}
            Feed::Lagged => {
                let record = remote.run(id).unwrap();
                if record.state.is_terminal() {
                    return record.state;
                }
            }
            Feed::Closed => panic!("the owner stopped streaming"),
        }
    }
}

/// `BATCH` runs started by `CLIENTS` threads at once, each through `one`.
fn concurrently(one: impl Fn(usize) + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for client in 0..CLIENTS {
            let one = &one;
            s.spawn(move || {
                for _ in 0..BATCH / CLIENTS {
                    one(client);
                }
            });
        }
    });
    start.elapsed()
}

fn owner_path(c: &mut Criterion) {
    let o = owner();
    let remote = o.remote();
    let mut g = c.benchmark_group("owner");
    g.sample_size(30);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("small run, no owner", |b| b.iter(|| o.run_here()));
    g.bench_function("small run through an owner", |b| {
        b.iter(|| run_through(&remote))
    });
    g.finish();

    let mut g = c.benchmark_group("owner throughput");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function(format!("{CLIENTS} clients, no owner"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| concurrently(|_| o.run_here())).sum())
    });
    let remotes: Vec<Remote> = (0..CLIENTS).map(|_| o.remote()).collect();
    g.bench_function(format!("{CLIENTS} clients through an owner"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| concurrently(|client| run_through(&remotes[client])))
                .sum()
        })
    });
    g.bench_function(
        format!("before: {CLIENTS} clients through an owner, every run's Events to each"),
        |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| concurrently(|client| run_through_unfiltered(&remotes[client])))
                    .sum()
            })
        },
    );
    g.finish();
}

criterion_group!(benches, owner_path);
criterion_main!(benches);
