//! Every frame in `testdata/frames` decodes to the snapshotted message, and re-encodes to an equal one.

use feedwire_core::Frame;
use feedwire_doshii::codec::{self, ServerMessage};

#[test]
fn testdata_frames() {
    insta::glob!("../testdata/frames", "*.json", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let frame = Frame::from(text);
        let decoded = ServerMessage::decode(&frame);
        if let Ok(msg) = &decoded {
            assert_eq!(ServerMessage::decode(&msg.encode()).as_ref(), Ok(msg), "{path:?}");
        }
        // the decode, and for events the common fields read through the typed accessors
        let common = match &decoded {
            Ok(ServerMessage::Event(e)) => Some(e.data.common().map_err(|e| e.to_string())),
            _ => None,
        };
        insta::assert_debug_snapshot!((&decoded, common));
    });
}

#[test]
fn sdk_mock_frames_are_events_in_the_emit_shape() {
    insta::glob!("../testdata/frames", "sdk_mock_emit_*.json", |path| {
        let frame = Frame::from(std::fs::read_to_string(path).unwrap());
        let Ok(ServerMessage::Event(e)) = ServerMessage::decode(&frame) else {
            panic!("{path:?}")
        };
        assert_eq!(e.shape, codec::EventShape::Emit);
        assert_eq!(e.data.as_str(), "{}");
        let name = path
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_start_matches("sdk_mock_emit_");
        assert_eq!(e.name(), name);
        // every name but the SDK's typo is a known kind
        assert_eq!(
            matches!(e.kind, codec::EventKind::Other(_)),
            name == "ckeckin_updated",
            "{name}"
        );
    });
}
