//! What the tool prints: lines for people, or one JSON document for scripts. Never a secret:
//! nothing here sees the API key.

use std::cell::Cell;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use wxpay_proto::{ErrCode, Fen, HandlingClass, MchBillno};
use wxpay_redpack::campaign::{
    Campaign, Duplicate, JournalRow, Progress as RowProgress, Report, RowState, Tally, Verdict,
};
use wxpay_redpack::{
    BizRedPacketParams, Confirmation, PacketRecord, QueryOutcome, SendOutcome, SendRequest,
};

use crate::{Exit, Failure};

/// How many rows `status` lists per state (JSON lists them all).
const LISTED_ROWS: usize = 20;
/// How many line errors are printed (JSON has them all).
const LISTED_ERRORS: usize = 50;

/// Where results go: human lines, or JSON.
#[derive(Debug)]
pub(crate) struct Output {
    json: bool,
}

impl Output {
    pub(crate) fn new(json: bool) -> Self {
        Self { json }
    }

    fn print_json(value: &Value) {
        // Serializing a `Value` cannot fail; an empty line would still be valid output.
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    }

    pub(crate) fn failure(&self, failure: &Failure) {
        if self.json {
            let mut value = json!({
                "error": {
                    "kind": failure.kind,
                    "message": failure.message,
                    "details": failure.details,
                    "exit_code": failure.exit as u8,
                }
            });
            if let Some(billno) = &failure.billno {
                value["mch_billno"] = json!(billno.as_str());
                value["outcome"] = json!(match failure.exit {
                    Exit::NotSent => "not_sent",
                    Exit::Usage => "invalid",
                    _ => "error",
                });
            }
            Self::print_json(&value);
        }
        eprintln!("wxpay-redpack: {}", failure.message);
        let shown = failure.details.len().min(LISTED_ERRORS + 1);
        for detail in failure.details.iter().take(shown) {
            eprintln!("  {detail}");
        }
        if failure.details.len() > shown {
            eprintln!("  … and {} more", failure.details.len() - shown);
        }
    }

    pub(crate) fn send_outcome(
        &self,
        request: &SendRequest,
        outcome: &SendOutcome,
        biz: Option<&BizRedPacketParams>,
    ) {
        let billno = request.mch_billno().as_str();
        let amount = request.total_amount();
        let mini = request.kind() == wxpay_proto::rules::SendKind::MiniProgram;
        if self.json {
            let mut value = json!({
                "api": request.api_name(),
                "mch_billno": billno,
                "openid": request.re_openid().as_str(),
                "amount_fen": amount.get(),
                "amount": amount.to_string(),
                "total_num": request.total_num(),
            });
            merge(&mut value, outcome_json(outcome));
            if let Some(biz) = biz {
                value["biz_red_packet"] = serde_json::to_value(biz).unwrap_or(Value::Null);
            }
            if mini && matches!(outcome, SendOutcome::Sent { .. }) {
                value["package_missing"] = json!(biz.is_none());
            }
            Self::print_json(&value);
            return;
        }
        match outcome {
            SendOutcome::Sent {
                send_listid,
                package,
                confirmed_by,
                ..
            } => {
                println!("sent      {billno}");
                println!("  send_listid   {send_listid}");
                println!(
                    "  amount        {amount} yuan to {}{}",
                    request.re_openid(),
                    shares(request.total_num())
                );
                println!("  confirmed by  {}", confirmation(confirmed_by));
                if let Some(package) = package {
                    println!("  package       {package}");
                }
                if mini && biz.is_none() {
                    println!(
                        "  the packet is sent, but its package (for wx.sendBizRedPacket) could \
                         not be fetched: run the same command again with --retry (same billno) \
                         to get it by a replay"
                    );
                }
                if let Some(biz) = biz {
                    println!("  wx.sendBizRedPacket:");
                    println!("    timeStamp   {}", biz.time_stamp);
                    println!("    nonceStr    {}", biz.nonce_str);
                    println!("    package     {}", biz.package);
                    println!("    signType    {}", biz.sign_type);
                    println!("    paySign     {}", biz.pay_sign);
                }
            }
            SendOutcome::Rejected {
                code,
                class,
                description,
                ..
            } => {
                println!("rejected  {billno}: {code} (class {class:?}) {description}");
                println!("  {}", advice(code, *class));
            }
            SendOutcome::Unknown { cause, .. } => {
                println!("unknown   {billno}: {cause}");
                let query = if mini {
                    format!("query {billno} --mini")
                } else {
                    format!("query {billno}")
                };
                println!(
                    "  the packet may or may not have been sent: run the same command again \
                     with --retry (same billno), or `{query}`; never use a new billno for it"
                );
            }
        }
    }

