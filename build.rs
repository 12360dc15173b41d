//! Records the git commit enumd is built from, for `enumd --version`: a binary found on a
//! server says which code it is.

use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    println!(
        "cargo:rustc-env=ENUMD_COMMIT={}",
        commit
            .as_deref()
            .unwrap_or("unknown: not built from a git checkout")
    );
    // Built again when HEAD moves: the file HEAD names (a branch), or HEAD itself when
    // detached. Only paths that exist, or cargo would run this at every build.
    println!("cargo:rerun-if-changed=build.rs");
    let head = Path::new(".git/HEAD");
    if head.exists() {
        println!("cargo:rerun-if-changed=.git/HEAD");
        if let Some(branch) = std::fs::read_to_string(head)
            .ok()
            .and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_string()))
        {
            for path in [format!(".git/{branch}"), ".git/packed-refs".to_string()] {
                if Path::new(&path).exists() {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
        }
    }
}
