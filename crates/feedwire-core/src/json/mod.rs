//! The JSON toolbox every feedwire codec uses: one validator, one envelope scanner, one string literal type,
//! one string writer, and the zero-copy payload types.
//!
//! - [`RawJson`] and [`StringOrJson`]: validated JSON kept as its exact text, a zero-copy slice of the frame
//!   it arrived in; parsed on demand.
//! - [`validate_raw_value`]: text to a borrowed `&RawValue`, with serde_json's verdicts and no allocation.
//! - [`Scanner`]: walks an envelope's members or elements, handing out their exact text, for decoders
//!   that must not allocate; [`key_is`] compares a key literal with a name.
//! - [`JsonStr`]: a string literal as received, compared ([`JsonStr::eq_str`]) and decoded
//!   ([`JsonStr::to_cow`]) without allocating.
//! - [`write_string`]: the one string writer of the encoders (serde_json's escapes, byte for byte).
//!
//! The lower-level pieces ([`scan_json_value`], [`scan_json_string`], [`borrowed_raw_value`]) are public for
//! the codecs of this workspace but hidden from the docs: `borrowed_raw_value` leans on a serde_json internal
//! (guarded by a test), and the raw scanners' offsets are easy to misuse. Build on the items above.

mod raw;
mod scan;
mod string;
mod validate;

pub use raw::{RawJson, RawJsonError, StringOrJson};
pub use scan::{Scanner, raw_value};
pub use string::{JsonStr, key_is, to_string_literal, write_string};
pub use validate::{JsonSyntaxError, validate_raw_value};

#[doc(hidden)]
pub use raw::borrowed_raw_value;
#[doc(hidden)]
pub use validate::{scan_json_string, scan_json_value};
