#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| feedwire_igratech::fuzzing::session(data));
