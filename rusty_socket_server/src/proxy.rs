//! The client's address behind reverse proxies: the `for=` parameters of
//! RFC 7239's `Forwarded` header, or the older `X-Forwarded-For` list,
//! believed only when the TCP peer is a trusted proxy
//! ([`crate::ServerConfig::trusted_proxies`]).
//!
//! Each proxy appends the address it received the request from, so the
//! list reads from the original client (left) to the last proxy's peer
//! (right). Anyone can send these headers, so only the right end is worth
//! anything: the entry the trusted proxy wrote. We walk from the right,
//! past the addresses of other trusted proxies, and take the first address
//! that is not one. An entry that is not an address (RFC 7239 section 6
//! allows `unknown` and obfuscated identifiers such as `_hidden`) ends the
//! walk at the last trusted hop: whoever wrote what lies to its left is
//! unknown, and must not be believed.

use rusty_socket_core::http::Headers;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The client's address for a request from `peer` with `headers`.
pub(crate) fn client_ip(peer: IpAddr, headers: &Headers, trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<Option<IpAddr>> = if headers.count("forwarded") > 0 {
        headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("forwarded"))
            .flat_map(|h| split_unquoted(&h.value, ','))
            .map(forwarded_for)
            .collect()
    } else {
        headers.tokens("x-forwarded-for").map(parse_node).collect()
    };
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop.map(|ip| ip.to_canonical()) {
            Some(ip) => {
                client = ip;
                if !trusted.contains(&ip) {
                    break;
                }
            }
            None => break,
        }
    }
    client
}

/// The address in the `for=` parameter of one `Forwarded` element, such as
/// `for=192.0.2.60;proto=http;by=203.0.113.43`; `None` without one, or
/// when it is not an address.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    split_unquoted(element, ';').into_iter().find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        parse_node(&unquote(value.trim())?)
    })
}

/// A node (RFC 7239 section 6): an IPv4 address, a bracketed IPv6 address,
/// either with an optional `:port`, or `unknown`, or an obfuscated `_name`
/// (which give `None`). A bare IPv6 address, as `X-Forwarded-For` carries
/// it, is accepted too.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    if let Some(rest) = node.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.starts_with(':')) {
            return None;
        }
        return ip.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    // An IPv4 address and a port (a number, or an obfuscated `_port`).
    let (ip, _port) = node.split_once(':')?;
    ip.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// A parameter value: a token as it is, or a quoted string (RFC 9110
/// section 5.6.4) without its quotes and escapes. `None` for an unclosed
/// quote or text after the closing one.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return Some(value.to_owned());
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.as_str().is_empty().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// `s` cut at each `sep` that is not inside a quoted string.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusty_socket_core::http::Header;

    const PROXY: &str = "10.0.0.1";
    const OTHER_PROXY: &str = "10.0.0.2";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The client's address for a request from `peer` with these header
    /// fields, behind the two trusted proxies.
    fn resolve(peer: &str, fields: &[(&str, &str)]) -> IpAddr {
        let headers = Headers(
            fields
                .iter()
                .map(|(name, value)| Header {
                    name: (*name).to_owned(),
                    value: (*value).to_owned(),
                })
                .collect(),
        );
        client_ip(ip(peer), &headers, &[ip(PROXY), ip(OTHER_PROXY)])
    }

    #[test]
    fn forwarded_from_a_trusted_proxy() {
        let table: &[(&str, &str)] = &[
            ("for=192.0.2.60", "192.0.2.60"),
            // Other parameters, any case, and a port.
            (
                "proto=http;For=192.0.2.60:4711;by=203.0.113.43",
                "192.0.2.60",
            ),
            ("for=\"192.0.2.60:4711\"", "192.0.2.60"),
            // IPv6: quoted and in brackets, with or without a port.
            ("for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17"),
            ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
            // Several hops: the right-most untrusted one, past our proxies.
            (
                "for=198.51.100.17, for=192.0.2.60, for=10.0.0.2",
                "192.0.2.60",
            ),
            // Whatever the client claimed further left is not believed.
            ("for=1.1.1.1, for=192.0.2.60", "192.0.2.60"),
            // A comma or semicolon inside quotes does not split.
            ("for=192.0.2.60;ext=\"a, b; c\"", "192.0.2.60"),
            // Obfuscated or unknown: the walk stops at the last trusted hop.
            ("for=\"_hidden\"", PROXY),
            ("for=unknown", PROXY),
            ("for=192.0.2.60, for=_hidden", PROXY),
            ("for=192.0.2.60, for=_hidden, for=10.0.0.2", OTHER_PROXY),
            // An obfuscated port is only a port.
            ("for=\"192.0.2.60:_port\"", "192.0.2.60"),
            // Malformed: no `for`, an unclosed quote, junk.
            ("by=203.0.113.43", PROXY),
            ("for=\"192.0.2.60", PROXY),
            ("for=\"[2001:db8::1]x\"", PROXY),
            ("for=", PROXY),
            ("", PROXY),
            ("\u{e9}\"\\", PROXY),
        ];
        for (forwarded, expected) in table {
            let got = resolve(PROXY, &[("Forwarded", forwarded)]);
            assert_eq!(got, ip(expected), "Forwarded: {forwarded}");
        }
    }

    #[test]
    fn several_forwarded_fields_are_one_list() {
        let fields = [
            ("Forwarded", "for=192.0.2.60"),
            ("forwarded", "for=10.0.0.2"),
        ];
        assert_eq!(resolve(PROXY, &fields), ip("192.0.2.60"));
    }

    #[test]
    fn x_forwarded_for_from_a_trusted_proxy() {
        let table: &[(&str, &str)] = &[
            ("192.0.2.60", "192.0.2.60"),
            ("198.51.100.17, 192.0.2.60", "192.0.2.60"),
            ("192.0.2.60,10.0.0.2 , 10.0.0.1", "192.0.2.60"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]:4711", "2001:db8::1"),
            ("192.0.2.60:4711", "192.0.2.60"),
            ("192.0.2.60, unknown", PROXY),
            ("10.0.0.2", OTHER_PROXY),
            ("not an address", PROXY),
        ];
        for (list, expected) in table {
            let got = resolve(PROXY, &[("X-Forwarded-For", list)]);
            assert_eq!(got, ip(expected), "X-Forwarded-For: {list}");
        }
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for() {
        let fields = [
            ("X-Forwarded-For", "198.51.100.17"),
            ("Forwarded", "for=192.0.2.60"),
        ];
        assert_eq!(resolve(PROXY, &fields), ip("192.0.2.60"));
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let fields = [
            ("Forwarded", "for=192.0.2.60"),
            ("X-Forwarded-For", "192.0.2.61"),
        ];
        assert_eq!(resolve("203.0.113.9", &fields), ip("203.0.113.9"));
        // Without headers, a trusted proxy is its own client.
        assert_eq!(resolve(PROXY, &[]), ip(PROXY));
    }

    #[test]
    fn an_ipv4_mapped_peer_is_its_ipv4_address() {
        let mapped = "::ffff:10.0.0.1";
        let fields = [("Forwarded", "for=192.0.2.60")];
        assert_eq!(resolve(mapped, &fields), ip("192.0.2.60"));
        assert_eq!(resolve("::ffff:192.0.2.9", &[]), ip("192.0.2.9"));
    }
}
