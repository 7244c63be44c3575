//! The layout rules of ARCHITECTURE.md, checked on the sources of
//! `psi-server` and `psi-cli` so that they stay true:
//! - no source file above 600 lines;
//! - no import circle between the files of a crate (`use`, and `crate::`,
//!   `super::` and `self::` paths in code; a re-export is followed to the
//!   file that defines the item);
//! - every `/v1/...` path literal of `psi-server` in `api.rs`;
//! - the CLI's clap types stay in its argument module, and only its plan
//!   reads the parsed arguments;
//! - each crate keeps to its layer (no HTTP, clap or files in `psi-core`);
//! - `unsafe` only in psi-fuzzy's popcount dispatch module and psi-group's
//!   IFMA dispatch module;
//! - every codec message of `psi-core` is in the decode fuzz target.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

/// One source file: its module path and its text without comments.
struct Source {
    path: PathBuf,
    module: Vec<String>,
    code: String,
    lines: usize,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is inside the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Drops `//` comments (doc comments included) and the unit tests module at
/// the end of a file (its `super` is the file itself, not its parent).
fn strip_comments(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = (0..lines.len())
        .find(|&i| {
            lines[i].trim() == "#[cfg(test)]"
                && lines
                    .get(i + 1)
                    .is_some_and(|l| l.trim_start().starts_with("mod "))
        })
        .unwrap_or(lines.len());
    lines[..end]
        .iter()
        .map(|l| match l.trim_start().starts_with("//") {
            true => "",
            false => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("a file under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    match last.as_str() {
        "lib.rs" | "main.rs" | "mod.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_string()),
    }
    parts
}

fn sources(krate: &str) -> Vec<Source> {
    let src = workspace().join(krate).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a readable source file");
            Source {
                module: module_of(&src, &path),
                code: strip_comments(&text),
                lines: text.lines().count(),
                path,
            }
        })
        .collect()
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into full paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        return vec![path.trim_end_matches("::self").to_string()];
    };
    let prefix = tree[..open].trim_end_matches("::").trim();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| match p.as_str() {
            "self" => prefix.to_string(),
            _ if prefix.is_empty() => p,
            _ => format!("{prefix}::{p}"),
        })
        .collect()
}

/// The `use` statements of a file as (is `pub use`, full path).
fn uses(code: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        let boundary = before
            .chars()
            .last()
            .is_none_or(|c| c.is_whitespace() || c == ')');
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let head = before[line_start..].trim();
        let end = rest[at..].find(';').map_or(rest.len(), |e| at + e);
        if boundary && (head.is_empty() || head.starts_with("pub")) {
            let public = head.starts_with("pub");
            for p in expand(&rest[at + 4..end]) {
                out.push((public, p));
            }
        }
        rest = &rest[end.min(rest.len() - 1) + 1..];
        if rest.is_empty() {
            break;
        }
    }
    out
}

/// `crate::`, `super::` and `self::` paths written in code.
fn inline_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            let ok = code[..at]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
            let len = code[at..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(code.len() - at);
            if ok {
                out.push(code[at..at + len].trim_end_matches(':').to_string());
            }
            from = at + len.max(1);
        }
    }
    out
}

/// A path as absolute segments, from the file with module `here`.
fn absolute(here: &[String], is_mod_file: bool, path: &str) -> Option<Vec<String>> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segs.first().copied() {
        Some("crate") => {
            segs.remove(0);
            Vec::new()
        }
        Some("self") | Some("super") => {
            let mut base = here.to_vec();
            if !is_mod_file {
                // In `a/b.rs` (module a::b), `self` is a::b and `super` is a.
            }
            while let Some(s) = segs.first().copied() {
                match s {
                    "self" => {
                        segs.remove(0);
                    }
                    "super" => {
                        segs.remove(0);
                        base.pop()?;
                    }
                    _ => break,
                }
            }
            base
        }
        _ => return None,
    };
    base.extend(segs.into_iter().map(str::to_string));
    Some(base)
}

struct Graph {
    /// Module path → file index.
    modules: BTreeMap<Vec<String>, usize>,
    /// Per file: re-exported name → absolute target path.
    reexports: Vec<BTreeMap<String, Vec<String>>>,
}

impl Graph {
    /// The file that defines what `path` names (following re-exports).
    fn resolve(&self, path: &[String], depth: usize) -> Option<usize> {
        let mut cut = path.len();
        while cut > 0 && !self.modules.contains_key(&path[..cut]) {
            cut -= 1;
        }
        let file = *self.modules.get(&path[..cut])?;
        if depth < 8 {
            if let Some(name) = path.get(cut) {
                if let Some(target) = self.reexports[file].get(name) {
                    let mut t = target.clone();
                    t.extend(path[cut + 1..].iter().cloned());
                    return self.resolve(&t, depth + 1).or(Some(file));
                }
            }
        }
        Some(file)
    }
}

