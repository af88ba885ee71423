//! WebSocket URIs (RFC 6455 section 3): `ws://host[:port][/path][?query]`
//! and `wss://...`.
//!
//! ```text
//! ws-URI  = "ws:" "//" host [ ":" port ] path [ "?" query ]
//! wss-URI = "wss:" "//" host [ ":" port ] path [ "?" query ]
//! ```
//!
//! The parser is written by hand for the small subset a client needs:
//!
//! - the scheme is `ws` or `wss` (any case); `wss` is WebSocket over TLS,
//!   which connecting needs the crate's `tls` feature for;
//! - the host is a name, an IPv4 address, or an IPv6 address in brackets
//!   (`ws://[::1]:9001/`);
//! - the port defaults to 80 for `ws` and 443 for `wss` (section 3: "The
//!   port component is OPTIONAL; the default for "ws" is port 80, while the
//!   default for "wss" is port 443");
//! - the path defaults to `/`, and path and query together become the
//!   request target of the opening handshake;
//! - a fragment is an error: "Fragment identifiers are meaningless in the
//!   context of WebSocket URIs and MUST NOT be used on these URIs."
//!
//! Percent-encoding is left as written: the target is sent byte for byte, so
//! it must already be printable ASCII.

use std::fmt;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, ToSocketAddrs};

/// The port of `ws://` when the URL names none (section 3).
pub const DEFAULT_PORT: u16 = 80;

/// The port of `wss://` when the URL names none (section 3).
pub const DEFAULT_TLS_PORT: u16 = 443;

/// A parsed `ws://` or `wss://` URL.
///
/// ```
/// use rusty_socket_client::Url;
/// let url = Url::parse("ws://[::1]:9001/chat?room=1")?;
/// assert_eq!(url.host(), "::1");
/// assert_eq!(url.port(), 9001);
/// assert_eq!(url.target(), "/chat?room=1");
/// assert_eq!(url.host_header(), "[::1]:9001");
/// # Ok::<(), rusty_socket_client::UrlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    secure: bool,
    host: String,
    ipv6: bool,
    port: u16,
    target: String,
}

/// Why a string is not a usable WebSocket URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// No `scheme://` at the start.
    MissingScheme,
    /// A scheme other than `ws` and `wss` (for example `http`).
    UnsupportedScheme(String),
    /// Nothing between `ws://` and the path.
    MissingHost,
    /// A host with characters no host name or address may contain.
    InvalidHost(String),
    /// An IPv6 address that does not parse, or is not in brackets.
    InvalidIpv6(String),
    /// A port that is not a number from 1 to 65535.
    InvalidPort(String),
    /// `user:password@` is not supported.
    UserInfo,
    /// A `#fragment`, which section 3 forbids.
    Fragment,
    /// A path or query with a byte that is not printable ASCII (encode it
    /// with `%XX` first).
    InvalidTarget(String),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::MissingScheme => f.write_str("the URL must start with ws:// or wss://"),
            UrlError::UnsupportedScheme(scheme) => {
                write!(f, "unsupported scheme {scheme}://, use ws:// or wss://")
            }
            UrlError::MissingHost => f.write_str("the URL has no host"),
            UrlError::InvalidHost(host) => write!(f, "invalid host {host:?}"),
            UrlError::InvalidIpv6(host) => {
                write!(
                    f,
                    "invalid IPv6 address {host:?} (write it in brackets: ws://[::1]:80/)"
                )
            }
            UrlError::InvalidPort(port) => write!(f, "invalid port {port:?} (1 to 65535)"),
            UrlError::UserInfo => f.write_str("user information (user@host) is not supported"),
            UrlError::Fragment => f.write_str("a WebSocket URL must not have a #fragment"),
            UrlError::InvalidTarget(target) => {
                write!(
                    f,
                    "invalid path or query {target:?} (only printable ASCII; use %XX)"
                )
            }
        }
    }
}

impl std::error::Error for UrlError {}

