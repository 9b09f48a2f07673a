//! Reading and validating the policies file: every error names the file, line:column and JSON path.

use std::path::Path;

use std::sync::OnceLock;

use super::model::{Apply, Grant, GuardedFunction, Mode, PoliciesFile};
use crate::aws::home::Home;
use crate::aws::ids::FunctionKey;

/// A policies file larger than this is refused: a real one is a few kilobytes.
pub const MAX_POLICIES_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AllowlistError {
    #[error("{file}: cannot read the policies file: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: is a directory, expected a JSON policies file")]
    Directory { file: String },
    #[error(
        "{file}: is {size} bytes, more than the {MAX_POLICIES_BYTES}-byte limit for a policies file"
    )]
    TooLarge { file: String, size: u64 },
    #[error("{file}: is empty, expected a JSON object with \"version\" and \"functions\"")]
    Empty { file: String },
    #[error("{file}: is not UTF-8 text")]
    NotUtf8 { file: String },
    #[error("home account and region: {0}")]
    Home(String),
    #[error("{file}:{line}:{column}: at {path}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        path: String,
        message: String,
    },
}

/// A non-fatal finding of `validate`: the file works, but may not do what its author wants.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    pub path: String,
    pub message: String,
}

/// A validated policies file.
#[derive(Debug, Clone)]
pub struct Allowlist {
    file: PoliciesFile,
    origin: String,
    /// The file's text, to locate keys in errors found after parsing.
    text: String,
    forced_mode: Option<Mode>,
    /// The account and region a name key means; unset, a name matches in any account.
    home: OnceLock<Home>,
    /// The guard's own function name: with the home, its full ARN, which must not be guarded.
    guard: Option<String>,
}

