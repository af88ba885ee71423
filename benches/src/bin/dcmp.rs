//! `dcmp`: our DEFLATE codec measured the way `zcmp` (in `../shared/tools`)
//! measures zlib, so that the two print comparable `RESULT` lines and can be
//! run one after the other on the same files (`scripts/deflate_vs_zlib.sh`
//! alternates them and prints the ratios).
//!
//! ```text
//! cargo run --release -p rusty_socket_benches --bin dcmp -- \
//!     target/deflate-corpus/chat.jsonl --level 1,6 --wbits 10,11,12 --messages 150
//! ```
//!
//! The same work as zcmp's: raw DEFLATE; either the whole file as one
//! message, or the file cut into messages of `--messages` bytes compressed
//! as one permessage-deflate stream with context takeover (`takeover=1`,
//! one `Deflater` and one `Inflater` for the stream, as one connection
//! has) and without (`takeover=0`, both reset after every message). Each
//! direction gets half of `--secs` and at least 3 rounds; the best round
//! counts; MB/s is uncompressed bytes per second both ways; each message
//! inflated gets its `00 00 ff ff` back, and the output is checked against
//! the input once, untimed.
//!
//! Levels: zcmp's numbers map onto ours as 1 to `Fast`, 6 to `Default`
//! and 9 to `Best` (the pairs the README compares); `fast`, `default`
//! and `best` are accepted too.
//!
//! One difference: a whole file here is one message ended by a sync flush
//! (our `Deflater` compresses messages), where zcmp ends it with a final
//! block; the few bytes that makes do not show in the ratio.

use rusty_socket_core::deflate::{Deflater, Inflater, Level};
use std::time::{Duration, Instant};

/// The four bytes a permessage-deflate receiver appends to every message
/// (RFC 7692 section 7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Rounds each direction runs at least, and at most.
const MIN_ROUNDS: u32 = 3;
const MAX_ROUNDS: u32 = 1000;

/// How a file is cut into messages.
#[derive(Clone, Copy)]
enum Cut {
    Whole,
    Size(usize),
}

struct Opts {
    files: Vec<String>,
    levels: Vec<(u32, Level)>,
    wbits: Vec<u8>,
    secs: f64,
    cuts: Vec<Cut>,
}

fn parse(argv: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        files: Vec::new(),
        levels: vec![(6, Level::Default)],
        wbits: vec![15],
        secs: 2.0,
        cuts: vec![Cut::Whole],
    };
    let mut args = argv.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--level" => {
                o.levels = value("--level")?
                    .split(',')
                    .map(|l| match l {
                        "1" | "fast" => Ok((1, Level::Fast)),
                        "6" | "default" => Ok((6, Level::Default)),
                        "9" | "best" => Ok((9, Level::Best)),
                        other => Err(format!("--level {other}: 1, 6, 9, fast, default or best")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--wbits" => {
                o.wbits = value("--wbits")?
                    .split(',')
                    .map(|w| match w.parse::<u8>() {
                        Ok(w @ 8..=15) => Ok(w),
                        _ => Err(format!("--wbits {w}: 8 to 15")),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--secs" => {
                o.secs = value("--secs")?
                    .parse()
                    .map_err(|_| "--secs: a number of seconds".to_string())?
            }
            "--messages" => {
                o.cuts = value("--messages")?
                    .split(',')
                    .map(|m| match m {
                        "whole" => Ok(Cut::Whole),
                        n => match n.parse::<usize>() {
                            Ok(n) if n > 0 => Ok(Cut::Size(n)),
                            _ => Err(format!("--messages {n}: a size in bytes, or whole")),
                        },
                    })
                    .collect::<Result<_, _>>()?
            }
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            file => o.files.push(file.to_string()),
        }
    }
    if o.files.is_empty() {
        return Err("name at least one file".to_string());
    }
    Ok(o)
}

/// The best time of `f` over at least [`MIN_ROUNDS`] rounds and until
/// `budget` is spent, and how many rounds ran.
fn best_of(
    budget: Duration,
    mut f: impl FnMut() -> Result<(), String>,
) -> Result<(Duration, u32), String> {
    let start = Instant::now();
    let mut best = Duration::MAX;
    let mut rounds = 0;
    while rounds < MIN_ROUNDS || (start.elapsed() < budget && rounds < MAX_ROUNDS) {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed());
        rounds += 1;
    }
    Ok((best, rounds))
}

