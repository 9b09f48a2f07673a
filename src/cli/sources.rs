//! Where `check` finds its inputs: files, stdin, directory trees of trail files and S3 prefixes,
//! and which of their files a `--since`/`--until` range keeps (by the `YYYY/MM/DD` of the path).

use std::path::{Path, PathBuf};

/// A day given as `YYYY-MM-DD`, kept as the number `YYYYMMDD` (ordered like the days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub u32);

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.0;
        write!(f, "{:04}-{:02}-{:02}", d / 10000, d / 100 % 100, d % 100)
    }
}

/// Parses `YYYY-MM-DD` (the argument of `--since` and `--until`).
pub fn parse_day(s: &str) -> Result<Day, String> {
    let bad = || format!("{s:?}: expected a day as YYYY-MM-DD");
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    day_of(y, m, d).ok_or_else(bad)
}

fn day_of(y: &str, m: &str, d: &str) -> Option<Day> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(y, 4) && digits(m, 2) && digits(d, 2)) {
        return None;
    }
    let (y, m, d): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some(Day(y * 10000 + m * 100 + d))
}

/// The inclusive range of days `--since`/`--until` keep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    pub since: Option<Day>,
    pub until: Option<Day>,
}

impl Range {
    pub fn is_set(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    /// Whether a file of `day` is read; a file whose day is unknown always is.
    pub fn admits(&self, day: Option<Day>) -> bool {
        let Some(day) = day else { return true };
        self.since.is_none_or(|s| day >= s) && self.until.is_none_or(|u| day <= u)
    }
}

/// The day of a trail file from its path or key: the `YYYY/MM/DD` directories CloudTrail writes
/// (`AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`), else the `_YYYYMMDDTHHMMZ_` of its name.
pub fn day_in_path(path: &str) -> Option<Day> {
    let parts: Vec<&str> = path.split(['/', '\\']).collect();
    let from_dirs = parts
        .windows(3)
        .rev()
        .find_map(|w| day_of(w[0], w[1], w[2]));
    from_dirs.or_else(|| {
        let name = parts.last()?;
        name.split('_').find_map(|piece| {
            let (date, time) = piece.split_once('T')?;
            (date.len() == 8 && time.ends_with('Z'))
                .then(|| day_of(&date[..4], &date[4..6], &date[6..]))
                .flatten()
        })
    })
}

/// Every file under `dir` (recursively, in name order), without following symbolic links to
/// directories.
pub fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&d)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        let mut subdirs = Vec::new();
        for p in entries {
            let meta = std::fs::symlink_metadata(&p)?;
            if meta.is_dir() {
                subdirs.push(p);
            } else if meta.is_file() || std::fs::metadata(&p).is_ok_and(|m| m.is_file()) {
                out.push(p);
            }
        }
        // Depth first, in name order.
        stack.extend(subdirs.into_iter().rev());
    }
    out.sort();
    Ok(out)
}

/// What was left out of a directory or prefix, for the note printed about it.
#[derive(Debug, Default)]
pub struct Skipped {
    pub digests: usize,
    pub others: usize,
    pub example: Option<String>,
    pub out_of_range: usize,
}

impl Skipped {
    pub fn note(&self, source: &str) -> Option<String> {
        let mut parts = Vec::new();
        if self.digests > 0 {
            parts.push(format!(
                "{} digest files (CloudTrail-Digest/)",
                self.digests
            ));
        }
        if self.others > 0 {
            parts.push(format!(
                "{} files that are not trail files (*.json.gz){}",
                self.others,
                self.example
                    .as_ref()
                    .map(|e| format!(", e.g. {e}"))
                    .unwrap_or_default()
            ));
        }
        if self.out_of_range > 0 {
            parts.push(format!(
                "{} trail files outside --since/--until",
                self.out_of_range
            ));
        }
        (!parts.is_empty()).then(|| format!("note: {source}: skipped {}", parts.join(", ")))
    }
}

/// `s3://bucket/prefix` → (bucket, prefix).
pub fn parse_s3_url(s: &str) -> Option<Result<(String, String), String>> {
    let rest = s.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    Some(if bucket.is_empty() {
        Err(format!("{s}: expected s3://BUCKET/PREFIX"))
    } else {
        Ok((bucket.to_owned(), prefix.to_owned()))
    })
}

/// ListObjectsV2 and the capped, streamed GetObject of `s3://` sources live with the SDK.
#[cfg(feature = "aws")]
pub(crate) use crate::sdk::s3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_come_from_the_directories_or_the_file_name() {
        let p = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/23/111122223333_CloudTrail_us-east-1_20261123T0005Z_abc.json.gz";
        assert_eq!(day_in_path(p), Some(Day(20261123)));
        assert_eq!(
            day_in_path("x/111122223333_CloudTrail_us-east-1_20261124T0005Z_abc.json.gz"),
            Some(Day(20261124))
        );
        assert_eq!(day_in_path("logs/a.json.gz"), None);
        assert_eq!(parse_day("2026-11-23"), Ok(Day(20261123)));
        assert!(parse_day("2026-13-01").is_err());
        assert!(parse_day("26-11-01").is_err());
        let r = Range {
            since: Some(Day(20261121)),
            until: Some(Day(20261122)),
        };
        assert!(r.admits(Some(Day(20261121))) && r.admits(Some(Day(20261122))));
        assert!(!r.admits(Some(Day(20261120))) && !r.admits(Some(Day(20261123))));
        assert!(r.admits(None));
    }

    #[test]
    fn s3_urls_name_a_bucket_and_a_prefix() {
        assert_eq!(
            parse_s3_url("s3://b/AWSLogs/"),
            Some(Ok(("b".into(), "AWSLogs/".into())))
        );
        assert_eq!(
            parse_s3_url("s3://b"),
            Some(Ok(("b".into(), String::new())))
        );
        assert!(matches!(parse_s3_url("s3:///x"), Some(Err(_))));
        assert_eq!(parse_s3_url("/tmp/x"), None);
    }
}
