//! Tidy checks on the source tree, run by `cargo xtask check` (after
//! rust-analyzer's `tidy.rs`): every module says what it is for in a `//!`
//! doc, no two modules of a crate use each other, no comment or document
//! points at a file the repository does not have, no dependency is declared
//! and unused, `unsafe` appears only where allowed, and functions over 100
//! lines are reported (not failed).
//!
//! Each check is a function from a tree's root to its problems, so the
//! tests below run them on small temporary trees.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Files that may hold `unsafe`, and why.
const UNSAFE_ALLOWED: &[&str] = &[];

/// A function longer than this is reported.
pub const LONG_FUNCTION: usize = 100;

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let p = e.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if p.is_dir() && name != "target" && !name.starts_with('.') {
            out.extend(rust_files(&p));
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The source roots checked: the crates, the workspace's tests and xtask.
fn sources(root: &Path) -> Vec<PathBuf> {
    ["crates", "tests", "xtask"].iter().flat_map(|d| rust_files(&root.join(d))).collect()
}

fn shown(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

/// Modules (library and binary source files) without a `//!` doc at the top.
pub fn module_docs(root: &Path) -> Vec<String> {
    sources(root)
        .into_iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
            !first.starts_with("//!")
        })
        .map(|p| format!("{}: no `//!` doc saying what the module is for", shown(root, &p)))
        .collect()
}

/// What the repository's comments and documents refer to: a word starting
/// with one of the repository's top-level folders and holding a `/`, any
/// path that climbs out of the repository (`../`), and any section of a
/// document cited by number (a section sign), which only a document outside
/// the repository can be: the repository's own are cited by path. RFC
/// sections are public and allowed.
fn references(text: &str, tops: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let words: Vec<&str> = text.split(|c: char| c.is_whitespace() || "`'\"()[]<>,;|*".contains(c)).collect();
    for (i, word) in words.iter().enumerate() {
        let word = word.trim_end_matches(['.', ':', '!', '?']);
        if word.starts_with('\u{a7}') && !(i > 1 && words[i - 2] == "RFC") {
            out.push(format!("{} {word}", if i > 0 { words[i - 1] } else { "" }).trim().to_owned());
            continue;
        }
        let Some((top, _)) = word.split_once('/') else { continue };
        let climbs = top == ".." && word.len() > 3;
        let inside = tops.contains(top) && !word.contains(['{', '$', '%', '\\']) && !word.ends_with('/');
        if climbs || inside {
            out.push(word.to_owned());
        }
    }
    out
}

/// Comment and document references to files that do not exist here.
pub fn dangling_references(root: &Path) -> Vec<String> {
    let tops: BTreeSet<String> = ["crates", "docs", "tests", "examples", "schemas", "man", "completions", "xtask"]
        .iter()
        .filter(|t| root.join(t).exists())
        .map(|t| t.to_string())
        .collect();
    let mut files: Vec<PathBuf> = sources(root);
    files.extend(["README.md"].iter().map(|f| root.join(f)).filter(|p| p.exists()));
    if let Ok(docs) = std::fs::read_dir(root.join("docs")) {
        let mut md: Vec<PathBuf> =
            docs.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "md")).collect();
        md.sort();
        files.extend(md);
    }
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let is_md = f.extension().is_some_and(|e| e == "md");
        for (n, line) in text.lines().enumerate() {
            // In Rust sources only comments point at files; code may build paths.
            let scanned = if is_md {
                line
            } else {
                match comment_start(line) {
                    Some(i) => &line[i..],
                    None => continue,
                }
            };
            for r in references(scanned, &tops) {
                // A path may be written from the repository's root or from
                // any folder between it and the file (a crate's tests/data/).
                let outside = r.starts_with("../") || r.contains('\u{a7}');
                let exists =
                    !outside && f.ancestors().skip(1).take_while(|a| a.starts_with(root)).any(|a| a.join(&r).exists());
                if !exists {
                    out.push(format!(
                        "{}:{}: refers to {r}, which the repository does not have",
                        shown(root, &f),
                        n + 1
                    ));
                }
            }
        }
    }
    out
}

/// The `[dependencies]`-like tables of a manifest: names, with the table.
fn declared(manifest: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut table = String::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            table = line.trim_matches(['[', ']']).to_owned();
            continue;
        }
        let deps = matches!(
            table.as_str(),
            "dependencies" | "dev-dependencies" | "build-dependencies" | "workspace.dependencies"
        );
        if !deps || line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some((key, _)) = line.split_once('=') {
            // `name = ...`, `name.workspace = true`, `"name" = ...`.
            let name = key.trim().trim_matches('"').split('.').next().unwrap_or_default();
            out.push((name.to_owned(), table.clone()));
        }
    }
    out
}

