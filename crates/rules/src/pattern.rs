//! Name and ARN patterns of the settings (exceptions, approved users, unapproved policies):
//! `*` matches any run of characters, `/` and `:` included; every other character matches
//! itself, ASCII letters in either case (IAM names and ARNs are ASCII, and IAM treats names
//! case-insensitively).
//!
//! Settings come from people and files, so a pattern is hostile input: compiling one is a
//! lowercase copy split at its `*`s, and matching is linear in the pattern and the text (a
//! prefix, a suffix, and each middle piece found leftmost), whatever the pattern holds. Limits
//! keep a settings object small: a pattern is at most [`MAX_PATTERN_CHARS`] characters, a list
//! at most [`MAX_LIST_ENTRIES`] entries; errors quote at most the first few dozen characters of
//! what they reject.

use std::collections::HashMap;

/// The longest pattern accepted: an IAM ARN is at most 2,048 characters.
pub const MAX_PATTERN_CHARS: usize = 2048;

/// The most entries a pattern list (or a rule's exceptions) may hold: IAM allows at most 5,000
/// users and 5,000 customer managed policies in an account.
pub const MAX_LIST_ENTRIES: usize = 5000;

/// Characters other glob dialects treat as special. None can appear in an IAM name or ARN, so
/// a pattern holding one would never match what its author meant: it is refused.
const UNSUPPORTED: &[char] = &['?', '[', ']', '{', '}', '\\'];

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The pieces between the `*`s, lowercased (ASCII). One piece: no `*` (an exact match).
    pieces: Vec<String>,
}

/// The first characters of a long text, for an error message.
pub fn preview(text: &str) -> String {
    const SHOWN: usize = 40;
    match text.char_indices().nth(SHOWN) {
        None => format!("{text:?}"),
        Some((at, _)) => format!("{:?}… ({} characters)", &text[..at], text.chars().count()),
    }
}

impl Pattern {
    /// Compile a pattern; the error says what is wrong without repeating a long pattern.
    pub fn new(pattern: &str) -> Result<Pattern, String> {
        let chars = pattern.chars().count();
        if chars > MAX_PATTERN_CHARS {
            return Err(format!("pattern {} is too long: at most {MAX_PATTERN_CHARS} characters (the longest IAM ARN)", preview(pattern)));
        }
        if let Some(c) = pattern.chars().find(|c| UNSUPPORTED.contains(c)) {
            return Err(format!(
                "pattern {} holds {c:?}: only `*` is a wildcard, and {c:?} cannot appear in an IAM name or ARN",
                preview(pattern)
            ));
        }
        Ok(Pattern { pieces: pattern.to_ascii_lowercase().split('*').map(str::to_owned).collect() })
    }

