#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = feedwire_pusher::fuzzing::hub(data);
});
