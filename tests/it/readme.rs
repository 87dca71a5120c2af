//! Every command in the `sh` blocks of README.md and of the pages of
//! `docs/` runs as written, in order (README.md first, then the pages by
//! name), from one folder that sees the repository's `data/` and
//! `examples/`, and shows its output as it really is: the comment lines
//! right under a command are the first lines it prints (a line ending in
//! `…` matches a line it begins; a last line `…` stands for the lines
//! after). The few commands this test cannot run (installs, MPI, the test
//! suite itself) are listed in [`NOT_RUN`] with where they are checked
//! instead, and every entry of that list must still be in the documents.

#![cfg(unix)]

use crate::common;

use std::path::Path;
use std::process::Command;

/// Commands not run here, by how they begin, and where they are checked.
const NOT_RUN: &[(&str, &str)] = &[
    ("cargo test --release", "it runs this test; .ci/run runs it on a fresh clone"),
    ("pip install ./python", ".ci/run installs the package and runs python/tests"),
    ("apt-get install", ".ci/run installs the same packages"),
    ("cargo build --release --features mpi", ".ci/run builds it for tests/mpi.rs"),
    ("export OMPI_ALLOW_RUN_AS_ROOT", "tests/mpi.rs gives mpirun the same settings"),
    ("mpirun ", "tests/mpi.rs starts the same binary under mpirun"),
    ("cat > hosts", "needs the machines node1 and node2"),
];

/// The documents whose commands run, in order.
fn documents(root: &Path) -> Vec<(String, String)> {
    let mut pages: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    std::iter::once(root.join("README.md"))
        .chain(pages)
        .map(|p| (p.strip_prefix(root).unwrap().display().to_string(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

/// A command of the README: its line, its words, the output shown under it.
struct Shown {
    line: usize,
    text: String,
    output: Vec<String>,
}

/// The commands of the README's `sh` blocks: `\` continuations joined,
/// here-documents kept with their command, trailing `# …` comments cut.
fn commands(readme: &str) -> Vec<Shown> {
    let (mut out, mut in_sh, mut open) = (Vec::<Shown>::new(), false, false);
    let mut lines = readme.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        if line.starts_with("```") {
            in_sh = !in_sh && line.trim() == "```sh";
            open = false;
            continue;
        }
        let t = line.trim();
        if !in_sh || t.is_empty() {
            open = false;
            continue;
        }
        if let Some(comment) = t.strip_prefix('#') {
            // Right under a command: what it prints; else a remark.
            if let (true, Some(last)) = (open, out.last_mut()) {
                last.output.push(comment.trim().to_string());
            }
            continue;
        }
        let mut text = t.to_string();
        while text.ends_with('\\') {
            text.pop();
            text += lines.next().map_or("", |(_, l)| l.trim());
        }
        if let Some(tag) = text.split("<<'").nth(1).and_then(|r| r.split('\'').next()).map(str::to_string) {
            for (_, l) in lines.by_ref() {
                if l.trim() == tag {
                    break;
                }
            }
        }
        if let Some(at) = text.find(" #") {
            text.truncate(at);
        }
        out.push(Shown { line: n + 1, text: text.trim().to_string(), output: Vec::new() });
        open = true;
    }
    out
}

/// Whether the printed `got` lines are what the README shows.
fn matches(shown: &[String], got: &[&str]) -> bool {
    let more = shown.last().is_some_and(|l| l == "…");
    let shown = &shown[..shown.len() - more as usize];
    let same = |s: &String, g: &&str| match s.strip_suffix('…') {
        Some(prefix) => g.starts_with(prefix),
        None => s.split_whitespace().eq(g.split_whitespace()),
    };
    (got.len() == shown.len() || (more && got.len() > shown.len())) && shown.iter().zip(got).all(|(s, g)| same(s, g))
}

#[test]
fn every_command_in_the_documents_runs_and_prints_what_it_shows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = common::scratch("readme");
    for d in ["data", "examples"] {
        std::os::unix::fs::symlink(root.join(d), dir.join(d)).unwrap();
    }
    // The outputs shown were made on the AVX-512 path; others round
    // differently in the last bits, so only there are they compared.
    let compare = backprop::simd_path().name() == "avx512";
    let (mut ran, mut used) = (0, vec![false; NOT_RUN.len()]);
    let all: Vec<(String, Shown)> = documents(root)
        .into_iter()
        .flat_map(|(name, text)| commands(&text).into_iter().map(move |c| (name.clone(), c)))
        .collect();
    for (doc, c) in all {
        if let Some(i) = NOT_RUN.iter().position(|(p, _)| c.text.starts_with(p)) {
            used[i] = true;
            continue;
        }
        let words = shell_words::split(&c.text).unwrap_or_else(|e| panic!("{doc} line {}: {e}", c.line));
        let args = match words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["cargo", "run", "--release", "--", rest @ ..] | ["backprop", rest @ ..] => rest.to_vec(),
            _ => panic!("{doc} line {}: {:?} is neither a backprop command nor in NOT_RUN", c.line, c.text),
        };
        let o = Command::new(env!("CARGO_BIN_EXE_backprop")).args(&args).current_dir(&dir).output().unwrap();
        let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success(), "{doc} line {}: {:?} failed: {err}", c.line, c.text);
        let got: Vec<&str> = out.lines().collect();
        if compare && !c.output.is_empty() {
            assert!(
                matches(&c.output, &got),
                "{doc} line {}: {:?} shows\n{:#?}\nbut printed\n{out}",
                c.line,
                c.text,
                c.output
            );
        }
        ran += 1;
    }
    for ((prefix, why), used) in NOT_RUN.iter().zip(used) {
        assert!(used, "NOT_RUN lists {prefix:?} ({why}), which no document has");
    }
    assert!(ran >= 10, "only {ran} commands ran");
}

#[test]
fn shown_output_matching_is_strict() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert!(matches(&s(&["rows 2  loss 0.5"]), &["rows 2 loss 0.5"]));
    assert!(!matches(&s(&["rows 2  loss 0.5"]), &["rows 2  loss 0.6"]));
    assert!(!matches(&s(&["rows 2"]), &["rows 2", "more"]));
    assert!(matches(&s(&["rows 2", "…"]), &["rows 2", "more"]));
    assert!(matches(&s(&["{\"rows\":2,…"]), &["{\"rows\":2,\"loss\":1}"]));
    assert!(!matches(&s(&["{\"rows\":3,…"]), &["{\"rows\":2,\"loss\":1}"]));
    let c = commands("```sh\nbackprop a \\\n  --b 1   # note\n# out 1\n\n# remark\ncat > h <<'H'\nx y\nH\n```\n");
    assert_eq!(c.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), ["backprop a --b 1", "cat > h <<'H'"]);
    assert_eq!(c[0].output, ["out 1"]);
    assert!(c[1].output.is_empty());
}
