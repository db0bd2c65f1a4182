#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| feedwire_pusher::fuzzing::authorizer(data));
