//! The ledger: merchants' balances and packets, the lifecycle on the virtual clock, daily and
//! rate counters, invariants, and the serialisable snapshot the admin API shows.
//!
//! Every mutation is planned first as a [`Change`] (new rows), written to the store, and only
//! then applied to memory, so memory never holds what the store refused.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::clock::{DAY_MS, beijing_day, format_beijing};
use crate::packets::{DayUsers, PacketTable, listid};

/// The rate window: 60 s.
pub(crate) const RATE_WINDOW_MS: u64 = 60_000;

/// Which API sent a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    Normal,
    Group,
    MiniProgram,
}

impl Kind {
    pub(crate) fn api_name(self) -> &'static str {
        match self {
            Self::Normal => "sendredpack",
            Self::Group => "sendgroupredpack",
            Self::MiniProgram => "sendminiprogramhb",
        }
    }

    pub(crate) fn hb_type(self) -> &'static str {
        match self {
            Self::Group => "GROUP",
            Self::Normal | Self::MiniProgram => "NORMAL",
        }
    }
}

/// A packet's status (spec §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PacketStatus {
    Sent,
    Received,
    Refunding,
    Refund,
    Failed,
}

impl PacketStatus {
    pub(crate) fn wire(self) -> &'static str {
        match self {
            Self::Sent => "SENT",
            Self::Received => "RECEIVED",
            Self::Refunding => "RFUND_ING",
            Self::Refund => "REFUND",
            Self::Failed => "FAILED",
        }
    }
}

/// One claim of a packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claim {
    pub(crate) openid: String,
    pub(crate) amount: u64,
    pub(crate) rcv_time: u64,
}

/// A committed packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Packet {
    pub(crate) mch_billno: String,
    pub(crate) kind: Kind,
    pub(crate) status: PacketStatus,
    pub(crate) wxappid: String,
    /// The `msgappid` of a partner-mode send (`sub_mch_id`), under which the recipient may be
    /// a user instead of `wxappid`'s; claims are checked against the same appids. Rows stored
    /// before it was recorded read `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) msgappid: Option<String>,
    pub(crate) re_openid: String,
    pub(crate) total_amount: u64,
    pub(crate) total_num: u32,
    pub(crate) send_name: String,
    pub(crate) wishing: String,
    pub(crate) act_name: String,
    pub(crate) remark: String,
    pub(crate) scene_id: Option<String>,
    pub(crate) send_listid: String,
    pub(crate) send_time: u64,
    pub(crate) visible_at: u64,
    /// Until when `gethbinfo` reads it as `SENDING` (a [`FaultAction::Sending`] commit).
    ///
    /// [`FaultAction::Sending`]: crate::FaultAction::Sending
    #[serde(default)]
    pub(crate) sending_until: Option<u64>,
    /// The planned shares (one for a normal packet).
    pub(crate) shares: Vec<u64>,
    pub(crate) claims: Vec<Claim>,
    pub(crate) refund_time: Option<u64>,
    pub(crate) refund_amount: Option<u64>,
    pub(crate) reason: Option<String>,
    pub(crate) package: Option<String>,
}

impl Packet {
    /// Whether the record still reads `SENDING` at `now`.
    pub(crate) fn sending_at(&self, now: u64) -> bool {
        self.sending_until.is_some_and(|until| now < until)
    }

    pub(crate) fn claimed(&self) -> u64 {
        self.claims
            .iter()
            .map(|c| c.amount)
            .fold(0, u64::saturating_add)
    }

    pub(crate) fn unclaimed(&self) -> u64 {
        self.total_amount.saturating_sub(self.claimed())
    }

    /// Whether money left the balance for it (every status but `FAILED`).
    pub(crate) fn paid(&self) -> bool {
        self.status != PacketStatus::Failed
    }