impl Url {
    /// Parses `input`, a `ws://` or `wss://` URL.
    ///
    /// # Errors
    /// The first problem found, as a [`UrlError`].
    pub fn parse(input: &str) -> Result<Url, UrlError> {
        let input = input.trim();
        let Some((scheme, rest)) = input.split_once("://") else {
            return Err(UrlError::MissingScheme);
        };
        let secure = scheme.eq_ignore_ascii_case("wss");
        if !secure && !scheme.eq_ignore_ascii_case("ws") {
            return Err(UrlError::UnsupportedScheme(scheme.to_owned()));
        }
        let default_port = if secure {
            DEFAULT_TLS_PORT
        } else {
            DEFAULT_PORT
        };
        if rest.contains('#') {
            return Err(UrlError::Fragment);
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let (host, ipv6, port) = parse_authority(authority, default_port)?;
        Ok(Url {
            secure,
            host,
            ipv6,
            port,
            target: parse_target(target)?,
        })
    }

    /// Whether this is a `wss://` URL: WebSocket over TLS.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The default port of the scheme: 80 for `ws`, 443 for `wss`.
    pub fn default_port(&self) -> u16 {
        if self.secure {
            DEFAULT_TLS_PORT
        } else {
            DEFAULT_PORT
        }
    }

    /// The host: a name or an address, IPv6 without its brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, 80 (`ws`) or 443 (`wss`) when the URL gave none.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request target: the path (at least `/`) and the query.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The value of the `Host` header (section 4.1, point 4): the host, in
    /// brackets if it is an IPv6 address, and `:port` unless the port is the
    /// scheme's default.
    pub fn host_header(&self) -> String {
        let mut out = String::with_capacity(self.host.len() + 8);
        if self.ipv6 {
            out.push('[');
            out.push_str(&self.host);
            out.push(']');
        } else {
            out.push_str(&self.host);
        }
        if self.port != self.default_port() {
            out.push(':');
            out.push_str(&self.port.to_string());
        }
        out
    }

    /// Resolves the host into the addresses to try, in the order the system
    /// resolver gives them.
    ///
    /// # Errors
    /// The resolver's error, or `NotFound` if it gave no address.
    pub fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port).to_socket_addrs()?.collect();
        if addrs.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no address found"));
        }
        Ok(addrs)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.secure { "wss" } else { "ws" };
        write!(f, "{scheme}://{}{}", self.host_header(), self.target)
    }
}

impl std::str::FromStr for Url {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Url, UrlError> {
        Url::parse(s)
    }
}

/// Splits `host[:port]` or `[v6][:port]`.
fn parse_authority(authority: &str, default_port: u16) -> Result<(String, bool, u16), UrlError> {
    if authority.is_empty() {
        return Err(UrlError::MissingHost);
    }
    if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((address, after)) = bracketed.split_once(']') else {
            return Err(UrlError::InvalidIpv6(authority.to_owned()));
        };
        if address.parse::<Ipv6Addr>().is_err() {
            return Err(UrlError::InvalidIpv6(address.to_owned()));
        }
        let port = match after {
            "" => default_port,
            _ => match after.strip_prefix(':') {
                Some(port) => parse_port(port)?,
                None => return Err(UrlError::InvalidHost(authority.to_owned())),
            },
        };
        return Ok((address.to_owned(), true, port));
    }
    let (host, port) = match authority.split_once(':') {
        Some((_, port)) if port.contains(':') => {
            return Err(UrlError::InvalidIpv6(authority.to_owned()));
        }
        Some((host, port)) => (host, parse_port(port)?),
        None => (authority, default_port),
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    // Letters, digits, '-', '.' and '_' cover DNS names and IPv4 addresses.
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(UrlError::InvalidHost(host.to_owned()));
    }
    Ok((host.to_owned(), false, port))
}

fn parse_port(port: &str) -> Result<u16, UrlError> {
    // `u16::from_str` accepts a leading '+': only digits are allowed here.
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::InvalidPort(port.to_owned()));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(UrlError::InvalidPort(port.to_owned())),
        Ok(number) => Ok(number),
    }
}

