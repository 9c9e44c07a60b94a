//! Every class of mistake in a workflow file is reported at the right file:line:col, with a
//! snippet and a hint, and all of them in one pass.

use std::path::Path;

use baton::spec::{self, Diagnostic, Diagnostics};

fn errors_in(file: &str, text: &str) -> Diagnostics {
    match spec::parse_str(text, Path::new(file)) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(d) => d,
    }
}

fn errors(text: &str) -> Diagnostics {
    errors_in("wf.yaml", text)
}

/// The diagnostic whose message contains `needle`; it must be at `line:col` of `file`.
fn at<'d>(diags: &'d Diagnostics, file: &str, line: u32, col: u32, needle: &str) -> &'d Diagnostic {
    let found = diags
        .iter()
        .find(|d| d.message.contains(needle))
        .unwrap_or_else(|| panic!("no diagnostic containing {needle:?} in:\n{diags}"));
    assert_eq!(
        found.location(),
        format!("{file}:{line}:{col}"),
        "wrong place for {needle:?}:\n{diags}"
    );
    assert!(found.snippet.is_some(), "no snippet:\n{found}");
    found
}

fn hint(d: &Diagnostic) -> &str {
    d.hint.as_deref().unwrap_or("")
}

#[test]
fn yaml_syntax_errors_name_the_place() {
    let d = errors("name: x\nsteps:\n  - id: a\n    run: [echo\n");
    assert_eq!(d.len(), 1);
    let e = &d.0[0];
    assert!(e.message.starts_with("YAML syntax error"), "{d}");
    assert_eq!(e.file, "wf.yaml");
    assert!(e.line >= 4, "{d}");
}

#[test]
fn json_syntax_errors_name_the_place() {
    let d = errors_in(
        "wf.json",
        "{\n  \"name\": \"x\",\n  \"steps\": [\n    {\"id\": \"a\" \"run\": \"x\"}\n  ]\n}\n",
    );
    let e = at(&d, "wf.json", 4, 16, "JSON syntax error");
    assert!(e.to_string().contains("wf.json:4:16"), "{e}");
}

#[test]
fn unknown_keys_suggest_the_closest_known_key() {
    let d = errors(
        "name: x\ndescripton: y\nsteps:\n  - id: a\n    run: echo\n    depnds_on: []\n    banana: 1\n",
    );
    assert_eq!(
        hint(at(
            &d,
            "wf.yaml",
            2,
            1,
            "unknown key `descripton` in the workflow"
        )),
        "did you mean `description`?"
    );
    assert_eq!(
        hint(at(
            &d,
            "wf.yaml",
            6,
            5,
            "unknown key `depnds_on` in step `a`"
        )),
        "did you mean `depends_on`?"
    );
    let far = at(&d, "wf.yaml", 7, 5, "unknown key `banana`");
    assert!(hint(far).contains("known keys here"), "{far}");
}

#[test]
fn unknown_keys_inside_nested_maps_are_found_too() {
    let d = errors(
        "name: x\nsteps:\n  - id: a\n    http:\n      url: http://x\n      metod: POST\n    retry: { max_atempts: 2 }\n",
    );
    assert_eq!(
        hint(at(&d, "wf.yaml", 6, 7, "unknown key `metod` in `http`")),
        "did you mean `method`?"
    );
    assert_eq!(
        hint(at(&d, "wf.yaml", 7, 14, "unknown key `max_atempts`")),
        "did you mean `max_attempts`?"
    );
}

#[test]
fn duplicate_keys_are_reported_at_the_repeat() {
    let d = errors("name: x\nsteps:\n  - id: a\n    run: echo\n    run: ls\n");
    at(&d, "wf.yaml", 5, 5, "duplicate key `run`");
}

#[test]
fn wrong_types_say_what_was_expected() {
    let d = errors(
        "name: x\nconcurrency: lots\nsteps:\n  - id: a\n    run: echo\n    depends_on: { a: 1 }\n    continue_on_error: maybe\n    approve: [1]\n",
    );
    at(
        &d,
        "wf.yaml",
        2,
        14,
        "`concurrency` must be a whole number, not a string",
    );
    at(
        &d,
        "wf.yaml",
        6,
        17,
        "`depends_on` must be text, not a mapping",
    );
    at(
        &d,
        "wf.yaml",
        7,
        24,
        "`continue_on_error` must be true or false, not a string",
    );
    at(
        &d,
        "wf.yaml",
        8,
        14,
        "`approve` must be true or false, not a list",
    );
}

