//! Optional diagnostics through `tracing` (feature `tracing`); nothing is printed without it.

/// Records why a transport failed, at debug level.
#[cfg(feature = "tracing")]
pub(crate) fn debug(error: &crate::TransportError) {
    tracing::debug!(%error, "feedwire transport failed; reported to the session as a close without frame");
}

/// Without feature `tracing`: nothing.
#[cfg(not(feature = "tracing"))]
#[inline]
pub(crate) fn debug(_: &crate::TransportError) {}
