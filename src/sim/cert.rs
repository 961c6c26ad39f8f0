//! A throwaway certificate authority for local venues: a CA plus a server certificate for
//! `localhost` and `127.0.0.1`, as PEM files a client (`tls.ca_file`) or a TLS-terminating
//! proxy can use, and a rustls server configuration.

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("generating the test certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("server TLS setup: {0}")]
    Tls(String),
}

/// Paths of the generated PEM files.
#[derive(Debug, Clone)]
pub struct TestCa {
    pub ca_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

impl TestCa {
    /// Generates a CA and a `localhost`/`127.0.0.1` server certificate into `dir`.
    pub fn generate(dir: &Path) -> Result<Self, CertError> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "feedhandler local test CA");
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate()?;
        let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;

        let ca = Self {
            ca_pem: dir.join("ca.pem"),
            cert_pem: dir.join("cert.pem"),
            key_pem: dir.join("key.pem"),
        };
        for (path, text) in [
            (&ca.ca_pem, ca_cert.pem()),
            (&ca.cert_pem, leaf.pem()),
            (&ca.key_pem, leaf_key.serialize_pem()),
        ] {
            std::fs::write(path, text).map_err(|source| CertError::Write {
                path: path.clone(),
                source,
            })?;
        }
        Ok(ca)
    }

    /// A rustls server configuration presenting the `localhost` certificate.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, CertError> {
        let tls = |e: &dyn std::fmt::Display| CertError::Tls(e.to_string());
        let chain = CertificateDer::pem_file_iter(&self.cert_pem)
            .map_err(|e| tls(&e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tls(&e))?;
        let key = PrivateKeyDer::from_pem_file(&self.key_pem).map_err(|e| tls(&e))?;
        let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls(&e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| tls(&e))?;
        Ok(Arc::new(config))
    }
}