#[test]
fn bad_durations_explain_the_format() {
    let d = errors(
        "name: x\ndefaults: { timeout: 10 }\nsteps:\n  - id: a\n    sleep: 5y\n  - id: b\n    run: echo\n    timeout: soon\n",
    );
    let e = at(
        &d,
        "wf.yaml",
        2,
        22,
        "`defaults.timeout` is the number 10 without a unit",
    );
    assert!(hint(e).contains("10s"), "{e}");
    let e = at(&d, "wf.yaml", 5, 12, "`sleep` is not a valid duration");
    assert!(hint(e).contains("unknown unit `y`"), "{e}");
    at(&d, "wf.yaml", 8, 14, "`timeout` is not a valid duration");
}

#[test]
fn a_step_with_no_kind_is_reported_at_the_step() {
    let d = errors("name: x\nsteps:\n  - id: a\n    name: nothing to do\n");
    let e = at(&d, "wf.yaml", 3, 5, "step `a` has no kind");
    assert!(hint(e).contains("`run`"), "{e}");
}

#[test]
fn a_step_with_two_kinds_is_reported_at_the_second() {
    let d = errors("name: x\nsteps:\n  - id: a\n    run: echo\n    sleep: 1s\n");
    at(
        &d,
        "wf.yaml",
        5,
        5,
        "step `a` has two kinds, `run` and `sleep`",
    );
}

#[test]
fn keys_of_another_kind_are_called_out() {
    let d = errors("name: x\nsteps:\n  - id: a\n    run: echo\n    model: gpt-4o\n");
    at(&d, "wf.yaml", 5, 5, "`model` applies only to `agent` steps");
}

#[test]
fn duplicate_step_ids_point_at_the_second_and_name_the_first() {
    let d = errors("name: x\nsteps:\n  - id: a\n    run: echo\n  - id: a\n    run: ls\n");
    let e = at(&d, "wf.yaml", 5, 9, "duplicate step id `a`");
    assert!(hint(e).contains("line 3"), "{e}");
}

#[test]
fn a_dependency_listed_twice_is_called_out_at_the_second() {
    let d = errors(
        "name: x\nsteps:\n  - id: a\n    run: echo\n  - id: b\n    run: ls\n    depends_on: [a, a]\n",
    );
    at(
        &d,
        "wf.yaml",
        7,
        21,
        "step `b` lists `a` twice in `depends_on`",
    );
}

#[test]
fn a_step_that_shares_its_id_and_depends_on_it_is_a_cycle() {
    // The graph resolves `a` to the first step, so only the id comparison finds this.
    let d = errors(
        "name: x\nsteps:\n  - id: a\n    run: echo\n  - id: a\n    run: ls\n    depends_on: [a]\n",
    );
    at(&d, "wf.yaml", 5, 9, "duplicate step id `a`");
    at(&d, "wf.yaml", 7, 18, "dependency cycle: a → a");
}

#[test]
fn unknown_dependencies_suggest_the_closest_step() {
    let d = errors(
        "name: x\nsteps:\n  - id: build\n    run: make\n  - id: test\n    run: make test\n    depends_on: [biuld]\n",
    );
    let e = at(
        &d,
        "wf.yaml",
        7,
        18,
        "step `test` depends on `biuld`, which is not a step",
    );
    assert_eq!(hint(e), "did you mean `build`?");
}

#[test]
fn cycles_print_their_path() {
    let d = errors(
        "name: x\nsteps:\n  - id: build\n    run: make\n    depends_on: [test]\n  - id: test\n    run: make test\n    depends_on: [build]\n",
    );
    at(
        &d,
        "wf.yaml",
        5,
        18,
        "dependency cycle: build → test → build",
    );
    let d = errors("name: x\nsteps:\n  - id: a\n    run: x\n    depends_on: [a]\n");
    at(&d, "wf.yaml", 5, 18, "dependency cycle: a → a");
}

