//! How many connections this process can hold before the operating system
//! says no (RFC 6455 section 10.4: an implementation must protect itself
//! against what its peers make it hold).
//!
//! Section 10.4 asks for limits on frames and messages ([`crate::Config`]).
//! A server that gives each connection a thread has one more resource to
//! guard: the threads themselves. When a thread cannot be given, `std`
//! does not always return an error: on Linux, a new thread that cannot map
//! its signal stack makes the whole process abort ("failed to set up
//! alternative stack guard page ... aborting"), and no `catch_unwind`
//! reaches that. The only defence is to never start a thread the machine
//! cannot give, which means knowing, before accepting, how many it can.
//!
//! Two layers, as everywhere in this crate:
//!
//! - **Arithmetic** ([`compute`]): from the limits ([`Limits`]), the current
//!   use ([`Usage`]) and what one connection costs ([`Costs`]), the number
//!   of connections and the limit that bound it ([`Capacity`]). Pure, and
//!   tested with tables.
//! - **Measurement** ([`Limits::read`], [`Usage::read`], [`measure`]): the
//!   same numbers read from `/proc` on Linux with `std` alone. A value that
//!   cannot be read (another OS, a sandbox without `/proc`) is `None`, never
//!   a panic.
//!
//! ```
//! use rusty_socket_core::capacity::{compute, Costs, Limit, Limits, Usage};
//!
//! // A stock Linux: 65 530 mappings allowed, 4 per thread.
//! let limits = Limits {
//!     open_files: Some(20_000),
//!     processes: Some(96_364),
//!     threads_max: Some(192_729),
//!     pid_max: Some(32_768),
//!     max_map_count: Some(65_530),
//!     mem_available: Some(24 << 30),
//! };
//! let usage = Usage { open_files: Some(5), ..Usage::default() };
//! let capacity = compute(&limits, &usage, &Costs::default(), None);
//! assert_eq!(capacity.limit, Limit::Mappings);
//! assert_eq!(capacity.connections, 16_125);
//! assert_eq!(
//!     capacity.to_string(),
//!     "16,125 connections, limited by vm.max_map_count (65,530 mappings, 4 per thread)"
//! );
//! ```

use std::fmt;
use std::fs;

/// What one connection, and the program around the connections, costs.
/// The defaults describe a thread-per-connection server such as the
/// `echo_server` example; every field is public, so a caller with other
/// costs fills in its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Costs {
    /// Threads started for each connection. 0 means connections cost no
    /// thread, and the thread limits do not bound them.
    ///
    /// Default: 1.
    pub threads_per_connection: u64,
    /// Threads that run whatever the number of connections (an accept loop,
    /// writer pools, handshake threads), not yet counted in [`Usage`].
    ///
    /// Default: 1 (the accept loop).
    pub fixed_threads: u64,
    /// File descriptors held by each connection (its socket).
    ///
    /// Default: 1.
    pub files_per_connection: u64,
    /// Memory mappings each thread takes. A `std` thread on Linux takes
    /// four: its stack, the guard page below it, its signal stack and the
    /// signal stack's guard page.
    ///
    /// Default: [`MAPPINGS_PER_THREAD`], 4.
    pub mappings_per_thread: u64,
    /// Memory one connection may hold at its peak, in bytes: the resident
    /// part of its thread stacks, its buffers, its queues.
    ///
    /// Default: 64 KiB.
    pub memory_per_connection: u64,
    /// File descriptors left for everything else: standard streams, the
    /// listening socket, a socket accepted and not yet refused, files and
    /// DNS lookups the application makes.
    ///
    /// Default: 32.
    pub reserve_files: u64,
    /// Threads left for everything else. `RLIMIT_NPROC` counts every
    /// thread of the *user*, in all its processes, and the system limits
    /// every thread of the machine; only this process's are known here, so
    /// the rest must fit in the reserve.
    ///
    /// Default: 64.
    pub reserve_threads: u64,
    /// Mappings left for everything else: the allocator maps large
    /// allocations one by one and grows its arenas in new mappings, and
    /// shared libraries loaded later add theirs.
    ///
    /// Default: 1 024 (the allocator alone can take a few hundred under load).
    pub reserve_mappings: u64,
}