    /// What the daily per-user amount counts for it: the total, or a group's average share.
    pub(crate) fn user_amount(&self) -> u64 {
        match self.kind {
            Kind::Group => self.total_amount / u64::from(self.total_num.max(1)),
            Kind::Normal | Kind::MiniProgram => self.total_amount,
        }
    }
}

/// A merchant's money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Money {
    pub(crate) initial: u64,
    pub(crate) topups: u64,
    pub(crate) balance: u64,
}

/// A planned mutation: the new rows to store, then to apply.
#[derive(Debug, Default)]
pub(crate) struct Change {
    pub(crate) money: BTreeMap<String, Money>,
    pub(crate) packets: Vec<(String, Packet)>,
}

impl Change {
    pub(crate) fn is_empty(&self) -> bool {
        self.money.is_empty() && self.packets.is_empty()
    }
}

/// The lifecycle timings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timings {
    pub(crate) refund_after_ms: u64,
    pub(crate) refund_duration_ms: u64,
}

#[derive(Debug, Default)]
pub(crate) struct MerchantLedger {
    pub(crate) money: Option<Money>,
    packets: PacketTable,
    /// Rows that became `SENT`, in send order: their refunds start in this order. A row
    /// whose status moved on stays until it reaches the front (skipped meanwhile).
    sent: VecDeque<u32>,
    /// Rows that became `RFUND_ING`, in send order: their refunds end in this order.
    refunding: VecDeque<u32>,
    rate: VecDeque<u64>,
    /// Per Beijing day: per recipient, `(packets, amount)`.
    daily_user: BTreeMap<u64, DayUsers>,
    daily_total: BTreeMap<u64, u64>,
}

impl MerchantLedger {
    pub(crate) fn money(&self) -> Money {
        self.money.unwrap_or(Money {
            initial: 0,
            topups: 0,
            balance: 0,
        })
    }

    /// The number of packets.
    pub(crate) fn packet_count(&self) -> usize {
        self.packets.len()
    }

    /// Every packet, by billno.
    pub(crate) fn packets(&self) -> impl Iterator<Item = Packet> + '_ {
        self.packets.iter()
    }

    /// Stores a packet (new, or the next state of a known one) and counts a new one.
    fn put(&mut self, p: Packet) {
        let before = self
            .packets
            .find(&p.mch_billno)
            .and_then(|row| self.packets.status_of(row))
            .map(|(status, _)| status);
        let (status, paid, send_time) = (p.status, p.paid(), p.send_time);
        let (total_amount, user_amount) = (p.total_amount, p.user_amount());
        let (row, new) = self.packets.put(p);
        for (queue, queued) in [
            (&mut self.sent, PacketStatus::Sent),
            (&mut self.refunding, PacketStatus::Refunding),
        ] {
            if status == queued && before != Some(queued) {
                // At the end, but for a clock that stepped back.
                let packets = &self.packets;
                let at = queue.partition_point(|r| packets.send_time_of(*r) <= send_time);
                queue.insert(at, row);
            }
            while queue
                .front()
                .is_some_and(|r| self.packets.status_of(*r).map(|(s, _)| s) != Some(queued))
            {
                queue.pop_front();
            }
        }
        if new && paid {
            // Kept in time order (sends arrive in order but for a clock that stepped back),
            // so the window is counted by binary search.
            let at = self.rate.partition_point(|t| *t <= send_time);
            self.rate.insert(at, send_time);
            let day = beijing_day(send_time);
            self.daily_user
                .entry(day)
                .or_default()
                .add(&self.packets, row, user_amount);
            let total = self.daily_total.entry(day).or_insert(0);
            *total = total.saturating_add(total_amount);
        }
    }

    /// The rows of `queue` whose next step is due by `now` (`delay` after their send) and
    /// that are still `status`. The queue is in send order: the first row not due ends it.
    fn due_rows<'a>(
        &'a self,
        queue: &'a VecDeque<u32>,
        status: PacketStatus,
        delay: u64,
        now: u64,
    ) -> impl Iterator<Item = u32> + 'a {
        queue
            .iter()
            .map_while(move |row| {
                let (current, send_time) = self.packets.status_of(*row)?;
                (send_time.saturating_add(delay) <= now).then_some((*row, current == status))
            })
            .filter_map(|(row, current)| current.then_some(row))
    }

    /// Sends committed in the 60 s window ending at `now`.
    pub(crate) fn sends_in_window(&mut self, now: u64) -> usize {
        let start = now.saturating_sub(RATE_WINDOW_MS);
        while self.rate.front().is_some_and(|t| *t <= start) {
            self.rate.pop_front();
        }
        // Every remaining time is after `start`; those after `now` (a clock that stepped
        // back) do not count.
        self.rate.partition_point(|t| *t <= now)
    }

    /// `(packets, amount)` sent to `openid` on the Beijing day of `now`.
    pub(crate) fn user_today(&self, now: u64, openid: &str) -> (u32, u64) {
        self.daily_user
            .get(&beijing_day(now))
            .and_then(|users| users.get(&self.packets, openid))
            .unwrap_or((0, 0))
    }

    /// Amount sent by the merchant on the Beijing day of `now`.
    pub(crate) fn sent_today(&self, now: u64) -> u64 {
        self.daily_total
            .get(&beijing_day(now))
            .copied()
            .unwrap_or(0)
    }

    /// Forgets daily counters older than a week (they can no longer matter). Runs on every
    /// request: costs a lookup of the oldest day unless there is something to forget.
    fn prune(&mut self, now: u64) {
        let keep_from = beijing_day(now).saturating_sub(7);
        if self
            .daily_user
            .first_key_value()
            .is_some_and(|(day, _)| *day < keep_from)
        {
            self.daily_user = self.daily_user.split_off(&keep_from);
        }
        if self
            .daily_total
            .first_key_value()
            .is_some_and(|(day, _)| *day < keep_from)
        {
            self.daily_total = self.daily_total.split_off(&keep_from);
        }
    }
}

