//! Fitting the functions into documents within the SCP size limit.

use super::model::{LeftOut, MAX_SCP_CHARS, Scp, Target};
use super::scp::document;

/// Fills documents in the policies file's order, opening a new one when the next function does
/// not fit, up to `max` documents; what fits in none is left out, never cut short.
pub fn pack(targets: &[Target], exempt: &[String], max: usize) -> (Vec<Scp>, Vec<LeftOut>) {
    let mut done: Vec<Vec<&Target>> = Vec::new();
    let mut open: Vec<&Target> = Vec::new();
    let mut left_out = Vec::new();
    for t in targets {
        open.push(t);
        if size_of(&open, exempt) <= MAX_SCP_CHARS {
            continue;
        }
        open.pop();
        let alone = size_of(&[t], exempt);
        if alone > MAX_SCP_CHARS {
            left_out.push(LeftOut {
                function: t.key.clone(),
                reason: format!(
                    "its statements alone take {alone} characters, over the {MAX_SCP_CHARS} of one SCP"
                ),
            });
        } else if done.len() + 1 < max && !open.is_empty() {
            done.push(std::mem::replace(&mut open, vec![t]));
        } else {
            left_out.push(LeftOut {
                function: t.key.clone(),
                reason: format!(
                    "does not fit in {max} SCP(s) of {MAX_SCP_CHARS} characters (--max-policies)"
                ),
            });
        }
    }
    if !open.is_empty() {
        done.push(open);
    }
    let policies = done
        .into_iter()
        .map(|group| {
            let content = document(&group, exempt);
            Scp {
                functions: group.iter().map(|t| t.key.clone()).collect(),
                size: content.to_string().chars().count(),
                content,
            }
        })
        .collect();
    (policies, left_out)
}

fn size_of(targets: &[&Target], exempt: &[String]) -> usize {
    document(targets, exempt).to_string().chars().count()
}