/// The mappings a `std` thread takes on Linux: its stack, the stack's
/// guard page, its signal stack and the signal stack's guard page.
pub const MAPPINGS_PER_THREAD: u64 = 4;

/// The capacity used when no limit at all can be read (another OS, no
/// `/proc`): enough for a small server, and below the file limits of the
/// common systems (macOS starts processes with 256 files, Linux with 1 024
/// soft), where `accept` fails cleanly with "too many open files" first.
pub const FALLBACK_CONNECTIONS: u64 = 1024;

impl Default for Costs {
    fn default() -> Self {
        Costs {
            threads_per_connection: 1,
            fixed_threads: 1,
            files_per_connection: 1,
            mappings_per_thread: MAPPINGS_PER_THREAD,
            memory_per_connection: 64 << 10,
            reserve_files: 32,
            reserve_threads: 64,
            reserve_mappings: 1024,
        }
    }
}

/// The limits the operating system sets. `None`: unlimited, or unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// The soft `RLIMIT_NOFILE` (`ulimit -n`): file descriptors of this
    /// process.
    pub open_files: Option<u64>,
    /// The soft `RLIMIT_NPROC` (`ulimit -u`): threads of this user, all
    /// processes together (root is exempt, but the kernel still reports it).
    pub processes: Option<u64>,
    /// `/proc/sys/kernel/threads-max`: threads of the whole system.
    pub threads_max: Option<u64>,
    /// `/proc/sys/kernel/pid_max`: every thread takes a process id, so
    /// this bounds the threads of the whole system too.
    pub pid_max: Option<u64>,
    /// `/proc/sys/vm/max_map_count`: memory mappings of this process.
    pub max_map_count: Option<u64>,
    /// `MemAvailable` in `/proc/meminfo`, in bytes: memory the system can
    /// give without swapping.
    pub mem_available: Option<u64>,
}

/// What is already in use when the capacity is computed. `None`: unknown,
/// taken as 0 (the reserves in [`Costs`] cover the error).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// File descriptors this process has open.
    pub open_files: Option<u64>,
    /// Threads of this process.
    pub process_threads: Option<u64>,
    /// Threads of the whole system.
    pub system_threads: Option<u64>,
    /// Memory mappings of this process.
    pub mappings: Option<u64>,
}

/// The limit that bounds a [`Capacity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// The file descriptors of this process (`RLIMIT_NOFILE`, `ulimit -n`).
    Files,
    /// The threads of this user (`RLIMIT_NPROC`, `ulimit -u`).
    ThreadsPerUser,
    /// The threads of the system: the smaller of `kernel.threads-max` and
    /// `kernel.pid_max`, less the threads already running.
    SystemThreads,
    /// The memory mappings of this process (`vm.max_map_count`), four per
    /// thread.
    Mappings,
    /// The memory available (`MemAvailable`).
    Memory,
    /// The configured maximum, lower than anything the system imposes.
    Configured,
    /// Nothing could be measured: [`FALLBACK_CONNECTIONS`].
    Fallback,
}

impl Limit {
    /// A short stable name, for logs and JSON: `files`, `threads_per_user`,
    /// `system_threads`, `mappings`, `memory`, `configured`, `fallback`.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Files => "files",
            Limit::ThreadsPerUser => "threads_per_user",
            Limit::SystemThreads => "system_threads",
            Limit::Mappings => "mappings",
            Limit::Memory => "memory",
            Limit::Configured => "configured",
            Limit::Fallback => "fallback",
        }
    }
}

/// How many connections fit, and why not more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// The number of connections that can be held at once.
    pub connections: u64,
    /// The limit that bound it.
    pub limit: Limit,
    /// The value of that limit: the file or thread limit, the mapping
    /// count, the bytes available, the configured maximum (for
    /// [`Limit::Fallback`], [`FALLBACK_CONNECTIONS`]).
    pub limit_value: u64,
    /// The costs it was computed with.
    pub costs: Costs,
}

