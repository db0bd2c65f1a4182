//! Socket URLs for every role and environment; credentials escaped in the query and never in Debug output.
#![allow(clippy::disallowed_methods)] // one real Instant as the anchor

use std::time::Instant;

use feedwire_core::{Session, Transmit, UnixAnchor};
use feedwire_doshii::client::{Client, Config, Environment, Role};

fn anchor() -> UnixAnchor {
    UnixAnchor::new(Instant::now(), 1_700_000_000_000)
}

/// base64("my-client-id") has no reserved characters.
const PLAIN: &str = "my-client-id";
const PLAIN_B64: &str = "bXktY2xpZW50LWlk";
/// UTF-8 c3 bb c3 bf, whose base64 "w7vDvw==" ends in `=` (the `+` and `/` cases are below).
const TRICKY: &str = "\u{fb}\u{ff}";
const TRICKY_B64_ESCAPED: &str = "w7vDvw%3D%3D";

#[test]
fn app_socket_in_every_environment() {
    let cases = [
        (Environment::Sandbox, "wss://socket.sandbox.doshii.co"),
        (Environment::Live, "wss://live-socket.doshii.co"),
        (
            Environment::Host("sandbox-socket.doshii.co".into()),
            "wss://sandbox-socket.doshii.co",
        ),
        (
            Environment::Host("socket.live.doshii.co/".into()),
            "wss://socket.live.doshii.co",
        ),
        (
            Environment::Host("ws://127.0.0.1:9000".into()),
            "ws://127.0.0.1:9000",
        ),
    ];
    for (env, base) in cases {
        let c = Config::app(PLAIN, anchor()).with_environment(env.clone());
        assert_eq!(c.url(), format!("{base}/app/socket?auth={PLAIN_B64}"), "{env:?}");
        let v3 = Config::app_v3(PLAIN, None, anchor()).with_environment(env.clone());
        assert_eq!(v3.url(), format!("{base}/app/socket/v3?auth={PLAIN_B64}"));
        let dev = Config::app_v3(PLAIN, Some("a1b2c3".into()), anchor()).with_environment(env.clone());
        assert_eq!(
            dev.url(),
            format!("{base}/app/socket/v3?auth={PLAIN_B64}&deviceId=a1b2c3")
        );
        let pos = Config::pos("loc-token", anchor()).with_environment(env.clone());
        assert_eq!(pos.url(), format!("{base}/pos/socket?token=loc-token"));
        let vendor = Config::vendor("h.p.s", "acme-pos", anchor()).with_environment(env.clone());
        assert_eq!(
            vendor.url(),
            format!("{base}/vendor/socket?token=h.p.s&vendor=acme-pos")
        );
    }
}

#[test]
fn client_id_base64_is_percent_encoded() {
    use base64::Engine as _;
    // the raw base64 really has the characters that need escaping
    let b64 = base64::engine::general_purpose::STANDARD.encode(TRICKY);
    assert_eq!(b64, "w7vDvw==");
    let c = Config::app(TRICKY, anchor());
    assert_eq!(
        c.url(),
        format!("wss://socket.sandbox.doshii.co/app/socket?auth={TRICKY_B64_ESCAPED}")
    );
    // `+` and `/` too: base64 of 0xfb 0xff 0xbf is "+/+/"
    let id = String::from_utf8_lossy(&[0xfb, 0xff, 0xbf]).into_owned(); // replacement chars: "\u{fffd}" x3
    let b64 = base64::engine::general_purpose::STANDARD.encode(id.as_bytes());
    assert_eq!(b64, "77+977+977+9");
    let c = Config::app(&id, anchor());
    assert_eq!(
        c.url(),
        "wss://socket.sandbox.doshii.co/app/socket?auth=77%2B977%2B977%2B9"
    );
    let c = Config::app("a?b", anchor()); // base64 "YT9i"
    assert!(c.url().ends_with("auth=YT9i"));
    let c = Config::app("??>", anchor()); // base64 "Pz8+"
    assert!(c.url().ends_with("auth=Pz8%2B"), "{}", c.url());
    let c = Config::app("??", anchor()); // base64 "Pz8=" has '='
    assert!(c.url().ends_with("auth=Pz8%3D"), "{}", c.url());
    let c = Config::app("\u{3ff}", anchor()); // UTF-8 cf bf -> "z78=" ; and '/' below
    assert!(c.url().ends_with("auth=z78%3D"), "{}", c.url());
    let c = Config::app("\u{7ff}?", anchor()); // df bf 3f -> "378/"
    assert!(c.url().ends_with("auth=378%2F"), "{}", c.url());
}

#[test]
fn other_credentials_are_escaped_too() {
    let c = Config::app_v3(PLAIN, Some("dev id&x=1".into()), anchor());
    assert!(c.url().ends_with("&deviceId=dev+id%26x%3D1"), "{}", c.url());
    let c = Config::pos("a+b/c=", anchor());
    assert!(c.url().ends_with("/pos/socket?token=a%2Bb%2Fc%3D"));
    let c = Config::vendor("x.y.z", "My POS", anchor());
    assert!(c.url().ends_with("/vendor/socket?token=x.y.z&vendor=My+POS"));
}

#[test]
fn the_session_dials_the_config_url() {
    let c = Config::app(TRICKY, anchor()).with_environment(Environment::Live);
    let url = c.url();
    let mut client = Client::new(c);
    assert_eq!(client.poll_transmit(), None, "new never dials");
    client.connect(anchor().instant);
    let Some(Transmit::Connect(req)) = client.poll_transmit() else {
        panic!("first transmit after connect is a connect")
    };
    assert_eq!(req.url, url);
    assert!(req.is_tls());
    assert_eq!(
        req.path_and_query(),
        format!("/app/socket?auth={TRICKY_B64_ESCAPED}")
    );
}

#[test]
fn secrets_never_print() {
    let configs = [
        Config::app("SECRET-client-id", anchor()),
        Config::app_v3("SECRET-client-id", Some("device".into()), anchor()),
        Config::pos("SECRET-location-token", anchor()),
        Config::vendor("SECRET.jwt.value", "vendor-name", anchor()),
    ];
    for c in configs {
        let mut client = Client::new(c.clone());
        client.connect(c.unix_anchor.instant);
        let Some(Transmit::Connect(req)) = client.poll_transmit() else {
            panic!()
        };
        for text in [
            format!("{c:?}"),
            format!("{c:#?}"),
            format!("{:?}", c.role),
            format!("{req:?}"),
            format!("{client:?}"),
        ] {
            assert!(!text.contains("SECRET"), "{text}");
            // base64 of the client id must not leak either
            assert!(!text.contains("U0VDUkVU"), "{text}");
        }
        assert!(format!("{c:?}").contains("[redacted]"));
    }
    let role = Role::Vendor {
        jwt: "SECRET".into(),
        vendor: "v".into(),
    };
    assert!(!format!("{role:?}").contains("SECRET"));
}
