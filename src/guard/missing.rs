//! Qualifiers Lambda said do not exist ("Function not found: ARN:QUALIFIER"), remembered so that
//! records naming them again cost no call: an outsider's Invoke records with made-up qualifiers
//! cost at most one GetPolicy each, then nothing. Bounded per function and in all, oldest
//! forgotten first; a qualifier is forgotten as soon as a call finds it.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// At most this many missing qualifiers remembered per function.
pub const PER_FUNCTION: usize = 512;

/// At most this many in all (a qualifier is at most 128 characters: well under 2 MB).
pub const IN_ALL: usize = 8192;

/// (function as the API is called with it, qualifier), oldest first.
#[derive(Default)]
pub struct Missing {
    entries: Mutex<VecDeque<(String, String)>>,
}

impl Missing {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, String)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn contains(&self, function: &str, qualifier: &str) -> bool {
        self.lock()
            .iter()
            .any(|(f, q)| f == function && q == qualifier)
    }

    pub fn remember(&self, function: &str, qualifier: &str) {
        let mut entries = self.lock();
        if entries.iter().any(|(f, q)| f == function && q == qualifier) {
            return;
        }
        if entries.iter().filter(|(f, _)| f == function).count() >= PER_FUNCTION
            && let Some(oldest) = entries.iter().position(|(f, _)| f == function)
        {
            entries.remove(oldest);
        }
        if entries.len() >= IN_ALL {
            entries.pop_front();
        }
        entries.push_back((function.to_owned(), qualifier.to_owned()));
    }

    pub fn forget(&self, function: &str, qualifier: &str) {
        self.lock()
            .retain(|(f, q)| !(f == function && q == qualifier));
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_per_function_and_in_all_oldest_first() {
        let m = Missing::default();
        for i in 0..PER_FUNCTION + 3 {
            m.remember("f", &format!("q{i}"));
        }
        assert_eq!(m.len(), PER_FUNCTION);
        assert!(!m.contains("f", "q2") && m.contains("f", "q3"));
        for i in 0..IN_ALL {
            m.remember(&format!("g{}", i % 100), &format!("q{i}"));
        }
        assert_eq!(m.len(), IN_ALL);
        let (g, q) = (
            format!("g{}", (IN_ALL - 99) % 100),
            format!("q{}", IN_ALL - 99),
        );
        assert!(m.contains(&g, &q));
        m.forget(&g, &q);
        assert!(!m.contains(&g, &q));
        assert_eq!(m.len(), IN_ALL - 1);
    }
}
