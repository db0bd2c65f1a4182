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

/// `serve --tls-cert FILE --tls-key FILE`: the server speaks https and wss only, with the certificate chain
/// (PEM, leaf first) and its private key (PEM: PKCS#8, PKCS#1 or SEC1).
#[derive(clap::Args, Clone, Default)]
pub struct ServeTls {
    /// Serve https:// and wss:// only, with this certificate chain (PEM, the server's certificate first).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

impl ServeTls {
    /// The rustls server settings, when both files were given; a message naming the file that is wrong.
    pub fn server_config(&self) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
        use feedwire_tungstenite::rustls::pki_types::PrivateKeyDer;
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!("--tls-cert {}: no PEM certificate in it", cert.display()));
        }
        let key_der =
            PrivateKeyDer::from_pem_file(key).map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?;
        Ok(Some(Arc::new(config)))
    }

    /// `ws`/`http`, or `wss`/`https` with TLS.
    pub fn schemes(&self) -> (&'static str, &'static str) {
        if self.tls_cert.is_some() {
            ("wss", "https")
        } else {
            ("ws", "http")
        }
    }
}