/// All merchants' ledgers.
#[derive(Debug)]
pub(crate) struct Ledger {
    pub(crate) merchants: BTreeMap<String, MerchantLedger>,
    next_seq: u64,
    timings: Timings,
}

const LISTID_SEQ_BASE: u64 = 3_000_000_000_000;

impl Ledger {
    pub(crate) fn new(timings: Timings) -> Self {
        Self {
            merchants: BTreeMap::new(),
            next_seq: 1,
            timings,
        }
    }

    /// A new `send_listid`: `1000041701` + yyyymmdd + 13 digits.
    pub(crate) fn next_listid(&mut self, now: u64) -> String {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        listid(
            now,
            LISTID_SEQ_BASE.saturating_add(seq) % 10_000_000_000_000,
        )
    }

    pub(crate) fn merchant(&self, mch_id: &str) -> Option<&MerchantLedger> {
        self.merchants.get(mch_id)
    }

    pub(crate) fn merchant_mut(&mut self, mch_id: &str) -> &mut MerchantLedger {
        self.merchants.entry(mch_id.to_owned()).or_default()
    }

    /// A packet (a copy: memory keeps packets in a compact form).
    pub(crate) fn packet(&self, mch_id: &str, billno: &str) -> Option<Packet> {
        self.merchants.get(mch_id)?.packets.get(billno)
    }

    /// Applies stored rows to memory.
    pub(crate) fn apply(&mut self, change: Change) {
        for (mch_id, money) in change.money {
            self.merchant_mut(&mch_id).money = Some(money);
        }
        for (mch_id, packet) in change.packets {
            if let Some(seq) = packet
                .send_listid
                .get(18..)
                .and_then(|s| s.parse::<u64>().ok())
                .map(|n| n.saturating_sub(LISTID_SEQ_BASE))
            {
                self.next_seq = self.next_seq.max(seq.saturating_add(1));
            }
            self.merchant_mut(&mch_id).put(packet);
        }
    }

