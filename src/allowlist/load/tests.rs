use super::*;

fn err(text: &str) -> String {
    match Allowlist::from_json(text, "p.json", Some("guard")) {
        Ok(_) => String::from("valid"),
        Err(e) => e.to_string(),
    }
}

const HEAD: &str = r#"{"version": 1, "functions": {"Blog": {"allow": ["#;

#[test]
fn a_bad_source_arn_names_file_line_column_and_path() {
    let text = format!(
        "{HEAD}\n{{\"service\": \"s3.amazonaws.com\"}},\n{{\"service\": \"s3.amazonaws.com\", \"sourceArn\": \"bucket\"}}]}}}}}}"
    );
    let e = err(&text);
    assert!(e.starts_with("p.json:3:"), "{e}");
    assert!(e.contains("at functions.Blog.allow[1].sourceArn:"), "{e}");
    assert!(e.contains("expected an ARN"), "{e}");
}

#[test]
fn a_function_arn_that_cannot_be_used_names_file_line_and_path() {
    for key in [
        "arn:aws:lambda:eu-west-1:111122223333:function:Blog:live",
        "arn:aws:lambda:eu-west-1:1111:function:Blog",
        "arn:aws:s3:::bucket",
    ] {
        let text = format!(
            "{{\"version\": 1, \"functions\": {{\n\"Ok\": {{\"allow\": []}},\n\"{key}\": {{\"allow\": []}}}}}}"
        );
        let e = err(&text);
        assert!(e.starts_with("p.json:3:"), "{key}: {e}");
        assert!(e.contains("at functions"), "{key}: {e}");
        assert!(e.contains(key), "{key}: {e}");
    }
}