/// Writes `n` with a comma between groups of three digits: `16,180`.
struct Thousands(u64);

impl fmt::Display for Thousands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.to_string();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                f.write_str(",")?;
            }
            write!(f, "{digit}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Capacity {
    /// `16,180 connections, limited by vm.max_map_count (65,530 mappings, 4
    /// per thread)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = Thousands(self.limit_value);
        write!(
            f,
            "{} connections, limited by ",
            Thousands(self.connections)
        )?;
        match self.limit {
            Limit::Files => write!(
                f,
                "the file limit, ulimit -n ({n} files, {} per connection)",
                self.costs.files_per_connection
            ),
            Limit::ThreadsPerUser => write!(
                f,
                "the thread limit, ulimit -u ({n} threads, {} per connection)",
                self.costs.threads_per_connection
            ),
            Limit::SystemThreads => write!(
                f,
                "kernel.threads-max / kernel.pid_max ({n} threads, {} per connection)",
                self.costs.threads_per_connection
            ),
            Limit::Mappings => write!(
                f,
                "vm.max_map_count ({n} mappings, {} per thread)",
                self.costs.mappings_per_thread
            ),
            Limit::Memory => write!(
                f,
                "MemAvailable ({} MiB, {} KiB per connection)",
                Thousands(self.limit_value >> 20),
                self.costs.memory_per_connection >> 10
            ),
            Limit::Configured => write!(f, "the configured maximum ({n})"),
            Limit::Fallback => write!(f, "nothing (no limit could be read; a safe default)"),
        }
    }
}

/// The connections a budget of `available` units holds at `per_connection`
/// units each, after `fixed` units that do not depend on the connections.
/// `None` when connections cost nothing of it (no bound).
fn fit(available: u64, fixed: u64, per_connection: u64) -> Option<u64> {
    (per_connection > 0).then(|| available.saturating_sub(fixed) / per_connection)
}

/// How many connections fit within `limits`, given what is in `usage` and
/// what each connection `costs`, and no more than `configured` if given.
///
/// Each known limit gives a bound; the smallest wins (on a tie, the first
/// in the order of [`Limit`]):
///
/// | limit | connections |
/// |---|---|
/// | files | (limit - open - reserve) / files per connection |
/// | threads per user | (limit - our threads - fixed - reserve) / threads per connection |
/// | system threads | (min(threads-max, pid_max) - all threads - fixed - reserve) / threads per connection |
/// | mappings | ((limit - ours - reserve) / mappings per thread - fixed) / threads per connection |
/// | memory | three quarters of `MemAvailable` / memory per connection |
///
/// A quarter of the available memory is left to the rest of the system
/// and to the error of a per-connection estimate; the other margins are
/// the reserves in [`Costs`]. A subtraction that goes below zero gives 0
/// connections: the server then refuses everything, which is honest. When
/// no limit at all is known, the answer is [`FALLBACK_CONNECTIONS`] (or
/// `configured`, if smaller).
pub fn compute(limits: &Limits, usage: &Usage, costs: &Costs, configured: Option<u64>) -> Capacity {
    let used = |value: Option<u64>| value.unwrap_or(0);
    let threads = costs.threads_per_connection;
    let thread_overhead = costs.fixed_threads.saturating_add(costs.reserve_threads);
    let mut bounds: Vec<(Limit, u64, Option<u64>)> = Vec::with_capacity(5);
    if let Some(files) = limits.open_files {
        let available = files.saturating_sub(used(usage.open_files));
        let n = fit(available, costs.reserve_files, costs.files_per_connection);
        bounds.push((Limit::Files, files, n));
    }
    if let Some(processes) = limits.processes {
        let available = processes.saturating_sub(used(usage.process_threads));
        bounds.push((
            Limit::ThreadsPerUser,
            processes,
            fit(available, thread_overhead, threads),
        ));
    }
    let system = match (limits.threads_max, limits.pid_max) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(system) = system {
        let available = system.saturating_sub(used(usage.system_threads));
        bounds.push((
            Limit::SystemThreads,
            system,
            fit(available, thread_overhead, threads),
        ));
    }
    if let (Some(maps), true) = (limits.max_map_count, costs.mappings_per_thread > 0) {
        let available = maps
            .saturating_sub(used(usage.mappings))
            .saturating_sub(costs.reserve_mappings);
        let thread_budget = available / costs.mappings_per_thread;
        bounds.push((
            Limit::Mappings,
            maps,
            fit(thread_budget, costs.fixed_threads, threads),
        ));
    }
    if let Some(memory) = limits.mem_available {
        let usable = memory / 4 * 3;
        bounds.push((
            Limit::Memory,
            memory,
            fit(usable, 0, costs.memory_per_connection),
        ));
    }
    let measured = !bounds.is_empty();
    let best = bounds
        .into_iter()
        .filter_map(|(limit, value, n)| n.map(|n| (limit, value, n)))
        .min_by_key(|&(_, _, n)| n);
    let (mut limit, mut limit_value, mut connections) = match best {
        Some(best) => best,
        // Limits were read but none bounds these costs (a connection that
        // costs nothing): the configured maximum decides, or the fallback.
        None if measured => (Limit::Configured, u64::MAX, u64::MAX),
        None => (Limit::Fallback, FALLBACK_CONNECTIONS, FALLBACK_CONNECTIONS),
    };
    match configured {
        Some(max) if max < connections => {
            (limit, limit_value, connections) = (Limit::Configured, max, max);
        }
        None if connections == u64::MAX => {
            (limit, limit_value, connections) =
                (Limit::Fallback, FALLBACK_CONNECTIONS, FALLBACK_CONNECTIONS);
        }
        _ => {}
    }
    Capacity {
        connections,
        limit,
        limit_value,
        costs: *costs,
    }
}