impl Allowlist {
    /// Reads and validates `path`; `guard` is the guard's own function name, which must not be
    /// guarded: a name key of that name now, an ARN key of its home ARN once the home is set.
    pub fn load(path: &Path, guard: Option<&str>) -> Result<Self, AllowlistError> {
        let file = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|source| AllowlistError::Read {
            file: file.clone(),
            source,
        })?;
        if meta.is_dir() {
            return Err(AllowlistError::Directory { file });
        }
        if meta.len() > MAX_POLICIES_BYTES {
            return Err(AllowlistError::TooLarge {
                file,
                size: meta.len(),
            });
        }
        let bytes = std::fs::read(path).map_err(|source| AllowlistError::Read {
            file: file.clone(),
            source,
        })?;
        let text =
            String::from_utf8(bytes).map_err(|_| AllowlistError::NotUtf8 { file: file.clone() })?;
        Self::from_json(&text, &file, guard)
    }

    /// Validates policies given as text; `origin` names them in errors.
    pub fn from_json(
        text: &str,
        origin: &str,
        guard: Option<&str>,
    ) -> Result<Self, AllowlistError> {
        if text.trim().is_empty() {
            return Err(AllowlistError::Empty {
                file: origin.to_owned(),
            });
        }
        if text.len() as u64 > MAX_POLICIES_BYTES {
            return Err(AllowlistError::TooLarge {
                file: origin.to_owned(),
                size: text.len() as u64,
            });
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed: Result<PoliciesFile, _> = serde_path_to_error::deserialize(&mut de);
        let invalid = |path: String, inner: serde_json::Error| AllowlistError::Invalid {
            file: origin.to_owned(),
            line: inner.line(),
            column: inner.column(),
            path,
            message: strip_position(&inner.to_string()),
        };
        let file = parsed.map_err(|err| {
            let path = json_path(&err.path().to_string());
            invalid(path, err.into_inner())
        })?;
        de.end().map_err(|e| invalid("(root)".to_owned(), e))?;
        let allowlist = Allowlist {
            file,
            origin: origin.to_owned(),
            text: text.to_owned(),
            forced_mode: None,
            home: OnceLock::new(),
            guard: guard.map(str::to_owned),
        };
        // A name key means the function in the guard's home; an ARN key of another account or
        // region that happens to carry the guard's name is someone else's function.
        if let Some(guard) = guard
            && let Some((key, _)) = allowlist
                .functions()
                .find(|(k, _)| k.arn().is_none() && k.as_str() == guard)
        {
            return Err(allowlist.guards_the_guard(key, guard));
        }
        Ok(allowlist)
    }

    fn guards_the_guard(&self, key: &FunctionKey, guard: &str) -> AllowlistError {
        let (line, column) = locate_key(&self.text, key.as_str());
        AllowlistError::Invalid {
            file: self.origin.clone(),
            line,
            column,
            path: format!("functions.{key}"),
            message: format!(
                "{guard:?} is the guard function itself; it must not guard its own policy"
            ),
        }
    }

    /// Sets the home account and region (once; a later call must name the same home) and
    /// checks that no function is keyed both by name and by its ARN there, and that no ARN key
    /// is the guard's own ARN.
    pub fn set_home(&self, home: Home) -> Result<(), AllowlistError> {
        match self.home.get() {
            Some(set) if *set == home => return Ok(()),
            Some(set) => {
                return Err(AllowlistError::Home(format!(
                    "the home is {set}, but {home} was given (the function's ARN and INVOKEGUARD_HOME_ACCOUNT/AWS_REGION must agree)"
                )));
            }
            None => {}
        }
        if let Some(guard) = &self.guard {
            let own = home.function_arn(guard);
            if let Some((key, _)) = self.functions().find(|(k, _)| k.arn() == Some(&own)) {
                return Err(self.guards_the_guard(key, guard));
            }
        }
        for (key, _) in self.functions() {
            let Some(arn) = key.arn() else { continue };
            let named = self
                .functions()
                .any(|(k, _)| k.arn().is_none() && k.as_str() == key.name());
            if named && home.holds(arn) {
                let (line, column) = locate_key(&self.text, key.as_str());
                return Err(AllowlistError::Invalid {
                    file: self.origin.clone(),
                    line,
                    column,
                    path: format!("functions.{key}"),
                    message: format!(
                        "the function is keyed both by its name {:?} and by its ARN (home account and region {home}); keep one",
                        key.name()
                    ),
                });
            }
        }
        match self.home.set(home.clone()) {
            Ok(()) => Ok(()),
            // Another thread set it meanwhile: the same home is fine, another is not.
            Err(_) => match self.home.get() {
                Some(set) if *set != home => Err(AllowlistError::Home(format!(
                    "the home is {set}, but {home} was given"
                ))),
                _ => Ok(()),
            },
        }
    }

    /// The guard's own name, for an allowlist read without it (the guard is told by its settings).
    pub fn knowing_guard(mut self, name: &str) -> Self {
        self.guard.get_or_insert_with(|| name.to_owned());
        self
    }

    /// True when `function` (a name, meaning the home's, or an unqualified ARN) is the guard's own.
    pub fn is_guard(&self, function: &str) -> bool {
        let Some(guard) = &self.guard else {
            return false;
        };
        match (crate::aws::ids::lambda_arn_name(function), self.home()) {
            (None, _) => function == guard,
            (Some(_), Some(home)) => {
                let own = home.function_arn(guard);
                function == own
                    || function
                        .strip_prefix(own.as_str())
                        .is_some_and(|q| q.starts_with(':'))
            }
            // No home yet: an ARN of that name may be the guard; the caller takes the safe side.
            (Some(name), None) => name == guard,
        }
    }

    pub fn home(&self) -> Option<&Home> {
        self.home.get()
    }

    /// Applies `INVOKEGUARD_MODE` or `--report`: `report` wins over every function's own mode
    /// (the safe direction); `enforce` only replaces the file's default.
    pub fn with_mode_override(mut self, mode: Option<Mode>) -> Self {
        match mode {
            Some(Mode::Report) => self.forced_mode = Some(Mode::Report),
            Some(Mode::Enforce) => self.file.defaults.mode = Mode::Enforce,
            None => {}
        }
        self
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn functions(&self) -> impl Iterator<Item = (&FunctionKey, &GuardedFunction)> {
        self.file.functions.0.iter()
    }

    /// The guarded entry for a function: an ARN key matching `arn` first, else a name key,
    /// which means the function of that name in the home account and region: a record about a
    /// same-named function elsewhere is not guarded. Without a home, a name matches anywhere.
    pub fn lookup(
        &self,
        name: &str,
        arn: Option<&str>,
    ) -> Option<(&FunctionKey, &GuardedFunction)> {
        let by_arn = arn.and_then(|arn| self.functions().find(|(k, _)| k.arn() == Some(arn)));
        let at_home = match (self.home(), arn) {
            (Some(home), Some(arn)) => home.holds(arn),
            _ => true,
        };
        by_arn.or_else(|| {
            self.functions()
                .find(|(k, _)| at_home && k.arn().is_none() && k.as_str() == name)
        })
    }

    /// The function a key names, as the Lambda API takes it: its ARN, or the name in the home
    /// account and region (the bare name when no home is known).
    pub fn api_function(&self, key: &FunctionKey) -> String {
        match (key.arn(), self.home()) {
            (Some(arn), _) => arn.to_owned(),
            (None, Some(home)) => home.function_arn(key.as_str()),
            (None, None) => key.as_str().to_owned(),
        }
    }

    pub fn mode_for(&self, function: &GuardedFunction) -> Mode {
        self.forced_mode
            .or(function.mode)
            .unwrap_or(self.file.defaults.mode)
    }

    pub fn apply_for(&self, function: &GuardedFunction) -> Apply {
        function.apply.unwrap_or(self.file.defaults.apply)
    }

    /// Findings that do not make the file invalid.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut out = Vec::new();
        for (key, function) in self.functions() {
            for (i, entry) in function.allow.iter().enumerate() {
                let Grant::Service {
                    service,
                    source_arn,
                    source_account,
                    ..
                } = &entry.grant
                else {
                    continue;
                };
                let path = format!("functions.{key}.allow[{i}]");
                if source_arn.is_none() && source_account.is_none() {
                    out.push(Warning {
                        path,
                        message: format!(
                            "{service} without sourceArn or sourceAccount lets any account's {service} resource invoke the function (confused deputy)"
                        ),
                    });
                } else if service.as_str() == "s3.amazonaws.com" && source_account.is_none() {
                    out.push(Warning {
                        path,
                        message: "S3 bucket ARNs carry no account id: add sourceAccount so a same-named bucket elsewhere cannot invoke".to_owned(),
                    });
                }
            }
        }
        out
    }
}