/// Whether Rust code under `files` names crate `name`.
fn used(name: &str, files: &[PathBuf]) -> bool {
    let ident = name.replace('-', "_");
    files.iter().any(|f| {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        text.contains(&format!("{ident}::"))
            || text.contains(&format!("use {ident}"))
            || text.contains(&format!("{ident}!"))
    })
}

/// Dependencies a manifest declares that its package's code never names,
/// and workspace dependencies no member declares.
pub fn unused_dependencies(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut members: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root.join("crates")) {
        for e in entries.flatten() {
            let dir = e.path();
            if dir.join("Cargo.toml").exists() {
                members.push((dir.join("Cargo.toml"), rust_files(&dir)));
            }
        }
    }
    if root.join("xtask/Cargo.toml").exists() {
        members.push((root.join("xtask/Cargo.toml"), rust_files(&root.join("xtask"))));
    }
    let root_manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
    if root_manifest.contains("[package]") {
        // The front package: its own sources and the workspace's tests.
        let mut files = rust_files(&root.join("tests"));
        files.extend(rust_files(&root.join("crates/runiam")));
        members.push((root.join("Cargo.toml"), files));
    }
    let mut declared_by_members = BTreeSet::new();
    for (manifest, files) in &members {
        let text = std::fs::read_to_string(manifest).unwrap_or_default();
        for (name, table) in declared(&text) {
            if table == "workspace.dependencies" {
                continue;
            }
            declared_by_members.insert(name.clone());
            if !used(&name, files) {
                out.push(format!("{}: [{table}] {name} is never used", shown(root, manifest)));
            }
        }
    }
    for (name, table) in declared(&root_manifest) {
        if table == "workspace.dependencies" && !declared_by_members.contains(&name) {
            out.push(format!("Cargo.toml: [workspace.dependencies] {name} is declared by no member"));
        }
    }
    out
}

/// `unsafe` outside the allowlist.
pub fn unsafe_code(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for f in sources(root) {
        let rel = shown(root, &f);
        if UNSAFE_ALLOWED.contains(&rel.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let code = without_strings(line.split("//").next().unwrap_or_default());
            if code.split(|c: char| !c.is_alphanumeric() && c != '_').any(|w| w == "unsafe") {
                out.push(format!("{rel}:{}: unsafe code outside the allowlist in xtask/src/tidy.rs", n + 1));
            }
        }
    }
    out
}

/// Where a line's `//` comment starts, outside string literals.
fn comment_start(line: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match (in_string, escaped, b) {
            (true, false, b'\\') => escaped = true,
            (_, false, b'"') => in_string = !in_string,
            (true, _, _) => escaped = false,
            (false, _, b'/') if bytes.get(i + 1) == Some(&b'/') => return Some(i),
            _ => {}
        }
    }
    None
}

/// A line of code with its string literals blanked out.
fn without_strings(code: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in code.chars() {
        match (in_string, escaped, c) {
            (true, false, '\\') => escaped = true,
            (true, false, '"') | (false, _, '"') => in_string = !in_string,
            (true, _, _) => escaped = false,
            (false, _, c) => out.push(c),
        }
    }
    out
}

/// Functions longer than `LONG_FUNCTION` lines: (lines, file:line name).
pub fn long_functions(root: &Path) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for f in sources(root) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            let is_fn = ["fn ", "pub fn ", "async fn ", "pub async fn ", "pub(crate) fn ", "pub(crate) async fn "]
                .iter()
                .any(|p| t.starts_with(p));
            if !is_fn || t.ends_with(';') {
                continue;
            }
            let indent = line.len() - t.len();
            let close = " ".repeat(indent) + "}";
            let Some(len) = lines[i..].iter().position(|l| *l == close) else { continue };
            if len + 1 > LONG_FUNCTION {
                let after_fn = t.split_once("fn ").map_or(t, |(_, rest)| rest);
                let name = after_fn.split(['(', '<']).next().unwrap_or_default();
                out.push((len + 1, format!("{}:{} {name}", shown(root, &f), i + 1)));
            }
        }
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.0));
    out
}

/// Cycles between a crate's top-level modules (`a` uses `crate::b::…` and
/// `b` uses `crate::a::…`, directly or around a longer loop): each module
/// should read on its own, its dependencies below it.
pub fn module_cycles(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(crates) = std::fs::read_dir(root.join("crates")) else { return out };
    let mut dirs: Vec<PathBuf> = crates.flatten().map(|e| e.path().join("src")).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for src in dirs {
        let mut uses: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
        for f in rust_files(&src) {
            let rel = f.strip_prefix(&src).unwrap_or(&f);
            let module =
                rel.components().next().map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned());
            let Some(module) = module.filter(|m| m != "lib" && m != "main") else { continue };
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            let entry = uses.entry(module.clone()).or_default();
            let code: String =
                text.lines().map(|l| comment_start(l).map_or(l, |i| &l[..i])).collect::<Vec<_>>().join("\n");
            for part in code.split("crate::").skip(1) {
                let name: String = part.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() && name != module {
                    entry.insert(name);
                }
            }
        }
        let modules: Vec<String> = uses.keys().cloned().collect();
        for start in &modules {
            // A path back to `start` through modules named after it (each cycle once).
            let mut stack = vec![(start.clone(), vec![start.clone()])];
            while let Some((at, path)) = stack.pop() {
                for next in uses.get(&at).into_iter().flatten() {
                    if next == start && path.len() > 1 {
                        out.push(format!(
                            "{}: modules use each other: {} -> {start}",
                            shown(root, &src),
                            path.join(" -> ")
                        ));
                    } else if next > start && !path.contains(next) && uses.contains_key(next) {
                        let mut p = path.clone();
                        p.push(next.clone());
                        stack.push((next.clone(), p));
                    }
                }
            }
        }
    }
    out
}

