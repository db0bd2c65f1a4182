//! `feedwire decode` over every protocol crate's testdata frames: this test reads the other crates' testdata
//! through the workspace, so it is left out of the packaged crate (`exclude` in Cargo.toml).
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_feedwire");

fn testdata(proto: &str) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // a protocol's frames live in its crate (`crates/feedwire-<p>/testdata`), or still in `testdata/<p>`
    let in_crate = root.join(format!("crates/feedwire-{proto}/testdata/frames"));
    if in_crate.is_dir() {
        in_crate
    } else {
        root.join("testdata").join(proto).join("frames")
    }
}

/// Runs `feedwire decode <proto> --direction <dir>` over compacted frames; returns (exit code, output lines).
fn decode(proto: &str, dir: &str, frames: &[String]) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let mut child = Command::new(BIN)
        .args(["decode", proto, "--direction", dir])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = frames.join("\n");
    input.push('\n');
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (
        out.status.code(),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every frame file of a protocol, compacted to one line, bucketed by direction (`client_*` files are what a
/// client sends) and validity (`invalid_*` files must fail).
fn buckets(proto: &str) -> [(&'static str, bool, Vec<String>); 4] {
    let mut b = [
        ("in", true, vec![]),
        ("in", false, vec![]),
        ("out", true, vec![]),
        ("out", false, vec![]),
    ];
    let mut files: Vec<_> = std::fs::read_dir(testdata(proto))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).unwrap();
        let line = match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) => serde_json::to_string(&v).unwrap(),
            Err(_) => text.trim().replace('\n', " "),
        };
        // each protocol's testdata names what a client sends `client_*` or `to_server_*`, and frames that
        // must not decode `invalid_*`, `*malformed*` or `*not_an_envelope*`
        let out = name.starts_with("client") || name.starts_with("to_server");
        let valid =
            !(name.starts_with("invalid_") || name.contains("malformed") || name.contains("not_an_envelope"));
        let i = usize::from(out) * 2 + usize::from(!valid);
        b[i].2.push(line);
    }
    b
}

#[test]
fn decode_every_testdata_frame_and_report_garbage() {
    for proto in ["pusher", "actioncable", "doshii", "igratech"] {
        let mut total = 0;
        for (dir, valid, frames) in buckets(proto) {
            if frames.is_empty() {
                continue;
            }
            total += frames.len();
            let (code, lines, stderr) = decode(proto, dir, &frames);
            assert!(!stderr.contains("panicked"), "{stderr}");
            assert_eq!(lines.len(), frames.len(), "{proto} {dir}: one line per frame");
            for (frame, line) in frames.iter().zip(&lines) {
                assert_eq!(line["protocol"], proto);
                assert_eq!(
                    line.get("error").is_none(),
                    valid,
                    "{proto} {dir} {frame} -> {line}"
                );
            }
            assert_eq!(
                code,
                Some(if valid { 0 } else { 1 }),
                "{proto} {dir} valid={valid}"
            );
        }
        assert!(total > 10, "{proto}: only {total} frames in testdata");
    }
    // not JSON at all: an error for every protocol (valid JSON of an unknown shape is kept, not an error, by
    // the protocols whose servers send such frames)
    let garbage: Vec<String> = [
        "not json",
        "\u{1}\u{2}",
        "{\"event\":",
        "{\"a\":1",
        "[1,2",
        "\"unterminated",
        "nul\u{0}l",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (proto, dir) in [
        ("pusher", "in"),
        ("pusher", "out"),
        ("actioncable", "in"),
        ("actioncable", "out"),
        ("doshii", "in"),
        ("igratech", "in"),
        ("igratech", "out"),
    ] {
        let (code, lines, stderr) = decode(proto, dir, &garbage);
        assert_eq!(code, Some(1), "garbage must exit 1");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(lines.len(), garbage.len());
        assert!(
            lines.iter().all(|l| l.get("error").is_some()),
            "{proto} {dir}: {lines:?}"
        );
    }
}