    /// Plans what falls due by `now`: refunds start after `refund_after`, end after
    /// `refund_duration`, crediting the unclaimed amount.
    pub(crate) fn plan_catch_up(&self, now: u64) -> Change {
        let mut change = Change::default();
        let timings = self.timings;
        for (mch_id, m) in &self.merchants {
            // A refund starts `refund_after` after the send and ends `refund_duration` later.
            let starts = timings.refund_after_ms;
            let ends = starts.saturating_add(timings.refund_duration_ms);
            let due = m
                .due_rows(&m.sent, PacketStatus::Sent, starts, now)
                .chain(m.due_rows(&m.refunding, PacketStatus::Refunding, ends, now));
            for row in due {
                let Some(mut next) = m.packets.expand(row) else {
                    continue;
                };
                let start = next.send_time.saturating_add(self.timings.refund_after_ms);
                let end = start.saturating_add(self.timings.refund_duration_ms);
                if now >= end {
                    let amount = next.unclaimed();
                    next.status = PacketStatus::Refund;
                    next.refund_time = Some(end);
                    next.refund_amount = Some(amount);
                    let money = change
                        .money
                        .entry(mch_id.clone())
                        .or_insert_with(|| m.money());
                    money.balance = money.balance.saturating_add(amount);
                } else {
                    next.status = PacketStatus::Refunding;
                }
                change.packets.push((mch_id.clone(), next));
            }
        }
        change
    }

    /// Forgets counters that can no longer matter.
    pub(crate) fn prune(&mut self, now: u64) {
        for m in self.merchants.values_mut() {
            m.prune(now);
        }
    }

    /// Checks the invariants; returns the violations.
    pub(crate) fn violations(
        &self,
        limits: &BTreeMap<String, crate::config::Limits>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        let mut listids = BTreeSet::new();
        for (mch_id, m) in &self.merchants {
            let money = m.money();
            let (mut outstanding, mut pending, mut claimed) = (0u128, 0u128, 0u128);
            for p in m.packets() {
                if !listids.insert(p.send_listid.clone()) {
                    out.push(format!(
                        "{mch_id}/{}: send_listid {} reused",
                        p.mch_billno, p.send_listid
                    ));
                }
                check_packet(mch_id, &p, &mut out);
                let c = u128::from(p.claimed());
                match p.status {
                    PacketStatus::Failed => {}
                    PacketStatus::Sent => {
                        outstanding += u128::from(p.unclaimed());
                        claimed += c;
                    }
                    PacketStatus::Refunding => {
                        pending += u128::from(p.unclaimed());
                        claimed += c;
                    }
                    PacketStatus::Received | PacketStatus::Refund => claimed += c,
                }
            }
            let lhs = u128::from(money.balance) + outstanding + pending + claimed;
            let rhs = u128::from(money.initial) + u128::from(money.topups);
            if lhs != rhs {
                out.push(format!(
                    "{mch_id}: balance {} + outstanding {outstanding} + refunding {pending} + claimed {claimed} = {lhs} fen, but initial {} + top-ups {} = {rhs} fen",
                    money.balance, money.initial, money.topups
                ));
            }
            if let Some(l) = limits.get(mch_id) {
                check_limits(mch_id, m, l, &mut out);
            }
        }
        out
    }
}

