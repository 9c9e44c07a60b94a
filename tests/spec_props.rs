//! Property tests: random DAGs give levels that respect every dependency and a ready set that
//! never starts a step early; random and truncated input never panics the parser.

use std::path::Path;

use baton::spec::{self, Dag, Finish, ReadySet, Templates};
use proptest::prelude::*;

/// A random acyclic workflow: step `k` (in creation order) may depend on any earlier step; the
/// file order is a random permutation, so dependencies point both up and down the file.
fn dag_yaml() -> impl Strategy<Value = (String, usize)> {
    (1usize..40).prop_flat_map(|n| {
        let deps = proptest::collection::vec(
            proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
            n,
        );
        let order = Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
        (deps, order).prop_map(move |(deps, order)| {
            let mut text = String::from("name: random\nsteps:\n");
            for &k in &order {
                text.push_str(&format!("  - id: s{k}\n    run: echo {k}\n"));
                let mut ds: Vec<usize> = if k == 0 {
                    Vec::new()
                } else {
                    deps[k].iter().map(|ix| ix.index(k)).collect()
                };
                ds.sort_unstable();
                ds.dedup();
                if !ds.is_empty() {
                    let list: Vec<String> = ds.iter().map(|d| format!("s{d}")).collect();
                    text.push_str(&format!("    depends_on: [{}]\n", list.join(", ")));
                }
            }
            (text, n)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn levels_respect_every_dependency((text, n) in dag_yaml()) {
        let wf = spec::parse_str(&text, Path::new("random.yaml")).map_err(|d| TestCaseError::fail(d.to_string()))?;
        let dag = Dag::new(&wf);
        let mut level = vec![usize::MAX; n];
        for (l, steps) in dag.levels().iter().enumerate() {
            for &i in steps {
                prop_assert_eq!(level[i], usize::MAX, "a step is on two levels");
                level[i] = l;
            }
        }
        for i in 0..n {
            prop_assert!(level[i] != usize::MAX, "step {} has no level", i);
            let deps = dag.deps(i);
            // Each step sits right after its latest dependency.
            let expected = deps.iter().map(|&d| level[d] + 1).max().unwrap_or(0);
            prop_assert_eq!(level[i], expected);
            for &d in deps {
                prop_assert!(level[d] < level[i]);
                prop_assert!(dag.dependents(d).contains(&i));
                prop_assert!(dag.upstream(i).contains(&d));
            }
        }
    }

    #[test]
    fn the_ready_set_never_starts_a_step_before_its_dependencies((text, n) in dag_yaml(), outcomes in proptest::collection::vec(0u8..6, 40), coe in proptest::collection::vec(any::<bool>(), 40)) {
        let wf = spec::parse_str(&text, Path::new("random.yaml")).map_err(|d| TestCaseError::fail(d.to_string()))?;
        let dag = Dag::new(&wf);
        let mut rs = ReadySet::new(&dag, &coe[..n]);
        let mut finished: Vec<Option<Finish>> = vec![None; n];
        let satisfied = |f: Option<Finish>, i: usize| match f {
            Some(Finish::Succeeded | Finish::Cached | Finish::Skipped) => true,
            Some(Finish::Failed) => coe[i],
            _ => false,
        };
        let mut rounds = 0;
        while !rs.is_done() {
            rounds += 1;
            prop_assert!(rounds <= n + 1, "no progress");
            let ready = rs.ready();
            prop_assert!(!ready.is_empty(), "stuck: nothing ready and not done");
            for &i in &ready {
                prop_assert!(finished[i].is_none());
                for &d in dag.deps(i) {
                    prop_assert!(satisfied(finished[d], d), "step {} ready before dep {}", i, d);
                }
                rs.start(i);
            }
            for &i in &ready {
                let how = match outcomes[i] {
                    0 => Finish::Failed,
                    1 => Finish::Cancelled,
                    2 => Finish::Skipped,
                    3 => Finish::Cached,
                    _ => Finish::Succeeded,
                };
                finished[i] = Some(how);
                for (j, why) in rs.finish(i, how) {
                    prop_assert!(finished[j].is_none());
                    prop_assert!(why.starts_with("upstream `"));
                    finished[j] = Some(Finish::SkippedUpstream);
                }
            }
        }
        for i in 0..n {
            // A step was skipped for its upstream exactly when some dependency blocked.
            let blocked = dag.deps(i).iter().any(|&d| !satisfied(finished[d], d));
            prop_assert_eq!(finished[i] == Some(Finish::SkippedUpstream), blocked, "step {}", i);
        }
    }

    #[test]
    fn random_text_never_panics_the_parser(text in ".{0,400}") {
        let _ = spec::parse_str(&text, Path::new("random.yaml"));
        let _ = spec::parse_str(&text, Path::new("random.json"));
    }

    #[test]
    fn random_yaml_like_text_never_panics_the_parser(parts in proptest::collection::vec(prop_oneof![
        Just("name: x\n"), Just("steps:\n"), Just("  - id: a\n"), Just("    run: echo {{ params.p }}\n"),
        Just("    depends_on: [a, b]\n"), Just("    when: steps.a.status ==\n"), Just("- "), Just(": "),
        Just("{"), Just("}"), Just("["), Just("]"), Just("\t"), Just("&a "), Just("*a "), Just("<<: *a\n"),
        Just("    http: { url: x }\n"), Just("    retry: {max_attempts: -1}\n"), Just("    sleep: 1h\n"),
        Just("'"), Just("\""), Just("\n"), Just("    agent: x\n"), Just("!!binary "), Just("---\n"),
    ], 0..40)) {
        let text: String = parts.concat();
        let _ = spec::parse_str(&text, Path::new("random.yaml"));
    }

    #[test]
    fn truncated_examples_never_panic_the_parser(cut in 0.0f64..1.0) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
            let mut at = (text.len() as f64 * cut) as usize;
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let _ = spec::parse_str(&text[..at], &entry.path());
            let json = serde_json::to_string(&serde_json::json!({"name": "t", "steps": [{"id": "a", "run": text}]})).unwrap_or_default();
            let mut at = (json.len() as f64 * cut) as usize;
            while !json.is_char_boundary(at) {
                at -= 1;
            }
            let _ = spec::parse_str(&json[..at], Path::new("t.json"));
        }
    }

    #[test]
    fn random_templates_never_panic_the_renderer(tpl in ".{0,120}") {
        let t = Templates::new();
        let ctx = serde_json::json!({"params": {"a": 1}, "steps": {}, "env": {}, "run": {"id": "r"}});
        let _ = t.render(&tpl, &ctx);
        let _ = t.render_command(&tpl, &ctx);
        let _ = t.eval_when(&tpl, &ctx);
        let _ = t.template_references(&tpl);
    }
}
