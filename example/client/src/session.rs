//! One connection of the REPL: a [`ClientWriter`] for the lines typed, and a
//! reader thread that prints what arrives as `rcv=> ...` through a
//! [`Printer`].

use rusty_socket_client::{ClientBuilder, ClientReader, ClientWriter, Error, Message};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Prints one line from any thread without corrupting the line being typed.
pub type Printer = Arc<dyn Fn(String) + Send + Sync>;

/// How long `__disconnect` and `exit` wait for the server's close.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// An open connection and its reader thread.
pub struct Session {
    writer: ClientWriter,
    reader: Option<JoinHandle<()>>,
    /// Set when we start the closing handshake, so that the reader does not
    /// report the server's answer as the server closing.
    closing: Arc<AtomicBool>,
}

/// How the REPL connects: 5 s to connect, 5 s for the handshakes (TLS
/// and WebSocket).
pub fn builder() -> ClientBuilder {
    ClientBuilder::new()
        .connect_timeout(Some(Duration::from_secs(5)))
        .handshake_timeout(Some(Duration::from_secs(5)))
}

impl Session {
    /// Connects to `url` with `builder` and starts the reader thread.
    pub fn open(url: &str, builder: &ClientBuilder, printer: Printer) -> Result<Session, Error> {
        let client = builder.connect(url)?;
        let (reader, writer) = client.split()?;
        let closing = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&closing);
        let reader = thread::Builder::new()
            .name("chat-reader".into())
            .spawn(move || read_loop(reader, &printer, &flag))
            .map_err(Error::Io)?;
        Ok(Session {
            writer,
            reader: Some(reader),
            closing,
        })
    }

    /// Whether the connection is still up (the reader has not ended).
    pub fn is_alive(&self) -> bool {
        self.reader.as_ref().is_some_and(|r| !r.is_finished())
    }

    /// Sends one text message.
    pub fn send(&self, text: &str) -> Result<(), Error> {
        self.writer.send_text(text)
    }

    /// The closing handshake: sends close 1000 and keeps printing what
    /// arrives until the server's close (replies to the last lines typed
    /// still show up), for at most [`CLOSE_WAIT`]. Returns whether the server
    /// answered in time.
    pub fn disconnect(mut self) -> bool {
        self.closing.store(true, Ordering::SeqCst);
        let clean = self
            .writer
            .close_and_wait(1000, "bye", CLOSE_WAIT)
            .unwrap_or(false);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        clean
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.writer.shutdown();
        }
    }
}

fn read_loop(mut reader: ClientReader, print: &Printer, closing: &AtomicBool) {
    loop {
        match reader.read() {
            Ok(Some(Message::Text(text))) => print(format!("rcv=> {text}")),
            Ok(Some(Message::Binary(data))) => {
                print(format!("rcv=> <{} bytes of binary data>", data.len()))
            }
            Ok(Some(Message::Close(frame))) => {
                // Our own close (1000) is answered with 1000, with or
                // without a reason (python-websockets echoes ours), or with
                // no body; any other close the server started, even while
                // we closed too.
                let own_echo = frame.as_ref().is_none_or(|f| f.code.0 == 1000);
                if !closing.load(Ordering::SeqCst) || !own_echo {
                    match frame {
                        Some(frame) => print(format!("connection closed by server: {frame}")),
                        None => print("connection closed by server (no status code)".into()),
                    }
                }
            }
            Ok(Some(_)) => {}
            // The clean end.
            Ok(None) => return,
            Err(e) => {
                if !closing.load(Ordering::SeqCst) {
                    print(format!("connection lost: {e}"));
                }
                return;
            }
        }
    }
}
