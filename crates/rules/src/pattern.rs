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

/// Patterns kept in their order, matched as one: exact names through a hash map; the others
/// through an index of three-byte pieces. [`PatternList::first`] gives the first pattern (in
/// list order) that matches.
///
/// Every literal piece of a pattern must occur in a text it matches, so each pattern with a
/// `*` is filed under the rarest (in the list) three bytes of its pieces, and a text is only
/// tried against the patterns filed under three bytes it contains (those with no piece of three
/// bytes are always tried). A list of thousands of patterns such as `arn:aws:iam::*:user/team-17-*`
/// then costs a few hash lookups per text instead of a scan of the list.
#[derive(Debug, Clone, Default)]
pub struct PatternList {
    patterns: Vec<Pattern>,
    /// Lowercased exact patterns → the indexes of the patterns with that text, in order.
    exact: HashMap<String, Vec<usize>>,
    /// Three bytes → the patterns with a `*` filed under them, in order.
    grams: HashMap<[u8; 3], Vec<usize>>,
    /// Patterns with a `*` and no piece of three bytes or more, in order.
    short: Vec<usize>,
}

/// The three-byte windows of a pattern's pieces, each once.
fn piece_grams(pattern: &Pattern) -> std::collections::BTreeSet<[u8; 3]> {
    pattern.pieces.iter().flat_map(|piece| piece.as_bytes().windows(3).map(|w| [w[0], w[1], w[2]])).collect()
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
            if let Some(exact) = pattern.literal() {
                list.exact.entry(exact.to_owned()).or_default().push(i);
            }
            list.patterns.push(pattern);
        }
        // How many patterns hold each three bytes, then each pattern under its rarest.
        let grams: Vec<_> = list.patterns.iter().map(|p| if p.literal().is_some() { Default::default() } else { piece_grams(p) }).collect();
        let mut counts: HashMap<[u8; 3], usize> = HashMap::new();
        for gram in grams.iter().flatten() {
            *counts.entry(*gram).or_default() += 1;
        }
        for (i, pattern) in list.patterns.iter().enumerate() {
            if pattern.literal().is_some() {
                continue;
            }
            match grams[i].iter().min_by_key(|g| counts[*g]) {
                Some(rarest) => list.grams.entry(*rarest).or_default().push(i),
                None => list.short.push(i),
            }
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
        let exact = self.exact.get(&lower).and_then(|found| found.iter().copied().find(|i| which(*i)));
        // Only a pattern before the exact one can come first.
        let before = |i: &usize| exact.is_none_or(|e| *i < e);
        let mut candidates: Vec<usize> = self.short.iter().copied().filter(before).collect();
        for window in lower.as_bytes().windows(3) {
            if let Some(filed) = self.grams.get(&[window[0], window[1], window[2]]) {
                candidates.extend(filed.iter().copied().filter(before));
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let wild = candidates.into_iter().find(|i| which(*i) && self.patterns[*i].is_match_lower(&lower));
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
    fn the_index_finds_what_a_scan_of_the_list_finds() {
        // Deterministic pseudo-random patterns and texts over a small alphabet (so that pieces
        // repeat and overlap): the indexed lookup agrees with trying every pattern in order.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let alphabet = b"ab:/-A*";
        for round in 0..300 {
            let count = 1 + round % 30;
            let patterns: Vec<String> = (0..count).map(|_| (0..1 + next(9)).map(|_| alphabet[next(7)] as char).collect()).collect();
            let list = PatternList::new(patterns.iter().map(String::as_str)).unwrap();
            let compiled: Vec<Pattern> = patterns.iter().map(|p| Pattern::new(p).unwrap()).collect();
            for _ in 0..50 {
                let text: String = (0..next(14)).map(|_| alphabet[next(6)] as char).collect();
                let scan = compiled.iter().position(|p| p.is_match(&text));
                assert_eq!(list.first(&text, |_| true), scan, "{patterns:?} on {text:?}");
                let odd = compiled.iter().enumerate().position(|(i, p)| i % 2 == 1 && p.is_match(&text));
                assert_eq!(list.first(&text, |i| i % 2 == 1), odd, "{patterns:?} on {text:?}");
            }
        }
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