#[test]
fn templates_may_read_only_upstream_steps() {
    let d = errors(
        "name: x\nsteps:\n  - id: a\n    run: echo\n  - id: b\n    run: echo\n  - id: c\n    depends_on: [b]\n    run: echo {{ steps.a.stdout }}\n",
    );
    let e = at(
        &d,
        "wf.yaml",
        9,
        10,
        "`run` of step `c` reads `steps.a.stdout`, but `a` is not upstream of `c`",
    );
    assert!(hint(e).contains("depends_on"), "{e}");
}

#[test]
fn templates_reading_missing_steps_params_or_fields_are_errors() {
    let d = errors(
        "name: x\nparams: { env: staging }\nsteps:\n  - id: a\n    run: echo\n    outputs: { v: x }\n  - id: b\n    depends_on: [a]\n    agent: writer\n    prompt: \"{{ params.evn }} {{ steps.aa.output }} {{ steps.a.stdot }} {{ steps.a.outputs.w }} {{ foo }}\"\n",
    );
    assert_eq!(
        hint(at(
            &d,
            "wf.yaml",
            10,
            13,
            "reads `params.evn`, but there is no param `evn`"
        )),
        "did you mean `env`?"
    );
    assert_eq!(
        hint(at(&d, "wf.yaml", 10, 13, "there is no step `aa`")),
        "did you mean `a`?"
    );
    assert_eq!(
        hint(at(&d, "wf.yaml", 10, 13, "a step result has no `stdot`")),
        "did you mean `stdout`?"
    );
    at(&d, "wf.yaml", 10, 13, "step `a` declares no output `w`");
    at(&d, "wf.yaml", 10, 13, "reads `foo`, which is not defined");
}

#[test]
fn subscript_references_to_steps_are_checked_too() {
    let d = errors(
        "name: x\nsteps:\n  - id: run-tests\n    run: echo\n  - id: b\n    run: echo {{ steps['run-tests'].stdout }}\n",
    );
    at(
        &d,
        "wf.yaml",
        6,
        10,
        "but `run-tests` is not upstream of `b`",
    );
}

#[test]
fn when_expressions_must_compile_and_read_upstream_steps() {
    let d = errors(
        "name: x\nsteps:\n  - id: a\n    run: echo\n    when: params.x ==\n  - id: b\n    run: echo\n    when: steps.c.status == 'ok'\n  - id: c\n    run: echo\n",
    );
    let e = at(
        &d,
        "wf.yaml",
        5,
        11,
        "the expression in `when` of step `a` does not compile",
    );
    assert!(e.message.contains("syntax error"), "{e}");
    at(
        &d,
        "wf.yaml",
        8,
        11,
        "`when` of step `b` reads `steps.c.status`, but `c` is not upstream",
    );
}

#[test]
fn template_syntax_errors_are_reported_at_the_field() {
    let d = errors("name: x\nsteps:\n  - id: a\n    run: echo {{ params.x\n");
    let e = at(
        &d,
        "wf.yaml",
        4,
        10,
        "the template in `run` of step `a` does not compile",
    );
    assert!(e.message.contains("syntax error"), "{e}");
}

#[test]
fn enum_defaults_and_required_defaults_are_checked() {
    let d = errors(
        "name: x\nparams:\n  env: { default: dev, enum: [staging, prod] }\n  v: { required: true, default: 1 }\nsteps:\n  - { id: a, run: echo }\n",
    );
    let e = at(
        &d,
        "wf.yaml",
        3,
        3,
        "the default `dev` of param `env` is not one of its `enum` values",
    );
    assert!(hint(e).contains("`staging`, `prod`"), "{e}");
    at(
        &d,
        "wf.yaml",
        4,
        3,
        "param `v` is required and has a default",
    );
}