/// `""` becomes `/`, `?q` becomes `/?q`.
fn parse_target(target: &str) -> Result<String, UrlError> {
    if !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(UrlError::InvalidTarget(target.to_owned()));
    }
    Ok(match target.as_bytes().first() {
        None => "/".to_owned(),
        Some(b'?') => format!("/{target}"),
        Some(_) => target.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, host, port, target, Host header)
    const GOOD: &[(&str, &str, u16, &str, &str)] = &[
        ("ws://example.com", "example.com", 80, "/", "example.com"),
        ("ws://example.com/", "example.com", 80, "/", "example.com"),
        (
            "WS://Example.com:80/chat",
            "Example.com",
            80,
            "/chat",
            "Example.com",
        ),
        (
            "ws://localhost:8080/",
            "localhost",
            8080,
            "/",
            "localhost:8080",
        ),
        (
            "ws://127.0.0.1:9001",
            "127.0.0.1",
            9001,
            "/",
            "127.0.0.1:9001",
        ),
        ("ws://h/a/b?x=1&y=2", "h", 80, "/a/b?x=1&y=2", "h"),
        ("ws://h:1?case=3", "h", 1, "/?case=3", "h:1"),
        ("ws://[::1]:9001/", "::1", 9001, "/", "[::1]:9001"),
        ("ws://[::1]", "::1", 80, "/", "[::1]"),
        (
            "ws://[2001:db8::7]/p?q",
            "2001:db8::7",
            80,
            "/p?q",
            "[2001:db8::7]",
        ),
        ("ws://h:65535/%20x", "h", 65535, "/%20x", "h:65535"),
        ("wss://example.com/", "example.com", 443, "/", "example.com"),
        ("WSS://h:443/x", "h", 443, "/x", "h"),
        ("wss://h:80/", "h", 80, "/", "h:80"),
        ("ws://h:443/", "h", 443, "/", "h:443"),
        ("wss://[::1]:9443/?q", "::1", 9443, "/?q", "[::1]:9443"),
        (
            "  ws://my_host-1.local  ",
            "my_host-1.local",
            80,
            "/",
            "my_host-1.local",
        ),
    ];

    #[test]
    fn good_urls() {
        for &(input, host, port, target, host_header) in GOOD {
            let url = Url::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(url.host(), host, "{input}");
            assert_eq!(url.port(), port, "{input}");
            assert_eq!(url.target(), target, "{input}");
            assert_eq!(url.host_header(), host_header, "{input}");
            // Display gives a URL that parses back to the same thing.
            assert_eq!(Url::parse(&url.to_string()), Ok(url), "{input}");
        }
    }

    #[test]
    fn bad_urls() {
        let cases: &[(&str, UrlError)] = &[
            ("example.com", UrlError::MissingScheme),
            ("", UrlError::MissingScheme),
            (
                "http://example.com/",
                UrlError::UnsupportedScheme("http".into()),
            ),
            (
                "https://example.com/",
                UrlError::UnsupportedScheme("https".into()),
            ),
            ("ws://", UrlError::MissingHost),
            ("ws:///path", UrlError::MissingHost),
            ("ws://:80/", UrlError::MissingHost),
            ("ws://h:/", UrlError::InvalidPort("".into())),
            ("ws://h:0/", UrlError::InvalidPort("0".into())),
            ("ws://h:65536/", UrlError::InvalidPort("65536".into())),
            ("ws://h:+80/", UrlError::InvalidPort("+80".into())),
            ("ws://h:http/", UrlError::InvalidPort("http".into())),
            ("ws://[::1]:x/", UrlError::InvalidPort("x".into())),
            ("ws://::1/", UrlError::InvalidIpv6("::1".into())),
            ("ws://[::1/", UrlError::InvalidIpv6("[::1".into())),
            ("ws://[nope]/", UrlError::InvalidIpv6("nope".into())),
            ("ws://[::1]x/", UrlError::InvalidHost("[::1]x".into())),
            (
                "ws://exa mple.com/",
                UrlError::InvalidHost("exa mple.com".into()),
            ),
            ("ws://user@h/", UrlError::UserInfo),
            ("ws://h/#frag", UrlError::Fragment),
            ("ws://h/a b", UrlError::InvalidTarget("/a b".into())),
            (
                "ws://h/caf\u{e9}",
                UrlError::InvalidTarget("/caf\u{e9}".into()),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(Url::parse(input).as_ref(), Err(expected), "{input}");
        }
    }

    #[test]
    fn the_scheme_decides_tls() {
        assert!(Url::parse("wss://h/").unwrap().is_secure());
        assert!(!Url::parse("ws://h/").unwrap().is_secure());
        assert_eq!(
            Url::parse("wss://h:8443/a").unwrap().to_string(),
            "wss://h:8443/a"
        );
    }

    #[test]
    fn resolves_addresses_and_names() {
        let v6 = Url::parse("ws://[::1]:9001/").unwrap().resolve().unwrap();
        assert_eq!(v6, vec!["[::1]:9001".parse().unwrap()]);
        let v4 = Url::parse("ws://127.0.0.1:5/").unwrap().resolve().unwrap();
        assert_eq!(v4, vec!["127.0.0.1:5".parse().unwrap()]);
        let local = Url::parse("ws://localhost:7/").unwrap().resolve().unwrap();
        assert!(
            local.iter().all(|a| a.port() == 7 && a.ip().is_loopback()),
            "{local:?}"
        );
    }
}
