//! [`RedisUrl`]: where Redis is and how to log in, from a `redis://` URL.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// The port Redis listens on unless the URL says otherwise.
pub const DEFAULT_PORT: u16 = 6379;

/// Where Redis is and how to log in:
/// `redis://[user:password@]host[:port][/db]`.
///
/// The user and password are percent-decoded (`%40` for `@`, `%3A` for
/// `:`, `%2F` for `/`); a password alone is written `redis://:password@host`;
/// an IPv6 address goes in brackets (`redis://[::1]:6380`). The port is
/// [`DEFAULT_PORT`] and the database 0 unless given.
///
/// [`Display`](fmt::Display) and [`Debug`] show the password as `***`, so a
/// URL can be logged.
///
/// ```
/// use rusty_socket_server::broker::RedisUrl;
/// let url: RedisUrl = "redis://app:s%40cret@[::1]:6380/3".parse()?;
/// assert_eq!(url.host, "::1");
/// assert_eq!(url.port, 6380);
/// assert_eq!(url.db, 3);
/// assert_eq!(url.username.as_deref(), Some("app"));
/// assert_eq!(url.password.as_deref(), Some("s@cret"));
/// assert_eq!(url.to_string(), "redis://app:***@[::1]:6380/3");
/// # Ok::<(), rusty_socket_server::broker::redis::RedisUrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// A host name or an IP address (an IPv6 address without its
    /// brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// The database `SELECT`ed on the command connection (publish/subscribe
    /// channels are shared by all databases).
    pub db: u32,
    /// The ACL user (`AUTH user password`); `None` is the `default` user.
    /// Used only with a password.
    pub username: Option<String>,
    /// The password (`AUTH password`); `None` sends no `AUTH`.
    pub password: Option<String>,
}

/// Why a string is not a [`RedisUrl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisUrlError {
    /// The scheme is not `redis://` (the scheme found; empty if none).
    /// `rediss://` (TLS) is not supported.
    Scheme(String),
    /// There is no host.
    MissingHost,
    /// The host is not a name or an address (what was found).
    BadHost(String),
    /// The port is not a number from 1 to 65535 (what was found).
    BadPort(String),
    /// The path is not `/` and a database number (what was found).
    BadDb(String),
    /// A `%` is not followed by two hex digits, or the decoded user or
    /// password is not UTF-8 (the part, as written).
    BadEscape(String),
    /// A user is given without a password (Redis cannot log in with a
    /// user alone).
    UserWithoutPassword,
    /// The URL has a query (`?`) or fragment (`#`), which mean nothing
    /// here.
    Unsupported(String),
}

impl fmt::Display for RedisUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const FORM: &str = "the form is redis://[user:password@]host[:port][/db]";
        match self {
            RedisUrlError::Scheme(s) if s.eq_ignore_ascii_case("rediss") => {
                write!(f, "rediss:// (Redis over TLS) is not supported; {FORM}")
            }
            RedisUrlError::Scheme(s) if s.is_empty() => write!(f, "no redis:// scheme; {FORM}"),
            RedisUrlError::Scheme(s) => write!(f, "unsupported scheme {s:?}; {FORM}"),
            RedisUrlError::MissingHost => write!(f, "no host; {FORM}"),
            RedisUrlError::BadHost(h) => write!(
                f,
                "bad host {h:?}: a name, an IPv4 address, or an IPv6 address in brackets"
            ),
            RedisUrlError::BadPort(p) => write!(f, "bad port {p:?}: a number from 1 to 65535"),
            RedisUrlError::BadDb(d) => write!(f, "bad database {d:?}: /0, /1, /2 ..."),
            RedisUrlError::BadEscape(part) => write!(
                f,
                "bad percent-escape in {part:?}: % needs two hex digits, and the result must be UTF-8"
            ),
            RedisUrlError::UserWithoutPassword => {
                write!(f, "a user needs a password: redis://user:password@host")
            }
            RedisUrlError::Unsupported(rest) => {
                write!(f, "unexpected {rest:?}: a Redis URL has no query or fragment")
            }
        }
    }
}

impl std::error::Error for RedisUrlError {}