    pub(crate) fn query_outcome(&self, billno: &MchBillno, outcome: &QueryOutcome) {
        if self.json {
            let mut value = json!({ "mch_billno": billno.as_str() });
            merge(&mut value, query_json(outcome));
            Self::print_json(&value);
            return;
        }
        match outcome {
            QueryOutcome::Found(record) => print_record(record),
            QueryOutcome::NotFound => println!(
                "not found {billno}: no record (yet); not a failure: query again later or \
                 resend with the same billno"
            ),
            QueryOutcome::Refused { code, description } => {
                println!("refused   {billno}: the query was refused: {code} {description}");
                println!("  this says nothing about the packet: fix the cause, then query again");
            }
            QueryOutcome::Unknown { cause } => println!("unknown   {billno}: {cause}"),
            _ => println!("unknown   {billno}"),
        }
    }

    /// The start of a batch or a reconciliation (people only).
    pub(crate) fn campaign_header(
        &self,
        campaign: &Campaign,
        command: &str,
        to_do: usize,
        duplicates: &[Duplicate],
    ) {
        for duplicate in duplicates {
            eprintln!(
                "warning: line {} repeats the openid {} of line {}",
                duplicate.line, duplicate.openid, duplicate.first_line
            );
        }
        if self.json {
            return;
        }
        let how = match (command, campaign.was_created()) {
            ("batch", true) => "created, ",
            ("batch", false) => "resumed, ",
            _ => "",
        };
        println!(
            "campaign {} ({how}journal {}): {} rows, {} yuan; {command}: {to_do} to do",
            campaign.id(),
            campaign.path().display(),
            campaign.row_count(),
            campaign.total()
        );
    }

    pub(crate) fn report(&self, campaign: &Campaign, report: &Report, duplicates: &[Duplicate]) {
        if self.json {
            let mut value = report_json(campaign, report);
            value["duplicates"] = duplicates
                .iter()
                .map(|d| {
                    json!({
                        "line": d.line,
                        "first_line": d.first_line,
                        "openid": d.openid.as_str(),
                    })
                })
                .collect();
            value["run"] = json!({
                "elapsed_ms": u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
                "settled": report.settled,
                "rate_per_minute": report.rate_per_minute(),
            });
            Self::print_json(&value);
            return;
        }
        print_tallies(report);
        println!(
            "  this run    {} rows settled in {:.1} s{}",
            report.settled,
            report.elapsed.as_secs_f64(),
            rate(report)
        );
        print_verdict(report);
    }

