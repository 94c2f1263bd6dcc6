//! `loadgen`: the macro benchmark of wxpay-mock (issue 7).
//!
//! - `loadgen run`: N clients (`RedpackClient::send`, one keep-alive connection each, over
//!   mutual TLS on loopback) against wxpay-mock, then the same load against a bare hyper +
//!   rustls server on the same certificates that answers a canned `sendredpack` success (the
//!   stack's ceiling). Prints requests/s, latency p50/p99/p999, the mock's share of the
//!   ceiling, and CPU per request of the client process and of the server process.
//! - `loadgen ledger`: fills the mock's ledger with up to 1,000,000 packets and prints the
//!   server process's RSS growth per packet.
//!
//! The servers run in a child process (`loadgen serve`, started by the two commands above),
//! so the CPU time of this process is the clients' alone and the child's is the server's;
//! both are read from `/proc/<pid>/stat`. The child ends when this process does (it watches
//! its stdin) and after a bounded lifetime at the latest. Every run has a bounded duration.
//!
//! ```sh
//! cargo run --release -p benches --bin loadgen -- run               # 32 clients, 10 s each
//! cargo run --release -p benches --bin loadgen -- ledger            # 1,000,000 packets
//! cargo run --release -p benches --bin loadgen -- run --clients 4 --duration 1 --warmup 0
//! ```

mod drive;
mod procfs;
mod serve;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use tokio::time::Instant;
use wxpay_redpack::{RedpackClient, RedpackClientBuilder};

use benches::Fixture;
use drive::{Plan, Sample, Template};
use serve::Ready;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The macro benchmark of wxpay-mock: throughput, latency, CPU and ledger memory.
#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Throughput and latency of wxpay-mock and of the bare TLS server (the ceiling).
    Run(RunArgs),
    /// RSS growth of the mock per packet in its ledger.
    Ledger(LedgerArgs),
    /// (internal) The server process: wxpay-mock and the bare server.
    #[command(hide = true)]
    Serve(ServeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    /// wxpay-mock, then the bare server.
    Both,
    /// wxpay-mock only.
    Mock,
    /// The bare server only.
    Bare,
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Concurrent clients, each with its own RedpackClient and connection.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    clients: u16,
    /// Tokio worker threads of this (client) process.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    client_threads: u16,
    /// Tokio worker threads of the server process.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    server_threads: u16,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Measured seconds per target.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    duration: u64,
    /// Unmeasured seconds before the measurement, per target (connections open, caches
    /// warm).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=60))]
    warmup: u64,
    /// The measured seconds are split into this many rounds, the targets taking turns.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
    rounds: u16,
    /// Which servers to load.
    #[arg(long, value_enum, default_value_t = Target::Both)]
    target: Target,
}

#[derive(Debug, clap::Args)]
struct LedgerArgs {
    #[command(flatten)]
    common: Common,
    /// Packets in the ledger at the end.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1_000..=10_000_000))]
    packets: u64,
    /// Packets sent before the baseline RSS is read (the request journal, 10,000 entries,
    /// and the allocator's arenas are full by then).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    baseline: u64,
    /// RSS is read every this many packets.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1_000..=10_000_000))]
    every: u64,
    /// Stop after this many seconds even if the ledger is not full yet (the growth measured
    /// so far is reported, as such).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    max_seconds: u64,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Tokio worker threads.
    #[arg(long, default_value_t = 2)]
    threads: u16,
    /// Exit after this many seconds at the latest.
    #[arg(long, default_value_t = 900)]
    lifetime: u64,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Cmd::Run(run) => run_bench(&run),
        Cmd::Ledger(ledger) => ledger_bench(&ledger),
        Cmd::Serve(serve) => serve::run(
            usize::from(serve.threads.max(1)),
            Duration::from_secs(serve.lifetime),
        ),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The server process, stopped when dropped.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    ready: Ready,
}

