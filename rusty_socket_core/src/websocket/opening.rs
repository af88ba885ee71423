//! The opening handshake (RFC 6455 section 4) over a blocking stream: read
//! the head, check it with the sans-IO functions of [`crate::handshake`],
//! answer it, and hand over the connection with the bytes that followed.

use super::WebSocket;
use crate::config::Config;
use crate::decoded::Decoded;
use crate::deflate::client_offer;
use crate::error::{Error, HandshakeError, Result};
use crate::handshake::{
    error_response, response_101, validate_request, validate_response, ClientRequest,
};
use crate::http::{Limits, Request, Response};
use crate::protocol::Role;
use std::io::{self, Read, Write};

/// Reads from `stream` until a whole head has arrived, one `read` at a time,
/// and parses it with `parse`. Returns the head and the bytes that followed
/// it.
///
/// # Errors
/// The parser's [`HandshakeError`], [`HandshakeError::ConnectionClosed`] on
/// end of file, or I/O errors (timeouts included).
pub fn read_head<R: Read + ?Sized, T>(
    stream: &mut R,
    limits: Limits,
    parse: impl Fn(&[u8], Limits) -> Result<Decoded<T>, HandshakeError>,
) -> Result<(T, Vec<u8>)> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Err(HandshakeError::ConnectionClosed.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Decoded::Complete(head, len) = parse(&buffer, limits)? {
            buffer.drain(..len);
            return Ok((head, buffer));
        }
    }
}

/// Server side, blocking: reads the upgrade request, answers it, and returns
/// the connection. A bad request is answered with its HTTP status before the
/// error is returned.
///
/// `select_protocol` is given the request and the subprotocols it offers, and
/// returns the one to use, if any (it must be one of those offered).
///
/// ```no_run
/// use rusty_socket_core::Config;
/// use std::net::TcpListener;
/// let listener = TcpListener::bind("127.0.0.1:9001")?;
/// let (stream, _) = listener.accept()?;
/// let mut ws = rusty_socket_core::accept(stream, Config::default(), |_, _| None)?;
/// while let Some(message) = ws.read()? {
///     if message.is_data() {
///         ws.write(message)?;
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Handshake`] for a refused request, [`Error::Io`] for the stream.
pub fn accept<S: Read + Write>(
    mut stream: S,
    config: Config,
    select_protocol: impl FnOnce(&Request, &[&str]) -> Option<String>,
) -> Result<WebSocket<S>> {
    let (request, leftover) = match read_head(&mut stream, Limits::default(), Request::parse) {
        Ok(head) => head,
        Err(Error::Handshake(error)) => {
            if error != HandshakeError::ConnectionClosed {
                let _ = stream.write_all(&error_response(&error));
            }
            return Err(error.into());
        }
        Err(error) => return Err(error),
    };
    let upgrade = match validate_request(&request) {
        Ok(upgrade) => upgrade,
        Err(error) => {
            let _ = stream.write_all(&error_response(&error));
            return Err(error.into());
        }
    };
    let protocol = select_protocol(&request, &upgrade.protocols)
        .filter(|chosen| upgrade.protocols.contains(&chosen.as_str()));
    let deflate = upgrade.accept_deflate(config.permessage_deflate.as_ref());
    let extensions = deflate.as_ref().map(|(_, answer)| answer.as_str());
    stream.write_all(&response_101(upgrade.key, protocol.as_deref(), extensions))?;
    stream.flush()?;
    let params = deflate.map(|(params, _)| params);
    Ok(WebSocket::from_raw_with_deflate(
        stream,
        Role::Server,
        config,
        params,
        &leftover,
    ))
}

/// Client side, blocking: sends `request` (its key is checked against the
/// answer) and reads and validates the response.
///
/// With [`Config::permessage_deflate`] set, the request offers it (in place
/// of `request.extensions`) and the answer is checked against the offer;
/// [`WebSocket::permessage_deflate`] then says what was agreed.
///
/// Returns the connection, with any bytes that followed the response kept
/// as the first frames, the response itself, and the chosen subprotocol.
///
/// # Errors
/// [`Error::Handshake`] (for example [`HandshakeError::Rejected`] with the
/// server's status) or [`Error::Io`].
pub fn connect<S: Read + Write>(
    mut stream: S,
    request: &ClientRequest<'_>,
    config: Config,
) -> Result<(WebSocket<S>, Response, Option<String>)> {
    let offered = config.permessage_deflate.map(|settings| settings.client);
    let offer = offered.as_ref().map(client_offer);
    let request = ClientRequest {
        extensions: offer.as_deref().or(request.extensions),
        ..request.clone()
    };
    stream.write_all(&request.encode())?;
    stream.flush()?;
    let (response, leftover) = read_head(&mut stream, Limits::default(), Response::parse)?;
    let agreed = validate_response(&response, request.key, request.protocols, offered.as_ref())?;
    let ws =
        WebSocket::from_raw_with_deflate(stream, Role::Client, config, agreed.deflate, &leftover);
    Ok((ws, response, agreed.protocol))
}
