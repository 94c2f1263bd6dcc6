//! The quickstart: `cargo run --example quickstart` from the repository root.
//!
//! Starts `wxpay-mock` in this process (HTTPS with client certificates, made on the spot in a
//! temporary directory), sends a normal, a group and a mini-program red packet with the
//! client, queries them, has users claim the normal packet and one share of the group, moves
//! the mock's clock 24 hours ahead so the rest is refunded, and prints what happened. No
//! configuration, no network beyond 127.0.0.1, nothing left behind.
#![allow(
    clippy::print_stdout,
    reason = "an example shows its results on stdout"
)]

use std::error::Error;
use std::time::{Duration, Instant};

use wxpay_mock::{ClockMode, MockServer};
use wxpay_proto::{ActName, Fen, MchBillno, OpenId, Remark, Wishing};
use wxpay_redpack::{
    PacketRecord, QueryOutcome, RedPacket, RedpackClient, RedpackClientBuilder, RetryPolicy,
    SendOutcome, SendRequest,
};

/// One packet of the tour and what was seen of it.
struct Row {
    label: &'static str,
    request: SendRequest,
    sent: String,
    after_claim: String,
    after_day: Option<PacketRecord>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let started = Instant::now();

    println!("1. Starting wxpay-mock in this process (mutual TLS, certificates made just now)");
    let mock = MockServer::builder()
        .seed(2026)
        .clock(ClockMode::Frozen)
        .start()
        .await?;
    let merchant = mock.default_merchant();
    let client = RedpackClientBuilder::from_merchant_toml(merchant.merchant_toml_path())?
        .send_name("wxpay-rs 快速入门")
        .build()?;
    println!(
        "   API {}  merchant {}  (client certificate CN={})",
        mock.base_url(),
        client.mch_id(),
        merchant.mch_id()
    );
    let balance_before = balance(&mock);

    println!("2. Sending a normal, a group and a mini-program red packet");
    let wishing = Wishing::new("新年快乐，万事如意")?;
    let act_name = ActName::new("快速入门")?;
    let remark = Remark::new("wxpay-rs quickstart")?;
    let packet = |n: u64, openid: &str, yuan: &str| -> Result<RedPacket, Box<dyn Error>> {
        Ok(RedPacket::new(
            client.billno(n)?,
            OpenId::new(openid)?,
            Fen::parse_yuan(yuan)?,
            wishing.clone(),
            act_name.clone(),
            remark.clone(),
        ))
    };
    let normal = client.normal(&packet(1, "oQuickstartAlice", "1.88")?)?;
    #[allow(
        deprecated,
        reason = "sendgroupredpack is retired, and still served by the mock"
    )]
    let group = client.group(&packet(2, "oQuickstartBob", "10.00")?.with_total_num(3))?;
    let mini = client.mini_program(&packet(3, "oQuickstartCarol", "2.00")?)?;

    let mut rows = Vec::new();
    for (label, request) in [
        ("normal", normal),
        ("group of 3", group),
        ("mini-program", mini),
    ] {
        let outcome = client
            .send_reliably(&request, &RetryPolicy::default())
            .await?;
        match &outcome {
            SendOutcome::Sent {
                send_listid,
                package,
                ..
            } => {
                println!(
                    "   {label:<13} {} yuan to {}: sent, send_listid {send_listid}",
                    request.total_amount(),
                    request.re_openid()
                );
                if let Some(package) = package {
                    let params = client.biz_red_packet_params(package)?;
                    println!(
                        "   {:<13} wx.sendBizRedPacket paySign {} (timeStamp {})",
                        "", params.pay_sign, params.time_stamp
                    );
                }
            }
            other => println!("   {label:<13} not sent: {other:?}"),
        }
        let sent = status(&client, &request).await?;
        rows.push(Row {
            label,
            request,
            sent,
            after_claim: String::new(),
            after_day: None,
        });
    }

    println!("3. Alice opens her packet; Bob opens the first share of the group");
    let mch_id = client.mch_id().as_str().to_owned();
    mock.claim(&mch_id, rows[0].request.mch_billno().as_str(), None)?;
    mock.claim(
        &mch_id,
        rows[1].request.mch_billno().as_str(),
        Some("oQuickstartBob"),
    )?;
    for row in &mut rows {
        row.after_claim = status(&client, &row.request).await?;
    }

    println!("4. 24 hours pass on the mock's clock: unclaimed money goes back to the merchant");
    mock.advance_clock(Duration::from_secs(24 * 3600 + 120));
    for row in &mut rows {
        row.after_day = record(&client, row.request.mch_billno()).await?;
    }

    println!();
    print_table(&rows);
    let balance_after = balance(&mock);
    let spent = balance_before
        .checked_sub(balance_after)
        .unwrap_or(Fen::ZERO);
    println!();
    println!(
        "Merchant balance: {balance_before} -> {balance_after} yuan ({spent} yuan paid out: \
         what was claimed)"
    );
    let invariants = mock.invariants();
    println!(
        "Mock invariants: {}",
        if invariants.ok {
            "ok (one packet per billno, the money adds up)".to_owned()
        } else {
            invariants.violations.join("; ")
        }
    );
    println!(
        "Done in {:.1} s; the mock's files lived in a temporary directory, now removed.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The packet's status by `gethbinfo`, with the claimed shares of a group.
async fn status(client: &RedpackClient, request: &SendRequest) -> Result<String, Box<dyn Error>> {
    Ok(match record(client, request.mch_billno()).await? {
        Some(record) if request.total_num() > 1 => format!(
            "{} ({}/{})",
            record.status,
            record.claims.len(),
            request.total_num()
        ),
        Some(record) => record.status.to_string(),
        None => "not found".to_owned(),
    })
}

async fn record(
    client: &RedpackClient,
    billno: &MchBillno,
) -> Result<Option<PacketRecord>, Box<dyn Error>> {
    Ok(match client.query(billno).await? {
        QueryOutcome::Found(record) => Some(*record),
        _ => None,
    })
}

fn balance(mock: &MockServer) -> Fen {
    let ledger = mock.ledger();
    let mch_id = mock.default_merchant().mch_id();
    Fen::new(ledger.merchant(mch_id).map_or(0, |m| m.balance_fen))
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<13} {:<28} {:>7} {:<11} {:<12} {:<10} {:>8} {:>9}",
        "packet",
        "mch_billno",
        "yuan",
        "after send",
        "after claim",
        "after 24 h",
        "claimed",
        "refunded"
    );
    println!("{}", "-".repeat(106));
    for row in rows {
        let (day, claimed, refunded) = match &row.after_day {
            Some(record) => {
                let claimed = record
                    .claims
                    .iter()
                    .fold(Fen::ZERO, |sum, c| sum.checked_add(c.amount).unwrap_or(sum));
                (
                    record.status.to_string(),
                    claimed.to_string(),
                    record
                        .refund_amount
                        .map_or_else(|| "-".to_owned(), |a| a.to_string()),
                )
            }
            None => ("?".to_owned(), "?".to_owned(), "?".to_owned()),
        };
        println!(
            "{:<13} {:<28} {:>7} {:<11} {:<12} {:<10} {:>8} {:>9}",
            row.label,
            row.request.mch_billno(),
            row.request.total_amount().to_string(),
            row.sent,
            row.after_claim,
            day,
            claimed,
            refunded
        );
    }
}
