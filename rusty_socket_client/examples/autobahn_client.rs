//! Autobahn TestSuite testee (client mode):
//! `autobahn_client [--split] [--no-deflate] [--ca FILE] ws://127.0.0.1:9002`
//! (or a `wss://` URL: build with `--features tls`, and `--ca` names the
//! PEM file of the CA that signed the fuzzingserver's certificate).
//!
//! It offers permessage-deflate (RFC 7692) as the client does by default,
//! `permessage-deflate; client_max_window_bits`; `--no-deflate` offers
//! nothing.
//!
//! Against `wstest -m fuzzingserver`: asks for the number of cases
//! (`/getCaseCount`), runs each case (`/runCase?case=N&agent=...`) by echoing
//! every text and binary message until the connection ends, then asks the
//! server to write its reports (`/updateReports?agent=...`). An error ends a
//! case, never the run.
//!
//! With `--split`, each case runs on a connection split into a
//! [`ClientReader`](rusty_socket_client::ClientReader) and a
//! [`ClientWriter`](rusty_socket_client::ClientWriter): pings and closes are
//! answered through the shared writer, as they are for the chat REPL's two
//! threads. (The echo is sent from the reading thread, so that its order
//! with the pongs is the order the suite expects.)

use rusty_socket_client::{Client, Error, Message};
use rusty_socket_core::Config;
use std::process::ExitCode;
use std::time::Duration;

const AGENT: &str = "rusty_socket";

/// How every case connects: compression offered or not, extra CA.
#[derive(Clone)]
struct Options {
    deflate: bool,
    ca: Option<String>,
}

fn main() -> ExitCode {
    let mut split = false;
    let mut options = Options {
        deflate: true,
        ca: None,
    };
    let mut base = "ws://127.0.0.1:9002".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--split" => split = true,
            "--no-deflate" => options.deflate = false,
            "--ca" => match args.next() {
                Some(file) => options.ca = Some(file),
                None => {
                    eprintln!("--ca needs a PEM file");
                    return ExitCode::FAILURE;
                }
            },
            _ => base = arg,
        }
    }
    let base = base.trim_end_matches('/');
    let count = match case_count(base, &options) {
        Ok(count) => count,
        Err(e) => {
            eprintln!("cannot get the case count from {base}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("running {count} cases against {base}");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        let result = if split {
            run_case_split(&url, &options)
        } else {
            run_case(&url, &options)
        };
        if let Err(e) = result {
            eprintln!("case {case}: {e}");
        }
    }
    match update_reports(base, &options) {
        Ok(()) => {
            eprintln!("reports updated");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot update the reports: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Connects to `url`, offering permessage-deflate or not.
fn connect(url: &str, options: &Options) -> Result<Client, Error> {
    let mut config = Config::default();
    if !options.deflate {
        config = config.permessage_deflate(None);
    }
    let builder = Client::builder().config(config);
    let builder = match &options.ca {
        None => builder,
        #[cfg(feature = "tls")]
        Some(ca) => builder.add_ca_file(ca)?,
        #[cfg(not(feature = "tls"))]
        Some(_) => return Err(Error::TlsNotEnabled),
    };
    builder.connect(url)
}

/// The first text message on `/getCaseCount` is the number of cases.
fn case_count(base: &str, options: &Options) -> Result<u32, Error> {
    let mut client = connect(&format!("{base}/getCaseCount"), options)?;
    let count = loop {
        match client.read()? {
            Some(Message::Text(text)) => break text.trim().parse().unwrap_or(0),
            Some(Message::Close(_)) | None => break 0,
            Some(_) => {}
        }
    };
    finish(client);
    Ok(count)
}

/// Echoes every data message until the connection ends.
fn run_case(url: &str, options: &Options) -> Result<(), Error> {
    let client = connect(url, options)?;
    // A stuck case must not stall the run: every case ends well within this.
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    // `echo` needs the connection twice (to read, to send): lend it in turn.
    let client = std::cell::RefCell::new(client);
    let result = echo(
        || client.borrow_mut().read(),
        |message| client.borrow_mut().send(message),
    );
    drain(result, || client.borrow_mut().read())
}

/// [`run_case`] on a split connection.
fn run_case_split(url: &str, options: &Options) -> Result<(), Error> {
    let client = connect(url, options)?;
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let (mut reader, writer) = client.split()?;
    let result = echo(|| reader.read(), |message| writer.send(message));
    drain(result, || reader.read())
}

/// After the connection failed (our close is sent), reads until the
/// server closes the TCP connection, as section 7.1.1 asks of a client:
/// dropping the socket while the server still sends would reset the
/// connection, and the reset can destroy our echo and close before the
/// server reads them. Returns `result`.
fn drain(
    result: Result<(), Error>,
    mut read: impl FnMut() -> Result<Option<Message>, Error>,
) -> Result<(), Error> {
    if result.is_err() {
        while let Ok(Some(_)) = read() {}
    }
    result
}

/// Sends back every text and binary message `read` returns, until the
/// connection ends.
fn echo(
    mut read: impl FnMut() -> Result<Option<Message>, Error>,
    mut send: impl FnMut(Message) -> Result<(), Error>,
) -> Result<(), Error> {
    while let Some(message) = read()? {
        if message.is_data() {
            match send(message) {
                // The server may have started closing: keep reading its close.
                Ok(()) | Err(Error::AlreadyClosed) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

fn update_reports(base: &str, options: &Options) -> Result<(), Error> {
    let mut client = connect(&format!("{base}/updateReports?agent={AGENT}"), options)?;
    client.close(1000, "")?;
    finish(client);
    Ok(())
}

/// Closes (if still open) and reads until the server ends the connection.
fn finish(mut client: Client) {
    let _ = client.close(1000, "");
    while let Ok(Some(_)) = client.read() {}
}
