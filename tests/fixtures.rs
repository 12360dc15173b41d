//! The test suite reads only its own fixtures: README invites lab engineers to edit `zones/`
//! and `config/enumd.toml`, and their edits must never make `cargo test` fail.

use std::path::Path;

/// Every `.rs` and `.toml` file under `tests/`.
fn test_sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read tests/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            test_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs" || e == "toml") {
            out.push(path);
        }
    }
}

#[test]
fn no_test_reads_the_shipped_lab() {
    let mut files = Vec::new();
    test_sources(Path::new("tests"), &mut files);
    assert!(files.len() > 5, "found the test sources: {files:?}");
    let mut offenders = Vec::new();
    for file in files.iter().filter(|f| !f.ends_with("fixtures.rs")) {
        let text = std::fs::read_to_string(file).expect("read test source");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let code = code.split('#').next().unwrap_or("");
            if code.contains("\"zones/")
                || code.contains("\"../zones/")
                || code.contains("config/enumd.toml")
            {
                offenders.push(format!("{}:{}: {line}", file.display(), i + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "tests that read the shipped lab:\n{}",
        offenders.join("\n")
    );
}