impl Server {
    fn start(threads: u16, lifetime: Duration) -> Result<Self, BoxError> {
        let mut child = Command::new(std::env::current_exe()?)
            .args([
                "serve",
                "--threads",
                &threads.to_string(),
                "--lifetime",
                &lifetime.as_secs().to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or("no stdout from the server process")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let ready = match Ready::from_line(line.trim()) {
            Ok(ready) => ready,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the server process did not start: {e}").into());
            }
        };
        Ok(Self {
            child,
            stdin,
            ready,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Closing its stdin ends it; kill it (by its pid) if it lingers.
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime(threads: u16) -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(threads))
        .enable_all()
        .build()?)
}

/// `n` clients of the fixture merchant, each with its own transport (pool, connection),
/// pointed at `base_url`.
fn clients(
    ready: &Ready,
    fixture: &Fixture,
    base_url: &str,
    n: u16,
) -> Result<Vec<RedpackClient>, BoxError> {
    (0..n)
        .map(|_| {
            let client = RedpackClientBuilder::from_merchant_toml(&ready.merchant_toml)?
                .send_name(fixture.param("send_name")?)
                .client_ip(fixture.param("client_ip")?)
                .base_url(base_url)
                .no_backup()
                .build()?;
            Ok(client)
        })
        .collect()
}

/// CPU time of this process and of the server process.
fn cpu_now(server: u32) -> Result<(Duration, Duration), BoxError> {
    Ok((procfs::cpu_time(None)?, procfs::cpu_time(Some(server))?))
}

/// One target's figures.
#[derive(Debug)]
struct Measured {
    name: &'static str,
    sample: Sample,
    seconds: f64,
    client_cpu: Duration,
    server_cpu: Duration,
}

impl Measured {
    fn per_second(&self) -> f64 {
        lossy(self.sample.requests()) / self.seconds
    }

    fn cpu_per_request(&self, cpu: Duration) -> Duration {
        match self.sample.requests() {
            0 => Duration::ZERO,
            n => cpu / u32::try_from(n).unwrap_or(u32::MAX),
        }
    }
}

#[allow(
    clippy::cast_precision_loss,
    reason = "counts far below 2^52 shown as rates"
)]
fn lossy(n: u64) -> f64 {
    n as f64
}

fn micros(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

impl Measured {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            sample: Sample::default(),
            seconds: 0.0,
            client_cpu: Duration::ZERO,
            server_cpu: Duration::ZERO,
        }
    }

    /// Loads the target for `warmup` (nothing counted), then for `length` counted.
    async fn round(
        &mut self,
        clients: &[RedpackClient],
        template: &Template,
        (warmup, length): (Duration, Duration),
        server: u32,
        base: u64,
    ) -> Result<(), BoxError> {
        let from = Instant::now() + warmup;
        let until = from + length;
        let cpu = tokio::spawn(async move {
            tokio::time::sleep_until(from).await;
            let start = cpu_now(server);
            tokio::time::sleep_until(until).await;
            let end = cpu_now(server);
            match (start, end) {
                (Ok(s), Ok(e)) => Ok((e.0.saturating_sub(s.0), e.1.saturating_sub(s.1))),
                (Err(e), _) | (_, Err(e)) => Err(e.to_string()),
            }
        });
        let sample = drive::run(clients, template, Plan::Timed { from, until }, base).await;
        let (client_cpu, server_cpu) = cpu.await??;
        self.sample.merge(sample);
        self.seconds += length.as_secs_f64();
        self.client_cpu += client_cpu;
        self.server_cpu += server_cpu;
        Ok(())
    }
}

