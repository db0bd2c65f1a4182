//! Igratech AsyncAPI betting feed for feedwire: sans-IO codec, client session and mock hub.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