/// The file-level import graph of a crate: file → files it imports from.
fn imports(files: &[Source]) -> Vec<BTreeSet<usize>> {
    let mut graph = Graph {
        modules: files
            .iter()
            .enumerate()
            .map(|(i, s)| (s.module.clone(), i))
            .collect(),
        reexports: Vec::new(),
    };
    for s in files {
        let is_mod = is_mod_file(&s.path);
        let mut map = BTreeMap::new();
        for (public, p) in uses(&s.code) {
            if let (true, Some(abs)) = (public, absolute(&s.module, is_mod, &p)) {
                if let Some(name) = abs.last() {
                    map.insert(name.clone(), abs.clone());
                }
            }
        }
        graph.reexports.push(map);
    }
    files
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let is_mod = is_mod_file(&s.path);
            let mut deps = BTreeSet::new();
            let paths = uses(&s.code)
                .into_iter()
                .map(|(_, p)| p)
                .chain(inline_paths(&s.code));
            for p in paths {
                let Some(abs) = absolute(&s.module, is_mod, &p) else {
                    continue;
                };
                if let Some(j) = graph.resolve(&abs, 0) {
                    if j != i {
                        deps.insert(j);
                    }
                }
            }
            deps
        })
        .collect()
}

fn is_mod_file(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n == "mod.rs" || n == "lib.rs" || n == "main.rs")
}

