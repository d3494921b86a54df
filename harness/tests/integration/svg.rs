//! `brownout show FILE --svg OUT`: the picture of a finding is well-formed
//! SVG with what it promises (operations, block requests, marks, the crash
//! point, kept and dropped writes), scales to a 200-operation workload, and
//! renders in a real headless browser (skipped, with a message, where none
//! is installed).

use crate::common;

use brownout::campaign::registry::run_workload;
use brownout::run::check::OracleOptions;
use brownout::run::execute::ExecOptions;
use brownout::run::svg::render;
use brownout::workload::Workload;
use replay::EntryRef;
use std::path::Path;

fn load(name: &str) -> Workload {
    let text = std::fs::read_to_string(common::corpus_dir().join(name)).unwrap();
    Workload::parse(&text).unwrap()
}

fn svg_of(w: &Workload) -> (String, brownout::run::pipeline::Outcome) {
    let outcome = run_workload(w, &ExecOptions::default(), &OracleOptions::default()).unwrap();
    (
        render(w, &outcome.execution, outcome.finding.as_ref(), None),
        outcome,
    )
}

fn with_class<'a>(doc: &'a roxmltree::Document, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split_whitespace().any(|w| w == class))
        })
        .collect()
}

#[test]
fn a_finding_drawn_has_every_part() {
    for name in [
        "bug-fsync-no-flush.workload",
        "bug-fua-on-extending.workload",
        "bug-dsync-no-flush.workload",
        "bug-commit-no-preflush.workload",
    ] {
        let w = load(name);
        let (svg, outcome) = svg_of(&w);
        let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg", "{name}");
        let f = outcome.finding.as_ref().expect(name);
        let exec = &outcome.execution;
        // One span per operation run, the broken one marked.
        assert_eq!(with_class(&doc, "op").len(), exec.times.len() + 1, "{name}"); // + legend
        assert_eq!(with_class(&doc, "broken").len(), 1, "{name}");
        // One span per block request from the first operation on.
        let first = exec.times[0].start;
        let mut requests = 0;
        let mut marks = 0;
        let mut completed_at = std::collections::BTreeMap::new();
        for (pos, e) in exec.log.entries().enumerate() {
            match e {
                EntryRef::Complete { id } => {
                    completed_at.insert(id, pos);
                }
                EntryRef::Mark { .. } if pos >= first => marks += 1,
                _ => {}
            }
        }
        for e in exec.log.entries() {
            let id = match e {
                EntryRef::Write { id, .. }
                | EntryRef::Flush { id }
                | EntryRef::Discard { id, .. } => id,
                _ => continue,
            };
            if completed_at.get(&id).is_none_or(|&c| c >= first) {
                requests += 1;
            }
        }
        let drawn = with_class(&doc, "req").len() - 7; // the legend's seven
        assert_eq!(drawn, requests, "{name}");
        assert_eq!(with_class(&doc, "mark").len(), marks, "{name}");
        // The crash point, and the state's kept and dropped writes.
        let state = f.state.as_deref().unwrap();
        if !state.contains('+') && !state.contains('/') {
            assert_eq!(with_class(&doc, "crash").len(), 1, "{name}");
            let kept: Vec<&str> = with_class(&doc, "kept")
                .iter()
                .filter_map(|n| n.attribute("data-id"))
                .collect();
            let persisted: Vec<String> = f
                .persisted
                .iter()
                .map(|p| p.split(':').next().unwrap().to_string())
                .collect();
            for id in &kept {
                assert!(persisted.iter().any(|p| p == id), "{name}: {id} kept");
            }
        }
        assert!(svg.contains(&format!("rule {}", f.rule.number())), "{name}");
    }
}

/// 200 operations: still one well-formed picture, every operation drawn,
/// its width bounded by the log's length.
#[test]
fn two_hundred_operations_stay_usable() {
    let mut text = String::from("target: fs-under-test\nmode: prefix\nfiles: 2\n");
    for k in 0..100u64 {
        let file = k % 2;
        text.push_str(&format!(
            "write f{file} {} 4096\n",
            (k * 4096) % (256 << 10)
        ));
        text.push_str(if k % 3 == 0 {
            "fsync f0\n"
        } else {
            "fdatasync f1\n"
        });
    }
    let w = Workload::parse(&text).unwrap();
    assert_eq!(w.ops.len(), 200);
    let (svg, outcome) = svg_of(&w);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let exec = &outcome.execution;
    assert_eq!(with_class(&doc, "op").len(), exec.times.len() + 1);
    let width: usize = doc
        .root_element()
        .attribute("width")
        .unwrap()
        .parse()
        .unwrap();
    assert!(width <= 400 + 14 * exec.log.len() + 1000, "{width}");
}

/// The first program found on PATH among `names`.
fn on_path(names: &[&str]) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|n| {
        std::env::split_paths(&path)
            .map(|d| d.join(n))
            .find(|p| p.is_file())
    })
}

fn write_example(dir: &Path) -> std::path::PathBuf {
    let (svg, _) = svg_of(&load("bug-fua-on-extending.workload"));
    let path = dir.join("finding.svg");
    std::fs::write(&path, svg).unwrap();
    path
}

/// Renders in a real headless browser. Skips, saying so, when none is
/// installed (CI machines usually have none).
#[test]
fn renders_in_a_headless_browser() {
    let Some(browser) = on_path(&["chromium", "chromium-browser", "google-chrome", "firefox"])
    else {
        eprintln!(
            "skipped: no headless browser on PATH (chromium, chromium-browser, google-chrome or firefox)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let svg = write_example(dir.path());
    let png = dir.path().join("shot.png");
    let firefox = browser.ends_with("firefox");
    let mut cmd = std::process::Command::new(&browser);
    if firefox {
        cmd.args(["--headless", "--screenshot"]).arg(&png).arg(&svg);
    } else {
        cmd.args(["--headless", "--disable-gpu", "--no-sandbox"])
            .arg(format!("--screenshot={}", png.display()))
            .arg(&svg);
    }
    let out = cmd.output().expect("run the browser");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).expect("a screenshot");
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    assert!(bytes.len() > 2000, "an empty picture");
}

/// The same picture through librsvg, where `rsvg-convert` is installed
/// (how the README's image was made); skips otherwise.
#[test]
fn renders_with_librsvg() {
    let Some(rsvg) = on_path(&["rsvg-convert"]) else {
        eprintln!("skipped: rsvg-convert not on PATH (apt-get install librsvg2-bin)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let svg = write_example(dir.path());
    let png = dir.path().join("finding.png");
    let out = std::process::Command::new(rsvg)
        .arg(&svg)
        .arg("-o")
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 2000);
}