/// The capacity of this process now: [`compute`] over [`Limits::read`] and
/// [`Usage::read`].
pub fn measure(costs: &Costs, configured: Option<u64>) -> Capacity {
    compute(&Limits::read(), &Usage::read(), costs, configured)
}

impl Limits {
    /// Reads the limits from `/proc` (Linux). Whatever cannot be read, or
    /// is `unlimited`, is `None`.
    pub fn read() -> Limits {
        let limits = read("/proc/self/limits");
        let soft = |name| limits.as_deref().and_then(|text| parse_limit(text, name));
        Limits {
            open_files: soft("Max open files"),
            processes: soft("Max processes"),
            threads_max: read_number("/proc/sys/kernel/threads-max"),
            pid_max: read_number("/proc/sys/kernel/pid_max"),
            max_map_count: read_number("/proc/sys/vm/max_map_count"),
            mem_available: read("/proc/meminfo").and_then(|text| parse_mem_available(&text)),
        }
    }
}

impl Usage {
    /// Reads the current use from `/proc` (Linux). Whatever cannot be read
    /// is `None`.
    ///
    /// Reads `/proc/self/maps` whole, one line per mapping: a few
    /// megabytes for a process near its limit, so call it when the answer
    /// is needed (at start-up), not for every connection.
    pub fn read() -> Usage {
        Usage {
            open_files: open_files(),
            process_threads: process_threads(),
            system_threads: read("/proc/loadavg").and_then(|text| parse_loadavg_threads(&text)),
            mappings: read("/proc/self/maps").map(|text| text.lines().count() as u64),
        }
    }
}

/// The threads of this process (`Threads:` in `/proc/self/status`), cheap
/// enough to read for every statistics request.
pub fn process_threads() -> Option<u64> {
    read("/proc/self/status").and_then(|text| parse_status_threads(&text))
}

/// The file descriptors this process has open: the entries of
/// `/proc/self/fd`, less the one that listing them opens.
pub fn open_files() -> Option<u64> {
    let entries = fs::read_dir("/proc/self/fd").ok()?;
    Some((entries.count() as u64).saturating_sub(1))
}

fn read(path: &str) -> Option<String> {
    fs::read_to_string(path).ok()
}

fn read_number(path: &str) -> Option<u64> {
    read(path)?.trim().parse().ok()
}

