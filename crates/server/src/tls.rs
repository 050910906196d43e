//! HTTPS: browsers give web pages the camera only on https (or localhost), so a phone on the
//! same network needs TLS. Either a certificate and key from files, or a self-signed
//! certificate made once and kept in the data directory (for trying it out).

use crate::config::Config;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// The address of the client of a request (the TCP peer), for rate limits and logs, over
/// TCP or TLS. Every request carries it as `ConnectInfo<ClientAddr>`.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("cannot make a self-signed certificate: {0}")]
    SelfSigned(String),
    #[error("the certificate and key do not work together: {0}")]
    Config(String),
}

/// The server's TLS configuration, if the config asks for TLS.
pub fn server_config(config: &Config) -> Result<Option<Arc<rustls::ServerConfig>>, TlsError> {
    let (certs, key) = match (
        &config.network.tls_cert,
        &config.network.tls_key,
        config.network.tls_self_signed,
    ) {
        (Some(cert), Some(key), _) => (read_certs(cert)?, read_key(key)?),
        (_, _, true) => self_signed(config)?,
        _ => return Ok(None),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(tls)))
}

fn read_error(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| read_error(path, e))?
        .collect();
    let certs = certs.map_err(|e| read_error(path, e))?;
    if certs.is_empty() {
        return Err(read_error(path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| read_error(path, e))
}

/// A self-signed certificate for localhost, the listen address and the public URL's host,
/// made on first use and kept under `<data_dir>/tls/` so browsers' exceptions keep working.
fn self_signed(
    config: &Config,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let dir = config.operations.data_dir.join("tls");
    let cert_path = dir.join("self-signed.crt");
    let key_path = dir.join("self-signed.key");
    if cert_path.exists() && key_path.exists() {
        return Ok((read_certs(&cert_path)?, read_key(&key_path)?));
    }
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    if !config.network.listen.ip().is_unspecified() {
        names.push(config.network.listen.ip().to_string());
    }
    if let Some(host) = config
        .network
        .public_url
        .as_deref()
        .and_then(|u| u.split("://").nth(1))
        .and_then(|rest| rest.split(['/', ':']).next())
        .filter(|h| !h.is_empty())
    {
        names.push(host.to_owned());
    }
    names.dedup();
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
    // Private like the data directory it sits in: it holds the key.
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
    folder.create(&dir).map_err(|e| read_error(&dir, e))?;
    std::fs::write(&cert_path, made.cert.pem()).map_err(|e| read_error(&cert_path, e))?;
    write_private(&key_path, made.signing_key.serialize_pem().as_bytes())
        .map_err(|e| read_error(&key_path, e))?;
    tracing::warn!(path = %cert_path.display(), "made a self-signed certificate: browsers will warn about it; use --tls-cert/--tls-key in production");
    Ok((read_certs(&cert_path)?, read_key(&key_path)?))
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(data)
}
