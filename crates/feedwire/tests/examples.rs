//! The examples that need no outside service, run end to end: their logic is compiled into this test (each
//! example keeps its `run` in a function) against hubs started here on 127.0.0.1. Every example is also built
//! by `cargo test` (examples are compiled with the tests), so CI builds them all.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

#[allow(dead_code)] // its `main`
#[path = "../examples/local_server.rs"]
mod local_server;

#[allow(dead_code)] // its `main`
#[path = "../examples/bitskins.rs"]
mod bitskins;

use feedwire::core::RawJson;
use feedwire::pusher::{Config, server};
use feedwire::tungstenite::Server;

#[tokio::test]
async fn local_server_example_receives_what_its_hub_publishes() {
    let mut lines = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), local_server::run(4, |l| lines.push(l)))
        .await
        .expect("the example did not finish in time")
        .unwrap();
    assert_eq!(
        lines,
        (0..4)
            .map(|i| format!(r#"order-created {{"order":{i}}}"#))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn bitskins_example_runs_against_a_local_hub_with_url_and_count() {
    let hub = server::Hub::new(server::HubConfig::new("app-id", Config::BITSKINS_KEY, "secret"));
    let server = Server::bind("127.0.0.1:0", hub).await.unwrap();
    let args = bitskins::parse(
        [
            "--url",
            &format!("ws://127.0.0.1:{}", server.local_addr().port()),
            "--count",
            "2",
        ]
        .map(String::from),
    )
    .unwrap();
    let handle = server.handle();
    // publishes until the example has subscribed and stopped
    let publisher = tokio::spawn(async move {
        let data = RawJson::from_json_str(r#""{\"id\":\"1\",\"price\":12}""#).unwrap();
        loop {
            let d = data.clone();
            let _ = handle.call(move |hub| hub.publish(&["inventory_changes"], "listed", &d, None));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut lines = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), bitskins::run(args, |l| lines.push(l)))
        .await
        .expect("the example did not stop after --count 2")
        .unwrap();
    publisher.abort();
    assert_eq!(lines, vec![r#"listed {"id":"1","price":12}"#.to_owned(); 2]);
    server.shutdown().await;
}

#[test]
fn bitskins_url_option_makes_a_config_that_checks() {
    let c = bitskins::config_for_url("k", "ws://127.0.0.1:6001").unwrap();
    assert_eq!(
        c.url(c.tls),
        "ws://127.0.0.1:6001/app/k?protocol=7&client=feedwire&version=0.1.0&flash=false"
    );
    c.check().unwrap();
    let c = bitskins::config_for_url("k", "wss://ws.example.com/pusher").unwrap();
    assert_eq!(&c.url(c.tls)[..43], "wss://ws.example.com:443/pusher/app/k?proto");
    assert!(bitskins::parse(["--nope".to_owned()]).is_err());
}
