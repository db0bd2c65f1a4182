//! The hub's fuzz driver under proptest: thousands of random runs of connections, frames, closes, publishes
//! and time, with every hub invariant checked after each step (see `fuzzing::hub`).
#![cfg(feature = "fuzzing")]

use feedwire_core::testing::chaos;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
    #[test]
    fn hub_invariants_hold_under_chaos(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        feedwire_pusher::fuzzing::hub(&data);
    }
}

#[test]
fn the_driver_reaches_deep_states_from_random_bytes() {
    // Deterministic pseudo-random programs: the driver must open connections and subscribe, or the chaos
    // test above would only be testing the early returns.
    let mut rng = chaos::xorshift(0x2545_f491_4f6c_dd1d);
    let mut deep = 0;
    for _ in 0..200 {
        let data = chaos::bytes(&mut rng, 1024);
        let run = feedwire_pusher::fuzzing::hub(&data);
        assert!(run.steps > 100, "{run:?}");
        if run.max_connections >= 2 && run.max_subscriptions >= 2 {
            deep += 1;
        }
    }
    assert!(
        deep >= 100,
        "only {deep} of 200 random runs had 2 connections and 2 subscriptions"
    );
}
