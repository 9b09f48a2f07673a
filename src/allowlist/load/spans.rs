//! Where each function's entry sits in the policies file's text, so that entries can be checked
//! one by one: serde stops at the first error, `validate` should name them all.

/// Each member of the top-level `"functions"` object: its key and the byte range of its value.
/// Only called on text that is well-formed JSON; anything unexpected gives fewer members.
pub(super) fn function_members(text: &str) -> Vec<(String, usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return out;
    }
    i += 1;
    while let Some((key, start, end)) = member(text, &mut i) {
        if key == "functions" && b.get(start) == Some(&b'{') {
            let mut j = start + 1;
            while let Some(m) = member(text, &mut j) {
                out.push(m);
            }
        }
        let _ = end;
    }
    out
}

/// The member at `*i` inside an object (key, value start, value end); `*i` moves past it and
/// its comma. None at the object's end.
fn member(text: &str, i: &mut usize) -> Option<(String, usize, usize)> {
    let b = text.as_bytes();
    *i = ws(b, *i);
    if b.get(*i) != Some(&b'"') {
        return None;
    }
    let key_end = string_end(b, *i)?;
    let key: String = serde_json::from_str(&text[*i..key_end]).ok()?;
    *i = ws(b, key_end);
    if b.get(*i) != Some(&b':') {
        return None;
    }
    let start = ws(b, *i + 1);
    let end = value_end(b, start)?;
    *i = ws(b, end);
    if b.get(*i) == Some(&b',') {
        *i += 1;
    }
    Some((key, start, end))
}

fn ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// Just past the string starting at `i` (its opening quote).
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        match b.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// Just past the value starting at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while b
                .get(j)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
            {
                j += 1;
            }
            Some(j)
        }
    }
}