    pub(crate) fn status(&self, campaign: &Campaign, report: &Report, rows: &[JournalRow]) {
        let listed = |state: RowState| rows.iter().filter(move |r| r.state == state);
        if self.json {
            let mut value = report_json(campaign, report);
            value["runs"] = json!({
                "elapsed_ms": u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
                "settled": report.settled,
                "rate_per_minute": report.rate_per_minute(),
            });
            for (key, states) in [
                ("rejected_rows", &[RowState::Rejected][..]),
                ("unknown_rows", &[RowState::Unknown, RowState::Sending][..]),
            ] {
                value[key] = rows
                    .iter()
                    .filter(|r| states.contains(&r.state))
                    .map(row_json)
                    .collect();
            }
            Self::print_json(&value);
            return;
        }
        println!(
            "campaign {} (journal {}), merchant {}: {} rows, {} yuan",
            campaign.id(),
            campaign.path().display(),
            campaign.mch_id(),
            campaign.row_count(),
            campaign.total()
        );
        print_tallies(report);
        println!(
            "  all runs    {} rows settled in {:.1} s{}",
            report.settled,
            report.elapsed.as_secs_f64(),
            rate(report)
        );
        for (title, state) in [
            ("rejected", RowState::Rejected),
            ("unknown", RowState::Unknown),
        ] {
            let mut matching: Vec<&JournalRow> = listed(state).collect();
            if state == RowState::Unknown {
                matching.extend(listed(RowState::Sending));
                matching.sort_by_key(|r| r.row_no);
            }
            if matching.is_empty() {
                continue;
            }
            println!("{title} rows:");
            for row in matching.iter().take(LISTED_ROWS) {
                println!("  {}", row_line(row));
            }
            if matching.len() > LISTED_ROWS {
                println!(
                    "  … and {} more (--json lists all)",
                    matching.len() - LISTED_ROWS
                );
            }
        }
        print_verdict(report);
    }
}

/// Progress of a batch: a bar on a terminal, a line a row otherwise, nothing with `--json`.
#[derive(Debug)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    sent: Cell<u64>,
    rejected: Cell<u64>,
    unknown: Cell<u64>,
}

impl Progress {
    pub(crate) fn new(out: &Output, to_do: usize) -> Self {
        let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        let bar = (!out.json && terminal && to_do > 0).then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(u64::try_from(to_do).unwrap_or(u64::MAX)),
                ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} rows ({per_sec}) {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Self {
            lines: !out.json && bar.is_none(),
            bar,
            sent: Cell::new(0),
            rejected: Cell::new(0),
            unknown: Cell::new(0),
        }
    }

