//! Shared settings of the fuzzers (property tests over arbitrary input) of the quoting module
//! and the Arrow decoder.
//!
//! - Cases per property: `SNOWSYNC_FUZZ_CASES`, default as each property says (a long soak:
//!   `SNOWSYNC_FUZZ_CASES=200000 cargo test -p snowsync --lib fuzz`).
//! - A failing case is shrunk and its seed kept in `shared/fuzz/regressions/<name>.txt`, which
//!   is committed: every later run replays it first.
//! - `shared/fuzz/corpus/strings.jsonl` holds hand-picked inputs (one JSON string per line) that
//!   random generation rarely hits: quotes, NUL, escapes, reserved words, surrogates of
//!   unicode, SQL injection shapes. Every fuzz target runs them too.

use proptest::test_runner::{Config, FileFailurePersistence};

/// Property-test settings for fuzzer `name`: `default` cases unless `SNOWSYNC_FUZZ_CASES` says
/// otherwise, failures persisted in `shared/fuzz/regressions/<name>.txt`.
pub(crate) fn config(name: &str, default: u32) -> Config {
    let cases = std::env::var("SNOWSYNC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    // proptest wants a &'static str; one small leak per fuzzer per test process.
    let path: &'static str = Box::leak(format!("fuzz/regressions/{name}.txt").into_boxed_str());
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(path))),
        ..Config::default()
    }
}

/// The hand-picked corpus, decoded.
pub(crate) fn corpus() -> Vec<String> {
    include_str!("../fuzz/corpus/strings.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("corpus line {l:?}: {e}")))
        .collect()
}

#[test]
fn the_corpus_reads() {
    assert!(corpus().len() >= 40);
}
