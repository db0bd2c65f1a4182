//! The borrowed first phase of decoding: one envelope split into its fields, nothing inside `data` looked at.

use std::borrow::Cow;
use std::fmt;

use bytestring::ByteString;
use feedwire_core::Frame;
use feedwire_core::json::{JsonStr, JsonSyntaxError, Scanner, raw_value};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::value::RawValue;

use super::error::DecodeError;

/// The borrowed first phase of decoding: one envelope, nothing inside `data` looked at.
///
/// ```
/// use feedwire_pusher::codec::Envelope;
/// let env = Envelope::parse(r#"{"event":"listed","channel":"inventory_changes","data":"{\"id\":1}"}"#).unwrap();
/// assert_eq!(env.event, "listed");
/// assert_eq!(env.data.unwrap().get(), r#""{\"id\":1}""#);
/// ```
#[derive(Debug, Deserialize)]
#[non_exhaustive]
pub struct Envelope<'a> {
    /// The event name.
    #[serde(borrow)]
    pub event: Cow<'a, str>,
    /// The channel, when there is one (`null` counts as none).
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub channel: Option<Cow<'a, str>>,
    /// The raw payload, when there is one.
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
    /// The raw `user_id` (client events on presence channels), when there is one.
    #[serde(borrow, default)]
    pub user_id: Option<&'a RawValue>,
}

/// `Option<Cow<str>>` that borrows (serde borrows a `Cow` only when it is the field itself, not inside `Option`).
fn opt_cow<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct W<'a>(#[serde(borrow)] Cow<'a, str>);
    Option::<W<'a>>::deserialize(d).map(|o| o.map(|w| w.0))
}