fn check_packet(mch_id: &str, p: &Packet, out: &mut Vec<String>) {
    let id = format!("{mch_id}/{}", p.mch_billno);
    let claimed = p.claimed();
    if claimed > p.total_amount {
        out.push(format!(
            "{id}: claimed {claimed} > total {}",
            p.total_amount
        ));
    }
    if p.claims.len() > usize::try_from(p.total_num).unwrap_or(usize::MAX) {
        out.push(format!("{id}: more claims than total_num"));
    }
    if p.status == PacketStatus::Failed {
        if !p.claims.is_empty() || p.refund_amount.is_some() {
            out.push(format!("{id}: a FAILED packet has claims or a refund"));
        }
        return;
    }
    let shares: u64 = p.shares.iter().fold(0, |a, b| a.saturating_add(*b));
    if shares != p.total_amount || p.shares.len() != usize::try_from(p.total_num).unwrap_or(0) {
        out.push(format!(
            "{id}: shares {:?} do not split {}",
            p.shares, p.total_amount
        ));
    }
    if p.kind == Kind::Group && p.shares.iter().any(|s| *s < 100) {
        out.push(format!("{id}: a group share is below 1 yuan"));
    }
    match p.status {
        PacketStatus::Received if claimed != p.total_amount => {
            out.push(format!(
                "{id}: RECEIVED but {claimed} of {} claimed",
                p.total_amount
            ));
        }
        PacketStatus::Refund => {
            let refunded = p.refund_amount.unwrap_or(0);
            if refunded.saturating_add(claimed) != p.total_amount || p.refund_time.is_none() {
                out.push(format!(
                    "{id}: REFUND of {refunded} with {claimed} claimed does not make {}",
                    p.total_amount
                ));
            }
        }
        PacketStatus::Sent | PacketStatus::Refunding if claimed >= p.total_amount => {
            out.push(format!("{id}: fully claimed but still {}", p.status.wire()));
        }
        _ => {}
    }
}

fn check_limits(
    mch_id: &str,
    m: &MerchantLedger,
    l: &crate::config::Limits,
    out: &mut Vec<String>,
) {
    let mut per_user: BTreeMap<(u64, String), (u64, u64)> = BTreeMap::new();
    let mut per_day: BTreeMap<u64, u64> = BTreeMap::new();
    let mut times = Vec::new();
    for p in m.packets().filter(Packet::paid) {
        let day = beijing_day(p.send_time);
        let u = per_user.entry((day, p.re_openid.clone())).or_insert((0, 0));
        u.0 += 1;
        u.1 = u.1.saturating_add(p.user_amount());
        let d = per_day.entry(day).or_insert(0);
        *d = d.saturating_add(p.total_amount);
        times.push(p.send_time);
    }
    for ((day, openid), (count, amount)) in per_user {
        let date = format_beijing(day * DAY_MS);
        if count > u64::from(l.sendnum_per_user_per_day) {
            out.push(format!(
                "{mch_id}: {count} packets to {openid} on {date} (limit {})",
                l.sendnum_per_user_per_day
            ));
        }
        if amount > l.rcvd_amount_per_user_per_day.get() {
            out.push(format!(
                "{mch_id}: {amount} fen to {openid} on {date} (limit {})",
                l.rcvd_amount_per_user_per_day.get()
            ));
        }
    }
    for (day, amount) in per_day {
        if amount > l.send_amount_per_day.get() {
            out.push(format!(
                "{mch_id}: {amount} fen sent on {} (limit {})",
                format_beijing(day * DAY_MS),
                l.send_amount_per_day.get()
            ));
        }
    }
    times.sort_unstable();
    let limit = usize::try_from(l.freq_per_minute).unwrap_or(usize::MAX);
    let mut start = 0;
    for end in 0..times.len() {
        while times[end].saturating_sub(times[start]) >= RATE_WINDOW_MS {
            start += 1;
        }
        if end + 1 - start > limit {
            out.push(format!(
                "{mch_id}: {} sends within 60 s ending {} (limit {limit})",
                end + 1 - start,
                format_beijing(times[end])
            ));
            break;
        }
    }
}

/// The ledger as `GET /__admin/ledger` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LedgerSnapshot {
    /// Every merchant, by id.
    pub merchants: Vec<MerchantSnapshot>,
}

impl LedgerSnapshot {
    /// A merchant's part.
    pub fn merchant(&self, mch_id: &str) -> Option<&MerchantSnapshot> {
        self.merchants.iter().find(|m| m.mch_id == mch_id)
    }

