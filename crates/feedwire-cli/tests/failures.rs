//! What a user sees when `feedwire listen` cannot work (issue 17): the message on stderr (snapshots, with
//! ports and times normalised), the `error` line on stdout, the exit code, and that it comes within the time
//! a user would wait (each test waits at most [`PATIENCE`] for it; a refused port is said on the first
//! attempt, long before the first backoff ends). Servers are bound on 127.0.0.1 here: a closed port, a TCP
//! listener answering 404, a plain listener for a `wss://` dial, and `feedwire serve` as a process.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{Feedwire, closed_port, serve};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// `listen pusher` on 127.0.0.1:`port` with `extra` arguments.
fn pusher(port: u16, extra: &[&str]) -> Feedwire {
    let port = port.to_string();
    let mut args = vec![
        "listen",
        "pusher",
        "--key",
        "app-key",
        "--host",
        "127.0.0.1",
        "--port",
        port.as_str(),
    ];
    args.extend_from_slice(extra);
    Feedwire::start(&args)
}

/// A TCP listener that answers every request with `response`, in a thread, for the rest of the test.
fn http_answering(response: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.read(&mut buf);
            let _ = s.write_all(response.as_bytes());
        }
    });
    port
}

#[test]
fn a_refused_port_is_said_on_the_first_attempt_and_once() {
    let mut l = pusher(closed_port(), &["--no-tls", "--channel", "c"]);
    l.stderr_until("hint:");
    let error = l.stdout_kind("error");
    // the first attempt's own failure: said before the session scheduled its first retry
    let first_retry = l
        .out_seen
        .iter()
        .position(|s| s.contains(r#""kind":"reconnecting""#));
    let said = l.out_seen.iter().position(|s| s.contains(r#""kind":"error""#));
    assert!(first_retry.is_none_or(|r| said < Some(r)), "{:#?}", l.out_seen);
    assert_eq!(error["error_kind"], "connect");
    assert_eq!(error["io_kind"], "connection_refused");
    // the second attempt fails the same way: nothing more is said
    l.stdout_kind("reconnecting");
    std::thread::sleep(Duration::from_millis(1500));
    l.drain();
    assert!(
        l.child.try_wait().unwrap().is_none(),
        "listen gave up on a refused port"
    );
    insta::assert_snapshot!(l.stderr_text(), @r"
    connecting to ws://127.0.0.1:PORT/app/app-key
    error: could not connect to 127.0.0.1:PORT: connection refused
      hint: nothing accepts connections there: is the server running, and are the host and port right?
    ");
    let errors = l
        .out_seen
        .iter()
        .filter(|l| l.contains(r#""kind":"error""#))
        .count();
    assert_eq!(errors, 1, "{:#?}", l.out_seen);
}

#[test]
fn an_unknown_host_is_a_dns_error() {
    let mut l = Feedwire::start(&[
        "listen",
        "pusher",
        "--key",
        "k",
        "--host",
        "nowhere.invalid",
        "--no-tls",
        "--channel",
        "c",
    ]);
    l.stderr_until("hint:");
    assert_eq!(l.stdout_kind("error")["error_kind"], "dns");
    let text = l.stderr_text();
    assert!(
        text.contains("error: could not resolve nowhere.invalid"),
        "{text}"
    );
    assert!(text.contains("hint: check the host name"), "{text}");
}

#[test]
fn a_wss_dial_to_a_plain_port_suggests_no_tls() {
    let port = http_answering("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let mut l = pusher(port, &["--channel", "c"]);
    l.stderr_until("hint:");
    assert_eq!(l.stdout_kind("error")["error_kind"], "tls");
    insta::assert_snapshot!(l.stderr_text(), @r"
    connecting to wss://127.0.0.1:PORT/app/app-key
    error: could not connect to 127.0.0.1:PORT: received corrupt message of type InvalidContentType
      hint: does the server speak plain ws://? try --no-tls
    ");
}

#[test]
fn a_404_on_upgrade_says_the_status_and_what_to_check() {
    let port =
        http_answering("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nNot Found");
    let mut l = pusher(port, &["--no-tls", "--channel", "c"]);
    l.stderr_until("hint:");
    let error = l.stdout_kind("error");
    assert_eq!(
        (error["error_kind"].as_str(), error["status"].as_u64()),
        (Some("status"), Some(404))
    );
    insta::assert_snapshot!(l.stderr_text(), @r"
    connecting to ws://127.0.0.1:PORT/app/app-key
    error: the server answered HTTP 404 instead of upgrading to a WebSocket: Not Found
      hint: check --key and the host: Pusher serves /app/KEY
    ");
}

#[test]
fn a_private_channel_without_auth_is_refused_before_dialing() {
    let mut l = pusher(
        closed_port(),
        &["--no-tls", "--channel", "c", "--channel", "private-orders"],
    );
    assert_eq!(l.exit().code(), Some(2));
    assert!(
        l.out_seen.is_empty(),
        "nothing dialled, nothing printed: {:?}",
        l.out_seen
    );
    insta::assert_snapshot!(l.stderr_text(), @r"
    error: --channel private-orders needs a signature: add --auth-endpoint URL (your backend's auth endpoint), or --secret SECRET against a local server such as `feedwire serve pusher`

    Usage: feedwire listen pusher [OPTIONS] --key <KEY> --channel <CHANNELS>

    For more information, try '--help'.
    ");
}

#[test]
fn a_terminal_close_keeps_the_servers_words_and_exits_1() {
    let (_server, port) = serve("pusher");
    let mut l = Feedwire::start(&[
        "listen",
        "pusher",
        "--key",
        "wrong-key",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--no-tls",
        "--channel",
        "c",
    ]);
    assert_eq!(l.exit().code(), Some(1));
    insta::assert_snapshot!(l.stderr_text(), @r"
    connecting to ws://127.0.0.1:PORT/app/wrong-key
    error: the server ended the session for good (its close code says not to reconnect): 4001: App key wrong-key does not exist.
      hint: check --key (and --cluster or --host: a key belongs to one cluster or server)
    ");
}

/// An http:// auth endpoint on 127.0.0.1 that answers every request with 403.
fn forbidding_endpoint() -> String {
    let port = http_answering(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nForbidden",
    );
    format!("http://127.0.0.1:{port}/pusher/auth")
}

#[test]
fn every_channel_refused_by_the_auth_endpoint_ends_listen() {
    let (_server, port) = serve("pusher");
    let auth = forbidding_endpoint();
    let mut l = pusher(
        port,
        &["--no-tls", "--channel", "private-a", "--auth-endpoint", &auth],
    );
    assert_eq!(l.exit().code(), Some(1));
    insta::assert_snapshot!(l.stderr_text(), @r"
    connecting to ws://127.0.0.1:PORT/app/app-key
    error: nothing can arrive: every channel failed for good (private-a: auth endpoint answered HTTP 403: Forbidden)
      hint: the auth endpoint refused this client: does it need a cookie or token (--auth-header)?
    ");
}

#[test]
fn one_failed_channel_of_two_is_said_and_listen_goes_on() {
    let (_server, port) = serve("pusher");
    let auth = forbidding_endpoint();
    let mut l = pusher(
        port,
        &[
            "--no-tls",
            "--channel",
            "public",
            "--channel",
            "private-a",
            "--auth-endpoint",
            &auth,
        ],
    );
    l.stderr_until("failed for good");
    l.stdout_kind("subscribed");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        l.child.try_wait().unwrap().is_none(),
        "the public channel can still deliver"
    );
    insta::assert_snapshot!(l.stderr_text(), @r"
    connecting to ws://127.0.0.1:PORT/app/app-key
    error: subscription to private-a failed for good: auth endpoint answered HTTP 403: Forbidden
    ");
}

#[test]
fn an_unreachable_auth_endpoint_ends_listen_with_what_to_check() {
    let (_server, port) = serve("pusher");
    let auth = format!("http://127.0.0.1:{}/auth", closed_port());
    let mut l = pusher(
        port,
        &["--no-tls", "--channel", "presence-room", "--auth-endpoint", &auth],
    );
    assert_eq!(l.exit().code(), Some(1));
    let text = l.stderr_text();
    assert!(
        text.contains(
            "error: nothing can arrive: every channel failed for good (presence-room: auth request failed:"
        ) && text.contains("Connection refused")
            && text.contains("hint: is the auth endpoint running, and is the --auth-endpoint URL right?"),
        "{text}"
    );
}

#[test]
fn rails_rejecting_every_channel_ends_listen() {
    let (_server, port) = serve("actioncable");
    let url = format!("ws://127.0.0.1:{port}/cable");
    let mut l = Feedwire::start(&[
        "listen",
        "actioncable",
        "--url",
        &url,
        "--channel",
        "RejectMe key=SECRET-KEY",
        "--channel",
        "RejectToo",
    ]);
    assert_eq!(l.exit().code(), Some(1));
    let all = format!("{}\n{}", l.err_seen.join("\n"), l.out_seen.join("\n"));
    assert!(!all.contains("SECRET-KEY"), "a key was printed:\n{all}");
    insta::assert_snapshot!(l.stderr_text(), @r"
    connecting to ws://127.0.0.1:PORT/cable
    error: the server rejected RejectMe (it stays rejected)
      hint: check the channel's class and params
    error: nothing can arrive: the server rejected every channel (RejectMe, RejectToo)
      hint: check each channel's class and params (a key, the records it names)
    ");
}

#[test]
fn actioncable_takes_several_channels_each_with_its_params() {
    let (mut server, port) = serve("actioncable");
    let url = format!("ws://127.0.0.1:{port}/cable");
    let mut l = Feedwire::start(&[
        "listen",
        "actioncable",
        "--url",
        &url,
        "--channel",
        "ChatChannel room=lobby",
        "--channel",
        r#"{"channel":"NewsChannel","topic":"a b"}"#,
        "--param",
        "key=SECRET-KEY",
        "--count",
        "1",
    ]);
    // JSON identifiers do not take --param: refused before dialing
    assert_eq!(l.exit().code(), Some(2));
    assert!(
        l.err_seen
            .iter()
            .any(|e| e.contains("--param does not combine with a JSON --channel"))
    );
    let mut l = Feedwire::start(&[
        "listen",
        "actioncable",
        "--url",
        &url,
        "--channel",
        "ChatChannel room=lobby",
        "--channel",
        "ApiChannel",
        "--param",
        "key=SECRET-KEY",
        "--count",
        "1",
    ]);
    let confirmed: Vec<_> = l
        .stdout_n("confirmed", 2)
        .into_iter()
        .map(|v| v["identifier"].clone())
        .collect();
    // each channel has its own params, and --param went to both; the key is redacted
    assert_eq!(confirmed[0]["room"], "lobby", "{confirmed:?}");
    assert!(
        confirmed.iter().all(|i| i["key"] == "[redacted]"),
        "{confirmed:?}"
    );
    let stdin = server.child.stdin.as_mut().unwrap();
    writeln!(stdin, r#"{{"stream":"ApiChannel","message":{{"n":1}}}}"#).unwrap();
    stdin.flush().unwrap();
    assert_eq!(l.exit().code(), Some(0));
    let all = format!("{}\n{}", l.err_seen.join("\n"), l.out_seen.join("\n"));
    assert!(!all.contains("SECRET-KEY"), "a key was printed:\n{all}");
}

#[test]
fn ctrl_c_closes_gracefully_and_exits_0() {
    let (mut server, port) = serve("pusher");
    let mut l = pusher(port, &["--no-tls", "--channel", "c"]);
    l.stdout_kind("subscribed");
    l.signal("INT");
    assert_eq!(l.exit().code(), Some(0));
    assert!(
        l.err_seen.iter().any(|e| e.contains("interrupted")),
        "{:?}",
        l.err_seen
    );
    // the server saw a close frame (1000), not a dropped socket
    let gone = server.stdout_kind("disconnected");
    assert_eq!(gone["code"], 1000, "{gone}");
}

#[test]
fn serve_says_goodbye_on_sigterm_and_logs_http_calls() {
    let (mut server, port) = serve("pusher");
    let mut l = pusher(port, &["--no-tls", "--channel", "c"]);
    l.stdout_kind("subscribed");
    let mut http = TcpStream::connect(("127.0.0.1", port)).unwrap();
    http.write_all(b"GET /apps/app-id/channels?auth_key=app-key&auth_signature=s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = http.read_to_string(&mut answer);
    server.stderr_until("http GET");
    server.signal("TERM");
    assert_eq!(server.exit().code(), Some(0));
    let text = server.stderr_text();
    assert!(!text.contains("auth_signature"), "the query was logged: {text}");
    assert!(
        text.contains("http GET /apps/app-id/channels 401 in T ms"),
        "{text}"
    );
    assert!(text.contains("terminated (SIGTERM)"), "{text}");
    // the listener was told to reconnect now (4200) with a close frame
    let closed = l.stdout_kind("closed");
    assert_eq!(
        (closed["code"].as_u64(), closed["action"].as_str()),
        (Some(4200), Some("immediate"))
    );
}

#[test]
fn verbose_shows_the_libraries_tracing() {
    let mut l = pusher(closed_port(), &["-v", "--no-tls", "--channel", "c"]);
    l.stderr_until("hint:");
    l.drain();
    let text = l.stderr_text();
    assert!(
        text.contains("DEBUG") && text.contains("feedwire_tungstenite"),
        "{text}"
    );
}

#[test]
fn serve_names_the_flag_when_it_refuses_a_client_event() {
    use feedwire_tungstenite::tungstenite::{Message, connect};
    let (mut server, port) = serve("pusher");
    let (mut ws, _) = connect(format!("ws://127.0.0.1:{port}/app/app-key?protocol=7")).unwrap();
    ws.send(Message::text(
        r#"{"event":"client-typing","channel":"private-a","data":{}}"#,
    ))
    .unwrap();
    server.stderr_until("--client-events");
    let refused = server.stdout_kind("client_event_rejected");
    assert!(
        refused["hint"].as_str().unwrap().contains("--client-events"),
        "{refused}"
    );
    let text = server.stderr_text();
    assert!(
        text.contains("error: client event rejected: client events are off: restart with `feedwire serve pusher --client-events`"),
        "{text}"
    );
}

/// A one-connection ActionCable server that welcomes the client, then disconnects it as Rails'
/// `reject_unauthorized_connection` does (`reconnect: false`).
fn rails_refusing_the_connection() -> u16 {
    use feedwire_tungstenite::tungstenite::handshake::server::{Request, Response};
    use feedwire_tungstenite::tungstenite::{Message, accept_hdr};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((s, _)) = l.accept() else { return };
        // tungstenite's callback type returns its whole error response by value
        #[allow(clippy::result_large_err)]
        let agree = |_: &Request, mut resp: Response| {
            resp.headers_mut()
                .insert("Sec-WebSocket-Protocol", "actioncable-v1-json".parse().unwrap());
            Ok(resp)
        };
        let Ok(mut ws) = accept_hdr(s, agree) else { return };
        let _ = ws.send(Message::text(r#"{"type":"welcome"}"#));
        let _ = ws.send(Message::text(
            r#"{"type":"disconnect","reason":"unauthorized","reconnect":false}"#,
        ));
        let _ = ws.close(None);
        while ws.read().is_ok() {}
    });
    port
}

#[test]
fn rails_refusing_the_connection_is_said_in_words_not_debug_text() {
    let port = rails_refusing_the_connection();
    let url = format!("ws://127.0.0.1:{port}/cable");
    let mut l = Feedwire::start(&["listen", "actioncable", "--url", &url, "--channel", "ApiChannel"]);
    assert_eq!(l.exit().code(), Some(1));
    let text = l.stderr_text();
    assert!(
        !text.contains("ServerDisconnect") && !text.contains("Some("),
        "{text}"
    );
    insta::assert_snapshot!(text, @r"
    connecting to ws://127.0.0.1:PORT/cable
    error: the server disconnected this client (unauthorized) and asked not to reconnect
      hint: Rails refused the connection (reject_unauthorized_connection): check the credentials it wants (cookies, --header, the identifier's key)
    ");
}
