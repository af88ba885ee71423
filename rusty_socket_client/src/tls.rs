//! `wss://`: the TLS session under a client connection (feature `tls`),
//! through rustls with the *ring* provider.
//!
//! ```text
//! TcpStream ─> rustls::ClientConnection (SNI = the URL's host, ALPN http/1.1)
//!           ─> Duplex::handshake under the handshake deadline
//!           ─> the opening handshake (RFC 6455 section 4.1) over it
//! ```
//!
//! The server's certificate is checked against the Mozilla roots of
//! `webpki-roots`, plus any the caller adds ([`TlsConfig::add_ca_pem`]),
//! or against whatever a whole `rustls::ClientConfig` says
//! ([`TlsConfig::from_rustls`]). A certificate that does not check out
//! fails the connection during the TLS handshake, before any HTTP is sent,
//! with [`crate::Error::Certificate`].
//!
//! Every config is built with `builder_with_provider`: nothing depends on a
//! process-wide default provider.

use crate::error::{Error, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use rusty_socket_core::duplex::Duplex;
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// The record layer of a client connection.
#[derive(Debug)]
pub struct Session(ClientConnection);

rusty_socket_core::forward_record_layer!(Session);

/// A `wss://` connection's stream: the shared TLS session.
pub(crate) type TlsStream = Duplex<Session>;

/// How the client checks servers: a `rustls::ClientConfig`, shared by every
/// connection made with it (so sessions resume).
#[derive(Debug, Clone)]
pub struct TlsConfig {
    config: Arc<ClientConfig>,
    /// The roots added to the Mozilla ones; `None` for a config given
    /// whole, whose roots are its own business.
    extra_roots: Option<Vec<CertificateDer<'static>>>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig::webpki_roots()
    }
}

impl TlsConfig {
    /// The Mozilla roots of `webpki-roots`, TLS 1.2 and 1.3, ALPN
    /// `http/1.1`. Built once per process.
    pub fn webpki_roots() -> TlsConfig {
        static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
        let config = DEFAULT.get_or_init(|| {
            Arc::new(build(&[]).expect("the ring provider has the default protocol versions"))
        });
        TlsConfig {
            config: Arc::clone(config),
            extra_roots: Some(Vec::new()),
        }
    }

    /// The Mozilla roots plus every certificate of `pem` (one or more
    /// `-----BEGIN CERTIFICATE-----` blocks): a private CA.
    ///
    /// # Errors
    /// [`Error::TlsConfig`] if `pem` holds no certificate or a broken one,
    /// if rustls refuses one as a root, or if this config was given whole
    /// ([`Self::from_rustls`]: add roots to its own store instead).
    pub fn add_ca_pem(&self, pem: &[u8]) -> Result<TlsConfig> {
        let Some(mut roots) = self.extra_roots.clone() else {
            return Err(Error::TlsConfig(
                "a rustls::ClientConfig given whole takes no extra roots: add them to its RootCertStore".into(),
            ));
        };
        let before = roots.len();
        for cert in CertificateDer::pem_slice_iter(pem) {
            roots.push(cert.map_err(|e| Error::TlsConfig(format!("bad PEM: {e}")))?);
        }
        if roots.len() == before {
            return Err(Error::TlsConfig("no certificate in the PEM data".into()));
        }
        let config = build(&roots).map_err(|e| Error::TlsConfig(e.to_string()))?;
        Ok(TlsConfig {
            config: Arc::new(config),
            extra_roots: Some(roots),
        })
    }

    /// [`Self::add_ca_pem`] with the contents of the file at `path`.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read, then as
    /// [`Self::add_ca_pem`].
    pub fn add_ca_file(&self, path: impl AsRef<Path>) -> Result<TlsConfig> {
        let pem = std::fs::read(path.as_ref()).map_err(Error::Io)?;
        self.add_ca_pem(&pem)
    }

    /// A whole rustls configuration, used as it is (its roots, verifier,
    /// ALPN, client certificate).
    pub fn from_rustls(config: Arc<ClientConfig>) -> TlsConfig {
        TlsConfig {
            config,
            extra_roots: None,
        }
    }

    /// The rustls configuration.
    pub fn rustls(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Runs the TLS handshake on `tcp` for `host` (a name, or an IP address
    /// without brackets) before `deadline`.
    pub(crate) fn connect(
        &self,
        tcp: TcpStream,
        host: &str,
        deadline: Option<Instant>,
    ) -> Result<TlsStream> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| Error::TlsConfig(format!("{host:?} is not a valid TLS server name")))?;
        let connection = ClientConnection::new(Arc::clone(&self.config), name)
            .map_err(|e| Error::TlsConfig(e.to_string()))?;
        let stream = Duplex::new(tcp, Session(connection));
        stream
            .handshake(deadline)
            .map_err(crate::error::from_tls_io)?;
        Ok(stream)
    }
}

/// A client config on the ring provider: the Mozilla roots and `extra`.
fn build(extra: &[CertificateDer<'static>]) -> std::result::Result<ClientConfig, rustls::Error> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra {
        roots.add(cert.clone())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