impl<'a> Envelope<'a> {
    /// Parses the envelope of `text`; fails when it is not an object with a string `event`.
    ///
    /// Exactly as strict as serde_json deserializing the envelope: frames of the ordinary shape (plain keys
    /// and names, each field once) are validated and split in one pass of core's envelope scanner
    /// ([`feedwire_core::json::Scanner`]); any other text, valid or not, goes to serde_json, so results and
    /// error messages are serde_json's own.
    ///
    /// ```
    /// use feedwire_pusher::codec::Envelope;
    /// let env = Envelope::parse(r#"{"event":"e","channel":null,"data":[1,{"a":"\u00e9"}]}"#).unwrap();
    /// assert_eq!((&*env.event, env.channel, env.data.unwrap().get()), ("e", None, r#"[1,{"a":"\u00e9"}]"#));
    /// let err = Envelope::parse(r#"{"event":"e","data":[1,]}"#).unwrap_err();
    /// assert_eq!(err.to_string(), "not a Pusher envelope: expected value at line 1 column 24");
    /// ```
    pub fn parse(text: &'a str) -> Result<Envelope<'a>, DecodeError> {
        if let Some(env) = scan(text) {
            return Ok(env);
        }
        Self::parse_serde(text)
    }

    /// The reference decoder: serde_json and the derived `Deserialize`.
    fn parse_serde(text: &'a str) -> Result<Envelope<'a>, DecodeError> {
        serde_json::from_str(text).map_err(|e| DecodeError::Envelope {
            reason: e.to_string(),
        })
    }
}

/// The scanner gave up: serde_json decides.
struct Bail;

impl From<JsonSyntaxError> for Bail {
    fn from(_: JsonSyntaxError) -> Self {
        Bail
    }
}

/// The text inside a string literal that holds no escape (`None` for anything else: serde_json then decodes
/// escapes, and refuses what it refuses, such as a lone surrogate).
#[inline]
fn plain(literal: &str) -> Option<&str> {
    let s = JsonStr::from_literal(literal)?;
    if s.is_plain() {
        literal.get(1..literal.len() - 1)
    } else {
        None
    }
}

/// The envelope in one pass of core's [`Scanner`], or `None` when serde_json must decide: a key or a name
/// with escapes (serde_json unescapes them, and refuses lone surrogates), a field twice, `event` missing or not
/// a string, `channel` neither a string nor `null`, or any syntax error. What it accepts, serde_json accepts
/// with the very same [`Envelope`] (the tests hold the two to that, on every testdata frame, its prefixes and
/// deletions, and generated text). Payloads of any depth are accepted, as serde_json skips them.
fn scan(text: &str) -> Option<Envelope<'_>> {
    let mut event: Option<&str> = None;
    let mut channel: Option<Option<&str>> = None;
    let mut data: Option<Option<&RawValue>> = None;
    let mut user_id: Option<Option<&RawValue>> = None;
    let mut sc = Scanner::new(text, usize::MAX);
    sc.members::<Bail>(0, |key, value| {
        // one look for escapes per key; an escaped key is serde_json's to decode (and maybe refuse)
        match plain(key).ok_or(Bail)? {
            "event" => {
                let name = plain(value).ok_or(Bail)?;
                if event.replace(name).is_some() {
                    return Err(Bail);
                }
            }
            "channel" => {
                let name = if value == "null" {
                    None
                } else {
                    Some(plain(value).ok_or(Bail)?)
                };
                if channel.replace(name).is_some() {
                    return Err(Bail);
                }
            }
            field @ ("data" | "user_id") => {
                let raw = if value == "null" {
                    None
                } else {
                    Some(raw_value(value).map_err(|_| Bail)?)
                };
                let slot = if field == "data" { &mut data } else { &mut user_id };
                if slot.replace(raw).is_some() {
                    return Err(Bail);
                }
            }
            _ => {}
        }
        Ok(())
    })
    .ok()?;
    sc.finish().ok()?;
    Some(Envelope {
        event: Cow::Borrowed(event?),
        channel: channel.flatten().map(Cow::Borrowed),
        data: data.flatten(),
        user_id: user_id.flatten(),
    })
}

/// Shares `s` out of `frame` when it points into it, copies otherwise (a name that held escapes).
pub(crate) fn share(frame: &Frame, s: &str) -> ByteString {
    frame.slice_ref(s).into_byte_string()
}

/// A `user_id` that may be a JSON string or number, normalised to a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub String);

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = UserId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a user id (string or number)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UserId, E> {
                Ok(UserId(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<UserId, E> {
                Ok(UserId(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<UserId, E> {
                Ok(UserId(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<UserId, E> {
                Ok(UserId(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Deserializes a payload that may be string-encoded JSON or plain JSON.
pub(crate) fn parse_data<T: de::DeserializeOwned>(raw: &str) -> Result<T, serde_json::Error> {
    if raw.starts_with('"') {
        let inner: Cow<'_, str> = serde_json::from_str::<Cow<'_, str>>(raw)?;
        serde_json::from_str(&inner)
    } else {
        serde_json::from_str(raw)
    }
}

/// The raw `data` of protocol event `event`, which needs one.
pub(crate) fn need<'e>(event: &str, data: Option<&'e RawValue>) -> Result<&'e str, DecodeError> {
    data.map(RawValue::get)
        .ok_or_else(|| DecodeError::data(event, "data is missing"))
}

/// Starts an encoded envelope: `{"event":"<event>"`.
pub(crate) fn head(out: &mut String, event: &str) {
    out.push_str("{\"event\":");
    feedwire_core::json::write_string(out, event);
}

/// The `user_id` of an envelope, normalised to a string (`None` when it is neither a string nor a number).
pub(crate) fn user_id_text(raw: &RawValue) -> Option<ByteString> {
    serde_json::from_str::<UserId>(raw.get())
        .ok()
        .map(|u| ByteString::from(u.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fmt;

    /// What an envelope decodes to, with whether each text is borrowed from (a pointer into) `text`.
    fn view<'a>(text: &'a str, e: &Envelope<'a>) -> impl PartialEq + fmt::Debug + use<'a> {
        let inside = |s: &str| {
            let (w, p) = (text.as_ptr() as usize, s.as_ptr() as usize);
            p >= w && p + s.len() <= w + text.len()
        };
        let cow = |c: &Cow<'a, str>| (c.to_string(), matches!(c, Cow::Borrowed(_)));
        let raw = |r: &&'a RawValue| (r.get().to_owned(), inside(r.get()), r.get().as_ptr() as usize);
        (
            cow(&e.event),
            e.channel.as_ref().map(cow),
            e.data.as_ref().map(raw),
            e.user_id.as_ref().map(raw),
        )
    }

    /// The fast scanner never accepts what serde_json refuses, and accepts with the very same result.
    fn agrees(text: &str) -> Result<bool, TestCaseError> {
        let serde = Envelope::parse_serde(text);
        match scan(text) {
            Some(env) => {
                let Ok(reference) = &serde else {
                    return Err(TestCaseError::fail(format!(
                        "fast path accepted {text:?}; serde: {serde:?}"
                    )));
                };
                prop_assert_eq!(view(text, &env), view(text, reference), "{:?}", text);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn frames() -> Vec<String> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/frames");
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        out.sort();
        assert!(out.len() > 40);
        out
    }

    #[test]
    fn the_fast_path_takes_ordinary_frames_and_agrees_on_every_testdata_frame() {
        let listed = include_str!("../../testdata/frames/server_bitskins_listed.json");
        assert!(scan(listed).is_some(), "the hot frame must take the scanner path");
        let mut fast = 0;
        for f in frames() {
            fast += usize::from(agrees(&f).unwrap());
            // every prefix and every single-byte deletion of a real frame
            for cut in (0..f.len()).filter(|&i| f.is_char_boundary(i)) {
                agrees(&f[..cut]).unwrap();
                let next = f[cut..].chars().next().map_or(0, char::len_utf8);
                agrees(&format!("{}{}", &f[..cut], &f[cut + next..])).unwrap();
            }
        }
        assert!(fast > 40, "only {fast} frames took the fast path");
    }

    #[test]
    fn edge_cases_agree() {
        let cases = [
            r#"{"event":"e"}"#,
            r#" {"event":"e"} "#,
            "\t{\n\"event\"\r:\"e\" }\n",
            r#"{"event":"e"}x"#,
            r#"{"event":"e",}"#,
            r#"{"event":"e","event":"f"}"#,
            r#"{"event":"e","data":null,"data":1}"#,
            r#"{"event":"e","channel":null}"#,
            r#"{"event":"e","channel":nul}"#,
            r#"{"event":"e","channel":1}"#,
            r#"{"event":"e","data":null}"#,
            r#"{"event":"e","data":nullx}"#,
            r#"{"event":"e","data":-0.5e+10}"#,
            r#"{"event":"e","data":01}"#,
            r#"{"event":"e","data":-}"#,
            r#"{"event":"e","data":1.}"#,
            r#"{"event":"e","data":1e}"#,
            r#"{"event":"e","data":[1,]}"#,
            r#"{"event":"e","data":[1 , [ ] ,{ } ,{"a" : [true,false,null]}]}"#,
            r#"{"event":"e","data":{"a":1,}}"#,
            r#"{"event":"e","data":"\u12"}"#,
            r#"{"event":"e","data":"\ud800"}"#,
            r#"{"event":"e","data":"\q"}"#,
            "{\"event\":\"e\",\"data\":\"a\u{1}b\"}",
            "{\"event\":\"e\",\"data\":\"a\u{7f}é\"}",
            r#"{"event":"\u0065"}"#,
            r#"{"ev\u0065nt":"e"}"#,
            r#"{"event":"e","x\"y":1}"#,
            r#"{"event":"e","user_id":12,"user_id":null}"#,
            r#"["e"]"#,
            r#"{}"#,
            r#"{"channel":"c"}"#,
            "",
            "{",
        ];
        for c in cases {
            agrees(c).unwrap();
        }
        let deep = format!(
            r#"{{"event":"e","data":{}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        agrees(&deep).unwrap();
        let deep = format!(r#"{{"event":"e","data":{}1{}}}"#, "[".repeat(64), "]".repeat(64));
        assert!(agrees(&deep).unwrap());
        // serde_json skips a payload of any depth (its 128 limit is for typed values), and so does the scanner
        let deep = format!(
            r#"{{"event":"e","data":{}1{}}}"#,
            "[".repeat(300),
            "]".repeat(300)
        );
        assert!(agrees(&deep).unwrap());
    }

    /// JSON-ish text: mostly well-formed envelopes with random values, whitespace and small corruptions.
    fn json_value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?",
            r#""([a-z \u{e9}]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4}){0,8}""#,
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("[a-z_]{0,8}", inner), 0..4).prop_map(|v| {
                    let m: Vec<String> = v.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", m.join(","))
                }),
            ]
        })
    }

    fn envelope_text() -> impl Strategy<Value = String> {
        let member = prop_oneof![
            "[a-z:_-]{0,12}".prop_map(|e| format!("\"event\":\"{e}\"")),
            "[a-z_-]{0,12}".prop_map(|c| format!("\"channel\":\"{c}\"")),
            Just("\"channel\":null".to_owned()),
            json_value().prop_map(|v| format!("\"data\":{v}")),
            json_value().prop_map(|v| format!("\"user_id\":{v}")),
            ("[a-z_]{1,8}", json_value()).prop_map(|(k, v)| format!("\"{k}\":{v}")),
        ];
        (
            prop::collection::vec(member, 1..6),
            prop::sample::select(vec!["", " ", "\n", "\t "]),
        )
            .prop_map(|(m, w)| format!("{w}{{{w}{}{w}}}{w}", m.join(&format!("{w},{w}"))))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn fast_path_agrees_with_serde(s in envelope_text()) {
            agrees(&s)?;
        }

        #[test]
        fn fast_path_agrees_on_corrupted_text(s in envelope_text(), at in any::<prop::sample::Index>(), with in r#"[\\"{}\[\],:0-9a-z \u{1}.eE+-]"#, delete in any::<bool>()) {
            let mut b: Vec<char> = s.chars().collect();
            let i = at.index(b.len() + 1);
            if delete && i < b.len() {
                b.remove(i);
            } else {
                b.splice(i..i, with.chars());
            }
            agrees(&b.into_iter().collect::<String>())?;
        }

        #[test]
        fn well_formed_envelopes_with_one_event_take_the_fast_path(
            e in "[a-z:_-]{0,12}", c in "[a-z_-]{1,12}", d in json_value(), u in json_value()
        ) {
            let s = format!(r#"{{"event":"{e}","channel":"{c}","data":{d},"user_id":{u},"x":{d}}}"#);
            prop_assert!(agrees(&s)?, "{}", s);
        }
    }
}
