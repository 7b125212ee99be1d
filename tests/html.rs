//! `run --out` writes report.html: one self-contained page. The test parses the page into a tree
//! (a small parser below: every element must close in order, as the page writes them) and checks
//! its parts: the verdict, a row per expectation, the checks, a row per node, each chart and the
//! timeline as inline SVG, every node's log folded away with the text of its .log file, and
//! nothing that would load from elsewhere (no script, stylesheet link, image, frame, font file
//! or external URL).

use std::path::{Path, PathBuf};

mod common;
use common::*;

/// An element of the page: its name, attributes and children, or a run of text.
#[derive(Debug)]
enum Node {
    Element {
        name: String,
        attrs: Vec<(String, String)>,
        children: Vec<Node>,
    },
    Text(String),
}

/// Elements with no closing tag in HTML.
const VOID: &[&str] = &["meta", "br", "hr", "img", "input", "link", "col", "wbr"];

fn unescape(t: &str) -> String {
    t.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Parses `<name a="v" b>` (without the angle brackets) into a name and attributes.
fn parse_tag(tag: &str) -> (String, Vec<(String, String)>) {
    let tag = tag.trim_end_matches('/').trim();
    let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
    let name = tag[..name_end].to_ascii_lowercase();
    let mut attrs = Vec::new();
    let mut rest = tag[name_end..].trim_start();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = rest[..key_end].to_string();
        rest = rest[key_end..].trim_start();
        let value = if let Some(r) = rest.strip_prefix('=') {
            let r = r.trim_start();
            let quote = r.chars().next().expect("a value after =");
            assert!(
                quote == '"' || quote == '\'',
                "unquoted attribute in <{tag}>"
            );
            let end = r[1..].find(quote).expect("a closing quote") + 1;
            rest = r[end + 1..].trim_start();
            unescape(&r[1..end])
        } else {
            String::new()
        };
        attrs.push((key, value));
    }
    (name, attrs)
}

/// An element being parsed: its name, attributes and the children so far.
type Open = (String, Vec<(String, String)>, Vec<Node>);

/// Parses a whole document, failing on any element closed out of order or left open.
fn parse(html: &str) -> Vec<Node> {
    let mut stack: Vec<Open> = vec![("#root".into(), vec![], vec![])];
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            stack.last_mut().unwrap().2.push(Node::Text(unescape(rest)));
            break;
        };
        if lt > 0 {
            stack
                .last_mut()
                .unwrap()
                .2
                .push(Node::Text(unescape(&rest[..lt])));
        }
        rest = &rest[lt..];
        if let Some(r) = rest.strip_prefix("<!--") {
            rest = &r[r.find("-->").expect("a closed comment") + 3..];
            continue;
        }
        let gt = rest.find('>').expect("a closed tag");
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let (open, attrs, children) = stack.pop().expect("an open element");
            assert_eq!(
                open,
                name.trim().to_ascii_lowercase(),
                "</{name}> closes <{open}>"
            );
            stack.last_mut().unwrap().2.push(Node::Element {
                name: open,
                attrs,
                children,
            });
            continue;
        }
        let (name, attrs) = parse_tag(tag);
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            stack.last_mut().unwrap().2.push(Node::Element {
                name,
                attrs,
                children: vec![],
            });
        } else if name == "style" {
            // Style text is not markup.
            let end = rest.find("</style>").expect("a closed style");
            let children = vec![Node::Text(rest[..end].to_string())];
            rest = &rest[end + "</style>".len()..];
            stack.last_mut().unwrap().2.push(Node::Element {
                name,
                attrs,
                children,
            });
        } else {
            stack.push((name, attrs, vec![]));
        }
    }
    assert_eq!(
        stack.len(),
        1,
        "elements left open: {:?}",
        stack.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    stack.pop().unwrap().2
}

impl Node {
    fn name(&self) -> &str {
        match self {
            Node::Element { name, .. } => name,
            Node::Text(_) => "#text",
        }
    }

    fn attr(&self, key: &str) -> Option<&str> {
        match self {
            Node::Element { attrs, .. } => attrs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str()),
            Node::Text(_) => None,
        }
    }

    fn children(&self) -> &[Node] {
        match self {
            Node::Element { children, .. } => children,
            Node::Text(_) => &[],
        }
    }

    /// Every element below this one (and itself), depth first.
    fn all<'a>(&'a self, out: &mut Vec<&'a Node>) {
        out.push(self);
        for c in self.children() {
            c.all(out);
        }
    }

    fn find_all(&self, name: &str) -> Vec<&Node> {
        let mut all = Vec::new();
        self.all(&mut all);
        all.into_iter().filter(|n| n.name() == name).collect()
    }

    fn text(&self) -> String {
        match self {
            Node::Text(t) => t.clone(),
            Node::Element { children, .. } => children.iter().map(Node::text).collect(),
        }
    }
}

