//! Docs that cannot rot: every source file says what it owns, and the README's commands are the ones CI runs.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_starts_with_a_line_saying_what_it_owns() {
    let mut files = Vec::new();
    for dir in ["src", "tests", "adapters", "benches"] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 40, "found only {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap_or_default()
                .starts_with("//! ")
        })
        .map(|f| f.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! first line: {missing:?}"
    );
}

#[test]
fn the_readme_gives_the_run_and_test_commands_and_ci_runs_the_test_command() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let first_screen: String = readme.lines().take(40).collect::<Vec<_>>().join("\n");
    assert!(
        first_screen.contains("    cargo run --release -- run --config config.example.toml"),
        "{first_screen}"
    );
    assert!(
        first_screen.contains("    scripts/test.sh"),
        "{first_screen}"
    );
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == "exec scripts/test.sh"),
        "{ci}"
    );
    let test = std::fs::read_to_string(root().join("scripts/test.sh")).unwrap();
    for step in [
        "cargo fmt --all -- --check",
        "cargo clippy --workspace --all-targets -- -D warnings",
        "cargo test --workspace",
    ] {
        assert!(test.contains(step), "scripts/test.sh lacks {step:?}");
    }
}

#[test]
fn the_architecture_names_its_invariants_and_real_modules() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    assert!(text.matches("**Invariant:**").count() >= 5);
    for module in [
        "src/config/",
        "src/command/",
        "src/auth/",
        "src/bot/",
        "src/engine/",
        "src/journal/",
        "src/transport/",
        "src/source/",
        "src/tracker/",
        "src/announce/",
        "adapters/chat",
        "adapters/console",
    ] {
        assert!(
            text.contains(module),
            "ARCHITECTURE.md does not map {module}"
        );
        assert!(
            root().join(module).exists(),
            "ARCHITECTURE.md maps {module}, which does not exist"
        );
    }
}

/// Source text outside test code: a file's lines up to its first `#[cfg(test)]`, none of a
/// `tests.rs`.
fn non_test_source(file: &Path) -> String {
    if file.file_name().is_some_and(|n| n == "tests.rs") {
        return String::new();
    }
    let text = std::fs::read_to_string(file).unwrap_or_default();
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The words of `text` (letters, digits and `_`), lowercased.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

#[test]
fn the_core_never_names_a_chat_system_outside_its_one_list_of_them() {
    // Every chat system bosun is built with, by its name and by its crate's.
    let mut names: Vec<String> = bosun::chat::NAMES.iter().map(|n| n.to_string()).collect();
    names.extend(bosun::chat::NAMES.iter().map(|n| format!("bosun_{n}")));
    assert!(names.len() >= 8, "{names:?}");
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let registry = root().join("src/chat");
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(&registry)) {
        let source = non_test_source(file);
        for (number, line) in source.lines().enumerate() {
            if let Some(word) = words(line).find(|w| names.contains(w)) {
                let shown = file.strip_prefix(root()).unwrap().display();
                found.push(format!("{shown}:{}: {word}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the core names chat systems outside src/chat:\n{}",
        found.join("\n")
    );
    // The check can fail: the list itself names them.
    let registry_text = non_test_source(&registry.join("mod.rs"));
    assert!(words(&registry_text).any(|w| names.contains(&w)));
}
