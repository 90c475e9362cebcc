//! A self-signed, non-CA certificate for `localhost` and `127.0.0.1` (rcgen), trusted by the
//! client through `ConnectionConfig::trust_root_der`.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A test server identity.
pub struct TestCert {
    /// The certificate (DER); give it to the client as an extra root.
    pub cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl TestCert {
    /// Generates a fresh certificate for `localhost` and `127.0.0.1`.
    pub fn generate() -> TestCert {
        let ck = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .expect("rcgen");
        TestCert {
            cert_der: ck.cert.der().to_vec(),
            key_der: ck.signing_key.serialize_der(),
        }
    }

    /// A self-signed certificate for `names`, valid from `not_before` to `not_after`
    /// (year, month, day), to make the client reject it for a named cause (expired, not yet
    /// valid, wrong name).
    pub fn with(names: &[&str], not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> TestCert {
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .expect("params");
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed");
        TestCert {
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        }
    }

    /// A rustls server configuration presenting this certificate.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(self.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
        )
        .expect("server cert");
        Arc::new(cfg)
    }
}
