//! Inputs the fuzzers found, kept as regression tests.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::time::Instant;

use feedwire_core::{ConnId, Hub as _, HubTransmit, Limits, OpenRequest};
use feedwire_doshii::fuzzing;
use feedwire_doshii::server::{Hub, HubConfig};

/// `doshii_hub`, minimized with `cargo fuzz tmin` (119 bytes): sixteen connections refused at open
/// (`auth=%%%`) without the driver polling. Each refusal queues one close, which is never dropped (the
/// driver must close that socket), so the transmit queue legitimately grows past `max_queued` by one entry per
/// connection being closed. The harness's bound did not count refused connections; it now counts every close
/// not yet polled.
#[test]
fn refused_connections_each_hold_one_close_in_the_queue() {
    let mut input = vec![123u8, 34, 255];
    input.extend([4u8; 108]);
    input.extend([255u8, 255, 255, 255, 105, 110, 101, 34]);
    assert_eq!(input.len(), 119);
    fuzzing::hub(&input);

    // the property itself, directly: closes are kept, one per refused connection, and nothing else grows
    let now = Instant::now();
    let mut hub = Hub::new(HubConfig::default().with_limits(Limits::default().with_max_queued(4)));
    for c in 0..100 {
        hub.handle_open(now, ConnId(c), &OpenRequest::new("/app/socket?auth=%%%"));
    }
    assert_eq!(hub.queue_stats().queued_transmits, 100);
    let mut closed = Vec::new();
    while let Some((conn, t)) = hub.poll_transmit() {
        assert!(matches!(t, HubTransmit::Close(_)), "{t:?}");
        closed.push(conn.0);
    }
    assert_eq!(closed, (0..100).collect::<Vec<u64>>());
    assert_eq!(hub.connections().count(), 0);
}
