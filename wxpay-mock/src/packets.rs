//! A merchant's packets in memory, compactly: a load test leaves a million of them in the
//! ledger, so each costs about a hundred bytes here, in a few large arrays, instead of the
//! 1.7 KB a [`Packet`] with its dozen strings cost in a map of small heap blocks (which a
//! multi-threaded server also scattered among its short-lived allocations).
//!
//! - The texts a campaign repeats (appid, `msgappid`, `send_name`, `wishing`, `act_name`,
//!   `remark`, `scene_id`, the API) are kept once per merchant and referred to by number.
//! - The billno and the openid live inline in the row (on the heap only when longer than any
//!   valid one).
//! - What most packets do not have (claims, a refund, a failure reason, a `package`, group
//!   shares, a late visibility, an unusual `send_listid`) lives in a box only when present.
//! - Rows are in commit order and never move. Hash indexes of row numbers find them by
//!   billno, and find a day's counters by openid, comparing with the text in the rows: no
//!   key is stored twice. They are never iterated, so their order reaches nothing.
//!
//! [`Packet`] stays the form everything else reads and writes: rows are made from packets
//! and expanded back into equal packets.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use crate::clock::{beijing, beijing_yyyymmdd};
use crate::ledger::{Claim, Kind, Packet, PacketStatus};

/// The fixed part of every `send_listid` the mock makes: `1000041701` + yyyymmdd + 13 digits.
pub(crate) const LISTID_PREFIX: &str = "1000041701";

/// The `send_listid` of a packet sent at `send_time` with the 13-digit number `number`.
pub(crate) fn listid(send_time: u64, number: u64) -> String {
    format!("{LISTID_PREFIX}{}{number:013}", beijing_yyyymmdd(send_time))
}

/// The 13-digit number of `send_listid` if it is exactly what [`listid`] makes for
/// `send_time`.
fn listid_number(send_listid: &str, send_time: u64) -> Option<u64> {
    let rest = send_listid.strip_prefix(LISTID_PREFIX)?;
    let (date, digits) = rest.split_at_checked(8)?;
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if digits.len() != 13 || !all_digits(date) || !all_digits(digits) {
        return None;
    }
    // The date as a number, compared without formatting one (this runs on every commit).
    let day = beijing(send_time);
    let expected =
        u64::try_from(day.year).ok()? * 10_000 + u64::from(day.month) * 100 + u64::from(day.day);
    (date.parse::<u64>().ok()? == expected)
        .then(|| digits.parse().ok())
        .flatten()
}

/// Up to this many bytes of a text are kept inline (a valid `mch_billno` has at most 28, a
/// real openid 28).
const INLINE: usize = 30;

/// A short text, inline when it fits (32 bytes in all), on the heap otherwise.
#[derive(Clone, Debug)]
enum ShortText {
    Inline { len: u8, bytes: [u8; INLINE] },
    Long(Box<str>),
}

impl ShortText {
    fn new(s: &str) -> Self {
        match u8::try_from(s.len()) {
            Ok(len) if s.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..s.len()].copy_from_slice(s.as_bytes());
                Self::Inline { len, bytes }
            }
            _ => Self::Long(s.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Long(s) => s.as_bytes(),
        }
    }

    /// The text (made from a `&str`, so always UTF-8).
    fn to_text(&self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }
}

/// An open-addressing hash index of numbered entries by a byte key the entries hold
/// themselves. A slot holds 32 bits of the key's hash above the entry's number plus one (0 is
/// empty), so that a probe reads an entry only when the hash bits match: a lookup of a new
/// key costs about one cache miss, not one per probe. Linear probing, at most three quarters
/// full.
#[derive(Debug, Default)]
struct Index {
    slots: Vec<u64>,
    len: usize,
    hasher: RandomState,
}

