//! Patterns in settings: case-insensitive globs over IAM names and ARNs.

use globset::{GlobBuilder, GlobMatcher};

/// Compile a case-insensitive glob where `*` crosses `/` (IAM names and ARNs are matched
/// case-insensitively, as IAM itself treats names).
pub fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .case_insensitive(true)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("invalid pattern {pattern:?}: {e}"))
}
