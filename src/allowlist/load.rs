//! Reading and validating the policies file: every error names the file, line:column and JSON path.

use std::path::Path;

use std::sync::OnceLock;

use super::model::{Apply, Grant, GuardedFunction, Mode, PoliciesFile};
use crate::aws::arn::FunctionArn;
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
    /// Several independent mistakes, one per line (at most [`MAX_REPORTED_ERRORS`]).
    #[error("{}", lines(.0))]
    Several(Vec<AllowlistError>),
}

/// At most this many errors are reported for one file: past it, more add only noise.
pub const MAX_REPORTED_ERRORS: usize = 50;

fn lines(errors: &[AllowlistError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl AllowlistError {
    /// One error as it is, several as [`AllowlistError::Several`], capped.
    fn from_list(mut errors: Vec<AllowlistError>) -> Option<AllowlistError> {
        errors.truncate(MAX_REPORTED_ERRORS);
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(AllowlistError::Several(errors)),
        }
    }
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
        let file = match parsed {
            Ok(file) => file,
            Err(err) => {
                let path = json_path(&err.path().to_string());
                let first = invalid(path, err.into_inner());
                return Err(with_entry_errors(first, text, origin));
            }
        };
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
            && let Some(key) = allowlist.by_name(guard).map(|(k, _)| k)
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
            if let Some((key, _)) = self.by_arn(&own) {
                return Err(self.guards_the_guard(key, guard));
            }
        }
        let mut doubles = Vec::new();
        for (key, _) in self.functions() {
            let Some(arn) = key.arn() else { continue };
            if self.by_name(key.name()).is_some() && home.holds(arn) {
                let (line, column) = locate_key(&self.text, key.as_str());
                doubles.push(AllowlistError::Invalid {
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
        if let Some(e) = AllowlistError::from_list(doubles) {
            return Err(e);
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
        match (FunctionArn::parse(function).map(|f| f.name), self.home()) {
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
    /// Both are lookups in the file's sorted map, not scans: this runs for every record.
    pub fn lookup(
        &self,
        name: &str,
        arn: Option<&str>,
    ) -> Option<(&FunctionKey, &GuardedFunction)> {
        if let Some(found) = arn.and_then(|arn| self.by_arn(arn)) {
            return Some(found);
        }
        let at_home = match (self.home(), arn) {
            (Some(home), Some(arn)) => home.holds(arn),
            _ => true,
        };
        if !at_home {
            return None;
        }
        self.by_name(name)
    }

    /// The ARN key that is `arn`, if any.
    fn by_arn(&self, arn: &str) -> Option<(&FunctionKey, &GuardedFunction)> {
        self.file
            .functions
            .0
            .get_key_value(arn)
            .filter(|(k, _)| k.arn().is_some())
    }

    /// The name key that is `name`, if any.
    fn by_name(&self, name: &str) -> Option<(&FunctionKey, &GuardedFunction)> {
        self.file
            .functions
            .0
            .get_key_value(name)
            .filter(|(k, _)| k.arn().is_none())
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
                let Grant::Service(grant) = &entry.grant else {
                    continue;
                };
                let service = &grant.service;
                let path = format!("functions.{key}.allow[{i}]");
                if grant.source_arn.is_none() && grant.source_account.is_none() {
                    out.push(Warning {
                        path,
                        message: format!(
                            "{service} without sourceArn or sourceAccount lets any account's {service} resource invoke the function (confused deputy)"
                        ),
                    });
                } else if service.as_str() == "s3.amazonaws.com" && grant.source_account.is_none() {
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

/// The first error serde met, and those of every other function entry checked on its own:
/// serde cannot go past the first, but entries are independent of each other.
fn with_entry_errors(first: AllowlistError, text: &str, origin: &str) -> AllowlistError {
    // A syntax error leaves no entries to find.
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return first;
    }
    let at = |e: &AllowlistError| match e {
        AllowlistError::Invalid { line, column, .. } => (*line, *column),
        _ => (0, 0),
    };
    let mut errors = vec![first];
    for (key, start, end) in spans::function_members(text) {
        let mut de = serde_json::Deserializer::from_str(&text[start..end]);
        let Err(err) = serde_path_to_error::deserialize::<_, GuardedFunction>(&mut de) else {
            continue;
        };
        let inner_path = err.path().to_string();
        let inner = err.into_inner();
        let before = &text[..start];
        let base_line = before.matches('\n').count() + 1;
        let base_column = start - before.rfind('\n').map_or(0, |n| n + 1) + 1;
        let (line, column) = if inner.line() <= 1 {
            (base_line, base_column + inner.column().saturating_sub(1))
        } else {
            (base_line + inner.line() - 1, inner.column())
        };
        let found = AllowlistError::Invalid {
            file: origin.to_owned(),
            line,
            column,
            path: if inner_path == "." {
                format!("functions.{key}")
            } else {
                format!("functions.{key}.{inner_path}")
            },
            message: strip_position(&inner.to_string()),
        };
        if !errors.iter().any(|e| at(e) == (line, column)) {
            errors.push(found);
        }
    }
    errors.sort_by_key(at);
    AllowlistError::from_list(errors).unwrap_or(AllowlistError::Empty {
        file: origin.to_owned(),
    })
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

mod spans;
#[cfg(test)]
mod tests;