#[test]
fn unknown_agents_are_found_with_a_suggestion_and_extra_names_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agents.yaml");
    std::fs::write(
        &path,
        "name: x\nagents:\n  mine: { system: hi }\nsteps:\n  - { id: a, agent: securty, prompt: p }\n  - { id: b, agent: mine, prompt: p }\n  - { id: c, agent: my-profile, prompt: p }\n  - { id: d, agent: architecture, prompt: p }\n",
    )
    .unwrap();
    let wf = spec::load_file(&path).unwrap();
    // `architecture` is AutomatosX's name of the built-in `architect`.
    let d = Diagnostics(spec::check_agents(&wf, &baton::agents::known_names(&[])));
    let file = path.display().to_string();
    let e = at(
        &d,
        &file,
        5,
        21,
        "step `a` uses agent `securty`, which no profile defines",
    );
    assert_eq!(hint(e), "did you mean `security`?");
    at(&d, &file, 7, 21, "step `c` uses agent `my-profile`");
    assert_eq!(d.len(), 2, "{d}");
    let d = spec::check_agents(
        &wf,
        &baton::agents::known_names(&["my-profile".to_string(), "securty".to_string()]),
    );
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn conflicting_spellings_of_one_key_are_reported() {
    let d = errors(
        "name: x\nsteps:\n  - id: a\n    key: b\n    run: echo\n    retry: 2\n    maxRetries: 1\n",
    );
    at(
        &d,
        "wf.yaml",
        4,
        5,
        "`id` and `key` are two spellings of the same key",
    );
    at(
        &d,
        "wf.yaml",
        7,
        5,
        "both `retry` and `maxRetries` are given",
    );
}

#[test]
fn every_problem_is_reported_in_one_pass_in_file_order() {
    let d = errors(
        "name: x\nsteps:\n  - id: a\n    rn: echo\n  - id: b\n    run: echo\n    depends_on: [zz]\n    timeout: 5\n  - id: b\n    sleep: 1s\n",
    );
    let lines: Vec<u32> = d.iter().map(|e| e.line).collect();
    assert!(d.len() >= 4, "{d}");
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    assert_eq!(lines, sorted, "{d}");
    assert!(d.to_string().contains("problems found"), "{d}");
}

#[test]
fn an_unreadable_or_empty_file_is_a_diagnostic() {
    let d = spec::load_file(Path::new("/nonexistent/wf.yaml")).unwrap_err();
    assert_eq!(d.0[0].file, "/nonexistent/wf.yaml");
    assert!(d.0[0].message.contains("cannot read the file"), "{d}");
    assert!(d.0[0].hint.is_some());
    let d = errors("\n  \n");
    assert!(d.0[0].message.contains("empty"), "{d}");
    let d = errors("name: x\n");
    assert!(d.0[0].message.contains("no `steps:`"), "{d}");
    let d = errors("- a\n- b\n");
    assert!(d.0[0].message.contains("must be a mapping"), "{d}");
}

#[test]
fn diagnostics_serialise_for_tools() {
    let d = errors("name: x\nsteps:\n  - id: a\n    rn: echo\n");
    let v = serde_json::to_value(&d).unwrap();
    let first = v
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["message"].as_str().unwrap().contains("unknown key"))
        .unwrap();
    assert_eq!(first["file"], "wf.yaml");
    assert_eq!(first["line"], 4);
    assert_eq!(first["col"], 5);
    assert_eq!(first["snippet"], "    rn: echo");
    assert!(first["message"].as_str().unwrap().contains("rn"));
}

#[test]
fn every_diagnostic_carries_a_place_a_snippet_and_a_hint() {
    let broken = [
        "name: x\nsteps:\n  - id: a\n    run: [echo\n",
        "name: x\nconcurrency: 0\nsteps:\n  - { id: a, run: echo, retry: 0, timeout: 5 }\n",
        "name: x\nparams: { e: { enum: [] } }\nsteps:\n  - { id: a, sleep: 1x, rate_limit: 5/0s }\n",
        "name: x\nsteps:\n  - { id: a, agent: writer, prompt: p, temperature: 9, output: yaml }\n",
        "name: x\nsteps:\n  - { id: a, http: { method: FETCH } }\n  - { id: a, transform: { expr: '1', value: 2 } }\n",
        "name: x\nsteps:\n  - { id: a, run: echo, depends_on: [a, b, b] }\n  - { id: b, approval: { on_timeout: maybe } }\n",
    ];
    for text in broken {
        let d = errors(text);
        for e in &d {
            assert!(e.line > 0 && e.col > 0, "no place: {e}");
            assert!(e.snippet.is_some(), "no snippet: {e}");
            assert!(
                e.hint.as_deref().is_some_and(|h| !h.is_empty()),
                "no hint: {e}"
            );
        }
    }
}

