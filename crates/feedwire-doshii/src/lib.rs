//! Doshii WebSocket for feedwire: sans-IO codec, client session and mock hub.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
