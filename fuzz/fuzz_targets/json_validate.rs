#![no_main]
//! feedwire-core's JSON validator against serde_json on any UTF-8 text: the same verdict and the same value.
use serde_json::value::RawValue;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = feedwire_core::json::validate_raw_value(text).map(RawValue::get);
    let theirs = serde_json::from_str::<&RawValue>(text).map(RawValue::get);
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => assert!(a == b && a.as_ptr() == b.as_ptr(), "{text:?}: {a:?} vs {b:?}"),
        (Err(e), Err(_)) => assert!(e.at <= text.len(), "{text:?}: {e}"),
        _ => panic!("{text:?}: feedwire {ours:?}, serde_json {theirs:?}"),
    }
});