    /// The pattern when it has no `*` (lowercased): it matches that text alone.
    pub fn literal(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// Whether `text` matches (ASCII case-insensitively).
    pub fn is_match(&self, text: &str) -> bool {
        if text.is_ascii() && !text.bytes().any(|b| b.is_ascii_uppercase()) {
            self.is_match_lower(text)
        } else {
            self.is_match_lower(&text.to_ascii_lowercase())
        }
    }

    /// `text` already lowercased (ASCII).
    fn is_match_lower(&self, text: &str) -> bool {
        let (first, rest) = match self.pieces.split_first() {
            Some(split) => split,
            None => return text.is_empty(),
        };
        let Some((last, middle)) = rest.split_last() else { return text == first };
        if text.len() < first.len() + last.len() || !text.starts_with(first.as_str()) || !text.ends_with(last.as_str()) {
            return false;
        }
        // Between the prefix and the suffix, each middle piece at its leftmost place: if a
        // match exists, this finds one (a `*` can always absorb what comes before a piece).
        let mut window = &text[first.len()..text.len() - last.len()];
        for piece in middle {
            match window.find(piece.as_str()) {
                Some(at) => window = &window[at + piece.len()..],
                None => return false,
            }
        }
        true
    }
}

/// Patterns kept in their order, matched as one: exact names through a hash map, the others
/// one by one. [`PatternList::first`] gives the first pattern (in list order) that matches.
#[derive(Debug, Clone, Default)]
pub struct PatternList {
    patterns: Vec<Pattern>,
    /// Lowercased exact patterns → the index of the first with that text.
    exact: HashMap<String, usize>,
    /// Indexes of the patterns with a `*`, in order.
    wild: Vec<usize>,
}

impl PatternList {
    /// Compile a list; the error names the entry (by its index) and what is wrong.
    pub fn new<'a>(patterns: impl ExactSizeIterator<Item = &'a str>) -> Result<PatternList, String> {
        if patterns.len() > MAX_LIST_ENTRIES {
            return Err(format!("{} entries: at most {MAX_LIST_ENTRIES} are accepted", patterns.len()));
        }
        let mut list = PatternList::default();
        for (i, text) in patterns.enumerate() {
            if text.trim().is_empty() {
                return Err(format!("entry {i} is empty: expected a name, an ARN or a pattern"));
            }
            let pattern = Pattern::new(text).map_err(|e| format!("entry {i}: {e}"))?;
            match pattern.literal() {
                Some(exact) => {
                    list.exact.entry(exact.to_owned()).or_insert(i);
                }
                None => list.wild.push(i),
            }
            list.patterns.push(pattern);
        }
        Ok(list)
    }

    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The index of the first pattern that matches `text` among those `which` accepts.
    pub fn first(&self, text: &str, which: impl Fn(usize) -> bool) -> Option<usize> {
        let lower = text.to_ascii_lowercase();
        let exact = self.exact.get(&lower).copied().filter(|i| which(*i));
        let wild = self
            .wild
            .iter()
            .copied()
            .take_while(|i| exact.is_none_or(|e| *i < e))
            .find(|i| which(*i) && self.patterns[*i].is_match_lower(&lower));
        wild.or(exact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        Pattern::new(pattern).unwrap().is_match(text)
    }

    #[test]
    fn star_matches_any_run_including_slashes_and_case_is_ignored() {
        assert!(matches("arn:aws:iam::*:user/ci-*", "arn:aws:iam::123456789012:user/ci-deploy"));
        assert!(matches("arn:aws:iam::*:user/ci-*", "arn:aws:iam::123456789012:user/CI-Deploy"));
        assert!(matches("arn:aws:iam::*:user/ci-*", "arn:aws:iam::123456789012:user/ci-"));
        assert!(!matches("arn:aws:iam::*:user/ci-*", "arn:aws:iam::123456789012:user/alice"));
        assert!(matches("*", ""));
        assert!(matches("*", "anything/at:all"));
        assert!(matches("svc-*", "svc-deploy"));
        assert!(matches("*deploy", "svc-deploy"));
        assert!(matches("a*b*c", "abc"));
        assert!(matches("a*b*c", "a-b-b-c"));
        assert!(!matches("a*b*c", "a-c-b"));
        assert!(!matches("ab*ba", "aba"), "prefix and suffix may not overlap");
        assert!(matches("**", "x"));
        assert!(matches("Alice", "alice"));
        assert!(!matches("alice", "alice2"));
        assert!(!matches("alice", "xalice"));
        // Middle pieces found leftmost still find a later match.
        assert!(matches("x*aab*y", "xaaabaaby"));
    }

    #[test]
    fn other_glob_syntax_is_refused_with_a_reason() {
        for pattern in ["user-?", "user-[ab]", "{a,b}", r"a\*"] {
            let e = Pattern::new(pattern).unwrap_err();
            assert!(e.contains("only `*` is a wildcard"), "{pattern}: {e}");
        }
    }

    #[test]
    fn a_huge_pattern_is_refused_without_repeating_it() {
        let huge = "a".repeat(200_000) + "*";
        let e = Pattern::new(&huge).unwrap_err();
        assert!(e.contains("too long") && e.contains("200001 characters"), "{e}");
        assert!(e.len() < 200, "{} characters of error", e.len());
        assert!(Pattern::new(&"a".repeat(MAX_PATTERN_CHARS)).is_ok());
        assert!(Pattern::new(&"a".repeat(MAX_PATTERN_CHARS + 1)).is_err());
        // Non-ASCII text is counted in characters and never cut inside one.
        let e = Pattern::new(&"é".repeat(3000)).unwrap_err();
        assert!(e.contains("3000 characters"), "{e}");
    }

    #[test]
    fn lists_give_the_first_matching_pattern_in_order() {
        let list = PatternList::new(["svc-*", "alice", "*", "bob"].into_iter()).unwrap();
        assert_eq!(list.first("svc-x", |_| true), Some(0));
        assert_eq!(list.first("ALICE", |_| true), Some(1));
        assert_eq!(list.first("bob", |_| true), Some(2), "`*` comes before `bob`");
        assert_eq!(list.first("bob", |i| i != 2), Some(3));
        assert_eq!(list.first("carol", |i| i != 2), None);
        let e = PatternList::new(["a", " "].into_iter()).unwrap_err();
        assert_eq!(e, "entry 1 is empty: expected a name, an ARN or a pattern");
        let many: Vec<String> = (0..=MAX_LIST_ENTRIES).map(|i| format!("u{i}")).collect();
        let e = PatternList::new(many.iter().map(String::as_str)).unwrap_err();
        assert_eq!(e, format!("{} entries: at most {MAX_LIST_ENTRIES} are accepted", MAX_LIST_ENTRIES + 1));
    }
}