const SCENARIO: &str = r#"name = "page <&> test"
description = """A replica is cut off for 4 seconds with a 16 KB backlog: a second full sync.

A second paragraph."""
duration = "20s"
[defaults]
repl-backlog-size = "16kb"
repl-timeout = "2s"
[[node]]
name = "m"
[[node]]
name = "r1"
replicaof = "m"
[[node]]
name = "r2"
replicaof = "m"
[[workload]]
name = "app"
target = "m"
rate = 500
[[fault]]
at = "8s"
kind = "partition"
name = "cut"
groups = [["r1"]]
duration = "4s"
[[fault]]
at = "15s"
kind = "command"
node = "r2"
command = "CONFIG SET repl-timeout 3"
[expect]
"m.sync_full" = "> 2"
"m.sync_partial_ok" = 1
"#;

/// Runs SCENARIO with `--out` and parses its report.html: (the document, the output directory).
fn page(name: &str, expect_ok: bool) -> (Node, PathBuf) {
    let dir = scratch(name);
    let file = dir.join("s.toml");
    let text = if expect_ok {
        SCENARIO.replace("\"m.sync_partial_ok\" = 1", "\"m.sync_partial_err\" = 1")
    } else {
        SCENARIO.to_string()
    };
    std::fs::write(&file, text).unwrap();
    let out_dir = dir.join("out");
    let out = replsim(&[
        "run",
        file.to_str().unwrap(),
        "--quiet",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(if expect_ok { 0 } else { 1 }),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(out_dir.join("report.html")).expect("report.html");
    let root = Node::Element {
        name: "#root".into(),
        attrs: vec![],
        children: parse(&html),
    };
    (root, out_dir)
}

fn section<'a>(root: &'a Node, id: &str) -> &'a Node {
    root.find_all("section")
        .into_iter()
        .find(|s| s.attr("id") == Some(id))
        .unwrap_or_else(|| panic!("a section with id {id}"))
}

#[test]
fn the_page_holds_every_part_and_loads_nothing_from_elsewhere() {
    let (root, dir) = page("html-ok", true);
    assert_eq!(root.find_all("html").len(), 1);
    assert_eq!(root.find_all("body").len(), 1);
    let title = root.find_all("title")[0].text();
    assert_eq!(
        title, "replsim: page <&> test",
        "text is escaped and reads back whole"
    );
    // The description's two paragraphs.
    let paras: Vec<String> = root.find_all("p").iter().map(|p| p.text()).collect();
    assert!(paras.iter().any(|p| p.starts_with("A replica is cut off")));
    assert!(paras.iter().any(|p| p == "A second paragraph."));

    let verdict = root
        .find_all("div")
        .into_iter()
        .find(|d| d.attr("id") == Some("verdict"))
        .expect("a verdict banner");
    assert_eq!(verdict.attr("class"), Some("verdict ok"));
    assert!(verdict.text().starts_with("OK: 2 of 2 expectations held"));

    // A row per expectation, with its verdict and what it found.
    let rows = section(&root, "expectations-and-violations").find_all("tr");
    let expect_rows: Vec<String> = rows.iter().skip(1).map(|r| r.text()).collect();
    assert_eq!(expect_rows.len(), 2, "{expect_rows:?}");
    assert!(expect_rows
        .iter()
        .any(|r| r.starts_with("okm.sync_partial_err == 1") && r.contains("1")));
    // A row per checker, a row per node, the workload.
    let checks = section(&root, "checks").text();
    for checker in [
        "convergence",
        "acked writes lost",
        "stale reads",
        "resync loop",
        "availability",
    ] {
        assert!(checks.contains(checker), "{checker}");
    }
    let nodes: Vec<String> = section(&root, "nodes")
        .find_all("tr")
        .iter()
        .skip(1)
        .map(|r| r.children()[0].text().trim().replace('\u{2003}', ""))
        .collect();
    assert_eq!(
        nodes,
        ["m", "r1", "r2"],
        "masters first, their replicas under them"
    );
    assert!(section(&root, "workloads").text().contains("app"));

    // Each chart inline, as the chart module drew it (same number of text labels), and the
    // timeline's own drawing.
    let charts = section(&root, "charts").find_all("svg");
    assert_eq!(charts.len(), 3);
    for (svg, name) in charts.iter().zip(["lag", "backlog", "availability"]) {
        let file = std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap();
        assert_eq!(
            svg.find_all("text").len(),
            file.matches("<text").count(),
            "{name}"
        );
    }
    let timeline = section(&root, "timeline");
    let drawing = &timeline.find_all("svg")[0];
    let lanes = drawing.text();
    for n in [
        "m",
        "r1",
        "r2",
        "partition cut",
        "command r2: CONFIG SET repl-timeout 3",
    ] {
        assert!(lanes.contains(n), "{n} on the timeline");
    }
    // Milestones carry their time in a tooltip.
    let tips: Vec<String> = drawing.find_all("title").iter().map(|t| t.text()).collect();
    assert!(
        tips.iter()
            .any(|t| t.starts_with("r1 full sync finished at")),
        "{tips:?}"
    );
    let folded = timeline.find_all("details");
    assert!(folded[0].find_all("summary")[0]
        .text()
        .contains("2 faults and"));
    assert!(timeline.text().contains("CONFIG SET repl-timeout 3"));

    // Each node's log, folded (closed), holding its .log file's lines.
    let logs = section(&root, "node-logs").find_all("details");
    assert_eq!(logs.len(), 3);
    for (d, node) in logs.iter().zip(["m", "r1", "r2"]) {
        assert_eq!(d.attr("open"), None, "folded away");
        let summary = d.find_all("summary")[0].text();
        assert!(summary.starts_with(&format!("{node}.log (")), "{summary}");
        let file = std::fs::read_to_string(dir.join(format!("{node}.log"))).unwrap();
        assert_eq!(d.find_all("pre")[0].text(), file);
    }

    assert_self_contained(&root);
}

