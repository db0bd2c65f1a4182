//! Shared helpers for the feedwire benches.
#![forbid(unsafe_code)]
