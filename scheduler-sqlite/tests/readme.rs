//! The root README's SQLite wiring is the code the crate documentation runs: every line
//! of the README's snippet appears, in order, in the crate docs' example.

#[test]
fn the_readme_snippet_is_the_doc_tested_one() {
    let readme = include_str!("../../README.md");
    let section = readme.split("## A durable scheduler over SQLite").nth(1).expect("the README section");
    let snippet = section.split("```rust,ignore\n").nth(1).and_then(|s| s.split("```").next()).expect("its code");
    let docs: Vec<String> = include_str!("../src/lib.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.trim().to_owned())
        .collect();
    let mut at = 0;
    for line in snippet.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let found = docs[at..].iter().position(|d| d == line);
        at += found.unwrap_or_else(|| panic!("README line not in the crate docs' example (in order): {line}")) + 1;
    }
}
