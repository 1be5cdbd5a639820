//! TLS for links, with rustls (the `ring` provider). The cookie handshake runs inside
//! the TLS session, so a node must both hold a trusted certificate and know the cookie.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};

use super::link::Io;
use super::untrusted::{untrusted, untrusted_text};
use crate::error::Error;

/// TLS settings of a node: how it serves incoming links and how it dials.
///
/// Build it from PEM (a certificate chain and key for this node, the CA that signs
/// peers' certificates) with [`TlsConfig::from_pem`], or from rustls configurations
/// with [`TlsConfig::new`] for anything else.
///
/// ```no_run
/// # fn main() -> Result<(), ackor::Error> {
/// let cert = std::fs::read("node.pem").unwrap_or_default();
/// let key = std::fs::read("node.key").unwrap_or_default();
/// let ca = std::fs::read("ca.pem").unwrap_or_default();
/// let tls = ackor::TlsConfig::from_pem(&cert, &key, &ca, true)?; // mutual TLS
/// let remote = ackor::RemoteConfig::new("cookie").tls(tls);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

/// The *ring* provider. rustls 0.23.48 deprecated it because it has no post-quantum
/// key exchange (only its aws-lc-rs provider has); aws-lc-rs builds a large C library
/// (minutes on a small machine, a C toolchain with cmake on some platforms), so ackor
/// keeps *ring* for now. Users who need post-quantum key exchange build their own
/// rustls configurations and pass them to [`TlsConfig::new`].
#[allow(deprecated)] // see above: a deliberate choice, not an oversight
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_err(e: impl std::fmt::Display) -> Error {
    Error::Config(format!("tls: {e}"))
}

/// A TLS handshake that failed; its text may quote what the peer presented (the names
/// in its certificate, say), so it is escaped and cut.
fn tls_refused(e: std::io::Error) -> Error {
    Error::Handshake(format!("tls: {}", untrusted_text(e)))
}

impl TlsConfig {
    /// From rustls configurations used as they are.
    pub fn new(server: Arc<ServerConfig>, client: Arc<ClientConfig>) -> Self {
        TlsConfig { server, client }
    }

    /// From PEM: this node's certificate chain and private key, and the CA
    /// certificate(s) peers' certificates must chain to. With `mutual`, incoming links
    /// must present a client certificate signed by that CA, and this node presents its
    /// own when dialing.
    pub fn from_pem(cert_chain: &[u8], key: &[u8], ca: &[u8], mutual: bool) -> Result<Self, Error> {
        let chain = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(tls_err)?;
        if chain.is_empty() {
            return Err(tls_err("no certificate in the chain"));
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(tls_err)?;
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(ca) {
            roots.add(ca.map_err(tls_err)?).map_err(tls_err)?;
        }
        if roots.is_empty() {
            return Err(tls_err("no CA certificate"));
        }
        let roots = Arc::new(roots);
        let server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?;
        let server = if mutual {
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
                .build()
                .map_err(tls_err)?;
            server.with_client_cert_verifier(verifier)
        } else {
            server.with_no_client_auth()
        }
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(tls_err)?;
        let client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_root_certificates(roots);
        let client = if mutual {
            client.with_client_auth_cert(chain, key).map_err(tls_err)?
        } else {
            client.with_no_client_auth()
        };
        Ok(TlsConfig {
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }

    /// Wraps a dialed connection; `host` is the host part of the peer's node name,
    /// which its certificate must name.
    pub(crate) async fn connect<S>(&self, host: &str, tcp: S) -> Result<Box<dyn Io>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| Error::Handshake(format!("tls: bad server name {}: {e}", untrusted(host))))?;
        let stream = tokio_rustls::TlsConnector::from(self.client.clone())
            .connect(name, tcp)
            .await
            .map_err(tls_refused)?;
        Ok(Box::new(stream))
    }

    /// Wraps an accepted connection.
    pub(crate) async fn accept<S>(&self, tcp: S) -> Result<Box<dyn Io>, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let stream = tokio_rustls::TlsAcceptor::from(self.server.clone())
            .accept(tcp)
            .await
            .map_err(tls_refused)?;
        Ok(Box::new(stream))
    }
}