/// serde_path_to_error prints the root as "."; the contract's paths have no leading dot.
fn json_path(path: &str) -> String {
    if path == "." {
        "(root)".to_owned()
    } else {
        path.to_owned()
    }
}

/// serde_json appends " at line L column C", which our message carries separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Line and column (1-based) of the first `"key"` used as an object key in `text`.
fn locate_key(text: &str, key: &str) -> (usize, usize) {
    let needle = format!("\"{key}\"");
    let mut from = 0;
    while let Some(found) = text[from..].find(&needle) {
        let at = from + found;
        let after = text[at + needle.len()..].trim_start();
        if after.starts_with(':') {
            let before = &text[..at];
            let line = before.matches('\n').count() + 1;
            let column = at - before.rfind('\n').map_or(0, |n| n + 1) + 1;
            return (line, column);
        }
        from = at + needle.len();
    }
    (0, 0)
}

#[cfg(test)]
mod tests {
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
        assert!(
            err(r#"{"version": 1, "version": 1, "functions": {}}"#).contains("duplicate field")
        );
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
            let text =
                format!("{{\"version\": 1, \"functions\": {{\"{other}\": {{\"allow\": []}}}}}}");
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
        let p =
            Allowlist::from_json(r#"{"version": 1, "functions": {}}"#, "p", None).expect("valid");
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
}