/// The soft value of the limit `name` in the text of `/proc/self/limits`:
///
/// ```text
/// Limit                     Soft Limit           Hard Limit           Units
/// Max open files            1024                 1048576              files
/// ```
///
/// `None` for `unlimited`, or a line that is missing or unreadable.
fn parse_limit(text: &str, name: &str) -> Option<u64> {
    let values = text.lines().find_map(|line| line.strip_prefix(name))?;
    values.split_whitespace().next()?.parse().ok()
}

/// The total thread count, the 4th field of `/proc/loadavg`
/// (`0.52 0.58 0.59 3/187 23733`: 3 running of 187).
fn parse_loadavg_threads(text: &str) -> Option<u64> {
    let field = text.split_whitespace().nth(3)?;
    field.split_once('/')?.1.parse().ok()
}

/// `MemAvailable:   24116916 kB` in `/proc/meminfo`, in bytes.
fn parse_mem_available(text: &str) -> Option<u64> {
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))?;
    let mut fields = value.split_whitespace();
    let kib: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") => kib.checked_mul(1024),
        _ => None,
    }
}

/// `Threads: 5` (a tab between) in `/proc/self/status`.
fn parse_status_threads(text: &str) -> Option<u64> {
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))?;
    value.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOCK: Limits = Limits {
        open_files: Some(20_000),
        processes: Some(96_364),
        threads_max: Some(192_729),
        pid_max: Some(32_768),
        max_map_count: Some(65_530),
        mem_available: Some(24 << 30),
    };

    const NOTHING: Limits = Limits {
        open_files: None,
        processes: None,
        threads_max: None,
        pid_max: None,
        max_map_count: None,
        mem_available: None,
    };

    fn usage(files: u64, ours: u64, all: u64, maps: u64) -> Usage {
        Usage {
            open_files: Some(files),
            process_threads: Some(ours),
            system_threads: Some(all),
            mappings: Some(maps),
        }
    }

    /// A name, the inputs of [`compute`], and the limit and count expected.
    type Case = (&'static str, Limits, Usage, Costs, Option<u64>, Limit, u64);

    #[test]
    fn the_smallest_bound_wins() {
        let server = Costs {
            threads_per_connection: 1,
            fixed_threads: 4 + 64 + 1024 + 1,
            ..Costs::default()
        };
        let one_thread = Costs::default();
        let two_threads = Costs {
            threads_per_connection: 2,
            ..Costs::default()
        };
        let cases: &[Case] = &[
            // (65530 - 100 - 1024) / 4 = 16101 threads, less 1 fixed.
            (
                "stock",
                STOCK,
                usage(5, 1, 200, 100),
                one_thread,
                None,
                Limit::Mappings,
                16_100,
            ),
            // Two threads a connection: the abort at ~8,190 of the issue.
            (
                "two threads",
                STOCK,
                usage(5, 1, 200, 100),
                two_threads,
                None,
                Limit::Mappings,
                8_050,
            ),
            // The server: 1 093 fixed threads.
            (
                "server",
                STOCK,
                usage(5, 1, 200, 100),
                server,
                None,
                Limit::Mappings,
                15_008,
            ),
            // ulimit -n 256: 256 - 5 - 32.
            (
                "ulimit -n 256",
                Limits {
                    open_files: Some(256),
                    ..STOCK
                },
                usage(5, 1, 200, 100),
                server,
                None,
                Limit::Files,
                219,
            ),
            // Raised kernel limits: the file limit binds (20000 - 5 - 32).
            (
                "raised sysctls",
                Limits {
                    max_map_count: Some(1 << 20),
                    pid_max: Some(1 << 22),
                    ..STOCK
                },
                usage(5, 1, 200, 100),
                one_thread,
                None,
                Limit::Files,
                19_963,
            ),
            // ulimit -u 1000: 1000 - 10 - 1 - 64.
            (
                "ulimit -u",
                Limits {
                    processes: Some(1000),
                    ..STOCK
                },
                usage(5, 10, 200, 100),
                one_thread,
                None,
                Limit::ThreadsPerUser,
                925,
            ),
            // A busy machine: 32768 - 30000 - 1 - 64.
            (
                "busy system",
                STOCK,
                usage(5, 1, 30_000, 100),
                one_thread,
                None,
                Limit::SystemThreads,
                2_703,
            ),
            // threads-max alone: 5000 - 200 - 1 - 64.
            (
                "threads-max only",
                Limits {
                    threads_max: Some(5000),
                    pid_max: None,
                    ..NOTHING
                },
                usage(5, 1, 200, 100),
                one_thread,
                None,
                Limit::SystemThreads,
                4_735,
            ),
            // 64 MiB available: three quarters of it at 64 KiB each.
            (
                "little memory",
                Limits {
                    mem_available: Some(64 << 20),
                    ..STOCK
                },
                usage(5, 1, 200, 100),
                one_thread,
                None,
                Limit::Memory,
                768,
            ),
            (
                "configured",
                STOCK,
                usage(5, 1, 200, 100),
                one_thread,
                Some(500),
                Limit::Configured,
                500,
            ),
            // Equal to the OS bound: the OS limit is named.
            (
                "configured tie",
                STOCK,
                usage(5, 1, 200, 100),
                one_thread,
                Some(16_100),
                Limit::Mappings,
                16_100,
            ),
            (
                "nothing known",
                NOTHING,
                Usage::default(),
                one_thread,
                None,
                Limit::Fallback,
                1024,
            ),
            (
                "nothing known, configured",
                NOTHING,
                Usage::default(),
                one_thread,
                Some(10),
                Limit::Configured,
                10,
            ),
            // Usage unknown counts as 0: (256 - 32).
            (
                "usage unknown",
                Limits {
                    open_files: Some(256),
                    ..NOTHING
                },
                Usage::default(),
                one_thread,
                None,
                Limit::Files,
                224,
            ),
            // Less than the reserve: nothing fits, and nothing underflows.
            (
                "exhausted",
                Limits {
                    open_files: Some(20),
                    ..STOCK
                },
                usage(30, 1, 200, 100),
                one_thread,
                None,
                Limit::Files,
                0,
            ),
            (
                "maps exhausted",
                STOCK,
                usage(5, 1, 200, 70_000),
                one_thread,
                None,
                Limit::Mappings,
                0,
            ),
            // Connections without threads: only files and memory bound them.
            (
                "no threads",
                STOCK,
                usage(5, 1, 200, 100),
                Costs {
                    threads_per_connection: 0,
                    ..Costs::default()
                },
                None,
                Limit::Files,
                19_963,
            ),
            // Connections that cost nothing measurable, no maximum: fallback.
            (
                "costs nothing",
                Limits {
                    processes: Some(100),
                    ..NOTHING
                },
                Usage::default(),
                Costs {
                    threads_per_connection: 0,
                    ..Costs::default()
                },
                None,
                Limit::Fallback,
                1024,
            ),
            (
                "costs nothing, configured",
                Limits {
                    processes: Some(100),
                    ..NOTHING
                },
                Usage::default(),
                Costs {
                    threads_per_connection: 0,
                    ..Costs::default()
                },
                Some(50_000),
                Limit::Configured,
                50_000,
            ),
            // Extreme values saturate instead of overflowing.
            (
                "huge",
                Limits {
                    open_files: Some(u64::MAX),
                    ..NOTHING
                },
                usage(u64::MAX, u64::MAX, u64::MAX, u64::MAX),
                Costs {
                    mappings_per_thread: 0,
                    ..Costs::default()
                },
                None,
                Limit::Files,
                0,
            ),
        ];
        for (name, limits, usage, costs, configured, limit, connections) in cases {
            let capacity = compute(limits, usage, costs, *configured);
            assert_eq!(
                (capacity.limit, capacity.connections),
                (*limit, *connections),
                "{name}"
            );
        }
    }

    #[test]
    fn display_names_the_limit_and_its_value() {
        let cases: &[(Limits, Option<u64>, &str)] = &[
            (
                STOCK,
                None,
                "16,100 connections, limited by vm.max_map_count (65,530 mappings, 4 per thread)",
            ),
            (
                Limits { open_files: Some(256), ..STOCK },
                None,
                "219 connections, limited by the file limit, ulimit -n (256 files, 1 per connection)",
            ),
            (
                Limits { processes: Some(1000), ..STOCK },
                None,
                "934 connections, limited by the thread limit, ulimit -u (1,000 threads, 1 per connection)",
            ),
            (
                Limits { mem_available: Some(64 << 20), ..STOCK },
                None,
                "768 connections, limited by MemAvailable (64 MiB, 64 KiB per connection)",
            ),
            (
                STOCK,
                Some(1_000_000 - 1),
                "16,100 connections, limited by vm.max_map_count (65,530 mappings, 4 per thread)",
            ),
            (STOCK, Some(1234), "1,234 connections, limited by the configured maximum (1,234)"),
            (
                NOTHING,
                None,
                "1,024 connections, limited by nothing (no limit could be read; a safe default)",
            ),
        ];
        for (limits, configured, expected) in cases {
            let capacity = compute(
                limits,
                &usage(5, 1, 200, 100),
                &Costs::default(),
                *configured,
            );
            assert_eq!(capacity.to_string(), *expected);
        }
    }

    #[test]
    fn thousands() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (65_530, "65,530"),
            (1_000_000, "1,000,000"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(Thousands(n).to_string(), text);
        }
    }

    const LIMITS: &str = "\
Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max processes             96364                96364                processes 
Max open files            1024                 20000                files     
Max locked memory         8388608              8388608              bytes     
";

    #[test]
    fn parses_proc_self_limits() {
        let cases = [
            ("Max open files", Some(1024)),
            ("Max processes", Some(96_364)),
            ("Max cpu time", None),
            ("Max address space", None),
        ];
        for (name, expected) in cases {
            assert_eq!(parse_limit(LIMITS, name), expected, "{name}");
        }
        assert_eq!(parse_limit("", "Max open files"), None);
        assert_eq!(parse_limit("Max open files", "Max open files"), None);
        assert_eq!(parse_limit("Max open files  x 1", "Max open files"), None);
    }

    #[test]
    fn parses_proc_loadavg() {
        let cases = [
            ("22.44 9.57 4.08 51/187 23733\n", Some(187)),
            ("0.00 0.00 0.00 1/1 1", Some(1)),
            ("0.00 0.00 0.00 1 1", None),
            ("0.00 0.00 0.00", None),
            ("", None),
            ("0.00 0.00 0.00 1/x 1", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_loadavg_threads(text), expected, "{text:?}");
        }
    }

    #[test]
    fn parses_proc_meminfo_and_status() {
        let meminfo = "MemTotal:       24683652 kB\nMemFree:  1 kB\nMemAvailable:   24116916 kB\n";
        assert_eq!(parse_mem_available(meminfo), Some(24_116_916 * 1024));
        for bad in [
            "",
            "MemAvailable:",
            "MemAvailable: 12",
            "MemAvailable: x kB",
            "MemAvailable: 99999999999999999999 kB",
        ] {
            assert_eq!(parse_mem_available(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_mem_available("MemAvailable: 18446744073709551615 kB"),
            None
        );
        let status = "Name:\tx\nThreads:\t5\nSigQ:\t0/1\n";
        assert_eq!(parse_status_threads(status), Some(5));
        assert_eq!(parse_status_threads("Threads:\tmany"), None);
        assert_eq!(parse_status_threads(""), None);
    }

    /// On Linux the measurement finds this test process itself: a thread,
    /// a few files and mappings; elsewhere it finds nothing, and the answer
    /// is still an answer.
    #[test]
    fn measures_this_process() {
        let usage = Usage::read();
        let capacity = measure(&Costs::default(), Some(1_000_000));
        if cfg!(target_os = "linux") {
            assert!(usage.process_threads.unwrap_or(0) >= 1);
            assert!(usage.open_files.unwrap_or(0) >= 1);
            assert!(usage.mappings.unwrap_or(0) >= 1);
            assert!(Limits::read().open_files.is_some() || Limits::read().max_map_count.is_some());
            assert!(process_threads().is_some());
        }
        assert!(capacity.connections <= 1_000_000);
        assert!(!capacity.to_string().is_empty());
    }
}
