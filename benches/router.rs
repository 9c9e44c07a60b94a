//! Router overhead per call against calling the provider client directly, both against the
//! fake provider on loopback (non-streaming, OpenAI wire format), measured side by side in one
//! run. After criterion's report it prints the ratio from an interleaved run of both paths.

#[path = "../tests/support/fake_llm.rs"]
mod fake_llm;

use std::hint::black_box;
use std::time::{Duration, Instant};

use baton::providers::{ChatRequest, ProviderKind, Route, Router};
use criterion::Criterion;
use fake_llm::{FakeLlm, Reply};

fn main() {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the tokio runtime: {e}");
            std::process::exit(2);
        }
    };
    let fake = rt.block_on(FakeLlm::start());
    fake.set_default(Reply::Text(
        "The quick brown fox jumps over the lazy dog.".into(),
    ));
    let router = match Router::new(&[fake.provider("fake", ProviderKind::Openai)], &|_| None) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot build the router: {e}");
            std::process::exit(2);
        }
    };
    let Some(client) = router.client("fake") else {
        eprintln!("the router lost its provider");
        std::process::exit(2);
    };
    let req = ChatRequest::new(Some("Be terse.".into()), "Say something.");
    let route = Route::default();

    let direct = || {
        rt.block_on(client.chat(&req, &mut |t| {
            black_box(t);
        }))
        .map(|r| r.text.len())
    };
    let routed = || {
        rt.block_on(router.chat(&route, &req, &mut |e| {
            black_box(e);
        }))
        .map(|r| r.text.len())
        .map_err(|e| e.to_string())
    };
    if let Err(e) = direct() {
        eprintln!("the fake provider did not answer: {e}");
        std::process::exit(2);
    }

    let mut c = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut group = c.benchmark_group("router_overhead");
    group.bench_function("client_direct", |b| b.iter(|| black_box(direct().is_ok())));
    group.bench_function("router", |b| b.iter(|| black_box(routed().is_ok())));
    group.finish();
    c.final_summary();

    // Interleaved, so both paths see the same machine load.
    let rounds = 2000;
    let (mut t_direct, mut t_router) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(direct().is_ok());
        t_direct += t.elapsed();
        let t = Instant::now();
        black_box(routed().is_ok());
        t_router += t.elapsed();
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(rounds);
    println!(
        "interleaved over {rounds} calls each: client {:.1} µs/call, router {:.1} µs/call, \
         router/client ratio {:.3}, overhead {:.1} µs/call",
        per(t_direct),
        per(t_router),
        t_router.as_secs_f64() / t_direct.as_secs_f64(),
        per(t_router) - per(t_direct)
    );
}