#[test]
fn duplicate_function_keys_are_rejected() {
    let e = err(r#"{"version": 1, "functions": {"A": {"allow": []}, "A": {"allow": []}}}"#);
    assert!(e.contains("duplicate key \"A\""), "{e}");
    assert!(e.contains("at functions"), "{e}");
}

#[test]
fn duplicate_fields_and_unknown_fields_are_rejected() {
    assert!(err(r#"{"version": 1, "version": 1, "functions": {}}"#).contains("duplicate field"));
    assert!(
        err(r#"{"version": 1, "functions": {"A": {"allow": [], "alow": []}}}"#)
            .contains("unknown field `alow`")
    );
}

#[test]
fn a_missing_allowlist_is_an_error_but_an_explicit_empty_one_is_not() {
    assert!(err(r#"{"version": 1, "functions": {"A": {}}}"#).contains("missing field `allow`"));
    assert_eq!(
        err(r#"{"version": 1, "functions": {"A": {"allow": []}}}"#),
        "valid"
    );
}

#[test]
fn an_entry_needs_exactly_one_kind() {
    let both = format!(
        "{HEAD}{{\"account\": \"111122223333\", \"organization\": \"o-a1b2c3d4e5\"}}]}}}}}}"
    );
    assert!(err(&both).contains("got several"), "{}", err(&both));
    let none = format!("{HEAD}{{\"reason\": \"x\"}}]}}}}}}");
    assert!(err(&none).contains("got none"));
    let stray = format!(
        "{HEAD}{{\"account\": \"111122223333\", \"sourceAccount\": \"111122223333\"}}]}}}}}}"
    );
    assert!(err(&stray).contains("apply only to a \"service\" entry"));
}

#[test]
fn the_guard_itself_cannot_be_guarded() {
    let e = err("{\"version\": 1,\n \"functions\": {\"guard\": {\"allow\": []}}}");
    assert_eq!(
        e,
        "p.json:2:16: at functions.guard: \"guard\" is the guard function itself; it must not guard its own policy"
    );
}

fn home(account: &str, region: &str) -> Home {
    Home::new("aws", region, account).expect("home")
}

#[test]
fn the_guard_is_known_by_its_full_arn_once_the_home_is_set() {
    let own = "arn:aws:lambda:eu-west-1:111122223333:function:guard";
    let text = format!(
        "{{\"version\": 1, \"functions\": {{\"Blog\": {{\"allow\": []}},\n \"{own}\": {{\"allow\": []}}}}}}"
    );
    let p = Allowlist::from_json(&text, "p.json", Some("guard")).expect("no home yet");
    let e = p
        .set_home(home("111122223333", "eu-west-1"))
        .expect_err("its own ARN")
        .to_string();
    assert_eq!(
        e,
        format!(
            "p.json:2:2: at functions.{own}: \"guard\" is the guard function itself; it must not guard its own policy"
        )
    );
    assert!(p.home().is_none(), "a refused home is not kept");
    // A same-named function in another account or region is not the guard.
    for other in [
        "arn:aws:lambda:eu-west-1:999999999999:function:guard",
        "arn:aws:lambda:us-east-1:111122223333:function:guard",
    ] {
        let text = format!("{{\"version\": 1, \"functions\": {{\"{other}\": {{\"allow\": []}}}}}}");
        let p = Allowlist::from_json(&text, "p.json", Some("guard")).expect("valid");
        p.set_home(home("111122223333", "eu-west-1"))
            .unwrap_or_else(|e| panic!("{other}: {e}"));
        assert!(!p.is_guard(other), "{other}");
        assert!(p.is_guard(own) && p.is_guard(&format!("{own}:live")) && p.is_guard("guard"));
    }
}

#[test]
fn a_function_keyed_by_name_and_by_its_home_arn_is_rejected_with_its_place() {
    let text = "{\"version\": 1, \"functions\": {\"Blog\": {\"allow\": []},\n  \"arn:aws:lambda:eu-west-1:111122223333:function:Blog\": {\"allow\": []}}}";
    let p = Allowlist::from_json(text, "p.json", None).expect("no home: no duplicate");
    let e = p
        .set_home(home("111122223333", "eu-west-1"))
        .expect_err("duplicate at home")
        .to_string();
    assert!(
        e.starts_with(
            "p.json:2:3: at functions.arn:aws:lambda:eu-west-1:111122223333:function:Blog: "
        ),
        "{e}"
    );
    assert!(e.contains("keyed both by its name \"Blog\""), "{e}");
    let elsewhere = Allowlist::from_json(text, "p.json", None).expect("valid");
    elsewhere
        .set_home(home("111122223333", "us-east-1"))
        .expect("the ARN is another region's Blog");
}

#[test]
fn a_second_home_must_be_the_first() {
    let p = Allowlist::from_json(r#"{"version": 1, "functions": {}}"#, "p", None).expect("valid");
    p.set_home(home("111122223333", "eu-west-1"))
        .expect("first");
    p.set_home(home("111122223333", "eu-west-1")).expect("same");
    let e = p
        .set_home(home("999999999999", "eu-west-1"))
        .expect_err("another")
        .to_string();
    assert!(
        e.contains("aws eu-west-1 111122223333") && e.contains("999999999999"),
        "{e}"
    );
}

#[test]
fn wrong_version_empty_and_trailing_garbage_are_rejected() {
    assert!(err(r#"{"version": 2, "functions": {}}"#).contains("expected version 1"));
    assert!(err("  ").contains("is empty"));
    assert!(err(r#"{"version": 1, "functions": {}} x"#).contains("trailing characters"));
}

#[test]
fn report_override_beats_function_modes_and_enforce_only_sets_the_default() {
    let text = r#"{"version": 1, "defaults": {"mode": "report"}, "functions": {"A": {"mode": "enforce", "allow": []}, "B": {"allow": []}}}"#;
    let p = Allowlist::from_json(text, "p", None).expect("valid");
    let mode = |p: &Allowlist, n: &str| p.lookup(n, None).map(|(_, f)| p.mode_for(f));
    assert_eq!(mode(&p, "A"), Some(Mode::Enforce));
    let reported = p.clone().with_mode_override(Some(Mode::Report));
    assert_eq!(mode(&reported, "A"), Some(Mode::Report));
    let enforced = p.with_mode_override(Some(Mode::Enforce));
    assert_eq!(mode(&enforced, "B"), Some(Mode::Enforce));
}

#[test]
fn service_entries_without_source_conditions_are_warned_about() {
    let text = r#"{"version": 1, "functions": {"A": {"allow": [{"service": "sns.amazonaws.com"}, {"service": "s3.amazonaws.com", "sourceArn": "arn:aws:s3:::b"}, {"service": "events.amazonaws.com", "sourceAccount": "111122223333"}]}}}"#;
    let w = Allowlist::from_json(text, "p", None)
        .expect("valid")
        .warnings();
    assert_eq!(w.len(), 2);
    assert_eq!(w[0].path, "functions.A.allow[0]");
    assert!(w[1].message.contains("sourceAccount"));
}

#[test]
fn independent_mistakes_are_all_named_in_file_order_and_one_stays_one() {
    let text = "{\"version\": 1, \"functions\": {\n\"A\": {\"allow\": [], \"mode\": \"x\"},\n\"B\": {\"allow\": [{\"account\": \"1\"}]},\n\"C\": {\"allow\": [],\n \"colour\": 1}}}";
    let e = err(text);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(lines[0].starts_with("p.json:2:") && lines[0].contains("at functions.A.mode:"));
    assert!(
        lines[1].starts_with("p.json:3:") && lines[1].contains("at functions.B.allow[0].account:")
    );
    assert!(
        lines[2].starts_with("p.json:5:") && lines[2].contains("at functions.C.colour:"),
        "{e}"
    );
    assert!(lines[2].contains("unknown field `colour`"), "{e}");
    // Each line is what that mistake alone gives.
    let alone = "{\"version\": 1, \"functions\": {\n\"A\": {\"allow\": []},\n\"B\": {\"allow\": [{\"account\": \"1\"}]}}}";
    assert_eq!(err(alone), lines[1]);
    let alone = "{\"version\": 1, \"functions\": {\n\"A\": {\"allow\": []},\n\"B\": {\"allow\": []},\n\"C\": {\"allow\": [],\n \"colour\": 1}}}";
    assert_eq!(err(alone), lines[2]);
}

#[test]
fn several_functions_keyed_by_name_and_by_arn_are_all_named() {
    let text = r#"{"version": 1, "functions": {"A": {"allow": []}, "B": {"allow": []},
 "arn:aws:lambda:eu-west-1:111122223333:function:A": {"allow": []},
 "arn:aws:lambda:eu-west-1:111122223333:function:B": {"allow": []}}}"#;
    let p = Allowlist::from_json(text, "p.json", None).expect("valid without a home");
    let home = Home::new("aws", "eu-west-1", "111122223333").expect("home");
    let e = p.set_home(home).expect_err("two doubles").to_string();
    assert_eq!(e.lines().count(), 2, "{e}");
}
