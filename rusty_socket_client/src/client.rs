//! [`Client`]: an open connection, used from one thread, or split into a
//! reader and a writer for two.

use crate::builder::ClientBuilder;
use crate::error::{map_read, Error, Result, Stage};
use crate::split::{self, ClientReader, ClientWriter};
use crate::stream::Stream;
use crate::url::Url;
use rusty_socket_core::http::Response;
use rusty_socket_core::{CloseCode, Message, WebSocket};
use std::net::TcpStream;
use std::time::Duration;

/// A WebSocket connection to a server, after a successful opening handshake.
///
/// Reading answers pings by itself (RFC 6455 section 5.5.2) and answers a
/// close from the server with a close (section 5.5.1). A connection ends
/// with [`Message::Close`] from [`Client::read`], then `Ok(None)` once the
/// server has closed the TCP connection.
///
/// ```no_run
/// use rusty_socket_client::{Client, Message};
/// let mut client = Client::connect("ws://127.0.0.1:8080/")?;
/// client.send_text("hello")?;
/// match client.read()? {
///     Some(Message::Text(text)) => println!("got {text}"),
///     other => println!("got {other:?}"),
/// }
/// client.close(1000, "done")?;
/// // Read until the server's close and the end of the connection.
/// while let Some(message) = client.read()? {
///     println!("then {message:?}");
/// }
/// # Ok::<(), rusty_socket_client::Error>(())
/// ```
#[derive(Debug)]
pub struct Client {
    ws: WebSocket<Stream>,
    response: Response,
    protocol: Option<String>,
    url: Url,
}

impl Client {
    pub(crate) fn new(
        ws: WebSocket<Stream>,
        response: Response,
        protocol: Option<String>,
        url: Url,
    ) -> Client {
        Client {
            ws,
            response,
            protocol,
            url,
        }
    }

    /// Connects to `url` with the default options ([`ClientBuilder::new`]).
    ///
    /// # Errors
    /// As [`ClientBuilder::connect_url`].
    pub fn connect(url: &str) -> Result<Client> {
        ClientBuilder::new().connect(url)
    }

    /// A builder for timeouts, headers, subprotocols and limits.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// Sends a message (text, binary, ping, pong, or a close).
    ///
    /// # Errors
    /// [`Error::AlreadyClosed`] once a close was sent or received;
    /// [`Error::Send`] for a ping or pong over 125 bytes;
    /// [`Error::WebSocket`] for I/O errors.
    pub fn send(&mut self, message: Message) -> Result<()> {
        self.ws
            .send(message)
            .map_err(|e| Error::from_core(e, Stage::Write))
    }

    /// Sends a data message uncompressed even when permessage-deflate was
    /// agreed: for a secret on a connection that also carries text someone
    /// else chooses, which compressed together would leak it through the
    /// sizes (the CRIME attack).
    ///
    /// # Errors
    /// As [`Client::send`].
    pub fn send_uncompressed(&mut self, message: Message) -> Result<()> {
        self.ws
            .write_uncompressed(message)
            .and_then(|()| self.ws.flush())
            .map_err(|e| Error::from_core(e, Stage::Write))
    }

    /// Sends a text message.
    ///
    /// # Errors
    /// As [`Client::send`].
    pub fn send_text(&mut self, text: impl Into<String>) -> Result<()> {
        self.send(Message::Text(text.into()))
    }

    /// Sends a binary message.
    ///
    /// # Errors
    /// As [`Client::send`].
    pub fn send_binary(&mut self, data: impl Into<Vec<u8>>) -> Result<()> {
        self.send(Message::Binary(data.into()))
    }

    /// Sends a ping; the pong comes back through [`Client::read`].
    ///
    /// # Errors
    /// As [`Client::send`]; more than 125 bytes of payload is refused.
    pub fn ping(&mut self, payload: &[u8]) -> Result<()> {
        self.ws
            .ping(payload)
            .map_err(|e| Error::from_core(e, Stage::Write))
    }