    pub(crate) fn row(&self, progress: &RowProgress) {
        let counter = match progress.row.state {
            RowState::Sent => &self.sent,
            RowState::Rejected => &self.rejected,
            _ => &self.unknown,
        };
        counter.set(counter.get() + 1);
        if let Some(bar) = &self.bar {
            bar.set_position(progress.done);
            bar.set_message(format!(
                "sent {}, rejected {}, unknown or not sent {}",
                self.sent.get(),
                self.rejected.get(),
                self.unknown.get()
            ));
        } else if self.lines {
            println!(
                "[{}/{}] {}",
                progress.done,
                progress.to_do,
                row_line(&progress.row)
            );
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// An error and its causes, `: `-separated.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}

fn money(amount: Fen) -> Value {
    json!({ "amount_fen": amount.get(), "amount": amount.to_string() })
}

fn tally_json(tally: &Tally) -> Value {
    let mut value = json!({ "count": tally.count });
    merge(&mut value, money(tally.amount));
    value
}

fn confirmation(confirmed_by: &Confirmation) -> String {
    match confirmed_by {
        Confirmation::Query(status) => format!("gethbinfo ({status})"),
        _ => "the send's answer".to_owned(),
    }
}

/// What to do after a rejection (spec §7.2's handling classes).
fn advice(code: &ErrCode, class: HandlingClass) -> &'static str {
    match (code, class) {
        (ErrCode::SendFailed, _) => {
            "this billno failed for good: sending the same intent again needs a new billno \
             (your decision, after checking it was not paid)"
        }
        (ErrCode::FatalError, _) => {
            "this request was not paid, but the billno already holds a packet with another \
             openid or amount (query it): a programming error; do not retry"
        }
        (_, HandlingClass::D) => "refused for this user or request: do not retry automatically",
        (_, HandlingClass::B) => {
            "a limit or the balance: nothing was issued; retry later with the same billno"
        }
        _ => {
            "nothing was issued: fix the request or the configuration, then resend with the \
             same billno"
        }
    }
}

fn shares(total_num: u32) -> String {
    if total_num > 1 {
        format!(" in {total_num} shares")
    } else {
        String::new()
    }
}

fn outcome_json(outcome: &SendOutcome) -> Value {
    match outcome {
        SendOutcome::Sent {
            send_listid,
            package,
            confirmed_by,
            ..
        } => json!({
            "outcome": "sent",
            "send_listid": send_listid,
            "package": package,
            "confirmed_by": match confirmed_by {
                Confirmation::Query(status) => format!("gethbinfo:{status}"),
                _ => "send_response".to_owned(),
            },
        }),
        SendOutcome::Rejected {
            code,
            class,
            description,
            ..
        } => json!({
            "outcome": "rejected",
            "err_code": code.as_str(),
            "handling_class": format!("{class:?}"),
            "description": description,
            "allows_new_billno": code.allows_new_billno(),
        }),
        SendOutcome::Unknown { cause, .. } => json!({
            "outcome": "unknown",
            "cause": cause.to_string(),
        }),
    }
}

fn query_json(outcome: &QueryOutcome) -> Value {
    match outcome {
        QueryOutcome::Found(record) => {
            let mut value = json!({
                "outcome": "found",
                "detail_id": record.detail_id,
                "status": record.status.as_str(),
                "hb_type": record.hb_type.as_ref().map(|t| t.as_str()),
                "send_type": record.send_type.as_ref().map(|t| t.as_str()),
                "total_num": record.total_num,
                "reason": record.reason,
                "send_time": record.send_time,
                "refund_time": record.refund_time,
                "refund_amount_fen": record.refund_amount.map(Fen::get),
                "claims": record.claims.iter().map(|c| json!({
                    "openid": c.openid,
                    "amount_fen": c.amount.get(),
                    "amount": c.amount.to_string(),
                    "rcv_time": c.rcv_time,
                })).collect::<Vec<_>>(),
            });
            value["total_amount_fen"] = json!(record.total_amount.map(Fen::get));
            value["total_amount"] = json!(record.total_amount.map(|a| a.to_string()));
            value
        }
        QueryOutcome::NotFound => json!({ "outcome": "not_found" }),
        QueryOutcome::Refused { code, description } => json!({
            "outcome": "refused",
            "err_code": code.as_str(),
            "description": description,
        }),
        QueryOutcome::Unknown { cause } => json!({
            "outcome": "unknown",
            "cause": cause.to_string(),
        }),
        _ => json!({ "outcome": "unknown" }),
    }
}

fn print_record(record: &PacketRecord) {
    let kind = record.hb_type.as_ref().map_or("", |t| t.as_str());
    println!("{}  {}  {kind}", record.mch_billno, record.status);
    println!("  detail_id     {}", record.detail_id);
    if let Some(amount) = record.total_amount {
        println!(
            "  amount        {amount} yuan{}",
            shares(record.total_num.unwrap_or(1))
        );
    }
    if let Some(time) = &record.send_time {
        println!("  sent at       {time}");
    }
    if let Some(reason) = &record.reason {
        println!("  reason        {reason}");
    }
    for claim in &record.claims {
        println!(
            "  claimed       {} yuan by {} at {}",
            claim.amount,
            claim.openid,
            claim.rcv_time.as_deref().unwrap_or("?")
        );
    }
    if let Some(amount) = record.refund_amount {
        println!(
            "  refunded      {amount} yuan at {}",
            record.refund_time.as_deref().unwrap_or("?")
        );
    }
}

fn report_json(campaign: &Campaign, report: &Report) -> Value {
    json!({
        "campaign": campaign.id().to_string(),
        "journal": campaign.path().display().to_string(),
        "mch_id": campaign.mch_id().as_str(),
        "created": campaign.was_created(),
        "rows": report.rows,
        "total": money(campaign.total()),
        "sent": tally_json(&report.sent),
        "rejected": report.rejected.iter().map(|(code, tally)| (code.clone(), tally_json(tally))).collect::<serde_json::Map<_, _>>(),
        "rejected_total": tally_json(&report.rejected_total()),
        "unknown": tally_json(&report.unknown),
        "pending": tally_json(&report.pending),
        "verdict": match report.verdict() {
            Verdict::AllSent => "all_sent",
            Verdict::Rejected => "rejected",
            _ => "unfinished",
        },
    })
}

fn row_json(row: &JournalRow) -> Value {
    json!({
        "row": row.row_no,
        "line": row.line,
        "openid": row.openid.as_str(),
        "amount_fen": row.amount.get(),
        "mch_billno": row.mch_billno.as_str(),
        "state": row.state.as_str(),
        "attempts": row.attempts,
        "send_listid": row.send_listid,
        "err_code": row.err_code.as_ref().map(|c| c.as_str()),
        "detail": row.detail,
    })
}

fn row_line(row: &JournalRow) -> String {
    let what = match row.state {
        RowState::Sent => {
            let by_query = row
                .detail
                .as_deref()
                .filter(|d| d.contains("gethbinfo"))
                .map_or_else(String::new, |d| format!(" ({d})"));
            format!(
                "sent {}{by_query}",
                row.send_listid.as_deref().unwrap_or("")
            )
        }
        RowState::Rejected => format!(
            "rejected {} {}",
            row.err_code.as_ref().map_or("", |c| c.as_str()),
            row.detail.as_deref().unwrap_or("")
        ),
        state => format!("{state} {}", row.detail.as_deref().unwrap_or("")),
    };
    format!(
        "row {} (line {}) {} {} yuan {}: {}",
        row.row_no,
        row.line,
        row.openid,
        row.amount,
        row.mch_billno,
        what.trim_end()
    )
}

fn print_tallies(report: &Report) {
    let line = |name: &str, tally: &Tally| {
        println!(
            "  {name:<11} {:>7}  {:>14} yuan",
            tally.count,
            tally.amount.to_string()
        );
    };
    line(
        "rows",
        &Tally::new(
            report.rows,
            [&report.sent, &report.unknown, &report.pending]
                .iter()
                .fold(report.rejected_total().amount, |sum, t| {
                    sum.checked_add(t.amount).unwrap_or(Fen::new(u64::MAX))
                }),
        ),
    );
    line("sent", &report.sent);
    line("rejected", &report.rejected_total());
    for (code, tally) in &report.rejected {
        println!(
            "    {code:<20} {:>5}  {:>12} yuan",
            tally.count,
            tally.amount.to_string()
        );
    }
    line("unknown", &report.unknown);
    line("not sent", &report.pending);
}

fn rate(report: &Report) -> String {
    match report.rate_per_minute() {
        Some(rate) if report.settled > 0 => format!(" ({rate:.0} rows/min)"),
        _ => String::new(),
    }
}

fn print_verdict(report: &Report) {
    match report.verdict() {
        Verdict::AllSent => println!("result: every row sent"),
        Verdict::Rejected => println!(
            "result: every row settled, {} rejected (see the codes above; `status` lists them)",
            report.rejected_total().count
        ),
        _ => {
            let mut todo = Vec::new();
            if report.unknown.count > 0 {
                todo.push(format!(
                    "{} row(s) unknown: run the batch again or `reconcile` (same billnos)",
                    report.unknown.count
                ));
            }
            if report.pending.count > 0 {
                todo.push(format!(
                    "{} row(s) not sent yet: run the batch again",
                    report.pending.count
                ));
            }
            println!("result: unfinished: {}", todo.join("; "));
        }
    }
}
