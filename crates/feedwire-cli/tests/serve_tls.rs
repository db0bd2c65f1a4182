//! `feedwire serve --tls-cert/--tls-key`: the files are checked before anything listens, with a message that
//! names the option and the file (wss:// itself is exercised against pusher-js in the interop suite).
#![allow(clippy::disallowed_methods)]

mod common;

use common::{Feedwire, PATIENCE};

#[test]
fn a_missing_certificate_file_is_named_and_ends_serve() {
    for protocol in ["pusher", "actioncable", "doshii", "igratech"] {
        let mut p = Feedwire::start(&[
            "serve",
            protocol,
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ]);
        let status = p.exit_within(PATIENCE);
        assert_eq!(status.code(), Some(1), "{protocol}");
        let err = p.stderr_text();
        assert!(
            err.contains("--tls-cert /nonexistent/cert.pem:"),
            "{protocol}: {err}"
        );
    }
}

#[test]
fn a_key_that_is_not_pem_is_named() {
    let dir = std::env::temp_dir().join(format!("feedwire-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // a PEM certificate block (its contents are checked only when the key is paired with it)
    let certs = dir.join("cert.pem");
    std::fs::write(
        &certs,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let certs = certs.to_str().unwrap().to_owned();
    let key = dir.join("key.pem");
    std::fs::write(&key, "not a key\n").unwrap();
    let mut p = Feedwire::start(&[
        "serve",
        "pusher",
        "--addr",
        "127.0.0.1:0",
        "--tls-cert",
        &certs,
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(p.exit_within(PATIENCE).code(), Some(1));
    let err = p.stderr_text();
    assert!(err.contains(&format!("--tls-key {}:", key.display())), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_certificate_needs_its_key() {
    let mut p = Feedwire::start(&["serve", "pusher", "--tls-cert", "c.pem"]);
    assert_eq!(p.exit_within(PATIENCE).code(), Some(2));
    assert!(p.stderr_text().contains("--tls-key"), "{}", p.stderr_text());
}