/// A cycle in the graph, as file indices, if there is one.
fn find_cycle(graph: &[BTreeSet<usize>]) -> Option<Vec<usize>> {
    fn visit(
        n: usize,
        graph: &[BTreeSet<usize>],
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[n] = 1;
        stack.push(n);
        for &m in &graph[n] {
            if state[m] == 1 {
                let from = stack.iter().position(|&x| x == m).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(m);
                return Some(cycle);
            }
            if state[m] == 0 {
                if let Some(c) = visit(m, graph, state, stack) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        state[n] = 2;
        None
    }
    let mut state = vec![0u8; graph.len()];
    for n in 0..graph.len() {
        if state[n] == 0 {
            if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn name(s: &Source) -> String {
    s.path
        .strip_prefix(workspace())
        .unwrap_or(&s.path)
        .display()
        .to_string()
}

#[test]
fn no_source_file_is_too_long() {
    for krate in ["psi-server", "psi-cli", "psi-fuzzy"] {
        for s in sources(krate) {
            assert!(
                s.lines <= MAX_LINES,
                "{} has {} lines, above {MAX_LINES}: split it by job",
                name(&s),
                s.lines
            );
        }
    }
}

#[test]
fn no_import_circle_between_files() {
    for krate in ["psi-server", "psi-cli", "psi-fuzzy"] {
        let files = sources(krate);
        let graph = imports(&files);
        if let Some(cycle) = find_cycle(&graph) {
            let names: Vec<String> = cycle.iter().map(|&i| name(&files[i])).collect();
            panic!("import circle in {krate}: {}", names.join(" -> "));
        }
    }
}

#[test]
fn every_api_path_is_in_api_rs() {
    for krate in ["psi-server", "psi-cli", "psi-fuzzy"] {
        for s in sources(krate) {
            if s.path.ends_with("psi-server/src/api.rs") {
                continue;
            }
            for (n, line) in s.code.lines().enumerate() {
                assert!(
                    !line.contains("\"/v1"),
                    "{}:{}: a /v1 path literal outside psi-server/src/api.rs: {}",
                    name(&s),
                    n + 1,
                    line.trim()
                );
            }
        }
    }
}

#[test]
fn the_checker_sees_circles_and_reexports() {
    let file = |module: &[&str], path: &str, code: &str| Source {
        path: PathBuf::from(path),
        module: module.iter().map(|s| s.to_string()).collect(),
        code: code.to_string(),
        lines: 1,
    };
    // lib re-exports b's item; a uses it through the crate root: no circle.
    let files = vec![
        file(
            &[],
            "src/lib.rs",
            "mod a;\nmod b;\npub use b::Thing;\nuse a::run;",
        ),
        file(&["a"], "src/a.rs", "use crate::Thing;\npub fn run() {}"),
        file(&["b"], "src/b.rs", "pub struct Thing;"),
    ];
    assert_eq!(find_cycle(&imports(&files)), None);
    // a and b import each other, one through a use tree, one inline.
    let files = vec![
        file(&[], "src/lib.rs", "mod a;\nmod b;"),
        file(&["a"], "src/a.rs", "use crate::{b::{self, Other}};"),
        file(&["b"], "src/b.rs", "fn f() { super::a::g() }"),
    ];
    assert!(find_cycle(&imports(&files)).is_some());
    // A child importing an item its parent module defines is a circle.
    let files = vec![
        file(
            &["s"],
            "src/s/mod.rs",
            "mod c;\nuse self::c::x;\npub struct P;",
        ),
        file(&["s", "c"], "src/s/c.rs", "use super::P;\npub fn x() {}"),
    ];
    assert!(find_cycle(&imports(&files)).is_some());
    assert_eq!(
        expand("a::{b, c::{d as e, self}}"),
        vec!["a::b", "a::c::d", "a::c"]
    );
}

/// The `[dependencies]` names of a crate's manifest.
fn dependencies(krate: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join(krate).join("Cargo.toml"))
        .expect("a readable manifest");
    let mut deps = Vec::new();
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if let (true, Some((name, _))) = (inside, line.split_once('=')) {
            // `name = ...` or `name.workspace = true`.
            let name = name.trim().split('.').next().unwrap_or_default();
            deps.push(name.to_string());
        }
    }
    deps
}

#[test]
fn each_crate_knows_only_its_layer() {
    let forbidden: [(&str, &[&str]); 4] = [
        (
            "psi-core",
            &["tokio", "hyper", "hyper-util", "clap", "csv", "parquet"],
        ),
        ("psi-table", &["tokio", "hyper", "hyper-util", "clap"]),
        ("psi-server", &["clap", "csv", "parquet", "psi-table"]),
        (
            "psi-fuzzy",
            &["tokio", "hyper", "hyper-util", "clap", "psi-server"],
        ),
    ];
    for (krate, not) in forbidden {
        for dep in dependencies(krate) {
            assert!(
                !not.contains(&dep.as_str()),
                "{krate} depends on {dep}, which belongs to another layer"
            );
        }
    }
    assert!(dependencies("psi-server").iter().any(|d| d == "hyper"));
    // The linkage unit takes psi-fuzzy without its data owners' side, which
    // reads tables (psi-table) and holds the secret.
    let server = std::fs::read_to_string(workspace().join("psi-server/Cargo.toml"))
        .expect("a readable manifest");
    assert!(server
        .lines()
        .filter(|l| l.starts_with("psi-fuzzy"))
        .all(|l| !l.contains("encode")));
    assert!(dependencies("psi-cli").iter().any(|d| d == "clap"));
}

/// psi-fuzzy and psi-group deny `unsafe_code` (they cannot forbid it like the
/// workspace: psi-fuzzy's AVX-512 popcount kernel and psi-group's IFMA
/// backend need it); in each, only its one dispatch module may allow it.
#[test]
fn unsafe_only_in_the_dispatch_modules() {
    for (krate, dispatch) in [
        ("psi-fuzzy", "psi-fuzzy/src/dice/dispatch.rs"),
        ("psi-group", "psi-group/src/dispatch.rs"),
    ] {
        let local = dispatch
            .strip_prefix(&format!("{krate}/"))
            .expect("the dispatch file is in its crate");
        for s in sources(krate) {
            let code =
                strip_comments(&std::fs::read_to_string(&s.path).expect("a readable source file"));
            let allowed = s.path.ends_with(local);
            assert!(
                allowed || !code.contains("unsafe"),
                "{} uses unsafe; only {dispatch} may",
                name(&s)
            );
        }
        let manifest = std::fs::read_to_string(workspace().join(krate).join("Cargo.toml"))
            .expect("a readable manifest");
        assert!(manifest.contains("unsafe_code = \"deny\""), "{krate}");
    }
}

#[test]
fn every_wire_message_is_fuzzed() {
    let mut files = Vec::new();
    rust_files(&workspace().join("psi-core").join("src"), &mut files);
    let fuzz = workspace().join("fuzz/fuzz_targets/decode_messages.rs");
    let target = std::fs::read_to_string(&fuzz).expect("the decode_messages fuzz target");
    let mut seen = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).expect("a readable source file");
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("impl Codec for ") else {
                continue;
            };
            let message = rest.trim_end_matches('{').trim();
            seen += 1;
            assert!(
                target.contains(&format!("{message}::from_bytes(")),
                "{message} ({}) implements the codec but {} does not decode it",
                f.display(),
                fuzz.display()
            );
        }
    }
    assert!(seen >= 18, "found only {seen} codec messages");
}

#[test]
fn the_cli_parses_then_plans_then_executes() {
    for s in sources("psi-cli") {
        let file = name(&s);
        let in_args = file.ends_with("psi-cli/src/args.rs") || file.contains("psi-cli/src/args/");
        // The crate roots: the binary's and the library's (which `main.rs` calls).
        let in_main = file.ends_with("psi-cli/src/main.rs") || file.ends_with("psi-cli/src/lib.rs");
        let in_plan = file.contains("psi-cli/src/plan/");
        if !in_args && !in_main {
            assert!(
                !s.code.contains("clap"),
                "{file}: clap types belong in psi-cli/src/args.rs (and args/)"
            );
        }
        if !in_args && !in_main && !in_plan {
            assert!(
                !s.code.contains("args::"),
                "{file}: only the plan reads the parsed arguments; commands execute plans"
            );
        }
    }
}
