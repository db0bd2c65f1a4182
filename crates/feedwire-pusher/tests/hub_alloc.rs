//! Allocation budget of the hub's fan-out (its own test binary: a counting global allocator).
//! One publish to N subscribers encodes one frame, and draining the N transmits allocates nothing per
//! subscriber: the count must not grow with N.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Instant;

use feedwire_core::{Hub as _, RawJson};
use feedwire_pusher::server::{Hub, HubConfig};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

fn hub_with(subscribers: u64) -> Hub {
    common::hub_with_subscribers(Instant::now(), HubConfig::default(), subscribers)
}

/// Allocations of one publish plus draining every transmit (after one warm-up publish that sizes the queue).
fn publish_allocations(subscribers: u64) -> (usize, usize) {
    let mut hub = hub_with(subscribers);
    let data = RawJson::from_json_str(r#""{\"asset_id\":\"29418923512\",\"price\":12.5}""#).unwrap();
    let warm = hub
        .publish(&["inventory_changes"], "listed", &data, None)
        .unwrap();
    while hub.poll_transmit().is_some() {}
    assert_eq!(warm as u64, subscribers);
    let region = Region::new(GLOBAL);
    let n = hub
        .publish(&["inventory_changes"], "listed", &data, None)
        .unwrap();
    let mut drained = 0;
    while let Some(t) = hub.poll_transmit() {
        drained += 1;
        drop(t);
    }
    let allocs = region.change().allocations;
    assert_eq!((n, drained), (subscribers as usize, subscribers as usize));
    (allocs, drained)
}

#[test]
fn one_encode_per_publish_and_nothing_per_subscriber() {
    let (small, _) = publish_allocations(10);
    let (large, drained) = publish_allocations(10_000);
    assert_eq!(drained, 10_000);
    assert_eq!(
        small, large,
        "allocations must not grow with the subscriber count ({small} for 10, {large} for 10,000)"
    );
    assert!(
        large <= 2,
        "one publish allocates {large} times (budget: the one encoded frame)"
    );
}
