//! Rails ActionCable (and AnyCable extensions) for feedwire: sans-IO codec, client session and server hub.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