/// Every failing tidy problem.
pub fn problems(root: &Path) -> Vec<String> {
    let mut out = module_docs(root);
    out.extend(module_cycles(root));
    out.extend(dangling_references(root));
    out.extend(unused_dependencies(root));
    out.extend(unsafe_code(root));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    const MANIFEST: &str = "[package]\nname = \"a\"\n\n[dependencies]\nserde.workspace = true\n";

    #[test]
    fn a_module_without_a_doc_fails() {
        let t = tree(&[("crates/a/src/lib.rs", "//! A.\n"), ("crates/a/src/b.rs", "\nfn b() {}\n")]);
        assert_eq!(module_docs(t.path()), ["crates/a/src/b.rs: no `//!` doc saying what the module is for"]);
    }

    #[test]
    fn dangling_references_fail() {
        let t = tree(&[
            (
                "crates/a/src/lib.rs",
                "//! See docs/design.md, docs/gone.md and the spec \u{a7}4 (framing: RFC 9112 \u{a7}6.3).\nlet p = \"docs/x.md\";\n",
            ),
            ("docs/design.md", "Shapes in schemas/Doc.json and ../notes/facts.md.\n"),
            ("schemas/Doc.json", "{}"),
        ]);
        assert_eq!(
            dangling_references(t.path()),
            [
                "crates/a/src/lib.rs:1: refers to docs/gone.md, which the repository does not have",
                "crates/a/src/lib.rs:1: refers to spec \u{a7}4, which the repository does not have",
                "docs/design.md:1: refers to ../notes/facts.md, which the repository does not have",
            ]
        );
    }

    #[test]
    fn an_unused_dependency_fails() {
        let t = tree(&[
            ("Cargo.toml", "[workspace]\n\n[workspace.dependencies]\nserde = \"1\"\njsonwebtoken = \"11\"\n"),
            ("crates/a/Cargo.toml", MANIFEST),
            ("crates/a/src/lib.rs", "//! A.\n"),
        ]);
        assert_eq!(
            unused_dependencies(t.path()),
            [
                "crates/a/Cargo.toml: [dependencies] serde is never used",
                "Cargo.toml: [workspace.dependencies] jsonwebtoken is declared by no member",
            ]
        );
        std::fs::write(t.path().join("crates/a/src/lib.rs"), "//! A.\nuse serde::Serialize;\n").unwrap();
        assert_eq!(
            unused_dependencies(t.path()),
            ["Cargo.toml: [workspace.dependencies] jsonwebtoken is declared by no member"]
        );
    }

    #[test]
    fn unsafe_outside_the_allowlist_fails_and_long_functions_are_reported() {
        let body = "    x();\n".repeat(LONG_FUNCTION);
        let t = tree(&[(
            "crates/a/src/lib.rs",
            &format!(
                "//! A.\n// unsafe in a comment is fine\nfn f() {{\n    unsafe {{ g() }}\n}}\n\nfn long() {{\n{body}}}\n"
            ),
        )]);
        assert_eq!(
            unsafe_code(t.path()),
            ["crates/a/src/lib.rs:4: unsafe code outside the allowlist in xtask/src/tidy.rs"]
        );
        assert_eq!(long_functions(t.path()), [(LONG_FUNCTION + 2, "crates/a/src/lib.rs:7 long".to_owned())]);
    }

    #[test]
    fn a_cycle_between_modules_fails() {
        let t = tree(&[
            ("crates/a/src/lib.rs", "//! A.\n"),
            ("crates/a/src/call.rs", "//! Call.\nuse crate::wire::Plain;\n"),
            ("crates/a/src/wire.rs", "//! Wire.\nuse crate::call::Answer;\nuse crate::answer::X;\n"),
            ("crates/a/src/answer.rs", "//! Answer.\n"),
        ]);
        assert_eq!(module_cycles(t.path()), ["crates/a/src: modules use each other: call -> wire -> call"]);
    }

    #[test]
    fn this_repository_is_tidy() {
        let problems = problems(&crate::root());
        assert!(problems.is_empty(), "tidy problems:\n{}", problems.join("\n"));
    }
}
