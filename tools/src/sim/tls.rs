//! The simulator's TLS identity: a fresh self-signed certificate (not a CA) for `localhost`
//! and `127.0.0.1`, made at start-up. Clients trust it by adding its PEM as a root.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::SimError;

/// The server configuration and the certificate's PEM.
pub fn identity() -> Result<(Arc<ServerConfig>, String), SimError> {
    let key = rcgen::generate_simple_self_signed(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(|_| SimError::Certificate)?;
    let pem = key.cert.pem();
    let cert: CertificateDer<'static> = key.cert.der().clone();
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| SimError::TlsConfig)?
        .with_no_client_auth()
        .with_single_cert(vec![cert], private)
        .map_err(|_| SimError::TlsConfig)?;
    Ok((Arc::new(config), pem))
}