impl FromStr for RedisUrl {
    type Err = RedisUrlError;

    fn from_str(url: &str) -> Result<RedisUrl, RedisUrlError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| RedisUrlError::Scheme(String::new()))?;
        if !scheme.eq_ignore_ascii_case("redis") {
            return Err(RedisUrlError::Scheme(scheme.to_owned()));
        }
        if let Some(at) = rest.find(['?', '#']) {
            return Err(RedisUrlError::Unsupported(rest[at..].to_owned()));
        }
        // The user info ends at the last '@' (a password may hold one).
        let (userinfo, location) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (authority, path) = match location.find('/') {
            Some(slash) => location.split_at(slash),
            None => (location, ""),
        };
        let (host, port) = host_and_port(authority)?;
        let db = match path {
            "" | "/" => 0,
            _ => {
                let digits = &path[1..];
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(RedisUrlError::BadDb(path.to_owned()));
                }
                digits
                    .parse()
                    .map_err(|_| RedisUrlError::BadDb(path.to_owned()))?
            }
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, password) = match info.split_once(':') {
                    Some((user, password)) => (user, Some(password)),
                    None => (info, None),
                };
                let user = Some(percent_decode(user)?).filter(|u| !u.is_empty());
                let password = match password {
                    Some(p) => Some(percent_decode(p)?).filter(|p| !p.is_empty()),
                    None => None,
                };
                if user.is_some() && password.is_none() {
                    return Err(RedisUrlError::UserWithoutPassword);
                }
                (user, password)
            }
        };
        Ok(RedisUrl {
            host,
            port,
            db,
            username,
            password,
        })
    }
}

fn host_and_port(authority: &str) -> Result<(String, u16), RedisUrlError> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (address, after) = bracketed
            .split_once(']')
            .ok_or_else(|| RedisUrlError::BadHost(authority.to_owned()))?;
        if address.parse::<Ipv6Addr>().is_err() {
            return Err(RedisUrlError::BadHost(address.to_owned()));
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| RedisUrlError::BadHost(authority.to_owned()))?,
            ),
        };
        (address, port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(RedisUrlError::MissingHost);
    }
    let name_like = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if !authority.starts_with('[') && !host.chars().all(name_like) {
        return Err(RedisUrlError::BadHost(host.to_owned()));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(port) if port != 0 && p.bytes().all(|b| b.is_ascii_digit()) => port,
            // "6379:1" lands here too: more than one ':' outside brackets.
            _ => return Err(RedisUrlError::BadPort(p.to_owned())),
        },
    };
    Ok((host.to_owned(), port))
}

