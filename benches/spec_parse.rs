//! Parsing and validating a generated 1,000-step workflow (target: under 2 ms), the YAML reader
//! alone with and without its fast path, and the scheduler's ready set over a 5,000-step one.

use std::hint::black_box;
use std::path::Path;

use baton::spec::diag::Source;
use baton::spec::node::{self, Format};
use baton::spec::{self, Dag, Finish, ReadySet, Templates};
use criterion::{Criterion, criterion_group, criterion_main};

/// `n` steps in layers of 10: each step depends on two steps of the layer before and reads one
/// of them in a template; every fifth step has a `when:`.
fn generated(n: usize) -> String {
    let mut text = String::from(
        "name: generated\nparams:\n  env: { default: staging, enum: [staging, prod] }\ndefaults:\n  timeout: 5m\n  retry: { max_attempts: 2, initial: 1s }\nsteps:\n",
    );
    for i in 0..n {
        text.push_str(&format!("  - id: step-{i}\n"));
        if i >= 10 {
            let a = i - 10;
            let b = i - 9 + (i + 3) % 9;
            text.push_str(&format!("    depends_on: [step-{a}, step-{b}]\n"));
            text.push_str(&format!(
                "    run: echo {{{{ params.env }}}} {{{{ steps['step-{a}'].stdout | trim }}}}\n"
            ));
        } else {
            text.push_str(&format!("    run: echo start {i} {{{{ params.env }}}}\n"));
        }
        if i % 5 == 0 {
            text.push_str("    when: params.env != \"prod\"\n");
        }
        if i % 7 == 0 {
            text.push_str("    retry: 3\n    timeout: 30s\n");
        }
    }
    text
}

fn bench(c: &mut Criterion) {
    let text = generated(1000);
    let templates = Templates::new();
    if let Err(d) = spec::parse_with(&text, Path::new("generated.yaml"), &templates) {
        panic!("the generated workflow is invalid:\n{d}");
    }
    c.bench_function("parse+validate 1000 steps", |b| {
        b.iter(|| spec::parse_with(black_box(&text), Path::new("generated.yaml"), &templates))
    });
    // The YAML reader alone: the fast path for plain block YAML, and the full parser it falls
    // back to (all that was used before the fast path).
    let src = Source::new("generated.yaml", &text);
    c.bench_function("YAML to the node tree, 1000 steps (fast path)", |b| {
        // A new arena each time, freed with its tree, as `spec::parse_with` does.
        b.iter(|| {
            let arena = bumpalo::Bump::new();
            black_box(node::read(black_box(&src), Format::Yaml, &arena).is_ok())
        })
    });
    c.bench_function(
        "before: YAML to the node tree, 1000 steps (full parser)",
        |b| {
            b.iter(|| {
                let arena = bumpalo::Bump::new();
                black_box(node::read_full_yaml(black_box(&src), &arena).is_ok())
            })
        },
    );
    // Baselines in the same run: the same document read into a plain value, with no
    // positions, no typed model and no checks.
    c.bench_function(
        "baseline: serde-saphyr YAML to a JSON value, 1000 steps",
        |b| b.iter(|| serde_saphyr::from_str::<serde_json::Value>(black_box(&text))),
    );
    let json = serde_json::to_string(
        &serde_saphyr::from_str::<serde_json::Value>(&text).expect("the generated YAML reads"),
    )
    .expect("a value serialises");
    c.bench_function(
        "baseline: serde_json to a value, same workflow as JSON",
        |b| b.iter(|| serde_json::from_str::<serde_json::Value>(black_box(&json))),
    );

    let big = generated(5000);
    let wf = match spec::parse_with(&big, Path::new("big.yaml"), &templates) {
        Ok(wf) => wf,
        Err(d) => panic!("{d}"),
    };
    c.bench_function("dag+ready set, full run of 5000 steps", |b| {
        b.iter(|| {
            let dag = Dag::new(&wf);
            let mut rs = ReadySet::for_workflow(&wf, &dag);
            while let Some(i) = rs.next_ready() {
                rs.start(i);
                rs.finish(
                    i,
                    if i % 97 == 0 {
                        Finish::Failed
                    } else {
                        Finish::Succeeded
                    },
                );
            }
            black_box(rs.is_done())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