/// Nothing on the page is fetched from elsewhere: no element that loads a resource, no
/// attribute with a URL or a source, no link but to the page itself, no imported style or font.
fn assert_self_contained(root: &Node) {
    let mut all = Vec::new();
    root.all(&mut all);
    for n in &all {
        assert!(
            !["script", "link", "img", "iframe", "object", "embed", "image", "use"]
                .contains(&n.name()),
            "a <{}> element",
            n.name()
        );
        if let Node::Element { attrs, .. } = n {
            for (k, v) in attrs {
                let external = v.contains("://") && !(k == "xmlns" || k.starts_with("xmlns:"));
                assert!(!external, "<{} {k}=\"{v}\">", n.name());
                assert!(k != "src", "<{} src>", n.name());
                assert!(k != "href" || v.starts_with('#'), "<{} href={v}>", n.name());
            }
        }
    }
    let style = root.find_all("style")[0].text();
    assert!(!style.contains("@import") && !style.contains("@font-face") && !style.contains("url("));
}

/// Parses the report.html in `dir`.
fn load(dir: &Path) -> Node {
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    Node::Element {
        name: "#root".into(),
        attrs: vec![],
        children: parse(&html),
    }
}

#[test]
fn a_bundled_failover_page_shows_every_chart_it_drew_under_a_caption_of_its_own() {
    // failover-split-brain loses writes, so it draws the acknowledged-writes chart beside the
    // three every run has.
    let dir = scratch("html-bundled").join("out");
    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/failover-split-brain.toml");
    let out = replsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--quiet",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let root = load(&dir);
    let verdict = root
        .find_all("div")
        .into_iter()
        .find(|d| d.attr("id") == Some("verdict"))
        .expect("a verdict banner");
    assert!(verdict.text().starts_with("OK: 6 of 6 expectations held"));
    let rows = section(&root, "expectations-and-violations").find_all("tr");
    assert!(rows
        .iter()
        .any(|r| r.text().contains("checks.acked_writes_lost.lost > 10000")));
    assert!(section(&root, "checks")
        .text()
        .contains("acked writes lost"));

    // One figure per chart file, in the order the charts were drawn, each under a sentence
    // rather than its file name.
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".svg").map(str::to_string))
        .collect();
    files.sort();
    assert_eq!(files, ["availability", "backlog", "lag", "writes"]);
    let figures = section(&root, "charts").find_all("figure");
    assert_eq!(figures.len(), files.len());
    for (fig, name) in figures
        .iter()
        .zip(["lag", "backlog", "availability", "writes"])
    {
        let caption = fig.find_all("figcaption")[0].text();
        assert!(
            caption != name && caption.split_whitespace().count() >= 6,
            "{name}: {caption}"
        );
        let file = std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap();
        assert_eq!(
            fig.find_all("text").len(),
            file.matches("<text").count(),
            "{name}"
        );
    }
    assert!(figures[3].find_all("figcaption")[0]
        .text()
        .starts_with("Acknowledged writes"));

    let timeline = section(&root, "timeline");
    assert_eq!(timeline.find_all("svg").len(), 1);
    assert!(timeline.text().contains("REPLICAOF NO ONE"));
    let logs = section(&root, "node-logs").find_all("details");
    assert_eq!(logs.len(), 3);
    assert!(logs.iter().all(|d| d.attr("open").is_none()));
    assert_self_contained(&root);
}

#[test]
fn a_failed_run_shows_a_red_verdict_with_each_failure() {
    let (root, _) = page("html-fail", false);
    let verdict = root
        .find_all("div")
        .into_iter()
        .find(|d| d.attr("id") == Some("verdict"))
        .expect("a verdict banner");
    assert_eq!(verdict.attr("class"), Some("verdict fail"));
    let reasons: Vec<String> = verdict.find_all("li").iter().map(|l| l.text()).collect();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].starts_with("expectation failed: m.sync_partial_ok == 1 (actual 0"));
    let fail_cells: Vec<&Node> = section(&root, "expectations-and-violations")
        .find_all("td")
        .into_iter()
        .filter(|td| td.attr("class") == Some("fail"))
        .collect();
    assert_eq!(fail_cells.len(), 1);
}
