//! The fuzzing entry points, run over every testdata frame and thousands of generated inputs, so their
//! invariants hold in `cargo test`.

use feedwire_doshii::fuzzing;
use proptest::prelude::*;

fn testdata() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/doshii/frames");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() > 40, "testdata frames missing");
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn testdata_frames_through_every_entry_point() {
    let frames = testdata();
    for f in &frames {
        fuzzing::decode(f);
        fuzzing::session(f);
        fuzzing::hub(f);
    }
    // and all of them as one long input
    let all: Vec<u8> = frames.concat();
    fuzzing::session(&all);
    fuzzing::hub(&all);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2500))]

    #[test]
    fn decode_chaos(data in prop::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::decode(&data);
    }

    #[test]
    fn emit_shaped_chaos(name in r#"[a-z_\\"\t ]{0,12}"#, data in r#"[\[\]{}",:0-9a-z\\ ]{0,40}"#) {
        // the exact wire shape, which the codec reads on a fast path: it must agree with the general one
        fuzzing::decode(format!(r#"{{"emit":["{name}",{data}]}}"#).as_bytes());
        fuzzing::decode(format!(r#"{{"emit":["{name}",{{"id":"{data}"}}]}}"#).as_bytes());
    }

    #[test]
    fn session_chaos(data in prop::collection::vec(any::<u8>(), 0..1024)) {
        fuzzing::session(&data);
    }

    #[test]
    fn hub_chaos(data in prop::collection::vec(any::<u8>(), 0..1024)) {
        fuzzing::hub(&data);
    }
}