impl Index {
    /// The first slot to probe and the tag (the hash's high half, placed above the entry).
    fn locate(&self, key: &[u8]) -> (usize, u64) {
        let hash = self.hasher.hash_one(key);
        // Truncating is fine: only the low bits pick the slot.
        #[allow(
            clippy::cast_possible_truncation,
            reason = "the low bits pick the slot"
        )]
        let start = hash as usize & (self.slots.len() - 1);
        (start, hash & 0xffff_ffff_0000_0000)
    }

    /// The entry whose key is `key`.
    fn find<'k>(&self, key: &[u8], key_of: impl Fn(u32) -> &'k [u8]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let (mut i, tag) = self.locate(key);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            if slot & 0xffff_ffff_0000_0000 == tag {
                let entry = entry_of(slot);
                if key_of(entry) == key {
                    return Some(entry);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds entry `entry`, whose key is not in the index yet.
    fn insert<'k>(&mut self, entry: u32, key_of: impl Fn(u32) -> &'k [u8]) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            let capacity = (self.slots.len() * 2).max(16);
            let old = std::mem::replace(&mut self.slots, vec![0; capacity]);
            for slot in old.into_iter().filter(|s| *s != 0) {
                self.place(entry_of(slot), key_of(entry_of(slot)));
            }
        }
        self.place(entry, key_of(entry));
        self.len += 1;
    }

    fn place(&mut self, entry: u32, key: &[u8]) {
        let mask = self.slots.len() - 1;
        let (mut i, tag) = self.locate(key);
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = tag | u64::from(entry.saturating_add(1));
    }
}

/// The entry number in a slot.
fn entry_of(slot: u64) -> u32 {
    // The low half holds the entry number plus one (at least 1 in a used slot).
    u32::try_from(slot & 0xffff_ffff)
        .unwrap_or(0)
        .saturating_sub(1)
}

/// The texts a campaign repeats from packet to packet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Content {
    kind: Kind,
    wxappid: String,
    msgappid: Option<String>,
    send_name: String,
    wishing: String,
    act_name: String,
    remark: String,
    scene_id: Option<String>,
}

/// What few packets have.
#[derive(Debug, Clone, Default)]
struct Extra {
    /// A `send_listid` that [`listid`] would not make.
    send_listid: Option<String>,
    /// When a late commit becomes visible (else at `send_time`).
    visible_at: Option<u64>,
    /// Until when the record reads `SENDING`.
    sending_until: Option<u64>,
    /// Shares other than one of the whole amount.
    shares: Option<Vec<u64>>,
    claims: Vec<Claim>,
    refund_time: Option<u64>,
    refund_amount: Option<u64>,
    reason: Option<String>,
    package: Option<String>,
}

/// One packet.
#[derive(Debug, Clone)]
struct Row {
    billno: ShortText,
    openid: ShortText,
    total_amount: u64,
    send_time: u64,
    /// The 13 digits of the `send_listid` (when `extra` holds none).
    listid_number: u64,
    extra: Option<Box<Extra>>,
    content: u32,
    total_num: u32,
    status: PacketStatus,
}

/// A merchant's packets.
#[derive(Debug, Default)]
pub(crate) struct PacketTable {
    rows: Vec<Row>,
    by_billno: Index,
    contents: Vec<Arc<Content>>,
    content_index: BTreeMap<Arc<Content>, u32>,
}

