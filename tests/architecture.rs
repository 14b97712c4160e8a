//! The architecture, checked on every `cargo test`:
//! - no module of `src/` imports a module of a higher layer, or one of its own layer; the layer
//!   table is read from `docs/architecture.md`, the one place it is written;
//! - only `startup` mounts `api`; backend types stay in their adapters (`sqlx` in `store`,
//!   `qdrant_client`/`qdrant_edge` in `vector`, `fastembed` not in `src/` at all);
//! - no function of `src/` or `protocol/src/` is longer than 80 lines, and the median of each
//!   stays under 15.
//!
//! The source is read as text: comments, strings and `#[cfg(test)]` modules are left out by a
//! small lexer, so the figures are about production code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MAX_FUNCTION_LINES: usize = 80;
const MAX_MEDIAN_LINES: f64 = 15.0;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `docs/architecture.md`'s table: module → layer.
fn layers() -> BTreeMap<String, u32> {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let mut out = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(layer) = cells.get(1).and_then(|c| c.parse::<u32>().ok()) else {
            continue;
        };
        for module in cells[2].split(',') {
            let module = module.trim().trim_matches('`');
            assert!(
                out.insert(module.to_owned(), layer).is_none(),
                "docs/architecture.md names `{module}` twice"
            );
        }
    }
    assert!(
        out.len() > 5,
        "no layer table found in docs/architecture.md"
    );
    out
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The top-level module a file of `src/` belongs to (None: `lib.rs`, `main.rs`).
fn module_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root().join("src")).unwrap();
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.trim_end_matches(".rs");
    (name != "lib" && name != "main").then(|| name.to_owned())
}

// ---------------------------------------------------------------------------------------------
// A lexer just good enough to blank out comments, string and char literals, and to drop
// `#[cfg(test)]` items.