    /// Starts the closing handshake with `code` (such as 1000) and `reason`
    /// (cut to 123 bytes). Keep reading: messages the server sent before
    /// its close still arrive, then its [`Message::Close`], then `Ok(None)`.
    ///
    /// # Errors
    /// [`Error::AlreadyClosed`] if a close was already sent or received;
    /// [`Error::Send`] for a code that may not be sent (1005, 1006, 1015,
    /// ...).
    pub fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<()> {
        self.ws
            .close(code.into(), reason)
            .map_err(|e| Error::from_core(e, Stage::Write))
    }

    /// Reads the next message, blocking until one is complete. `Ok(None)`
    /// is the clean end: the closing handshake is over and the server has
    /// closed the TCP connection; so `while let Some(message) =
    /// client.read()? { .. }` reads a whole connection.
    ///
    /// # Errors
    /// [`Error::Timeout`] if a read timeout was set and expired (reading may
    /// be tried again); [`Error::WebSocket`] if the server broke the
    /// protocol (the matching close code has been sent, see
    /// [`Error::close_code`]) or the connection failed.
    pub fn read(&mut self) -> Result<Option<Message>> {
        map_read(self.ws.read())
    }

    /// Bounds how long [`Client::read`] blocks; `None` blocks forever.
    ///
    /// # Errors
    /// [`Error::Io`] if the socket refuses (a zero duration is an error).
    pub fn set_read_timeout(&self, limit: Option<Duration>) -> Result<()> {
        self.tcp().set_read_timeout(limit).map_err(Error::Io)
    }

    /// The subprotocol the server picked among those offered, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The permessage-deflate parameters agreed with the server (RFC 7692),
    /// or `None` if messages travel uncompressed. The client offers it by
    /// default; [`rusty_socket_core::Config::permessage_deflate`] changes
    /// the offer or turns it off.
    pub fn permessage_deflate(&self) -> Option<&rusty_socket_core::deflate::DeflateParams> {
        self.ws.permessage_deflate()
    }

    /// The server's `101 Switching Protocols` response, with its headers.
    pub fn response(&self) -> &Response {
        &self.response
    }

    /// The URL this client connected to.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether messages may still be sent (no close sent or received).
    pub fn is_open(&self) -> bool {
        self.ws.is_open()
    }

    /// The TCP stream, for its addresses or socket options. Reading or
    /// writing it directly corrupts the connection.
    pub fn tcp(&self) -> &TcpStream {
        self.ws.get_ref().tcp()
    }

    /// Splits the connection into a reader and a writer for two threads:
    /// one blocks in [`ClientReader::read`] while others send through
    /// clones of the [`ClientWriter`].
    ///
    /// The two share the closing state: a close received by the reader makes
    /// the writer refuse further messages, and a close sent by the writer is
    /// answered by the server through the reader. Pings are answered by the
    /// reader through the writer.
    ///
    /// ```no_run
    /// use rusty_socket_client::{Client, Message};
    /// use std::time::Duration;
    /// let (mut reader, writer) = Client::connect("ws://127.0.0.1:8080/")?.split()?;
    /// let printer = std::thread::spawn(move || {
    ///     while let Ok(Some(message)) = reader.read() {
    ///         println!("{message:?}");
    ///     }
    /// });
    /// writer.send_text("hello")?;
    /// // Close, let the reader see the server's answer, or give up after 2 s.
    /// writer.close_and_wait(1000, "bye", Duration::from_secs(2))?;
    /// printer.join().unwrap();
    /// # Ok::<(), rusty_socket_client::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] if the socket cannot be cloned.
    pub fn split(self) -> Result<(ClientReader, ClientWriter)> {
        let control = self.tcp().try_clone().map_err(Error::Io)?;
        let (read, write) = self.ws.split(Stream::try_clone).map_err(Error::Io)?;
        Ok(split::new(read, write, control))
    }
}
