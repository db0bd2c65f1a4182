//! The TLS client settings the CLI shares: `wss://` with `--ca-file`, the auth endpoint's `https://`
//! (through the library's `HttpAuthorizer`), `serve pusher`'s webhook POSTs.

use std::path::Path;
use std::sync::Arc;

use feedwire_tungstenite::rustls::pki_types::CertificateDer;
use feedwire_tungstenite::rustls::pki_types::pem::PemObject;
use feedwire_tungstenite::rustls::{self, RootCertStore};

/// The TLS client settings for `https://` endpoints (and, with `--ca-file`, `wss://`): the webpki roots,
/// plus every certificate in the PEM file `ca_file` (a private CA).
pub fn config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut added = 0;
        for cert in certs {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("{}: no PEM certificate in it", path.display()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
