//! Pusher Channels protocol 7 for feedwire: sans-IO codec, client session, server hub and auth signatures.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
