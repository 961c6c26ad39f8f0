//! TLS client settings shared by every connection: the built-in web roots plus an
//! optional PEM bundle of extra CAs, with the ring crypto provider.

use super::error::Cause;
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("tls.ca_file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("proxy service client: {0}")]
    Client(super::Cause),
}

/// Client configurations: one for HTTP (ALPN h2 + http/1.1), one for raw streams.
#[derive(Clone)]
pub struct TlsConfigs {
    pub http: ClientConfig,
    pub stream: Arc<ClientConfig>,
}

pub fn build(ca_file: Option<&Path>) -> Result<TlsConfigs, TlsSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let err = |reason: String| TlsSetupError::CaFile {
            path: path.display().to_string(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| err(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(e.to_string()))?;
        if certs.is_empty() {
            return Err(err("no certificates found".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| err(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let stream = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = stream.clone();
    http.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsConfigs {
        http,
        stream: Arc::new(stream),
    })
}

pub fn server_name(host: &str) -> Result<ServerName<'static>, Cause> {
    ServerName::try_from(host.to_owned()).map_err(|e| Cause::Url(format!("{host}: {e}")))
}