    /// One packet.
    pub fn packet(&self, mch_id: &str, mch_billno: &str) -> Option<&PacketSnapshot> {
        self.merchant(mch_id)?
            .packets
            .iter()
            .find(|p| p.mch_billno == mch_billno)
    }

    /// Number of packets over all merchants.
    pub fn packet_count(&self) -> usize {
        self.merchants.iter().map(|m| m.packets.len()).sum()
    }
}

/// One merchant in a [`LedgerSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MerchantSnapshot {
    /// `mch_id`.
    pub mch_id: String,
    /// The available balance, in fen.
    pub balance_fen: u64,
    /// The starting balance, in fen.
    pub initial_balance_fen: u64,
    /// The sum of top-ups, in fen.
    pub topups_fen: u64,
    /// The packets, by billno.
    pub packets: Vec<PacketSnapshot>,
}

/// One packet in a [`LedgerSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PacketSnapshot {
    /// `mch_billno`.
    pub mch_billno: String,
    /// The API that sent it (`sendredpack`, `sendgroupredpack`, `sendminiprogramhb`).
    pub api: String,
    /// The wire status (`SENT`, `RECEIVED`, `RFUND_ING`, `REFUND`, `FAILED`).
    pub status: String,
    /// `NORMAL` or `GROUP`.
    pub hb_type: String,
    /// In fen.
    pub total_amount: u64,
    /// `total_num`.
    pub total_num: u32,
    /// The recipient (the seed user of a group).
    pub re_openid: String,
    /// `wxappid`.
    pub wxappid: String,
    /// `send_listid` (= `detail_id`).
    pub send_listid: String,
    /// Beijing time `yyyy-MM-dd HH:mm:ss`.
    pub send_time: String,
    /// When the refund completed.
    pub refund_time: Option<String>,
    /// The refunded amount, in fen.
    pub refund_amount: Option<u64>,
    /// Why the send failed.
    pub reason: Option<String>,
    /// The planned shares, in fen (one for a normal packet).
    pub shares: Vec<u64>,
    /// The claims so far.
    pub claims: Vec<ClaimSnapshot>,
}

/// One claim in a [`PacketSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClaimSnapshot {
    /// Who claimed.
    pub openid: String,
    /// How much, in fen.
    pub amount: u64,
    /// When (Beijing time).
    pub rcv_time: String,
}

impl From<&Packet> for PacketSnapshot {
    fn from(p: &Packet) -> Self {
        Self {
            mch_billno: p.mch_billno.clone(),
            api: p.kind.api_name().to_owned(),
            status: p.status.wire().to_owned(),
            hb_type: p.kind.hb_type().to_owned(),
            total_amount: p.total_amount,
            total_num: p.total_num,
            re_openid: p.re_openid.clone(),
            wxappid: p.wxappid.clone(),
            send_listid: p.send_listid.clone(),
            send_time: format_beijing(p.send_time),
            refund_time: p.refund_time.map(format_beijing),
            refund_amount: p.refund_amount,
            reason: p.reason.clone(),
            shares: p.shares.clone(),
            claims: p.claims.iter().map(ClaimSnapshot::from).collect(),
        }
    }
}

impl From<&Claim> for ClaimSnapshot {
    fn from(c: &Claim) -> Self {
        Self {
            openid: c.openid.clone(),
            amount: c.amount,
            rcv_time: format_beijing(c.rcv_time),
        }
    }
}

impl Ledger {
    pub(crate) fn snapshot(&self) -> LedgerSnapshot {
        LedgerSnapshot {
            merchants: self
                .merchants
                .iter()
                .map(|(mch_id, m)| {
                    let money = m.money();
                    MerchantSnapshot {
                        mch_id: mch_id.clone(),
                        balance_fen: money.balance,
                        initial_balance_fen: money.initial,
                        topups_fen: money.topups,
                        packets: m.packets().map(|p| PacketSnapshot::from(&p)).collect(),
                    }
                })
                .collect(),
        }
    }
}