#[test]
fn secrets_are_env_var_names_and_templates_read_only_declared_ones() {
    let d = errors(
        "name: x\nsecrets: [DEPLOY_TOKEN, \"sk-live-123\"]\nsteps:\n  - id: a\n    run: ./deploy\n    env:\n      T: \"{{ secrets.DEPLOY_TOKN }}\"\n      U: \"{{ secrets.OTHER }}\"\n",
    );
    let e = at(&d, "wf.yaml", 2, 25, "is not an environment variable name");
    assert!(hint(e).contains("never the value itself"), "{e}");
    let e = at(&d, "wf.yaml", 7, 10, "declares no secret `DEPLOY_TOKN`");
    assert!(hint(e).contains("DEPLOY_TOKEN"), "{e}");
    let e = at(&d, "wf.yaml", 8, 10, "declares no secret `OTHER`");
    assert!(hint(e).contains("secrets: [OTHER]"), "{e}");
    // With an env_file the names are known only when the run starts.
    let ok = "name: x\nenv_file: .env\nsteps:\n  - id: a\n    run: ./deploy\n    env:\n      T: \"{{ secrets.ANY }}\"\n";
    assert!(spec::parse_str(ok, Path::new("wf.yaml")).is_ok());
}

#[test]
fn approvers_on_a_step_without_a_gate_are_reported() {
    let d = errors("name: x\nsteps:\n  - id: a\n    run: echo\n    approvers: [ann]\n");
    let e = at(&d, "wf.yaml", 5, 16, "lists `approvers` but has no gate");
    assert!(hint(e).contains("approve: true"), "{d}");
}

#[test]
fn unknown_providers_are_found_in_steps_and_profiles_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("providers.yaml");
    std::fs::write(
        &path,
        "name: x\nagents:\n  mine: { system: hi, provider: olama }\nsteps:\n  - id: a\n    agent: mine\n    prompt: p\n    provider: anthropc\n  - { id: b, agent: mine, prompt: p, provider: openai }\n",
    )
    .unwrap();
    let wf = spec::load_file(&path).unwrap();
    let known: Vec<String> = ["openai", "anthropic", "gemini", "ollama"]
        .map(String::from)
        .to_vec();
    let d = Diagnostics(spec::check_providers(&wf, &known));
    let file = path.display().to_string();
    let e = at(&d, &file, 8, 15, "step `a` asks for provider `anthropc`");
    assert_eq!(hint(e), "did you mean `anthropic`?");
    let e = at(
        &d,
        &file,
        3,
        33,
        "agent profile `mine` asks for provider `olama`",
    );
    assert_eq!(hint(e), "did you mean `ollama`?");
    assert_eq!(d.len(), 2, "{d}");
    let d = Diagnostics(spec::check_providers(&wf, &["local".to_string()]));
    assert_eq!(d.len(), 3, "{d}");
    assert!(d.to_string().contains("the providers are local"), "{d}");
}

#[test]
fn a_step_may_read_any_step_upstream_of_it_directly_or_not() {
    // c reads a through b, d reads a through c and b; only e, beside a, cannot read c.
    let d = errors(
        "name: x\nsteps:\n  - id: a\n    run: echo\n  - id: b\n    depends_on: [a]\n    run: echo {{ steps.a.stdout }}\n  - id: c\n    depends_on: [b]\n    run: echo {{ steps.a.stdout }} {{ steps.b.stdout }}\n  - id: d\n    depends_on: [c]\n    run: echo {{ steps.a.stdout }}\n  - id: e\n    depends_on: [a]\n    run: echo {{ steps.c.stdout }}\n",
    );
    assert_eq!(d.len(), 1, "{d:?}");
    at(
        &d,
        "wf.yaml",
        16,
        10,
        "`run` of step `e` reads `steps.c.stdout`, but `c` is not upstream of `e`",
    );
}
