//! The state shared by the servers and the `MockServer` handle.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use wxpay_proto::Fen;
use wxpay_sign::ApiKey;

use crate::Error;
use crate::clock::{Clock, ClockMode, format_beijing};
use crate::config::{Behaviour, Limits, MerchantConfig, check_openid_lists};
use crate::faults::{FaultEngine, FaultPlan};
use crate::journal::{Arrival, Journal, JournalEntry};
use crate::ledger::{
    Change, Claim, InvariantReport, Kind, Ledger, LedgerSnapshot, MerchantLedger, Money,
    PacketStatus, Timings,
};
use crate::store::Store;

/// A merchant as the rules see it.
#[derive(Debug)]
pub(crate) struct Merchant {
    /// Its configuration. Its declared users (`openids`, `mini_program_openids`) are the
    /// configured ones; the lists in force are [`Inner::openids`] (they change at run time).
    pub(crate) config: MerchantConfig,
    pub(crate) appid: String,
    pub(crate) mini_program_appid: String,
    pub(crate) key: ApiKey,
}

/// The text of `OPENID_ERROR` (spec §5), also the start of a claim refused for the same reason.
pub(crate) const OPENID_ERROR_TEXT: &str = "openid和appid不匹配";

/// A merchant's declared users, one list per appid: the configured
/// [`MerchantConfig::openids`] and [`MerchantConfig::mini_program_openids`], or the lists
/// declared since at run time (`MockServer::set_openids`,
/// `PUT /__admin/merchants/{mch_id}/openids`, whose body is this in JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OpenidLists {
    /// The Official Account's users.
    pub(crate) openids: BTreeSet<String>,
    /// The mini program's users.
    pub(crate) mini_program_openids: BTreeSet<String>,
}

impl OpenidLists {
    /// The configured lists of a merchant.
    fn configured(config: &MerchantConfig) -> Self {
        Self {
            openids: config.openids.clone(),
            mini_program_openids: config.mini_program_openids.clone(),
        }
    }

    /// Checks the lists (see [`check_openid_lists`]).
    fn check(&self) -> Result<(), String> {
        check_openid_lists(&self.openids, &self.mini_program_openids)
    }
}

impl Merchant {
    /// The users declared in `users` under `appid`: `None` when it is not one of the
    /// merchant's appids or its list is empty (its users are not known).
    fn declared_users<'u>(
        &self,
        users: &'u OpenidLists,
        appid: &str,
    ) -> Option<&'u BTreeSet<String>> {
        let list = if appid == self.appid {
            &users.openids
        } else if appid == self.mini_program_appid {
            &users.mini_program_openids
        } else {
            return None;
        };
        (!list.is_empty()).then_some(list)
    }

    /// Whether `openid` may be a user of `appids` (a packet's `wxappid`, and its `msgappid` in
    /// partner mode, under which the openid may also be) according to `users`.
    ///
    /// An openid declared under one of the merchant's appids belongs to that appid alone. An
    /// undeclared one is refused only when `exhaustive` and every appid of the request has a
    /// declared list (it is then nobody's user there); when any of them has none, it may be
    /// one of its users.
    fn openid_belongs_to<'a>(
        &self,
        users: &OpenidLists,
        openid: &str,
        mut appids: impl Iterator<Item = &'a str>,
        exhaustive: bool,
    ) -> bool {
        let owner = [self.appid.as_str(), self.mini_program_appid.as_str()]
            .into_iter()
            .find(|appid| {
                self.declared_users(users, appid)
                    .is_some_and(|list| list.contains(openid))
            });
        match owner {
            Some(owner) => appids.any(|a| a == owner),
            None => !exhaustive || appids.any(|a| self.declared_users(users, a).is_none()),
        }
    }
}

/// What changes.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) clock: Clock,
    pub(crate) ledger: Ledger,
    pub(crate) store: Store,
    pub(crate) faults: FaultEngine,
    pub(crate) journal: Journal,
    pub(crate) in_flight: BTreeSet<(String, String)>,
    pub(crate) rng: ChaCha8Rng,
    /// Every configured merchant's declared users in force, by `mch_id`.
    pub(crate) openids: BTreeMap<String, OpenidLists>,
}

/// The shared state.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) behaviour: Behaviour,
    pub(crate) merchants: BTreeMap<String, Merchant>,
    inner: Mutex<Inner>,
    /// Set (under the lock) when the server shuts down; request handlers still running after
    /// that change nothing.
    closed: AtomicBool,
}

const CLOCK_MODE_KEY: &str = "clock_mode";
const CLOCK_VALUE_KEY: &str = "clock_value_ms";

/// The store's meta key of a merchant's openid lists declared at run time.
fn openids_key(mch_id: &str) -> String {
    format!("openids:{mch_id}")
}

