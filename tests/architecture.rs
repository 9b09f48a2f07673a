//! The import direction `ARCHITECTURE.md` draws, checked over the `use` lines and paths of
//! `src/`: the layers import only downwards, and no module imports a module that imports it
//! back. Tests (`#[cfg(test)]` modules and files) and the two `main`s are outside the check.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The top-level modules from the ground floor up; each may import only those before it.
const LAYERS: &[&str] = &[
    "aws",
    "allowlist",
    "resource_policy",
    "evaluator",
    "record",
    "verdict",
    "plan",
    "template",
    "finding",
    "draft",
    "athena",
    "guardrails",
    "log",
    "guard",
    "sdk",
    "lambda",
    "cli",
];

/// A source file's module path (`src/guard/shell.rs` is `guard::shell`).
type Module = Vec<String>;

struct Source {
    module: Module,
    path: PathBuf,
    code: String,
}

fn module_of(rel: &Path) -> Module {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "bin") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let all: Vec<Source> = files
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(&root).expect("under src/").to_path_buf();
            let text = fs::read_to_string(&path).expect("a readable source file");
            Source {
                module: module_of(&rel),
                code: without_tests_and_comments(&text),
                path: rel,
            }
        })
        .collect();
    let test_only = test_only_modules(&all);
    all.into_iter()
        .filter(|s| !test_only.iter().any(|t| s.module.starts_with(t)))
        .collect()
}

/// Modules declared behind `#[cfg(test)]` (`#[cfg(test)] mod fixtures;`).
fn test_only_modules(all: &[Source]) -> Vec<Module> {
    let mut out = Vec::new();
    for s in all {
        let text = fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src")
                .join(&s.path),
        )
        .expect("readable");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            if pair[0] == "#[cfg(test)]" {
                let decl = pair[1]
                    .trim_start_matches("pub ")
                    .trim_start_matches("pub(crate) ");
                if let Some(name) = decl.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
                    let mut m = s.module.clone();
                    m.push(name.to_string());
                    out.push(m);
                }
            }
        }
    }
    out
}

