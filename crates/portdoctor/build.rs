//! Build information for `portdoctor --version` and `portdoctor version`: the git commit
//! (`PORTDOCTOR_GIT_COMMIT` overrides it, e.g. when building from a tarball) and the target.

use std::process::Command;

fn main() {
    let commit = std::env::var("PORTDOCTOR_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=PORTDOCTOR_GIT_COMMIT={commit}");
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=PORTDOCTOR_TARGET={target}");
    println!("cargo:rerun-if-env-changed=PORTDOCTOR_GIT_COMMIT");
    if let Some(dir) = git_dir() {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/refs/heads");
        println!("cargo:rerun-if-changed={dir}/packed-refs");
    }
}

/// `git rev-parse --short=12 HEAD`, if git and a repository are there: the commit HEAD
/// pointed at (uncommitted changes are not marked: the build script reruns only when HEAD
/// moves).
fn git_commit() -> Option<String> {
    git(&["rev-parse", "--short=12", "HEAD"])
}

fn git_dir() -> Option<String> {
    git(&["rev-parse", "--absolute-git-dir"])
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