struct Measurement {
    compress: Duration,
    inflate: Duration,
    rounds: (u32, u32),
    in_bytes: usize,
    out_bytes: usize,
    messages: usize,
}

/// Compresses `messages` as one stream (reset after each unless
/// `takeover`), then inflates it back, each direction timed.
fn measure(
    messages: &[&[u8]],
    takeover: bool,
    level: Level,
    wbits: u8,
    budget: Duration,
) -> Result<Measurement, String> {
    let total: usize = messages.iter().map(|m| m.len()).sum();
    let mut compressed = Vec::with_capacity(total + total / 16 + messages.len() * 8 + 1024);
    let mut lens = Vec::with_capacity(messages.len());
    let (compress, compress_rounds) = best_of(budget, || {
        compressed.clear();
        lens.clear();
        let mut deflater = Deflater::new(level, wbits);
        for m in messages {
            let start = compressed.len();
            deflater.compress_message(m, &mut compressed);
            lens.push(compressed.len() - start);
            if !takeover {
                deflater.reset();
            }
        }
        Ok(())
    })?;
    let expect = messages.concat();
    let mut out = Vec::with_capacity(total + 1024);
    let mut one = Vec::with_capacity(64 * 1024);
    let mut checked = false;
    let (inflate, inflate_rounds) = best_of(budget, || {
        out.clear();
        let mut inflater = Inflater::new(wbits);
        let mut at = 0;
        for &len in &lens {
            one.clear();
            one.extend_from_slice(&compressed[at..at + len]);
            one.extend_from_slice(&TAIL);
            at += len;
            inflater
                .inflate(&one, &mut out, usize::MAX)
                .map_err(|e| format!("our inflater refused our output: {e}"))?;
            if !takeover {
                inflater.reset();
            }
        }
        if !checked {
            if out != expect {
                return Err("inflated messages differ from the input".to_string());
            }
            checked = true;
        }
        Ok(())
    })?;
    Ok(Measurement {
        compress,
        inflate,
        rounds: (compress_rounds, inflate_rounds),
        in_bytes: total,
        out_bytes: compressed.len(),
        messages: messages.len(),
    })
}

fn mb_s(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64().max(1e-12) / 1e6
}

fn run(o: &Opts) -> Result<(), String> {
    let budget = Duration::from_secs_f64(o.secs / 2.0);
    for path in &o.files {
        let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        let name = std::path::Path::new(path)
            .file_name()
            .map_or(path.clone(), |n| n.to_string_lossy().into_owned());
        for &(number, level) in &o.levels {
            for &wbits in &o.wbits {
                for &cut in &o.cuts {
                    let (messages, modes): (Vec<&[u8]>, &[Option<bool>]) = match cut {
                        Cut::Whole => (vec![&data[..]], &[None]),
                        Cut::Size(n) => (data.chunks(n).collect(), &[Some(true), Some(false)]),
                    };
                    for &takeover in modes {
                        let m = measure(&messages, takeover.unwrap_or(true), level, wbits, budget)?;
                        let (mode, size) = match (cut, takeover) {
                            (Cut::Size(n), Some(t)) => {
                                (format!("messages takeover={}", t as u8), n)
                            }
                            _ => ("whole".to_string(), data.len()),
                        };
                        let (compress, inflate) =
                            (mb_s(m.in_bytes, m.compress), mb_s(m.in_bytes, m.inflate));
                        let ratio = m.in_bytes as f64 / m.out_bytes.max(1) as f64;
                        println!(
                            "rusty_socket {name} level {level:?} wbits {wbits} {mode}: compress {compress:.1} MB/s, inflate {inflate:.1} MB/s, ratio {ratio:.3}"
                        );
                        println!(
                            "RESULT backend=rusty_socket file={name} level={number} wbits={wbits} mode={mode} size={size} comp_mb_s={compress:.1} decomp_mb_s={inflate:.1} ratio={ratio:.3} in_bytes={} out_bytes={} wbits_used={wbits} msgs={} rounds={}/{}",
                            m.in_bytes, m.out_bytes, m.messages, m.rounds.0, m.rounds.1
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = parse(&argv).and_then(|o| run(&o));
    if let Err(e) = result {
        if !e.is_empty() {
            eprintln!("dcmp: {e}");
        }
        eprintln!(
            "usage: dcmp FILE... [--level 1|6|9[,...]] [--wbits 8..15[,...]] [--secs S] [--messages SIZE|whole[,...]]"
        );
        std::process::exit(2);
    }
}