/// The code of a file without its `#[cfg(test)]` items and without comments.
fn without_tests_and_comments(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            // Skip the item that follows: up to its matching closing brace or its `;`.
            let mut depth = 0i32;
            let mut opened = false;
            for next in lines.by_ref() {
                let code = next.split("//").next().unwrap_or("");
                depth += code.matches('{').count() as i32;
                opened |= depth > 0;
                depth -= code.matches('}').count() as i32;
                if (opened && depth <= 0) || (!opened && code.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// Every path a file names that starts with `crate::` or `super::`, with `use` groups
/// (`use crate::a::{b, c::{d}}`) expanded.
fn paths_named(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let boundary = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_');
        let relative_use = boundary && rest.starts_with("use ") && {
            // `use child::item` names a child module of this file's module: `self::child`.
            let after: String = bytes[i + 4..]
                .iter()
                .take_while(|c| c.is_alphanumeric() || **c == '_')
                .collect();
            !after.is_empty()
                && !["crate", "super", "self", "std", "core", "alloc"].contains(&after.as_str())
                && bytes.get(i + 4 + after.len()..i + 6 + after.len()) == Some(&[':', ':'][..])
                && after.chars().next().is_some_and(char::is_lowercase)
        };
        if relative_use {
            let (paths, end) = expand(&bytes, i + 4, "self::".to_string());
            out.extend(paths);
            i = end;
        } else if boundary
            && (rest.starts_with("crate::")
                || rest.starts_with("super::")
                || rest.starts_with("self::"))
        {
            let (paths, end) = expand(&bytes, i, String::new());
            out.extend(paths);
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// Reads a path (and any `{...}` group) starting at `i`, prefixed by `prefix`.
fn expand(chars: &[char], mut i: usize, prefix: String) -> (Vec<String>, usize) {
    let mut path = prefix;
    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
        path.push(chars[i]);
        i += 1;
    }
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    if i < chars.len() && chars[i] == '{' && path.ends_with("::") {
        let mut out = Vec::new();
        i += 1;
        loop {
            while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
                i += 1;
            }
            if i >= chars.len() {
                break;
            }
            if chars[i] == '}' {
                i += 1;
                break;
            }
            let (inner, end) = expand(chars, i, path.clone());
            out.extend(inner);
            // Skip an `as alias` and anything else up to the next item.
            i = end;
            while i < chars.len() && chars[i] != ',' && chars[i] != '}' {
                i += 1;
            }
        }
        return (out, i);
    }
    (vec![path.trim_end_matches("::").to_string()], i)
}

/// The module file a path lands in: the longest prefix that is a module.
fn resolve(from: &Module, path: &str, modules: &BTreeSet<Module>) -> Module {
    let mut segments = path.split("::").filter(|s| !s.is_empty());
    let mut base: Module = match segments.next() {
        Some("crate") => Vec::new(),
        Some("super") => {
            let mut m = from.clone();
            m.pop();
            m
        }
        Some("self") => from.clone(),
        _ => return Vec::new(),
    };
    for s in segments {
        if s == "super" {
            base.pop();
            continue;
        }
        let mut next = base.clone();
        next.push(s.to_string());
        if modules.contains(&next) {
            base = next;
        } else {
            break;
        }
    }
    base
}

fn imports() -> BTreeMap<Module, BTreeSet<Module>> {
    let sources = sources();
    let modules: BTreeSet<Module> = sources.iter().map(|s| s.module.clone()).collect();
    let mut graph = BTreeMap::new();
    for s in &sources {
        let targets: BTreeSet<Module> = paths_named(&s.code)
            .iter()
            .map(|p| resolve(&s.module, p, &modules))
            .filter(|t| !t.is_empty() && *t != s.module)
            .collect();
        graph.insert(s.module.clone(), targets);
    }
    graph
}

fn name_of(m: &Module) -> String {
    m.join("::")
}

#[test]
fn layers_import_only_downwards() {
    let mut wrong = Vec::new();
    for (from, targets) in imports() {
        let Some(top) = from.first() else { continue };
        let Some(rank) = LAYERS.iter().position(|l| l == top) else {
            wrong.push(format!("{} is in no layer of LAYERS", name_of(&from)));
            continue;
        };
        for t in targets {
            let target_rank = LAYERS.iter().position(|l| *l == t[0]);
            if t[0] != *top && target_rank.is_none_or(|r| r >= rank) {
                wrong.push(format!(
                    "{} imports {} (a layer above it)",
                    name_of(&from),
                    name_of(&t)
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the drawn direction:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let graph = imports();
    let mut cycles = BTreeSet::new();
    for start in graph.keys() {
        // Depth-first from `start`; a path back to `start` is a cycle.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, trail)) = stack.pop() {
            for next in graph.get(&at).into_iter().flatten() {
                if next == start {
                    let mut names: Vec<String> = trail.iter().map(name_of).collect();
                    names.push(name_of(start));
                    let mut key: Vec<String> = trail.iter().map(name_of).collect();
                    key.sort();
                    cycles.insert((key, names.join(" -> ")));
                } else if seen.insert(next.clone()) {
                    let mut t = trail.clone();
                    t.push(next.clone());
                    stack.push((next.clone(), t));
                }
            }
        }
    }
    let found: Vec<String> = cycles.into_iter().map(|(_, c)| c).collect();
    assert!(
        found.is_empty(),
        "modules that import each other:\n{}",
        found.join("\n")
    );
}

/// The type an inherent `impl` block is for (`impl<A: Aws> Guard<A> {` → `Guard`); `None` for a
/// trait impl.
fn inherent_impl_of(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("impl")?;
    if !(rest.starts_with('<') || rest.starts_with(' ')) || line.contains(" for ") {
        return None;
    }
    let rest = if rest.starts_with('<') {
        let mut depth = 0;
        let end = rest.char_indices().find_map(|(i, c)| {
            depth += match c {
                '<' => 1,
                '>' => -1,
                _ => 0,
            };
            (depth == 0).then_some(i)
        })?;
        &rest[end + 1..]
    } else {
        rest
    };
    let name = rest
        .trim_start()
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()?;
    (!name.is_empty()).then_some(name)
}

/// A type's methods live with the type: a module that adds an `impl` block to a type defined in
/// another module asks that module's questions and gets called back by it.
#[test]
fn a_type_and_its_methods_live_in_one_module() {
    let sources = sources();
    let defines = |s: &Source, name: &str| {
        ["struct", "enum", "trait"].iter().any(|kind| {
            s.code.contains(&format!("{kind} {name} "))
                || s.code.contains(&format!("{kind} {name}<"))
                || s.code.contains(&format!("{kind} {name}("))
                || s.code.contains(&format!("{kind} {name};"))
        })
    };
    let mut wrong = Vec::new();
    for s in &sources {
        for line in s.code.lines() {
            let Some(name) = inherent_impl_of(line) else {
                continue;
            };
            if defines(s, name) {
                continue;
            }
            let home: Vec<String> = sources
                .iter()
                .filter(|o| defines(o, name))
                .map(|o| name_of(&o.module))
                .collect();
            if !home.is_empty() {
                wrong.push(format!(
                    "{} adds methods to {name} of {}",
                    name_of(&s.module),
                    home.join(", ")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "methods away from their type:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_groups_supers_and_leaves_tests_out() {
    assert_eq!(inherent_impl_of("impl<A: Aws> Guard<A> {"), Some("Guard"));
    assert_eq!(inherent_impl_of("impl Tally {"), Some("Tally"));
    assert_eq!(inherent_impl_of("impl From<Skip> for Why {"), None);
    assert_eq!(inherent_impl_of("    implied();"), None);
    let code = without_tests_and_comments(
        "use crate::a::{b, c::{d, e as f}};\n// crate::hidden\nfn x() { super::g::h(); }\npub use child::Item;\nuse serde::Serialize;\n#[cfg(test)]\nmod tests {\n    use crate::z;\n}\n",
    );
    let paths = paths_named(&code);
    assert_eq!(
        paths,
        vec![
            "crate::a::b",
            "crate::a::c::d",
            "crate::a::c::e",
            "super::g::h",
            "self::child::Item",
            "self::serde::Serialize",
        ]
    );
    let modules: BTreeSet<Module> = [
        vec!["a".into()],
        vec!["a".into(), "c".into()],
        vec!["g".into()],
    ]
    .into_iter()
    .collect();
    let from: Module = vec!["k".into(), "m".into()];
    assert_eq!(resolve(&from, "crate::a::c::d", &modules), vec!["a", "c"]);
    assert_eq!(resolve(&from, "super::g::h", &modules), vec!["k"]);
    assert_eq!(
        resolve(&vec!["k".into()], "super::g::h", &modules),
        vec!["g"]
    );
}