#[allow(clippy::print_stdout, reason = "the report is the binary's output")]
fn run_bench(args: &RunArgs) -> Result<(), BoxError> {
    let load_before = procfs::load_average();
    let fixture = Fixture::load()?;
    let template = Template::from_fixture(&fixture)?;
    let lifetime = Duration::from_secs(2 * (args.warmup + args.duration) + 120);
    let server = Server::start(args.common.server_threads, lifetime)?;
    let rt = runtime(args.common.client_threads)?;
    let n = args.common.clients;
    let mut targets = Vec::new();
    if args.target != Target::Bare {
        targets.push((
            Measured::new("wxpay-mock"),
            clients(&server.ready, &fixture, &server.ready.mock_url, n)?,
        ));
    }
    if args.target != Target::Mock {
        targets.push((
            Measured::new("bare hyper+rustls"),
            clients(&server.ready, &fixture, &server.ready.bare_url, n)?,
        ));
    }
    // The targets take turns, round after round, so that a change of the machine's load
    // during the run weighs on both alike.
    let rounds = u32::from(args.rounds);
    let length = Duration::from_secs(args.duration) / rounds;
    rt.block_on(async {
        for round in 0..=rounds {
            for (index, (measured, clients)) in (1..).zip(targets.iter_mut()) {
                // Round 0 warms up (connections open, caches fill) and counts nothing.
                let phase = if round == 0 {
                    (Duration::from_secs(args.warmup), Duration::ZERO)
                } else {
                    (Duration::ZERO, length)
                };
                let base = index * 1_000_000_000 + u64::from(round) * 100_000_000;
                measured
                    .round(clients, &template, phase, server.pid(), base)
                    .await?;
            }
        }
        Ok::<_, BoxError>(())
    })?;
    let mut results: Vec<Measured> = targets.into_iter().map(|(m, _)| m).collect();
    drop(server);

    println!(
        "loadgen run: {n} clients (RedpackClient::send, one keep-alive mutual-TLS connection each, loopback), \
         {} s measured per target in {} alternating rounds, after {} s warm-up",
        args.duration, args.rounds, args.warmup
    );
    println!(
        "machine: {} CPUs ({}); load average before: {load_before}, after: {}",
        procfs::cpus(),
        procfs::cpu_model(),
        procfs::load_average()
    );
    println!(
        "threads: client process {}, server process {}",
        args.common.client_threads, args.common.server_threads
    );
    println!();
    println!(
        "| target | requests/s | p50 | p99 | p99.9 | errors | client CPU/request | server CPU/request |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut failures = Vec::new();
    for m in &mut results {
        let p50 = m.sample.percentile(0.50);
        let p99 = m.sample.percentile(0.99);
        let p999 = m.sample.percentile(0.999);
        println!(
            "| {} | {:.0} | {} | {} | {} | {} | {} | {} |",
            m.name,
            m.per_second(),
            micros(p50),
            micros(p99),
            micros(p999),
            m.sample.failed,
            micros(m.cpu_per_request(m.client_cpu)),
            micros(m.cpu_per_request(m.server_cpu)),
        );
        if let Some(f) = &m.sample.first_failure {
            failures.push(format!(
                "{}: {} failed, first: {f}",
                m.name, m.sample.failed
            ));
        }
    }
    if let [mock, bare] = results.as_slice()
        && bare.per_second() > 0.0
    {
        let share = 100.0 * mock.per_second() / bare.per_second();
        let verdict = if share >= 70.0 { "met" } else { "not met" };
        println!();
        println!("wxpay-mock / ceiling: {share:.1} % (target >= 70 %: {verdict})");
    }
    for f in &failures {
        println!("{f}");
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err("some requests failed".into())
    }
}

#[allow(clippy::print_stdout, reason = "the report is the binary's output")]
fn ledger_bench(args: &LedgerArgs) -> Result<(), BoxError> {
    let load_before = procfs::load_average();
    let fixture = Fixture::load()?;
    let template = Template::from_fixture(&fixture)?;
    let server = Server::start(
        args.common.server_threads,
        Duration::from_secs(args.max_seconds + 120),
    )?;
    let rt = runtime(args.common.client_threads)?;
    let started = Instant::now();
    let give_up = std::time::Instant::now() + Duration::from_secs(args.max_seconds);
    let pid = server.pid();
    let mut rows: Vec<(u64, u64, f64)> = Vec::new();
    let mut failures = 0;
    let mut first_failure = None;
    let before = procfs::rss_bytes(Some(pid))?;
    rt.block_on(async {
        let mock = clients(
            &server.ready,
            &fixture,
            &server.ready.mock_url,
            args.common.clients,
        )?;
        let mut count = |sample: Sample| {
            failures += sample.failed;
            if first_failure.is_none() {
                first_failure = sample.first_failure;
            }
        };
        count(
            drive::run(
                &mock,
                &template,
                Plan::Packets {
                    start: 0,
                    end: args.baseline,
                },
                0,
            )
            .await,
        );
        let baseline = procfs::rss_bytes(Some(pid))?;
        rows.push((args.baseline, baseline, 0.0));
        let mut done = args.baseline;
        while done < args.packets && std::time::Instant::now() < give_up {
            let end = (done + args.every).min(args.packets);
            let t = Instant::now();
            count(drive::run(&mock, &template, Plan::Packets { start: done, end }, 0).await);
            let rate = lossy(end - done) / t.elapsed().as_secs_f64();
            done = end;
            rows.push((done, procfs::rss_bytes(Some(pid))?, rate));
        }
        Ok::<_, BoxError>(())
    })?;
    let elapsed = started.elapsed();
    drop(server);

    println!(
        "loadgen ledger: {} clients, {} packets wanted, {:.0} s; load average before: {load_before}, after: {}",
        args.common.clients,
        args.packets,
        elapsed.as_secs_f64(),
        procfs::load_average()
    );
    println!(
        "server process RSS at start: {:.1} MiB",
        lossy(before) / 1048576.0
    );
    println!();
    println!("| packets in the ledger | server RSS | growth since baseline per packet | sends/s |");
    println!("|---|---|---|---|");
    let (base_packets, base_rss, _) = rows.first().copied().unwrap_or((0, before, 0.0));
    for &(packets, rss, rate) in &rows {
        let per_packet = if packets > base_packets {
            format!(
                "{:.0} B",
                (lossy(rss) - lossy(base_rss)) / lossy(packets - base_packets)
            )
        } else {
            "(baseline)".to_owned()
        };
        println!(
            "| {packets} | {:.1} MiB | {per_packet} | {rate:.0} |",
            lossy(rss) / 1048576.0
        );
    }
    if let Some(&(packets, rss, _)) = rows.last()
        && packets > base_packets
    {
        let per_packet = (lossy(rss) - lossy(base_rss)) / lossy(packets - base_packets);
        let verdict = if per_packet <= 400.0 {
            "met"
        } else {
            "not met"
        };
        let reached = if packets >= args.packets {
            String::new()
        } else {
            format!(" (stopped at {packets} packets after --max-seconds; not extrapolated)")
        };
        println!();
        println!(
            "RSS growth per packet at {packets} packets: {per_packet:.0} B (target <= 400 B: {verdict}){reached}"
        );
    }
    if failures > 0 {
        println!(
            "{failures} sends failed, first: {}",
            first_failure.unwrap_or_default()
        );
        return Err("some sends failed".into());
    }
    Ok(())
}
