//! Autobahn TestSuite testee (client mode):
//! `autobahn_client [--split] [--no-deflate] ws://127.0.0.1:9002`.
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args.iter().any(|a| a == "--split");
    let deflate = !args.iter().any(|a| a == "--no-deflate");
    let base = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "ws://127.0.0.1:9002".into());
    let base = base.trim_end_matches('/');
    let count = match case_count(base) {
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
            run_case_split(&url, deflate)
        } else {
            run_case(&url, deflate)
        };
        if let Err(e) = result {
            eprintln!("case {case}: {e}");
        }
    }
    match update_reports(base) {
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
fn connect(url: &str, deflate: bool) -> Result<Client, Error> {
    let mut config = Config::default();
    if !deflate {
        config = config.permessage_deflate(None);
    }
    Client::builder().config(config).connect(url)
}

/// The first text message on `/getCaseCount` is the number of cases.
fn case_count(base: &str) -> Result<u32, Error> {
    let mut client = Client::connect(&format!("{base}/getCaseCount"))?;
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
fn run_case(url: &str, deflate: bool) -> Result<(), Error> {
    let client = connect(url, deflate)?;
    // A stuck case must not stall the run: every case ends well within this.
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    // `echo` needs the connection twice (to read, to send): lend it in turn.
    let client = std::cell::RefCell::new(client);
    echo(
        || client.borrow_mut().read(),
        |message| client.borrow_mut().send(message),
    )
}

/// [`run_case`] on a split connection.
fn run_case_split(url: &str, deflate: bool) -> Result<(), Error> {
    let client = connect(url, deflate)?;
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let (mut reader, writer) = client.split()?;
    echo(|| reader.read(), |message| writer.send(message))
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

fn update_reports(base: &str) -> Result<(), Error> {
    let mut client = Client::connect(&format!("{base}/updateReports?agent={AGENT}"))?;
    client.close(1000, "")?;
    finish(client);
    Ok(())
}

/// Closes (if still open) and reads until the server ends the connection.
fn finish(mut client: Client) {
    let _ = client.close(1000, "");
    while let Ok(Some(_)) = client.read() {}
}
