//! The README's conformance recipe is exactly what this crate compiles and runs.

const README: &str = include_str!("../../../README.md");
const TEST_FILE: &str = include_str!("conformance.rs");
const MANIFEST: &str = include_str!("../Cargo.toml");

/// The fenced block that follows `after` in the README.
fn block_after(after: &str, fence: &str) -> &'static str {
    let start = README.find(after).unwrap_or_else(|| panic!("README mentions {after:?}"));
    let rest = &README[start..];
    let open = rest.find(fence).unwrap_or_else(|| panic!("a {fence} block after {after:?}")) + fence.len() + 1;
    let close = rest[open..].find("\n```").expect("the block closes") + 1;
    &rest[open..open + close]
}

#[test]
fn the_readme_test_file_is_this_crates_test_file() {
    let snippet = block_after("and one test file, `tests/conformance.rs`", "```rust,ignore");
    assert_eq!(snippet, TEST_FILE);
}

#[test]
fn the_readme_dev_dependencies_are_this_crates() {
    let snippet = block_after("Add to the backend crate's `Cargo.toml`", "```toml");
    assert!(snippet.starts_with("[dev-dependencies]\n"), "{snippet}");
    for line in snippet.lines().skip(1) {
        let name = line.split(" = ").next().unwrap_or_default();
        let ours = MANIFEST
            .lines()
            .find(|l| l.starts_with(&format!("{name} = ")))
            .unwrap_or_else(|| panic!("{name} is a dev-dependency here"));
        if let Some(features) = line.split("features = ").nth(1) {
            assert!(ours.contains(features.trim_end_matches(" }")), "{name}: {ours} has {features}");
        }
    }
}
