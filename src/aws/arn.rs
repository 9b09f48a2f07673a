//! ARN and wildcard matching with IAM's `ArnLike` semantics.

/// `ArnLike`: both sides are split into the six ARN parts and each part is matched on its own,
/// so a `*` in the region never swallows a `:`. Case-sensitive, like IAM.
pub fn arn_like(pattern: &str, value: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let v: Vec<&str> = value.splitn(6, ':').collect();
    p.len() == 6 && v.len() == 6 && p.iter().zip(&v).all(|(p, v)| wildcard_match(p, v))
}

/// `StringLike`: `*` matches any run of characters, `?` any one character.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0, 0);
    // Position of the last `*` seen and the value index it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_runs_and_single_characters() {
        assert!(wildcard_match("lambda*", "lambda-topic"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(wildcard_match("*a*b*", "xxaxxbxx"));
        assert!(!wildcard_match("*a*b", "xxaxxbxxc"));
    }

    #[test]
    fn arn_like_matches_part_by_part() {
        assert!(arn_like("arn:aws:s3:::uploads", "arn:aws:s3:::uploads"));
        assert!(!arn_like(
            "arn:aws:s3:::uploads",
            "arn:aws:s3:::uploads-other"
        ));
        assert!(arn_like(
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/x:*",
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/x:log-stream:y"
        ));
        // A `*` in the region may not span into the account part.
        assert!(!arn_like(
            "arn:aws:sns:*:topic",
            "arn:aws:sns:us-east-1:123456789012:topic"
        ));
        assert!(arn_like(
            "arn:aws:sns:*:*:lambda*",
            "arn:aws:sns:us-east-2:123456789012:lambda-x"
        ));
        assert!(!arn_like("arn:aws:s3:::Uploads", "arn:aws:s3:::uploads"));
    }
}