impl PacketTable {
    /// The number of packets.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    fn row(&self, row: u32) -> Option<&Row> {
        self.rows.get(usize::try_from(row).ok()?)
    }

    /// The row of a billno.
    pub(crate) fn find(&self, billno: &str) -> Option<u32> {
        let rows = &self.rows;
        self.by_billno.find(billno.as_bytes(), |r| {
            rows.get(r as usize)
                .map_or(&[][..], |r| r.billno.as_bytes())
        })
    }

    /// The packet of a billno.
    pub(crate) fn get(&self, billno: &str) -> Option<Packet> {
        self.find(billno).and_then(|row| self.expand(row))
    }

    /// The status and send time of a row.
    pub(crate) fn status_of(&self, row: u32) -> Option<(PacketStatus, u64)> {
        self.row(row).map(|r| (r.status, r.send_time))
    }

    /// The send time of a row (0 for no row).
    pub(crate) fn send_time_of(&self, row: u32) -> u64 {
        self.row(row).map_or(0, |r| r.send_time)
    }

    /// The recipient of a row, as bytes (empty for no row).
    fn openid_of(&self, row: u32) -> &[u8] {
        self.row(row).map_or(&[][..], |r| r.openid.as_bytes())
    }

    /// Every packet, by billno.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Packet> + '_ {
        let mut order: Vec<u32> = (0..u32::try_from(self.rows.len()).unwrap_or(u32::MAX)).collect();
        order.sort_unstable_by(|a, b| {
            let key = |r: &u32| self.row(*r).map(|r| r.billno.as_bytes());
            key(a).cmp(&key(b))
        });
        order.into_iter().filter_map(|row| self.expand(row))
    }

    /// The packet of a row.
    pub(crate) fn expand(&self, row: u32) -> Option<Packet> {
        let r = self.row(row)?;
        let c = self.contents.get(usize::try_from(r.content).ok()?)?;
        let extra = r.extra.as_deref();
        Some(Packet {
            mch_billno: r.billno.to_text(),
            kind: c.kind,
            status: r.status,
            wxappid: c.wxappid.clone(),
            msgappid: c.msgappid.clone(),
            re_openid: r.openid.to_text(),
            total_amount: r.total_amount,
            total_num: r.total_num,
            send_name: c.send_name.clone(),
            wishing: c.wishing.clone(),
            act_name: c.act_name.clone(),
            remark: c.remark.clone(),
            scene_id: c.scene_id.clone(),
            send_listid: extra
                .and_then(|e| e.send_listid.clone())
                .unwrap_or_else(|| listid(r.send_time, r.listid_number)),
            send_time: r.send_time,
            visible_at: extra.and_then(|e| e.visible_at).unwrap_or(r.send_time),
            sending_until: extra.and_then(|e| e.sending_until),
            shares: extra
                .and_then(|e| e.shares.clone())
                .unwrap_or_else(|| vec![r.total_amount]),
            claims: extra.map(|e| e.claims.clone()).unwrap_or_default(),
            refund_time: extra.and_then(|e| e.refund_time),
            refund_amount: extra.and_then(|e| e.refund_amount),
            reason: extra.and_then(|e| e.reason.clone()),
            package: extra.and_then(|e| e.package.clone()),
        })
    }

    /// Adds the packet of a new billno, or replaces the packet of a known one (the next
    /// state of the same packet: same recipient, same send time). Returns its row and
    /// whether it is new.
    pub(crate) fn put(&mut self, p: Packet) -> (u32, bool) {
        let existing = self.find(&p.mch_billno);
        let row = self.compress(p);
        if let Some(index) = existing
            && let Some(slot) = self.rows.get_mut(index as usize)
        {
            *slot = row;
            return (index, false);
        }
        // More than 4 billion packets for one merchant would not fit in memory anyway.
        let index = u32::try_from(self.rows.len()).unwrap_or(u32::MAX - 1);
        self.rows.push(row);
        let rows = &self.rows;
        self.by_billno.insert(index, |r| {
            rows.get(r as usize)
                .map_or(&[][..], |r| r.billno.as_bytes())
        });
        (index, true)
    }

    fn compress(&mut self, p: Packet) -> Row {
        let number = listid_number(&p.send_listid, p.send_time);
        let shares_are_whole = p.shares.as_slice() == [p.total_amount];
        let extra = Extra {
            send_listid: number.is_none().then_some(p.send_listid),
            visible_at: (p.visible_at != p.send_time).then_some(p.visible_at),
            sending_until: p.sending_until,
            shares: (!shares_are_whole).then_some(p.shares),
            claims: p.claims,
            refund_time: p.refund_time,
            refund_amount: p.refund_amount,
            reason: p.reason,
            package: p.package,
        };
        let plain = extra.send_listid.is_none()
            && extra.visible_at.is_none()
            && extra.sending_until.is_none()
            && extra.shares.is_none()
            && extra.claims.is_empty()
            && extra.refund_time.is_none()
            && extra.refund_amount.is_none()
            && extra.reason.is_none()
            && extra.package.is_none();
        let content = self.intern(Content {
            kind: p.kind,
            wxappid: p.wxappid,
            msgappid: p.msgappid,
            send_name: p.send_name,
            wishing: p.wishing,
            act_name: p.act_name,
            remark: p.remark,
            scene_id: p.scene_id,
        });
        Row {
            billno: ShortText::new(&p.mch_billno),
            openid: ShortText::new(&p.re_openid),
            total_amount: p.total_amount,
            send_time: p.send_time,
            listid_number: number.unwrap_or(0),
            extra: (!plain).then(|| Box::new(extra)),
            content,
            total_num: p.total_num,
            status: p.status,
        }
    }

    fn intern(&mut self, content: Content) -> u32 {
        if let Some(index) = self.content_index.get(&content) {
            return *index;
        }
        let index = u32::try_from(self.contents.len()).unwrap_or(u32::MAX);
        let content = Arc::new(content);
        self.contents.push(content.clone());
        self.content_index.insert(content, index);
        index
    }
}