fn percent_decode(part: &str) -> Result<String, RedisUrlError> {
    let bad = || RedisUrlError::BadEscape(part.to_owned());
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = bytes.get(i + 1).copied().and_then(hex).ok_or_else(bad)?;
            let low = bytes.get(i + 2).copied().and_then(hex).ok_or_else(bad)?;
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// The user name as a URL writes it: everything but unreserved characters
/// escaped.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl fmt::Display for RedisUrl {
    /// The URL with the password hidden: `redis://user:***@host:port/db`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("redis://")?;
        if let Some(user) = &self.username {
            f.write_str(&percent_encode(user))?;
        }
        if self.password.is_some() {
            f.write_str(":***")?;
        }
        if self.username.is_some() || self.password.is_some() {
            f.write_str("@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        if self.db != 0 {
            write!(f, "/{}", self.db)?;
        }
        Ok(())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("db", &self.db)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A parsed URL with these parts, for tests here and in the broker.
    pub(in crate::broker::redis) fn url(
        host: &str,
        port: u16,
        db: u32,
        user: Option<&str>,
        password: Option<&str>,
    ) -> RedisUrl {
        RedisUrl {
            host: host.to_owned(),
            port,
            db,
            username: user.map(str::to_owned),
            password: password.map(str::to_owned),
        }
    }

    #[test]
    fn urls_parse_with_their_defaults_escapes_and_brackets() {
        let table = [
            ("redis://localhost", url("localhost", 6379, 0, None, None)),
            ("REDIS://localhost/", url("localhost", 6379, 0, None, None)),
            (
                "redis://10.0.0.1:6380",
                url("10.0.0.1", 6380, 0, None, None),
            ),
            ("redis://h:1/15", url("h", 1, 15, None, None)),
            ("redis://[::1]", url("::1", 6379, 0, None, None)),
            (
                "redis://[fe80::1:2]:7000/2",
                url("fe80::1:2", 7000, 2, None, None),
            ),
            ("redis://:pw@h", url("h", 6379, 0, None, Some("pw"))),
            ("redis://@h", url("h", 6379, 0, None, None)),
            ("redis://:@h", url("h", 6379, 0, None, None)),
            (
                "redis://ann:pw@h:1/3",
                url("h", 1, 3, Some("ann"), Some("pw")),
            ),
            (
                "redis://a%20b:p%40ss%3Aw%2Frd%C3%A9@h",
                url("h", 6379, 0, Some("a b"), Some("p@ss:w/rdé")),
            ),
            // An unescaped '@' or '/' in the password still works.
            (
                "redis://:p@ss/x@h/4",
                url("h", 6379, 4, None, Some("p@ss/x")),
            ),
            (
                "redis://my-redis_1.internal",
                url("my-redis_1.internal", 6379, 0, None, None),
            ),
        ];
        for (text, expected) in table {
            assert_eq!(text.parse::<RedisUrl>(), Ok(expected), "{text}");
        }
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        use RedisUrlError::*;
        let table = [
            ("localhost:6379", Scheme(String::new())),
            ("http://h", Scheme("http".into())),
            ("rediss://h", Scheme("rediss".into())),
            ("redis://", MissingHost),
            ("redis://:6379", MissingHost),
            ("redis://:pw@", MissingHost),
            ("redis://h:0", BadPort("0".into())),
            ("redis://h:65536", BadPort("65536".into())),
            ("redis://h:", BadPort(String::new())),
            ("redis://h:+1", BadPort("+1".into())),
            ("redis://h:x", BadPort("x".into())),
            ("redis://::1", MissingHost),
            ("redis://fe80::1", BadPort(":1".into())),
            ("redis://[::1", BadHost("[::1".into())),
            ("redis://[nope]", BadHost("nope".into())),
            ("redis://[::1]x", BadHost("[::1]x".into())),
            ("redis://h st", BadHost("h st".into())),
            ("redis://h/x", BadDb("/x".into())),
            ("redis://h/-1", BadDb("/-1".into())),
            ("redis://h/1/2", BadDb("/1/2".into())),
            ("redis://h/99999999999", BadDb("/99999999999".into())),
            ("redis://:p%zz@h", BadEscape("p%zz".into())),
            ("redis://:p%4@h", BadEscape("p%4".into())),
            ("redis://:%ff@h", BadEscape("%ff".into())),
            ("redis://ann@h", UserWithoutPassword),
            ("redis://ann:@h", UserWithoutPassword),
            ("redis://h?db=1", Unsupported("?db=1".into())),
            ("redis://h#x", Unsupported("#x".into())),
        ];
        for (text, expected) in table {
            let error = text.parse::<RedisUrl>().unwrap_err();
            assert_eq!(error, expected, "{text}");
            assert!(!error.to_string().is_empty());
        }
        assert!(Scheme("rediss".into()).to_string().contains("TLS"));
    }

    #[test]
    fn display_and_debug_hide_the_password() {
        let table = [
            ("redis://h", "redis://h:6379"),
            ("redis://:secret@h/2", "redis://:***@h:6379/2"),
            ("redis://a%40b:secret@[::1]:7", "redis://a%40b:***@[::1]:7"),
        ];
        for (text, shown) in table {
            let url: RedisUrl = text.parse().unwrap();
            assert_eq!(url.to_string(), shown);
            assert!(!format!("{url:?}").contains("secret"));
            // What is shown parses back, but for the password.
            let again: RedisUrl = shown.parse().unwrap();
            assert_eq!(
                (again.host, again.port, again.db),
                (url.host, url.port, url.db)
            );
        }
    }
}