/// `src` with comments and the contents of string and char literals replaced by spaces (line
/// breaks kept, so line numbers stay).
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            loop {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && is_raw_string(&b, i) {
            let mut hashes = 0;
            let mut j = i + 1;
            while b[j] == '#' {
                hashes += 1;
                j += 1;
            }
            out.extend(std::iter::repeat_n(' ', j + 1 - i));
            i = j + 1;
            loop {
                if b[i] == '"' && (0..hashes).all(|k| b.get(i + 1 + k) == Some(&'#')) {
                    out.extend(std::iter::repeat_n(' ', hashes + 1));
                    i += hashes + 1;
                    break;
                }
                out.push(blank(b[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(blank(b[i]));
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && is_char_literal(&b, i) {
            out.push(' ');
            i += 1;
            while b[i] != '\'' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// `r"…"` or `r#"…"#` starting at `i` (not an identifier ending in r).
fn is_raw_string(b: &[char], i: usize) -> bool {
    if i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_') {
        return false;
    }
    let mut j = i + 1;
    while b.get(j) == Some(&'#') {
        j += 1;
    }
    b.get(j) == Some(&'"')
}

/// A char literal at `i`, not a lifetime: `'x'`, `'\n'`, `'\u{1}'`.
fn is_char_literal(b: &[char], i: usize) -> bool {
    matches!(
        (b.get(i + 1), b.get(i + 2)),
        (Some('\\'), _) | (Some(_), Some('\''))
    )
}

/// `code` without the items marked `#[cfg(test)]` (their lines blanked).
fn without_tests(code: &str) -> String {
    let mut out = code.to_owned();
    while let Some(at) = out.find("#[cfg(test)]") {
        let open = at + out[at..].find('{').unwrap();
        let close = matching_brace(&out, open);
        let blanked: String = out[at..=close]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(at..=close, &blanked);
    }
    out
}

/// The index of the `}` closing the `{` at `open`.
fn matching_brace(code: &str, open: usize) -> usize {
    let mut depth = 0;
    for (i, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced braces")
}

// ---------------------------------------------------------------------------------------------
// Imports

/// The top-level modules `code` refers to through `crate::` (or, in the binary's `cli`,
/// through `ragway::`), with the line of each reference.
fn imports(code: &str, in_binary: bool) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let prefixes: &[&str] = if in_binary {
        &["crate::", "ragway::"]
    } else {
        &["crate::"]
    };
    for prefix in prefixes {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let line = code[..at].matches('\n').count() + 1;
            let rest = &code[at + prefix.len()..];
            let names = if let Some(group) = rest.strip_prefix('{') {
                top_level_names(&group[..matching_brace(rest, 0) - 1])
            } else {
                vec![ident(rest)]
            };
            for name in names.into_iter().filter(|n| !n.is_empty()) {
                out.push((name, line));
            }
        }
    }
    out
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The first path segment of each item of a `{a, b::c, d::{e, f}}` group.
fn top_level_names(group: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0;
    let mut start = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => start = true,
            c if start && !c.is_whitespace() => {
                names.push(ident(&group[i..]));
                start = false;
            }
            _ => {}
        }
    }
    names
}

/// The broken rules of one file of module `module`, as messages.
fn layer_violations(
    module: &str,
    file: &str,
    code: &str,
    layers: &BTreeMap<String, u32>,
) -> Vec<String> {
    let own = layers[module];
    let mut out = Vec::new();
    for (target, line) in imports(code, module == "cli") {
        let Some(&theirs) = layers.get(&target) else {
            continue; // a macro or a crate-root item, not a module
        };
        if target == module {
            continue;
        }
        if theirs >= own {
            out.push(format!(
                "{file}:{line}: `{module}` (layer {own}) imports `{target}` (layer {theirs})"
            ));
        }
        if target == "api" && module != "startup" {
            out.push(format!("{file}:{line}: only `startup` may import `api`"));
        }
    }
    out
}

/// Backend crates used outside their adapter.
fn adapter_violations(module: &str, file: &str, code: &str) -> Vec<String> {
    let rules: [(&str, &[&str]); 4] = [
        ("sqlx::", &["store"]),
        ("qdrant_client::", &["vector"]),
        ("qdrant_edge::", &["vector"]),
        ("fastembed::", &[]),
    ];
    let mut out = Vec::new();
    for (krate, allowed) in rules {
        if code.contains(krate) && !allowed.contains(&module) {
            out.push(format!(
                "{file}: `{krate}` outside its adapter ({allowed:?})"
            ));
        }
    }
    out
}

#[test]
fn no_module_imports_one_of_its_layer_or_above() {
    let layers = layers();
    let mut violations = Vec::new();
    for file in rust_files(&root().join("src")) {
        let Some(module) = module_of(&file) else {
            continue;
        };
        let name = file.strip_prefix(root()).unwrap().display().to_string();
        assert!(
            layers.contains_key(&module),
            "{name}: module `{module}` has no layer in docs/architecture.md"
        );
        let code = without_tests(&code_only(&std::fs::read_to_string(&file).unwrap()));
        violations.extend(layer_violations(&module, &name, &code, &layers));
        violations.extend(adapter_violations(&module, &name, &code));
    }
    assert!(
        violations.is_empty(),
        "the layers of docs/architecture.md are broken:\n{}",
        violations.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Function sizes

/// (name, lines) of every function with a body in `code`, nested ones included.
fn functions(code: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("fn ") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name = ident(&code[at + 3..]);
        if name.is_empty() {
            continue; // `fn(` types
        }
        // The body starts at the first `{` outside parentheses, unless a `;` comes first.
        let mut depth = 0;
        let mut open = None;
        for (i, c) in code[at..].char_indices() {
            match c {
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                ';' if depth == 0 => break,
                '{' if depth == 0 => {
                    open = Some(at + i);
                    break;
                }
                _ => {}
            }
        }
        let Some(open) = open else { continue };
        let close = matching_brace(code, open);
        let lines = code[at..=close].matches('\n').count() + 1;
        out.push((name, lines));
    }
    out
}

#[test]
fn functions_are_short() {
    function_sizes("src");
    function_sizes("protocol/src");
}

/// Checks the functions of the tree `dir` and prints its figures.
fn function_sizes(dir: &str) {
    let mut all: Vec<(String, usize)> = Vec::new();
    for file in rust_files(&root().join(dir)) {
        let name = file.strip_prefix(root()).unwrap().display().to_string();
        let code = without_tests(&code_only(&std::fs::read_to_string(&file).unwrap()));
        all.extend(
            functions(&code)
                .into_iter()
                .map(|(f, n)| (format!("{name}: {f}"), n)),
        );
    }
    let mut sizes: Vec<usize> = all.iter().map(|(_, n)| *n).collect();
    sizes.sort_unstable();
    let median = if sizes.len() % 2 == 1 {
        sizes[sizes.len() / 2] as f64
    } else {
        (sizes[sizes.len() / 2 - 1] + sizes[sizes.len() / 2]) as f64 / 2.0
    };
    let over_40 = sizes.iter().filter(|n| **n > 40).count();
    let mut long: Vec<&(String, usize)> = all
        .iter()
        .filter(|(_, n)| *n > MAX_FUNCTION_LINES)
        .collect();
    long.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    println!(
        "{dir}/: {} functions, median {median} lines, {over_40} over 40, {} over {MAX_FUNCTION_LINES}, longest {}",
        sizes.len(),
        long.len(),
        sizes.last().unwrap_or(&0)
    );
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines:\n{}",
        long.iter()
            .map(|(f, n)| format!("  {n:>4}  {f}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        median < MAX_MEDIAN_LINES,
        "the median function has {median} lines (limit {MAX_MEDIAN_LINES})"
    );
}

// ---------------------------------------------------------------------------------------------
// The checker itself, on made-up source.

#[test]
fn the_checker_sees_what_it_must_and_nothing_else() {
    let layers: BTreeMap<String, u32> = [("store", 1), ("state", 2), ("api", 8), ("cli", 10)]
        .into_iter()
        .map(|(m, l)| (m.to_owned(), l))
        .collect();
    let src = "use crate::{state::AppState, store};\n// use crate::api;\nlet s = \"crate::api\";\nfn f() { crate::api::x(); }\n#[cfg(test)]\nmod tests { use crate::api; }\n";
    let code = without_tests(&code_only(src));
    let v = layer_violations("store", "x.rs", &code, &layers);
    assert_eq!(v.len(), 3, "{v:?}");
    assert!(v[0].contains("x.rs:1: `store` (layer 1) imports `state` (layer 2)"));
    assert!(v[1].contains("x.rs:4: `store` (layer 1) imports `api` (layer 8)"));
    assert!(v[2].contains("only `startup`"));
    let cli = layer_violations("cli", "c.rs", &code_only("use ragway::api;"), &layers);
    assert_eq!(
        cli,
        vec!["c.rs:1: only `startup` may import `api`".to_owned()]
    );
    assert!(adapter_violations("state", "s.rs", "let p: sqlx::AnyPool;").len() == 1);
    assert!(adapter_violations("store", "s.rs", "let p: sqlx::AnyPool;").is_empty());

    let code = code_only("fn a() {\n let s = \"}\";\n let c = '}';\n}\nfn b<'a>(x: &'a str);\nfn c() { fn d() {} }\n");
    assert_eq!(
        functions(&code),
        vec![("a".into(), 4), ("c".into(), 1), ("d".into(), 1)]
    );
}
