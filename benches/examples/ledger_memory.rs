//! The mock's ledger memory at 1,000,000 packets, in process and in well under a minute:
//! packets are committed through `MockServer::answer_directly` (the mock's whole handler:
//! parse, verify the signature, rules, ledger, encode the answer; no TLS, no HTTP, no request
//! journal) on a current-thread runtime, so that every allocation the mock makes happens on
//! this thread and is counted.
//!
//! ```sh
//! cargo run --release -p benches --example ledger_memory            # 1,000,000 packets
//! cargo run --release -p benches --example ledger_memory -- 200000 50000
//! ```
//!
//! Prints, every EVERY packets, the process RSS and two growths per packet since a baseline
//! of 10,000 packets: RSS (what the issue's target is about) and live heap bytes as
//! requested from the allocator (the ledger's own size, without the allocator's overhead).
//! `loadgen ledger` measures the same over mutual TLS, in the server process.

use std::time::Instant;

use allocation_counter::measure;
use benches::Fixture;
use wxpay_mock::{DEFAULT_MCH_ID, Fen, Limits, MerchantConfig, MockServer};
use wxpay_proto::{ApiRequest, MchBillno, MchId, OpenId, ReturnStatus, XmlMessage, sendredpack};
use wxpay_sign::{SignType, sign};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const BASELINE: u64 = 10_000;

fn rss_bytes() -> Result<u64, BoxError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| "no VmRSS in /proc/self/status".into())
}

#[allow(
    clippy::cast_precision_loss,
    reason = "byte counts far below 2^52 shown as averages"
)]
fn per(bytes: i64, packets: u64) -> f64 {
    bytes as f64 / packets as f64
}

/// Commits packets `range` (billno and openid from the sequence number) and checks that each
/// was accepted.
async fn commit(
    mock: &MockServer,
    fixture: &Fixture,
    range: std::ops::Range<u64>,
) -> Result<(), BoxError> {
    let key = fixture.key()?;
    let mut request: sendredpack::Request = fixture.request()?;
    request.mch_id = MchId::new(DEFAULT_MCH_ID)?;
    for seq in range {
        request.mch_billno = MchBillno::new(format!("{DEFAULT_MCH_ID}20261126{seq:010}"))?;
        request.re_openid = OpenId::new(format!("oLedger{seq:021}"))?;
        let signature = sign(SignType::Md5, &key, request.sign_fields().pairs())?;
        request.set_sign(signature.as_str().to_owned());
        let body = request.to_xml();
        let (status, answer) = mock
            .answer_directly("/mmpaymkttransfers/sendredpack", body.as_bytes())
            .await;
        let answer = sendredpack::Response::from_xml(answer.as_bytes())?;
        if status != 200 || answer.header.status() != ReturnStatus::Success {
            return Err(format!("packet {seq} refused: {:?}", answer.header).into());
        }
    }
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the report is the example's output")]
fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let packets: u64 = args.next().map_or(Ok(1_000_000), |n| n.parse())?;
    let every: u64 = args.next().map_or(Ok(100_000), |n| n.parse())?;
    let fixture = Fixture::load()?;
    let limits = Limits::DEFAULT
        .freq_per_minute(u32::MAX)
        .sendnum_per_user_per_day(u32::MAX)
        .rcvd_amount_per_user_per_day(Fen::new(u64::MAX))
        .send_amount_per_day(Fen::new(u64::MAX));
    let merchant = MerchantConfig::new(DEFAULT_MCH_ID)
        .appid(fixture.param("wxappid")?)
        .api_key(fixture.api_key.clone())
        .balance(Fen::new(1_000_000_000_000_000))
        .limits(limits);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mock = rt.block_on(MockServer::builder().seed(7).merchant(merchant).start())?;
    rt.block_on(commit(&mock, &fixture, 0..BASELINE))?;
    let base_rss = rss_bytes()?;
    println!(
        "in-process ledger memory, load average {}",
        std::fs::read_to_string("/proc/loadavg")?.trim()
    );
    println!();
    println!("| packets | RSS | RSS growth per packet | live heap growth per packet | commits/s |");
    println!("|---|---|---|---|---|");
    println!(
        "| {BASELINE} | {:.1} MiB | (baseline) | (baseline) | |",
        per(i64::try_from(base_rss)?, 1_048_576)
    );
    let mut done = BASELINE;
    let mut live: i64 = 0;
    while done < packets {
        let end = (done + every).min(packets);
        let started = Instant::now();
        let mut result: Result<(), BoxError> = Ok(());
        let info = measure(|| result = rt.block_on(commit(&mock, &fixture, done..end)));
        result?;
        let rate = per(i64::try_from(end - done)?, 1) / started.elapsed().as_secs_f64();
        live += info.bytes_current;
        done = end;
        let rss = rss_bytes()?;
        println!(
            "| {done} | {:.1} MiB | {:.0} B | {:.0} B | {rate:.0} |",
            per(i64::try_from(rss)?, 1_048_576),
            per(
                i64::try_from(rss)? - i64::try_from(base_rss)?,
                done - BASELINE
            ),
            per(live, done - BASELINE),
        );
    }
    let ledger = mock.ledger();
    println!();
    println!(
        "packets in the ledger: {} (asked {packets})",
        ledger.packet_count()
    );
    Ok(())
}