/// The invariants report (`GET /__admin/invariants`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InvariantReport {
    /// Whether every invariant holds.
    pub ok: bool,
    /// What does not hold, one sentence each.
    pub violations: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;

    fn packet(billno: &str, amount: u64, send_time: u64) -> Packet {
        Packet {
            mch_billno: billno.to_owned(),
            kind: Kind::Normal,
            status: PacketStatus::Sent,
            wxappid: "wx0000000000000001".to_owned(),
            msgappid: None,
            re_openid: "alice".to_owned(),
            total_amount: amount,
            total_num: 1,
            send_name: "s".to_owned(),
            wishing: "w".to_owned(),
            act_name: "a".to_owned(),
            remark: "r".to_owned(),
            scene_id: None,
            send_listid: format!("1000041701{send_time:021}"),
            send_time,
            visible_at: send_time,
            sending_until: None,
            shares: vec![amount],
            claims: Vec::new(),
            refund_time: None,
            refund_amount: None,
            reason: None,
            package: None,
        }
    }

    fn ledger_with(balance: u64, packets: Vec<Packet>) -> Ledger {
        let mut ledger = Ledger::new(Timings {
            refund_after_ms: DAY_MS,
            refund_duration_ms: 60_000,
        });
        let mut change = Change::default();
        change.money.insert(
            "1".to_owned(),
            Money {
                initial: 10_000,
                topups: 0,
                balance,
            },
        );
        change.packets = packets.into_iter().map(|p| ("1".to_owned(), p)).collect();
        ledger.apply(change);
        ledger
    }

    fn limits(l: Limits) -> BTreeMap<String, Limits> {
        BTreeMap::from([("1".to_owned(), l)])
    }

    #[test]
    fn a_consistent_ledger_has_no_violation() {
        let ledger = ledger_with(9_000, vec![packet("a", 1000, 1_000)]);
        assert!(ledger.violations(&limits(Limits::DEFAULT)).is_empty());
    }

    #[test]
    fn money_that_does_not_add_up_is_reported() {
        let ledger = ledger_with(9_500, vec![packet("a", 1000, 1_000)]);
        let v = ledger.violations(&limits(Limits::DEFAULT));
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("initial"));
    }

    #[test]
    fn exceeded_rate_and_daily_limits_are_reported() {
        let packets = (0..3)
            .map(|i| packet(&format!("p{i}"), 100, 1_000 + i))
            .collect();
        let ledger = ledger_with(9_700, packets);
        let tight = Limits::DEFAULT
            .freq_per_minute(2)
            .sendnum_per_user_per_day(2);
        let v = ledger.violations(&limits(tight));
        assert!(v.iter().any(|s| s.contains("within 60 s")), "{v:?}");
        assert!(v.iter().any(|s| s.contains("packets to alice")), "{v:?}");
    }

    #[test]
    fn the_rate_window_counts_out_of_order_sends_and_excludes_the_future() {
        // The third send's clock stepped back by 5 s.
        let packets = vec![
            packet("a", 100, 10_000),
            packet("b", 100, 70_000),
            packet("c", 100, 65_000),
        ];
        let mut ledger = ledger_with(9_700, packets);
        let m = ledger.merchant_mut("1");
        assert_eq!(m.sends_in_window(69_999), 2); // a (at the edge: 9,999 < 10,000) and c
        assert_eq!(m.sends_in_window(70_000), 2); // a left the window, b entered
        assert_eq!(m.sends_in_window(124_999), 2);
        assert_eq!(m.sends_in_window(125_000), 1);
        assert_eq!(m.sends_in_window(200_000), 0);
    }

    #[test]
    fn daily_counters_older_than_a_week_are_forgotten() {
        let old = packet("a", 100, 1_000);
        let recent = packet("b", 100, 9 * DAY_MS);
        let mut ledger = ledger_with(9_800, vec![old, recent]);
        ledger.prune(9 * DAY_MS);
        let m = ledger.merchant("1").unwrap();
        assert_eq!(m.user_today(1_000, "alice"), (0, 0));
        assert_eq!(m.sent_today(1_000), 0);
        assert_eq!(m.user_today(9 * DAY_MS, "alice"), (1, 100));
        assert_eq!(m.sent_today(9 * DAY_MS), 100);
    }

    #[test]
    fn catch_up_refunds_after_the_delay_and_credits_the_balance() {
        let mut ledger = ledger_with(9_000, vec![packet("a", 1000, 0)]);
        let early = ledger.plan_catch_up(DAY_MS - 1);
        assert!(early.is_empty());
        let change = ledger.plan_catch_up(DAY_MS + 60_000);
        assert_eq!(change.money["1"].balance, 10_000);
        ledger.apply(change);
        let p = ledger.packet("1", "a").unwrap();
        assert_eq!(p.status, PacketStatus::Refund);
        assert_eq!(p.refund_amount, Some(1000));
        assert!(ledger.plan_catch_up(10 * DAY_MS).is_empty());
        assert!(ledger.violations(&limits(Limits::DEFAULT)).is_empty());
    }

    fn statuses(ledger: &Ledger) -> Vec<(String, PacketStatus)> {
        ledger.merchants["1"]
            .packets()
            .map(|p| (p.mch_billno, p.status))
            .collect()
    }

    #[test]
    fn refunds_start_and_end_in_send_order_skipping_claimed_packets() {
        use PacketStatus::{Received, Refund, Refunding, Sent};
        // "d" was sent by a clock that stepped back; "b" is claimed before its refund.
        let packets = vec![
            packet("a", 100, 1_000),
            packet("b", 100, 2_000),
            packet("c", 100, 3_000),
            packet("d", 100, 1_500),
        ];
        let mut ledger = ledger_with(9_600, packets);
        let mut claimed = ledger.packet("1", "b").unwrap();
        claimed.status = Received;
        claimed.claims.push(Claim {
            openid: "alice".to_owned(),
            amount: 100,
            rcv_time: 2_500,
        });
        ledger.apply(Change {
            money: BTreeMap::new(),
            packets: vec![("1".to_owned(), claimed)],
        });
        let billnos = |c: &Change| -> Vec<String> {
            c.packets
                .iter()
                .map(|(_, p)| p.mch_billno.clone())
                .collect()
        };
        // a and d start their refunds; c is not due yet.
        let change = ledger.plan_catch_up(DAY_MS + 1_500);
        assert_eq!(billnos(&change), ["a", "d"]);
        ledger.apply(change);
        assert_eq!(
            statuses(&ledger),
            [
                ("a".to_owned(), Refunding),
                ("b".to_owned(), Received),
                ("c".to_owned(), Sent),
                ("d".to_owned(), Refunding)
            ]
        );
        // A minute later: a and d end, c starts.
        let change = ledger.plan_catch_up(DAY_MS + 61_500);
        assert_eq!(billnos(&change), ["c", "a", "d"]);
        assert_eq!(change.money["1"].balance, 9_600 + 200);
        ledger.apply(change);
        let change = ledger.plan_catch_up(DAY_MS + 63_000);
        assert_eq!(billnos(&change), ["c"]);
        ledger.apply(change);
        assert!(ledger.plan_catch_up(10 * DAY_MS).is_empty());
        assert_eq!(
            statuses(&ledger),
            [
                ("a".to_owned(), Refund),
                ("b".to_owned(), Received),
                ("c".to_owned(), Refund),
                ("d".to_owned(), Refund)
            ]
        );
        let m = &ledger.merchants["1"];
        assert!(m.sent.is_empty() && m.refunding.is_empty());
        assert!(ledger.violations(&limits(Limits::DEFAULT)).is_empty());
    }
}