/// One recipient's counters on one day.
#[derive(Debug, Clone, Copy)]
struct UserDay {
    /// A row of a packet to the recipient (where the openid is read).
    row: u32,
    count: u32,
    amount: u64,
}

/// One day's per-recipient counters of a merchant, found by the openid of their rows (a
/// packet's recipient never changes).
#[derive(Debug, Default)]
pub(crate) struct DayUsers {
    users: Vec<UserDay>,
    by_openid: Index,
}

impl DayUsers {
    fn find(&self, packets: &PacketTable, openid: &[u8]) -> Option<u32> {
        let users = &self.users;
        self.by_openid.find(openid, |u| {
            users
                .get(u as usize)
                .map_or(&[][..], |u| packets.openid_of(u.row))
        })
    }

    /// `(packets, amount)` of a recipient.
    pub(crate) fn get(&self, packets: &PacketTable, openid: &str) -> Option<(u32, u64)> {
        let user = self.find(packets, openid.as_bytes())?;
        self.users.get(user as usize).map(|u| (u.count, u.amount))
    }

    /// Counts the packet of `row` (its recipient is counted `amount`).
    pub(crate) fn add(&mut self, packets: &PacketTable, row: u32, amount: u64) {
        match self.find(packets, packets.openid_of(row)) {
            Some(user) => {
                if let Some(u) = self.users.get_mut(user as usize) {
                    u.count = u.count.saturating_add(1);
                    u.amount = u.amount.saturating_add(amount);
                }
            }
            None => {
                let user = u32::try_from(self.users.len()).unwrap_or(u32::MAX - 1);
                self.users.push(UserDay {
                    row,
                    count: 1,
                    amount,
                });
                let users = &self.users;
                self.by_openid.insert(user, |u| {
                    users
                        .get(u as usize)
                        .map_or(&[][..], |u| packets.openid_of(u.row))
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::DAY_MS;

    fn packet(billno: &str, openid: &str, send_time: u64, number: u64) -> Packet {
        Packet {
            mch_billno: billno.to_owned(),
            kind: Kind::Normal,
            status: PacketStatus::Sent,
            wxappid: "wx0000000000000001".to_owned(),
            msgappid: None,
            re_openid: openid.to_owned(),
            total_amount: 1000,
            total_num: 1,
            send_name: "天虹百货".to_owned(),
            wishing: "感谢您参加猜灯谜活动，祝您元宵节快乐！".to_owned(),
            act_name: "猜灯谜抢红包活动".to_owned(),
            remark: "猜越多得越多，快来抢！".to_owned(),
            scene_id: Some("PRODUCT_2".to_owned()),
            send_listid: listid(send_time, number),
            send_time,
            visible_at: send_time,
            sending_until: None,
            shares: vec![1000],
            claims: Vec::new(),
            refund_time: None,
            refund_amount: None,
            reason: None,
            package: None,
        }
    }

    #[test]
    fn listids_round_trip_only_when_canonical() {
        let t = 1_516_686_308_000; // 2018-01-23 in Beijing
        let id = listid(t, 3_000_000_000_042);
        assert_eq!(id, "1000041701201801233000000000042");
        assert_eq!(listid_number(&id, t), Some(3_000_000_000_042));
        assert_eq!(listid_number(&id, t + DAY_MS), None);
        assert_eq!(listid_number("1000041701201801233000000000042x", t), None);
        assert_eq!(listid_number("10000417012018012330000000000", t), None);
        assert_eq!(listid_number("", t), None);
    }

    #[test]
    fn packets_come_back_equal_plain_or_not() {
        let mut table = PacketTable::default();
        let plain = packet("b1", "alice", 1_000, 7);
        let mut odd = packet(&"x".repeat(40), &"o".repeat(33), 2_000, 8);
        odd.kind = Kind::Group;
        odd.total_num = 3;
        odd.shares = vec![300, 300, 400];
        odd.send_listid = "not ours".to_owned();
        odd.visible_at = 5_000;
        odd.sending_until = Some(7_000);
        odd.claims.push(Claim {
            openid: "carol".to_owned(),
            amount: 300,
            rcv_time: 6_000,
        });
        odd.reason = Some("r".to_owned());
        odd.package = Some("p".to_owned());
        odd.refund_time = Some(9);
        odd.refund_amount = Some(700);
        odd.scene_id = None;
        odd.msgappid = Some("wx0000000000000002".to_owned());
        for p in [&odd, &plain] {
            assert!(table.put(p.clone()).1);
        }
        assert_eq!(table.len(), 2);
        assert_eq!(table.get("b1").as_ref(), Some(&plain));
        assert_eq!(table.get(&odd.mch_billno).as_ref(), Some(&odd));
        assert_eq!(table.get("b2"), None);
        assert_eq!(table.get(""), None);
        // By billno: "b1" < "xxx…", whatever the order of commits.
        let all: Vec<Packet> = table.iter().collect();
        assert_eq!(all, vec![plain.clone(), odd.clone()]);
        // The same texts are kept once.
        table.put(packet("b0", "dave", 3_000, 9));
        assert_eq!(table.contents.len(), 2);
    }

    #[test]
    fn a_replaced_packet_keeps_its_row() {
        let mut table = PacketTable::default();
        let (row, new) = table.put(packet("b1", "alice", 1_000, 7));
        assert!(new);
        let mut claimed = packet("b1", "alice", 1_000, 7);
        claimed.status = PacketStatus::Received;
        claimed.claims.push(Claim {
            openid: "alice".to_owned(),
            amount: 1000,
            rcv_time: 2_000,
        });
        assert_eq!(table.put(claimed.clone()), (row, false));
        assert_eq!(table.len(), 1);
        assert_eq!(table.get("b1"), Some(claimed));
        assert_eq!(table.status_of(row), Some((PacketStatus::Received, 1_000)));
    }

    #[test]
    fn thousands_of_billnos_and_openids_are_found_after_the_indexes_grow() {
        let mut table = PacketTable::default();
        let mut day = DayUsers::default();
        for i in 0..5_000u64 {
            let (row, new) = table.put(packet(&format!("b{i}"), &format!("u{}", i % 1_000), i, i));
            assert!(new);
            day.add(&table, row, 10);
        }
        for i in (0..5_000u64).step_by(7) {
            let p = table.get(&format!("b{i}")).unwrap();
            assert_eq!(p.send_time, i);
        }
        assert_eq!(table.find("b5000"), None);
        assert_eq!(day.get(&table, "u0"), Some((5, 50)));
        assert_eq!(day.get(&table, "u999"), Some((5, 50)));
        assert_eq!(day.get(&table, "u1000"), None);
    }
}