/// A claim made by a user (`MockServer::claim`, `POST /__admin/claim`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ClaimOutcome {
    /// Who claimed.
    pub openid: String,
    /// How much, in fen.
    pub amount: u64,
    /// When (Beijing time).
    pub rcv_time: String,
    /// The packet's status afterwards (`RECEIVED`, or `SENT` while group shares remain).
    pub status: String,
    /// How many shares remain.
    pub remaining: u32,
}

impl Shared {
    pub(crate) fn new(
        behaviour: Behaviour,
        merchants: BTreeMap<String, Merchant>,
        inner: Inner,
    ) -> Self {
        Self {
            behaviour,
            merchants,
            inner: Mutex::new(inner),
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) fn timings(behaviour: &Behaviour) -> Timings {
        Timings {
            refund_after_ms: u64::try_from(behaviour.refund_after.as_millis()).unwrap_or(u64::MAX),
            refund_duration_ms: u64::try_from(behaviour.refund_duration.as_millis())
                .unwrap_or(u64::MAX),
        }
    }

    /// Locks the state. A panic while it was held cannot leave a half-made change (changes
    /// are stored before they are applied), so a poisoned lock is taken over.
    /// Stops every later change by a request handler. Taking the lock first lets a commit in
    /// progress finish: after this returns, the store changes no more through the API.
    pub(crate) fn close(&self) {
        let _inner = self.lock();
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Whether [`Shared::close`] was called (read it with the lock held).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn limits(&self) -> BTreeMap<String, Limits> {
        self.merchants
            .iter()
            .map(|(id, m)| (id.clone(), m.config.limits))
            .collect()
    }

    /// Runs what fell due on the virtual clock (refunds), storing before applying.
    pub(crate) fn catch_up(inner: &mut Inner) -> Result<(), Error> {
        let now = inner.clock.now_ms();
        let change = inner.ledger.plan_catch_up(now);
        if !change.is_empty() {
            inner.store.write(&change)?;
            inner.ledger.apply(change);
        }
        inner.ledger.prune(now);
        Ok(())
    }

    /// Restores the clock from the store, or starts it now.
    pub(crate) fn restore_clock(store: &mut Store, mode: ClockMode) -> Result<Clock, Error> {
        let real = crate::clock::real_now_ms();
        let stored_mode = store.meta(CLOCK_MODE_KEY)?;
        let stored_value = store
            .meta(CLOCK_VALUE_KEY)?
            .and_then(|v| v.parse::<i128>().ok());
        let now = match (stored_mode.as_deref(), stored_value) {
            (Some("real"), Some(offset)) => i128::from(real) + offset,
            (Some("frozen"), Some(at)) => at,
            _ => i128::from(real),
        };
        let now = u64::try_from(now.max(0)).unwrap_or(real);
        let clock = Clock::starting_at(mode, now);
        Self::persist_clock(store, &clock)?;
        Ok(clock)
    }

    fn persist_clock(store: &mut Store, clock: &Clock) -> Result<(), Error> {
        let value = match clock.mode() {
            ClockMode::Real => i128::from(clock.now_ms()) - i128::from(crate::clock::real_now_ms()),
            ClockMode::Frozen => i128::from(clock.now_ms()),
        };
        store.set_meta(CLOCK_MODE_KEY, clock.mode().as_str())?;
        store.set_meta(CLOCK_VALUE_KEY, &value.to_string())
    }

    /// The initial money rows of configured merchants the store does not know yet.
    pub(crate) fn seed_money(&self, inner: &mut Inner) -> Result<(), Error> {
        let mut change = Change::default();
        for (mch_id, m) in &self.merchants {
            if inner
                .ledger
                .merchant(mch_id)
                .is_none_or(|l| l.money.is_none())
            {
                let balance = m.config.balance.get();
                change.money.insert(
                    mch_id.clone(),
                    Money {
                        initial: balance,
                        topups: 0,
                        balance,
                    },
                );
            }
        }
        inner.store.write(&change)?;
        inner.ledger.apply(change);
        Ok(())
    }

    /// Every merchant's configured openid lists.
    fn configured_openids(merchants: &BTreeMap<String, Merchant>) -> BTreeMap<String, OpenidLists> {
        merchants
            .iter()
            .map(|(id, m)| (id.clone(), OpenidLists::configured(&m.config)))
            .collect()
    }

    /// The openid lists in force at start: the configured ones, or those declared at run time
    /// and kept in the store since (until a reset), like the balance a persisted ledger keeps.
    pub(crate) fn restore_openids(
        store: &Store,
        merchants: &BTreeMap<String, Merchant>,
    ) -> Result<BTreeMap<String, OpenidLists>, Error> {
        let mut lists = Self::configured_openids(merchants);
        for (mch_id, in_force) in &mut lists {
            let Some(stored) = store.meta(&openids_key(mch_id))? else {
                continue;
            };
            let stored: OpenidLists = serde_json::from_str(&stored).map_err(|e| {
                Error::store(format!("corrupt openid lists of merchant {mch_id}"), e)
            })?;
            stored.check().map_err(|what| Error::Store {
                what: format!("invalid openid lists of merchant {mch_id}: {what}"),
                source: None,
            })?;
            tracing::info!(%mch_id, "openid lists declared at run time restored in place of the configured ones");
            *in_force = stored;
        }
        Ok(lists)
    }

    /// Every configured merchant's openid lists in force.
    pub(crate) fn openid_lists(&self) -> BTreeMap<String, OpenidLists> {
        self.lock().openids.clone()
    }

    /// Replaces a merchant's openid lists, stored before they take effect.
    pub(crate) fn set_openids(&self, mch_id: &str, lists: OpenidLists) -> Result<(), Error> {
        if !self.merchants.contains_key(mch_id) {
            return Err(Error::UnknownMerchant {
                mch_id: mch_id.to_owned(),
            });
        }
        lists.check().map_err(|what| Error::InvalidSetting {
            what: format!("merchant {mch_id}: {what}"),
        })?;
        let value = serde_json::to_string(&lists)
            .map_err(|e| Error::store("cannot encode openid lists", e))?;
        let mut inner = self.lock();
        inner.store.set_meta(&openids_key(mch_id), &value)?;
        inner.openids.insert(mch_id.to_owned(), lists);
        Ok(())
    }

    /// Whether `openid` is a user of the appid a packet goes (or went) through: `wxappid`, or
    /// in partner mode `msgappid`, under the merchant's declared users in force. The one rule
    /// behind a send's `OPENID_ERROR` (spec §5, step 7) and a refused claim.
    pub(crate) fn openid_belongs_to(
        &self,
        inner: &Inner,
        merchant: &Merchant,
        openid: &str,
        wxappid: &str,
        msgappid: Option<&str>,
    ) -> bool {
        let Some(users) = inner.openids.get(&merchant.config.mch_id) else {
            // Not a configured merchant: nothing declared.
            return true;
        };
        merchant.openid_belongs_to(
            users,
            openid,
            [Some(wxappid), msgappid].into_iter().flatten(),
            self.behaviour.openid_lists_exhaustive,
        )
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.lock().clock.now_ms()
    }

    pub(crate) fn advance_clock(&self, by: Duration) -> Result<u64, Error> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.clock.advance(by);
        Self::persist_clock(&mut inner.store, &inner.clock)?;
        Self::catch_up(inner)?;
        Ok(inner.clock.now_ms())
    }

    pub(crate) fn ledger(&self) -> LedgerSnapshot {
        let mut inner = self.lock();
        if let Err(e) = Self::catch_up(&mut inner) {
            tracing::error!(error = %e, "cannot run due refunds");
        }
        inner.ledger.snapshot()
    }

    pub(crate) fn invariants(&self) -> InvariantReport {
        let mut inner = self.lock();
        if let Err(e) = Self::catch_up(&mut inner) {
            tracing::error!(error = %e, "cannot run due refunds");
        }
        let mut violations = inner.ledger.violations(&self.limits());
        let in_memory: usize = inner
            .ledger
            .merchants
            .values()
            .map(MerchantLedger::packet_count)
            .sum();
        match inner.store.packet_count() {
            // No data directory: memory is the only copy.
            Ok(None) => {}
            Ok(Some(stored)) if stored == u64::try_from(in_memory).unwrap_or(u64::MAX) => {}
            Ok(Some(stored)) => violations.push(format!(
                "{in_memory} packets in memory but {stored} in the store"
            )),
            Err(e) => violations.push(format!("cannot count stored packets: {e}")),
        }
        InvariantReport {
            ok: violations.is_empty(),
            violations,
        }
    }

    pub(crate) fn requests(&self) -> Vec<JournalEntry> {
        self.lock().journal.entries()
    }

    pub(crate) fn record(&self, arrival: Arrival) {
        self.lock().journal.push(arrival);
    }

    pub(crate) fn set_faults(&self, plan: FaultPlan) {
        self.lock().faults = FaultEngine::new(plan);
    }

    pub(crate) fn faults(&self) -> FaultPlan {
        self.lock().faults.plan().clone()
    }

    /// A user opens a packet or takes the next share of a group.
    pub(crate) fn claim(
        &self,
        mch_id: &str,
        billno: &str,
        openid: Option<&str>,
    ) -> Result<ClaimOutcome, Error> {
        let mut inner = self.lock();
        Self::catch_up(&mut inner)?;
        let now = inner.clock.now_ms();
        let refused = |reason: &str| Error::ClaimRefused {
            reason: reason.to_owned(),
        };
        if inner.ledger.merchant(mch_id).is_none() && !self.merchants.contains_key(mch_id) {
            return Err(Error::UnknownMerchant {
                mch_id: mch_id.to_owned(),
            });
        }
        let Some(packet) = inner.ledger.packet(mch_id, billno) else {
            return Err(Error::UnknownPacket {
                mch_id: mch_id.to_owned(),
                mch_billno: billno.to_owned(),
            });
        };
        match packet.status {
            PacketStatus::Sent if packet.sending_at(now) => {
                return Err(refused("the packet is still being sent"));
            }
            PacketStatus::Sent => {}
            PacketStatus::Received => return Err(refused("the packet is already fully claimed")),
            PacketStatus::Refunding | PacketStatus::Refund => {
                return Err(refused("the packet expired and is refunded"));
            }
            PacketStatus::Failed => return Err(refused("the send failed")),
        }
        let openid = match (packet.kind, openid) {
            (Kind::Group, Some(o)) => o.to_owned(),
            (Kind::Group, None) if packet.claims.is_empty() => packet.re_openid.clone(),
            (Kind::Group, None) => return Err(refused("a group share needs the claimer's openid")),
            (_, Some(o)) if o != packet.re_openid => {
                return Err(refused("only the recipient can open a normal packet"));
            }
            (_, _) => packet.re_openid.clone(),
        };
        if openid.is_empty() || openid.chars().count() > 32 {
            return Err(refused("the openid must have 1 to 32 characters"));
        }
        if let Some(merchant) = self.merchants.get(mch_id)
            && !self.openid_belongs_to(
                &inner,
                merchant,
                &openid,
                &packet.wxappid,
                packet.msgappid.as_deref(),
            )
        {
            let msgappid = packet
                .msgappid
                .as_deref()
                .map(|m| format!(" nor of its msgappid {m}"))
                .unwrap_or_default();
            return Err(refused(&format!(
                "{OPENID_ERROR_TEXT}: {openid} is not a user of the packet's appid {}{msgappid}",
                packet.wxappid
            )));
        }
        if packet.claims.iter().any(|c| c.openid == openid) {
            return Err(refused("this user already took a share"));
        }
        let Some(amount) = packet.shares.get(packet.claims.len()).copied() else {
            return Err(refused("no share is left"));
        };
        let mut next = packet.clone();
        next.claims.push(Claim {
            openid: openid.clone(),
            amount,
            rcv_time: now,
        });
        if next.claims.len() == next.shares.len() {
            next.status = PacketStatus::Received;
        }
        let outcome = ClaimOutcome {
            openid,
            amount,
            rcv_time: format_beijing(now),
            status: next.status.wire().to_owned(),
            remaining: u32::try_from(next.shares.len() - next.claims.len()).unwrap_or(0),
        };
        let change = Change {
            money: BTreeMap::new(),
            packets: vec![(mch_id.to_owned(), next)],
        };
        inner.store.write(&change)?;
        inner.ledger.apply(change);
        Ok(outcome)
    }

    pub(crate) fn top_up(&self, mch_id: &str, amount: Fen) -> Result<u64, Error> {
        let mut inner = self.lock();
        let Some(m) = inner.ledger.merchant(mch_id) else {
            return Err(Error::UnknownMerchant {
                mch_id: mch_id.to_owned(),
            });
        };
        let mut money = m.money();
        money.topups = money
            .topups
            .checked_add(amount.get())
            .ok_or(Error::AmountOverflow)?;
        money.balance = money
            .balance
            .checked_add(amount.get())
            .ok_or(Error::AmountOverflow)?;
        let mut change = Change::default();
        change.money.insert(mch_id.to_owned(), money);
        inner.store.write(&change)?;
        inner.ledger.apply(change);
        Ok(money.balance)
    }

    /// Back to a fresh start: empty ledger, configured balances and openid lists, no faults,
    /// empty journal, clock at real time (same mode).
    ///
    /// Sends in flight are not forgotten: each billno in [`Inner::in_flight`] belongs to a
    /// handler still running, which removes it when it ends. Until then a duplicate is
    /// `PROCESSING`, and the send commits into the fresh ledger (clearing the set let a
    /// duplicate commit the same billno a second time).
    pub(crate) fn reset(&self) -> Result<(), Error> {
        let mut inner = self.lock();
        inner.store.clear()?;
        inner.openids = Self::configured_openids(&self.merchants);
        inner.ledger = Ledger::new(Self::timings(&self.behaviour));
        inner.faults = FaultEngine::new(FaultPlan::default());
        inner.journal.clear();
        let mode = inner.clock.mode();
        inner.clock = Clock::starting_at(mode, crate::clock::real_now_ms());
        let clock = inner.clock.clone();
        Self::persist_clock(&mut inner.store, &clock)?;
        self.seed_money(&mut inner)
    }
}
