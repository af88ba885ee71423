//! `wss://` and `https://`: the TLS session of each connection (feature
//! `tls`), through rustls with the *ring* provider.
//!
//! A server with a [`TlsConfig`] ([`crate::ServerConfig::tls`]) speaks
//! TLS on every socket it accepts: the TLS handshake runs on the
//! connection's own thread, under the same deadline as the request head
//! ([`crate::ServerConfig::handshake_timeout`]), so a silent or trickling
//! TLS client is dropped just as a slow plain one is. A plain HTTP request
//! or garbage fails the TLS handshake and the socket is dropped; nothing
//! else notices. After the handshake the connection is what it is without
//! TLS: the reader thread reads the session, the writers write it, through
//! the core's [`Duplex`], whose locks are
//! never held during socket I/O.
//!
//! The config is built with `builder_with_provider`: nothing depends on a
//! process-wide default provider.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConnection;
use rusty_socket_core::duplex::Duplex;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// The ring provider with AES-128-GCM first. Clients (rustls, browsers)
/// often list AES-256-GCM first; 128-bit keys are as safe for this use and
/// take 10 AES rounds instead of 14, which a server that encrypts every
/// frame of every connection notices. The rest keep ring's order.
fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::CipherSuite;
    let mut provider = rustls::crypto::ring::default_provider();
    let rank = |suite: CipherSuite| match suite {
        CipherSuite::TLS13_AES_128_GCM_SHA256 => 0,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 1,
        _ => 2,
    };
    // A stable sort: within a rank, ring's order stays.
    provider
        .cipher_suites
        .sort_by_key(|suite| rank(suite.suite()));
    provider
}

/// The record layer of a server connection.
#[derive(Debug)]
pub(crate) struct Session(ServerConnection);

rusty_socket_core::forward_record_layer!(Session);

/// A TLS connection's stream: the shared session.
pub(crate) type TlsStream = Duplex<Session>;

/// The server's certificate and key, as a shared `rustls::ServerConfig`.
///
/// ```
/// # let pki = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
/// # let (cert_pem, key_pem) = (pki.cert.pem(), pki.key_pair.serialize_pem());
/// use rusty_socket_server::{ServerConfig, TlsConfig};
/// let tls = TlsConfig::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?;
/// let config = ServerConfig::new("127.0.0.1:0").tls(Some(tls));
/// # let _ = config;
/// # Ok::<(), rusty_socket_server::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn_protocols", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

/// Two configs are the same when they share one rustls config.
impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for TlsConfig {}

impl TlsConfig {
    /// A certificate chain (PEM: the server's certificate first, then the
    /// intermediates) and its private key (PEM: PKCS#8, PKCS#1 or SEC1),
    /// TLS 1.2 and 1.3, ALPN `http/1.1`.
    ///
    /// # Errors
    /// [`crate::Error::TlsConfig`] for PEM without a certificate or a key,
    /// or a key that does not match.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> crate::Result<TlsConfig> {
        let bad =
            |what: &str, e: &dyn fmt::Display| crate::Error::TlsConfig(format!("{what}: {e}"));
        let chain = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("bad certificate PEM", &e))?;
        if chain.is_empty() {
            return Err(crate::Error::TlsConfig(
                "no certificate in the certificate PEM".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| bad("bad private key PEM", &e))?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("no protocol version", &e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| bad("the certificate and key do not go together", &e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Our order of cipher suites, not the client's: see provider().
        config.ignore_client_order = true;
        Ok(TlsConfig {
            config: Arc::new(config),
        })
    }

    /// [`Self::from_pem`] with the contents of two files.
    ///
    /// # Errors
    /// [`crate::Error::Io`] if a file cannot be read, then as
    /// [`Self::from_pem`].
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> crate::Result<TlsConfig> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| {
                crate::Error::TlsConfig(format!("cannot read {}: {e}", path.display()))
            })
        };
        TlsConfig::from_pem(&read(cert_chain.as_ref())?, &read(key.as_ref())?)
    }

    /// A whole rustls configuration, used as it is (certificate resolver,
    /// client authentication, ALPN, session storage).
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> TlsConfig {
        TlsConfig { config }
    }

    /// The rustls configuration.
    pub fn rustls(&self) -> &Arc<rustls::ServerConfig> {
        &self.config
    }

    /// A session for one accepted socket, its handshake not done yet.
    pub(crate) fn session(
        &self,
        tcp: Arc<std::net::TcpStream>,
    ) -> Result<TlsStream, rustls::Error> {
        let connection = ServerConnection::new(Arc::clone(&self.config))?;
        Ok(Duplex::new(tcp, Session(connection)))
    }
}
