//! Echo round-trip benchmark.
//!
//! ```text
//! benchmark --url ws://127.0.0.1:9001/ --clients 4 --messages 10000 --size 64 [--window 1] [--binary]
//! ```
//!
//! Each of `--clients` threads opens a connection, splits it, and sends
//! `--messages` messages of `--size` bytes, keeping at most `--window` of
//! them unanswered; its reader thread times each echo. A progress line is
//! redrawn on stderr every second; at the end come the throughput and the
//! round-trip latency percentiles.

use rusty_socket_client::{Client, ClientReader, ClientWriter, Message};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
struct Options {
    url: String,
    clients: usize,
    messages: u64,
    size: usize,
    window: usize,
    binary: bool,
}

const USAGE: &str =
    "usage: benchmark --url URL [--clients N] [--messages M] [--size S] [--window W] [--binary]";

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        url: "ws://127.0.0.1:9001/".into(),
        clients: 1,
        messages: 10_000,
        size: 64,
        window: 1,
        binary: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--binary" {
            options.binary = true;
            continue;
        }
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.into());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {value}"))
        };
        match flag.as_str() {
            "--url" => options.url = value.clone(),
            "--clients" => options.clients = number()?.max(1) as usize,
            "--messages" => options.messages = number()?,
            "--size" => options.size = number()? as usize,
            "--window" => options.window = number()?.max(1) as usize,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "{} clients x {} messages of {} bytes ({}), window {}, against {}",
        options.clients,
        options.messages,
        options.size,
        if options.binary { "binary" } else { "text" },
        options.window,
        options.url
    );
    let done = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let progress = spawn_progress(options.clients as u64 * options.messages, &done, &finished);

    let start = Instant::now();
    let workers: Vec<_> = (0..options.clients)
        .map(|_| {
            let (options, done) = (options.clone(), Arc::clone(&done));
            thread::spawn(move || run_client(&options, &done))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for worker in workers {
        match worker.join() {
            Ok(Ok(mut one)) => latencies.append(&mut one),
            Ok(Err(e)) => {
                eprintln!("\nclient failed: {e}");
                failures += 1;
            }
            Err(_) => failures += 1,
        }
    }
    let elapsed = start.elapsed();
    finished.store(true, Ordering::Relaxed);
    let _ = progress.join();
    report(&options, &mut latencies, elapsed);
    if failures > 0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Redraws "done/total" on stderr every second until `finished`.
fn spawn_progress(
    total: u64,
    done: &Arc<AtomicU64>,
    finished: &Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    let (done, finished) = (Arc::clone(done), Arc::clone(finished));
    thread::spawn(move || {
        let start = Instant::now();
        let mut last = 0;
        while !finished.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(100));
            let seconds = start.elapsed().as_secs();
            if seconds == last {
                continue;
            }
            last = seconds;
            let now = done.load(Ordering::Relaxed);
            eprint!(
                "\r{seconds:>4} s  {now}/{total} echoes ({:.0}%), {:.0} msg/s   ",
                now as f64 * 100.0 / total.max(1) as f64,
                now as f64 / start.elapsed().as_secs_f64()
            );
        }
        eprintln!();
    })
}

/// One connection: a writer (this thread) and a reader (another) that
/// measures each echo. The channel carries send times; its bound is the
/// window of unanswered messages.
fn run_client(options: &Options, done: &AtomicU64) -> Result<Vec<u64>, String> {
    let client = Client::connect(&options.url).map_err(|e| e.to_string())?;
    let (reader, writer) = client.split().map_err(|e| e.to_string())?;
    let (sent_tx, sent_rx) = mpsc::sync_channel::<Instant>(options.window);
    let messages = options.messages;
    let reading = thread::scope(|scope| {
        let reading = scope.spawn(move || read_echoes(reader, sent_rx, messages, done));
        let payload = vec![b'x'; options.size];
        let text = String::from_utf8(payload.clone()).unwrap_or_default();
        for _ in 0..messages {
            // Blocks while `window` messages are unanswered.
            if sent_tx.send(Instant::now()).is_err() {
                break; // the reader stopped: it reports why
            }
            let message = if options.binary {
                Message::Binary(payload.clone())
            } else {
                Message::Text(text.clone())
            };
            if let Err(e) = writer.send(message) {
                return Err(format!("send: {e}"));
            }
        }
        drop(sent_tx);
        reading.join().map_err(|_| "reader panicked".to_string())?
    })?;
    close(&writer);
    Ok(reading)
}

fn read_echoes(
    mut reader: ClientReader,
    sent: mpsc::Receiver<Instant>,
    messages: u64,
    done: &AtomicU64,
) -> Result<Vec<u64>, String> {
    let mut latencies = Vec::with_capacity(messages as usize);
    while (latencies.len() as u64) < messages {
        match reader.read() {
            Ok(Some(message)) if message.is_data() => {
                let sent_at = sent.recv().map_err(|_| "echo without a send".to_string())?;
                latencies.push(sent_at.elapsed().as_nanos() as u64);
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Some(Message::Close(frame))) => return Err(format!("server closed: {frame:?}")),
            Ok(Some(_)) => {}
            Ok(None) => return Err("the server ended the connection".to_string()),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    // Keep reading in the background so the close completes.
    thread::spawn(move || while let Ok(Some(_)) = reader.read() {});
    Ok(latencies)
}

fn close(writer: &ClientWriter) {
    let _ = writer.close_and_wait(1000, "benchmark done", Duration::from_secs(2));
}

fn report(options: &Options, latencies: &mut [u64], elapsed: Duration) {
    latencies.sort_unstable();
    let count = latencies.len();
    let rate = count as f64 / elapsed.as_secs_f64();
    println!(
        "{count} echoes of {} bytes in {:.2} s: {rate:.0} msg/s, {:.1} MB/s each way",
        options.size,
        elapsed.as_secs_f64(),
        rate * options.size as f64 / 1e6
    );
    if count == 0 {
        return;
    }
    let at = |q: f64| latencies[((count as f64 * q).ceil() as usize).clamp(1, count) - 1];
    let micros = |ns: u64| ns as f64 / 1000.0;
    println!(
        "latency (us): p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        micros(at(0.50)),
        micros(at(0.90)),
        micros(at(0.99)),
        micros(latencies[count - 1])
    );
}
