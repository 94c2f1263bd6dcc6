//! Campaigns: a file of openids, each paid once, at the API's rate, surviving crashes.
//!
//! What it does:
//!
//! - reads a [`CampaignFile`] (one openid a line, optionally `openid,amount` in yuan), with
//!   every malformed line reported by number, and duplicates reported (sent once unless
//!   asked);
//! - gives every row a deterministic billno, [`campaign_billno`]: `mch_id` + `yyyymmdd` + the
//!   campaign number on 4 digits + the row number on 6 digits. The date is fixed when the
//!   journal is created; the campaign number is given, or taken from the creation time
//!   (Beijing seconds of the day / 10);
//! - checks every row as the client checks a send (amount range, `scene_id`, formats) and
//!   sends nothing unless all pass;
//! - writes the campaign (its texts and the [`ClientFields`] its requests take from the
//!   client: `wxappid`, `client_ip`, the resolved `send_name`) and every row with its billno
//!   to an SQLite journal in one transaction **before** the first request; journals each
//!   attempt (row `sending`) before its request and its outcome after;
//! - builds each row's request from the journal alone (the client adds the nonce and the
//!   signature) and sends it with [`RedpackClient::send_reliably`] (same billno and the same
//!   business fields on every retry and every resume, settled with `gethbinfo`), at most
//!   [`RunOptions::rate_per_minute`] a minute (default 1800, evenly spaced) and
//!   [`RunOptions::concurrency`] at a time;
//! - reports sent / rejected by code / unknown / pending, counts and amounts, time and rate
//!   ([`Report`]).
//!
//! # Resuming and crashes
//!
//! Run the same campaign again (same file, same journal, same merchant settings) after a
//! crash — `kill -9` at any moment — and it finishes what is left and sends nothing twice:
//!
//! - a resume checks the journal against what it is given, and sends nothing if one differs
//!   ([`CampaignError::Mismatch`], naming what differs): the merchant (`mch_id`), the rows
//!   (openids and amounts, in order), the campaign number, the texts, and the client's
//!   appid, `client_ip` and default `send_name` (when the template sets none). A billno is
//!   thus re-entered only with the business fields of its first attempt (spec §5: another
//!   `re_openid` or `total_amount` is `FATAL_ERROR`, other changes undocumented). A journal
//!   of an earlier version, which did not keep the client's fields, is resumed only if no
//!   row was ever attempted ([`CampaignError::OldJournal`] otherwise);
//! - a crash before the creation transaction commits leaves no campaign: the rerun creates
//!   it;
//! - afterwards every row has its billno in the journal, and a rerun **never mints a new
//!   one**: rows never attempted are sent; rows left `sending` or `unknown` are re-entered
//!   with their billno (the server replays an issued packet instead of paying again) and
//!   settled with `gethbinfo`;
//! - sent rows are not touched; rejected rows stay rejected unless
//!   [`RunOptions::retry_rejected`] is set, which re-sends those of handling class A or B
//!   (nothing was issued) with their billno. `SEND_FAILED`, `FATAL_ERROR` and `NO_AUTH`
//!   (class D) are never retried: a new billno for the same intent is a decision for a
//!   person, not for this code.
//!
//! A run holds an advisory lock on `<journal>.lock` (released when it ends or its process
//! dies), so two processes never run one campaign at once; the creation of a campaign holds
//! it too, so two processes started at once on a new journal never both create it.
//!
//! [`Campaign::reconcile`] settles only the unknown rows: `gethbinfo` first, then re-entry
//! with the same billno when the record is not found.
//!
//! Amounts are integer fen throughout ([`Fen`]).
//!
//! ```no_run
//! use wxpay_proto::{ActName, Fen, Remark, Wishing};
//! use wxpay_redpack::RedpackClient;
//! use wxpay_redpack::campaign::{Campaign, CampaignFile, PacketTemplate, ParseOptions, RunOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = RedpackClient::from_merchant_toml(".wxpay-mock/merchant.toml")?;
//! let file = CampaignFile::read(
//!     "openids.txt",
//!     &ParseOptions::with_default_amount(Fen::parse_yuan("1.00")?),
//! )?;
//! let template = PacketTemplate::new(
//!     Wishing::new("恭喜发财")?,
//!     ActName::new("新春红包")?,
//!     Remark::new("感谢参与")?,
//! );
//! let campaign = Campaign::prepare("campaign.db", &client, &file, &template, None)?;
//! let report = campaign
//!     .run(&client, &RunOptions::default(), |progress| {
//!         tracing::info!(row = progress.row.row_no, state = %progress.row.state, "row done");
//!     })
//!     .await?;
//! println!("sent {} ({} yuan)", report.sent.count, report.sent.amount);
//! # Ok(())
//! # }
//! ```

mod error;
mod file;
mod journal;
mod limiter;
mod numbers;
mod report;

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use tokio::task::JoinSet;
use wxpay_proto::{
    ActName, AppId, ClientIp, ErrCode, Fen, HandlingClass, MchBillno, MchId, NonceStr, Remark,
    SceneId, SendName, Status, Wishing, sendredpack,
};
use wxpay_transport::Transport;

pub use error::{CampaignError, LineError, LineProblem};
pub use file::{CampaignFile, CampaignRow, Duplicate, MAX_ROWS, ParseOptions};
pub use journal::JournalRow;
pub use numbers::REGISTRY;
pub use report::{Report, Tally, Verdict};

use crate::billno::{BillDate, MAX_SEQUENCE, billno};
use crate::client::RedpackClient;
use crate::clock::Clock;
use crate::error::Error;
use crate::outcome::{Confirmation, QueryOutcome, SendOutcome};
use crate::packet::SendRequest;
use crate::retry::RetryPolicy;
use journal::{Finished, Journal, Meta, NewRow};
use limiter::RateLimiter;

/// The largest campaign number: it takes four of the billno's ten digits.
pub const MAX_CAMPAIGN_NO: u32 = 9999;

/// The default rate: "发送频率限制------默认1800/min" (spec §5).
pub const DEFAULT_RATE_PER_MINUTE: u32 = 1800;

/// The default number of rows in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Row numbers take the last six digits of the billno.
const ROWS_PER_CAMPAIGN: u64 = 1_000_000;

/// The billno of row `row_no` (from 1) of campaign `campaign_no` of `date`:
/// `mch_id` + `yyyymmdd` + `campaign_no` on 4 digits + `row_no` on 6 digits, the documented
/// shape (28 characters for a 10-digit `mch_id`). The same inputs always give the same
/// billno.
///
/// ```
/// use wxpay_proto::MchId;
/// use wxpay_redpack::BillDate;
/// use wxpay_redpack::campaign::campaign_billno;
///
/// let date = BillDate::new(2026, 2, 17).unwrap();
/// let billno = campaign_billno(&MchId::new("1900000109")?, date, 42, 7)?;
/// assert_eq!(billno.as_str(), "1900000109202602170042000007");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`CampaignError::Options`] for a campaign number over [`MAX_CAMPAIGN_NO`], a row number
/// of 0 or over [`MAX_ROWS`], or an `mch_id` over 10 digits.
pub fn campaign_billno(
    mch_id: &MchId,
    date: BillDate,
    campaign_no: u32,
    row_no: u64,
) -> Result<MchBillno, CampaignError> {
    if campaign_no > MAX_CAMPAIGN_NO {
        return Err(CampaignError::options(format!(
            "campaign number {campaign_no} is over {MAX_CAMPAIGN_NO}"
        )));
    }
    if row_no == 0 || row_no >= ROWS_PER_CAMPAIGN {
        return Err(CampaignError::options(format!(
            "row number {row_no} is not in 1..={MAX_ROWS}"
        )));
    }
    let sequence = u64::from(campaign_no) * ROWS_PER_CAMPAIGN + row_no;
    debug_assert!(sequence <= MAX_SEQUENCE);
    billno(mch_id, date, sequence).map_err(|e| CampaignError::options(error_chain(&e)))
}

/// The campaign number a creation time suggests: the Beijing time of day in tens of seconds
/// (0 to 8639). [`Campaign::prepare`] takes it if no other campaign of the journal's
/// directory has it that day (see [`REGISTRY`]), else the next free one.
pub fn default_campaign_no(created: SystemTime) -> u32 {
    let secs = created
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
        .saturating_add(8 * 3600);
    u32::try_from((secs % 86_400) / 10).unwrap_or(0)
}

/// The texts of every packet of a campaign. Stored in the journal when it is created: a
/// resumed campaign must use the same (its billnos are already bound to them).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PacketTemplate {
    /// `wishing`.
    pub wishing: Wishing,
    /// `act_name`.
    pub act_name: ActName,
    /// `remark`.
    pub remark: Remark,
    /// `send_name`; the client's default when `None`, resolved when the campaign is created
    /// and journaled with it ([`ClientFields::send_name`]).
    pub send_name: Option<SendName>,
    /// `scene_id` (required for amounts below 1 or above 200 yuan).
    pub scene_id: Option<SceneId>,
}

impl PacketTemplate {
    /// A template with the required texts.
    pub fn new(wishing: Wishing, act_name: ActName, remark: Remark) -> Self {
        Self {
            wishing,
            act_name,
            remark,
            send_name: None,
            scene_id: None,
        }
    }

    /// Sets `send_name`.
    #[must_use]
    pub fn with_send_name(mut self, send_name: SendName) -> Self {
        self.send_name = Some(send_name);
        self
    }

    /// Sets `scene_id`.
    #[must_use]
    pub fn with_scene_id(mut self, scene_id: SceneId) -> Self {
        self.scene_id = Some(scene_id);
        self
    }
}

/// The business fields of a campaign's requests that come from the client's configuration,
/// not from a row or the [`PacketTemplate`]: resolved when the campaign is created and
/// journaled with it.
///
/// Every request of the campaign carries these values, on every attempt and after any
/// resume, so that a billno is always re-entered with byte-identical business fields (the
/// server answers `FATAL_ERROR` to a billno re-entered with another openid or amount, and
/// nothing documented to other changes: spec §5). A client configured with other values is
/// refused ([`CampaignError::Mismatch`]). Campaigns send no `risk_info` and none of the
/// service-provider fields (`sub_mch_id`, `msgappid`, `consume_mch_id`); `mch_id` is
/// journaled and checked on its own, `total_num` is always 1.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientFields {
    /// `wxappid`: the client's Official Account appid.
    pub wxappid: AppId,
    /// `client_ip`: the client's.
    pub client_ip: ClientIp,
    /// `send_name`: the template's, else the client's default.
    pub send_name: SendName,
}

impl ClientFields {
    /// The values `client` gives the requests of `template`.
    fn of<T: Transport>(
        client: &RedpackClient<T>,
        template: &PacketTemplate,
    ) -> Result<Self, CampaignError> {
        let send_name = template
            .send_name
            .as_ref()
            .or(client.default_send_name())
            .cloned()
            .ok_or(CampaignError::Client(Error::Unsupported {
                field: "send_name",
                reason: "is not set: give one in the template or a default on the client",
            }))?;
        Ok(Self {
            wxappid: client.appid().clone(),
            client_ip: client.client_ip().clone(),
            send_name,
        })
    }

    /// How `client` (with `template`) differs from these values, naming each field and both
    /// values; `None` when it gives the same. None of these fields is a secret.
    fn difference<T: Transport>(
        &self,
        client: &RedpackClient<T>,
        template: &PacketTemplate,
    ) -> Option<String> {
        let send_name = template.send_name.as_ref().or(client.default_send_name());
        let fields: [(&str, &str, Option<&str>); 3] = [
            (
                "wxappid",
                self.wxappid.as_str(),
                Some(client.appid().as_str()),
            ),
            (
                "client_ip",
                self.client_ip.as_str(),
                Some(client.client_ip().as_str()),
            ),
            (
                "send_name",
                self.send_name.as_str(),
                send_name.map(SendName::as_str),
            ),
        ];
        let differences: Vec<String> = fields
            .iter()
            .filter(|(_, journaled, given)| Some(*journaled) != *given)
            .map(|(name, journaled, given)| {
                format!(
                    "its requests carry {name} {journaled:?}, the client gives {}",
                    given.map_or("none".to_owned(), |v| format!("{v:?}"))
                )
            })
            .collect();
        if differences.is_empty() {
            None
        } else {
            Some(differences.join("; "))
        }
    }
}

/// Everything a campaign's requests hold besides the row and the nonce, as journaled.
#[derive(Debug, Clone)]
struct RequestBasis {
    mch_id: MchId,
    template: PacketTemplate,
    fields: ClientFields,
}

impl RequestBasis {
    /// The `sendredpack` request of a row: every field from the journal (the campaign's
    /// merchant, texts and client fields; the row's billno, openid and amount), only
    /// `nonce_str` (not a business field) from the client. It cannot differ from one attempt,
    /// run or configuration to the next.
    fn request(
        &self,
        nonce: NonceStr,
        mch_billno: MchBillno,
        row: &CampaignRowRef<'_>,
    ) -> SendRequest {
        let t = &self.template;
        let f = &self.fields;
        let mut request = sendredpack::Request::new(
            nonce,
            mch_billno,
            self.mch_id.clone(),
            f.wxappid.clone(),
            f.send_name.clone(),
            row.openid.clone(),
            row.amount,
            t.wishing.clone(),
            f.client_ip.clone(),
            t.act_name.clone(),
            t.remark.clone(),
        );
        request.scene_id.clone_from(&t.scene_id);
        request.into()
    }
}

/// What a packet needs from a row, from the file or from the journal.
struct CampaignRowRef<'a> {
    openid: &'a wxpay_proto::OpenId,
    amount: Fen,
}

/// Where a row of the journal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RowState {
    /// Never sent, or every attempt provably never left.
    Pending,
    /// An attempt started and its outcome was not recorded (the process stopped during it):
    /// it may have reached the server, as for `Unknown`.
    Sending,
    /// The packet was issued.
    Sent,
    /// Refused with a definitive code: nothing was issued under the billno.
    Rejected,
    /// An attempt may have reached the server and its outcome is not known.
    Unknown,
}

impl RowState {
    /// The journal's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Rejected => "rejected",
            Self::Unknown => "unknown",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Sending,
            Self::Sent,
            Self::Rejected,
            Self::Unknown,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }

    /// Whether the row is settled (sent or rejected).
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Sent | Self::Rejected)
    }

    /// The state a row returns to when an attempt provably never reached the server.
    fn after_not_sent(self) -> Self {
        match self {
            Self::Sending => Self::Unknown,
            other => other,
        }
    }
}

impl fmt::Display for RowState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The campaign's identity: its date and number (the billno's middle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub struct CampaignId {
    /// The date in its billnos.
    pub date: BillDate,
    /// The campaign number.
    pub number: u32,
}

/// `yyyymmdd-nnnn`.
impl fmt::Display for CampaignId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:04}", self.date, self.number)
    }
}

/// How to run a campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunOptions {
    /// At most this many rows started a minute, evenly spaced (default 1800). Retries inside
    /// a reliable send are not counted: they replay a billno and commit nothing new.
    pub rate_per_minute: u32,
    /// At most this many rows in flight at once (default 8).
    pub concurrency: usize,
    /// The policy of each row's reliable send.
    pub retry: RetryPolicy,
    /// Also re-send rejected rows of handling class A or B (configuration fixed, limit
    /// lifted, balance topped up), with their billno. Class D rows are never retried.
    pub retry_rejected: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            rate_per_minute: DEFAULT_RATE_PER_MINUTE,
            concurrency: DEFAULT_CONCURRENCY,
            retry: RetryPolicy::default(),
            retry_rejected: false,
        }
    }
}

impl RunOptions {
    /// Sets [`RunOptions::rate_per_minute`].
    #[must_use]
    pub fn rate_per_minute(mut self, rate: u32) -> Self {
        self.rate_per_minute = rate;
        self
    }

    /// Sets [`RunOptions::concurrency`].
    #[must_use]
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Sets [`RunOptions::retry`].
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Sets [`RunOptions::retry_rejected`].
    #[must_use]
    pub fn retry_rejected(mut self, retry: bool) -> Self {
        self.retry_rejected = retry;
        self
    }

    /// Checks the options as [`Campaign::run`] and [`Campaign::reconcile`] do, so that a
    /// caller can refuse bad options before [`Campaign::prepare`] writes anything.
    ///
    /// # Errors
    ///
    /// [`CampaignError::Options`] for a zero rate or concurrency, [`CampaignError::Client`]
    /// for an invalid retry policy.
    pub fn validate(&self) -> Result<(), CampaignError> {
        if self.rate_per_minute == 0 {
            return Err(CampaignError::options(
                "the rate must be at least 1 a minute",
            ));
        }
        if self.concurrency == 0 {
            return Err(CampaignError::options("the concurrency must be at least 1"));
        }
        self.retry.validate().map_err(CampaignError::Client)
    }
}

/// A row finished by a run, and how far the run is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// The row as journaled after its attempt.
    pub row: JournalRow,
    /// Rows finished by this run so far, this one included.
    pub done: u64,
    /// Rows this run set out to do.
    pub to_do: u64,
}

/// A campaign and its journal.
#[derive(Debug)]
pub struct Campaign {
    journal: Arc<Journal>,
    meta: Meta,
    /// The client fields a run adopted into a schema-1 journal (whose `meta` has none).
    adopted: OnceLock<ClientFields>,
    created: bool,
}

/// What a run does to each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Send (or re-enter) with the reliable send.
    Batch,
    /// `gethbinfo` first; re-entry if the record is not found.
    Reconcile,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Batch => "batch",
            Self::Reconcile => "reconcile",
        }
    }
}

impl Campaign {
    /// Creates the campaign of `file` in the journal at `path`, or resumes the one already
    /// there.
    ///
    /// Creating: takes today's date (Beijing time, by the client's clock) and
    /// `campaign_no` (or [`default_campaign_no`]), derives each row's billno, resolves the
    /// fields the requests take from the client ([`ClientFields`]: `wxappid`, `client_ip`,
    /// and `send_name` when the template sets none), checks every row as the client checks a
    /// send, and only then writes the campaign (its texts and client fields) and all its
    /// rows in one transaction. The number is recorded in the journal directory's
    /// [`REGISTRY`]: a default number another campaign of the merchant there has that day is
    /// moved to the next free one, and an explicit one is refused. Campaigns whose journals
    /// are in different directories, or on different machines, need numbers chosen apart.
    ///
    /// Resuming: checks that the journal is this merchant's, that the file has the same rows
    /// (openids and amounts, in order), that the texts are the same and that the client
    /// gives the journaled [`ClientFields`] (its appid, its `client_ip`, and its default
    /// `send_name` when the template sets none), then checks the rows again. Every request
    /// of the campaign is built from the journal, so a billno is re-entered with the very
    /// business fields of its first attempt.
    ///
    /// A journal of schema 1 (written by an earlier version, which did not journal the
    /// client fields) is resumed only if none of its rows was ever attempted: its first run
    /// then journals this client's values (the journal becomes schema 2). If any row was
    /// attempted, it is refused with [`CampaignError::OldJournal`]: its requests may have
    /// carried other values, and nothing says which.
    ///
    /// Nothing is sent here.
    ///
    /// # Errors
    ///
    /// [`CampaignError::EmptyFile`] for a file of no rows (checked first: no journal is
    /// created or opened, no campaign number taken), [`CampaignError::File`] for rows that
    /// break a rule (with their line numbers), [`CampaignError::Mismatch`] for a journal of another campaign or of other client
    /// fields (naming the field and both values), [`CampaignError::OldJournal`] for a
    /// schema-1 journal with attempted rows, [`CampaignError::Client`] when neither the
    /// template nor the client gives a `send_name`, [`CampaignError::Options`] for a
    /// campaign number over [`MAX_CAMPAIGN_NO`] or taken by another campaign of the
    /// directory, or an `mch_id` too long for the billno, [`CampaignError::Busy`] when
    /// another process is creating the campaign (it holds the run lock, `<journal>.lock`),
    /// [`CampaignError::Journal`] / [`CampaignError::Corrupt`] for a journal that cannot be
    /// used. The journal is unchanged on error.
    pub fn prepare<T: Transport>(
        path: impl AsRef<Path>,
        client: &RedpackClient<T>,
        file: &CampaignFile,
        template: &PacketTemplate,
        campaign_no: Option<u32>,
    ) -> Result<Self, CampaignError> {
        let path = path.as_ref();
        if file.rows().is_empty() {
            return Err(CampaignError::EmptyFile);
        }
        if let Some(no) = campaign_no.filter(|no| *no > MAX_CAMPAIGN_NO) {
            return Err(CampaignError::options(format!(
                "campaign number {no} is over {MAX_CAMPAIGN_NO}"
            )));
        }
        let existing = if path.exists() {
            Some(Journal::open_or_new(path)?)
        } else {
            None
        };
        let existing = match existing {
            Some((journal, Some(meta))) => {
                return Self::resume(journal, meta, client, file, template, campaign_no);
            }
            // An empty file, or one whose creation was interrupted: create the campaign.
            Some((journal, None)) => Some(journal),
            None => None,
        };

        let now = client.clock().now();
        let date = BillDate::beijing(now);
        let mut number = campaign_no.unwrap_or_else(|| default_campaign_no(now));
        let billnos_of = |number: u32| -> Result<Vec<MchBillno>, CampaignError> {
            (1..=file.rows().len())
                .map(|row_no| {
                    let row_no = u64::try_from(row_no).unwrap_or(u64::MAX);
                    campaign_billno(client.mch_id(), date, number, row_no)
                })
                .collect()
        };
        let mut billnos = billnos_of(number)?;
        let rows: Vec<(usize, CampaignRowRef<'_>, &MchBillno)> = file
            .rows()
            .iter()
            .zip(&billnos)
            .map(|(row, billno)| {
                let r = CampaignRowRef {
                    openid: &row.openid,
                    amount: row.amount,
                };
                (row.line, r, billno)
            })
            .collect();
        let basis = RequestBasis {
            mch_id: client.mch_id().clone(),
            template: template.clone(),
            fields: ClientFields::of(client, template)?,
        };
        check_rows(client, &basis, &rows)?;

        let journal = match existing {
            Some(journal) => journal,
            None => Journal::open_or_new(path)?.0,
        };
        // Two processes started at once may both have found no campaign: the run lock lets
        // one create it, and the other either is refused or resumes what the first created.
        let _lock = RunLock::acquire(path)?;
        if let Some(meta) = journal.meta()? {
            return Self::resume(journal, meta, client, file, template, campaign_no);
        }
        // The number is taken only now that the rows are known to be good (a refused file
        // takes none): the directory's other campaigns of the day may already have it.
        let taken = numbers::take(path, client.mch_id(), date, campaign_no, number)?;
        if taken != number {
            number = taken;
            billnos = billnos_of(number)?;
        }
        let meta = Meta {
            mch_id: client.mch_id().clone(),
            campaign_no: number,
            bill_date: date,
            template: template.clone(),
            fields: Some(basis.fields),
            row_count: u64::try_from(file.rows().len()).unwrap_or(u64::MAX),
            total: file.total().ok_or_else(|| {
                CampaignError::options("the amounts add up to more than a u64 of fen")
            })?,
            created_unix_ms: unix_ms(now),
        };
        let new_rows: Vec<NewRow<'_>> = file
            .rows()
            .iter()
            .zip(&billnos)
            .zip(1u64..)
            .map(|((row, mch_billno), row_no)| NewRow {
                row_no,
                line: row.line,
                openid: &row.openid,
                amount: row.amount,
                mch_billno,
            })
            .collect();
        journal.create(&meta, &new_rows)?;
        tracing::info!(
            journal = %journal.path().display(),
            campaign = %CampaignId { date, number },
            rows = meta.row_count,
            "campaign created"
        );
        Ok(Self {
            journal: Arc::new(journal),
            meta,
            adopted: OnceLock::new(),
            created: true,
        })
    }

    fn resume<T: Transport>(
        journal: Journal,
        meta: Meta,
        client: &RedpackClient<T>,
        file: &CampaignFile,
        template: &PacketTemplate,
        campaign_no: Option<u32>,
    ) -> Result<Self, CampaignError> {
        let path = journal.path().to_owned();
        if meta.mch_id != *client.mch_id() {
            return Err(CampaignError::mismatch(
                &path,
                format!(
                    "it is merchant {}'s, the configuration is merchant {}'s",
                    meta.mch_id,
                    client.mch_id()
                ),
            ));
        }
        if let Some(no) = campaign_no.filter(|no| *no != meta.campaign_no) {
            return Err(CampaignError::mismatch(
                &path,
                format!("it is campaign number {}, not {no}", meta.campaign_no),
            ));
        }
        if meta.template != *template {
            return Err(CampaignError::mismatch(
                &path,
                template_difference(&meta.template, template),
            ));
        }
        let rows = journal.rows()?;
        if rows.len() != file.rows().len() {
            return Err(CampaignError::mismatch(
                &path,
                format!(
                    "it has {} rows, the file has {}",
                    rows.len(),
                    file.rows().len()
                ),
            ));
        }
        for (journaled, row) in rows.iter().zip(file.rows()) {
            if journaled.openid != row.openid || journaled.amount != row.amount {
                return Err(CampaignError::mismatch(
                    &path,
                    format!(
                        "row {} is {} {} yuan in the journal, {} {} yuan in the file (line {})",
                        journaled.row_no,
                        journaled.openid,
                        journaled.amount,
                        row.openid,
                        row.amount,
                        row.line
                    ),
                ));
            }
        }
        let fields = match &meta.fields {
            Some(fields) => {
                if let Some(difference) = fields.difference(client, &meta.template) {
                    return Err(CampaignError::mismatch(&path, difference));
                }
                fields.clone()
            }
            // Schema 1: the values the requests carried were not journaled. Safe to adopt
            // this client's only while no row was ever attempted (the first run journals
            // them, under the run lock, checking that again).
            None => {
                let attempted = journal.attempted_rows()?;
                if attempted > 0 {
                    return Err(CampaignError::OldJournal { path, attempted });
                }
                ClientFields::of(client, &meta.template)?
            }
        };
        let basis = RequestBasis {
            mch_id: meta.mch_id.clone(),
            template: meta.template.clone(),
            fields,
        };
        let checks: Vec<(usize, CampaignRowRef<'_>, &MchBillno)> = rows
            .iter()
            .filter(|row| !row.state.is_settled())
            .map(|row| {
                let r = CampaignRowRef {
                    openid: &row.openid,
                    amount: row.amount,
                };
                (row.line, r, &row.mch_billno)
            })
            .collect();
        check_rows(client, &basis, &checks)?;
        tracing::info!(
            journal = %path.display(),
            campaign = %CampaignId { date: meta.bill_date, number: meta.campaign_no },
            "campaign resumed"
        );
        Ok(Self {
            journal: Arc::new(journal),
            meta,
            adopted: OnceLock::new(),
            created: false,
        })
    }

    /// Opens the campaign in an existing journal (for its report, or to reconcile it).
    /// Opening checks nothing against a client (there is none): [`run`](Self::run) and
    /// [`reconcile`](Self::reconcile) check theirs as [`prepare`](Self::prepare) does.
    ///
    /// # Errors
    ///
    /// [`CampaignError::NoJournal`] when there is no file, [`CampaignError::Corrupt`] when it
    /// holds no campaign, [`CampaignError::Journal`] when it cannot be read.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CampaignError> {
        let (journal, meta) = Journal::open_existing(path.as_ref())?;
        Ok(Self {
            journal: Arc::new(journal),
            meta,
            adopted: OnceLock::new(),
            created: false,
        })
    }

    /// Whether [`prepare`](Self::prepare) created the campaign (rather than resuming it).
    pub fn was_created(&self) -> bool {
        self.created
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        self.journal.path()
    }

    /// The campaign's date and number.
    pub fn id(&self) -> CampaignId {
        CampaignId {
            date: self.meta.bill_date,
            number: self.meta.campaign_no,
        }
    }

    /// The merchant.
    pub fn mch_id(&self) -> &MchId {
        &self.meta.mch_id
    }

    /// The packet texts.
    pub fn template(&self) -> &PacketTemplate {
        &self.meta.template
    }

    /// The fields every request takes from the client, as journaled: `None` only for a
    /// journal of schema 1 (written by an earlier version) that no run has adopted yet.
    pub fn client_fields(&self) -> Option<&ClientFields> {
        self.meta.fields.as_ref().or_else(|| self.adopted.get())
    }

    /// The number of rows.
    pub fn row_count(&self) -> u64 {
        self.meta.row_count
    }

    /// The sum of all rows' amounts.
    pub fn total(&self) -> Fen {
        self.meta.total
    }

    /// Every row as journaled, in row order.
    ///
    /// # Errors
    ///
    /// [`CampaignError::Journal`] / [`CampaignError::Corrupt`].
    pub fn rows(&self) -> Result<Vec<JournalRow>, CampaignError> {
        self.journal.rows()
    }

    /// The report from the journal: rows by state and code, and the time and settled rows of
    /// every run (one stopped by a crash counts up to its last journaled outcome).
    ///
    /// # Errors
    ///
    /// [`CampaignError::Journal`].
    pub fn report(&self) -> Result<Report, CampaignError> {
        self.journal.report()
    }

    /// The rows a [`run`](Self::run) with these options would do: pending, unknown and
    /// interrupted ones, and rejected ones of class A or B with
    /// [`RunOptions::retry_rejected`].
    ///
    /// # Errors
    ///
    /// [`CampaignError::Journal`] / [`CampaignError::Corrupt`].
    pub fn rows_to_run(&self, options: &RunOptions) -> Result<Vec<JournalRow>, CampaignError> {
        let mut states = vec![RowState::Pending, RowState::Sending, RowState::Unknown];
        if options.retry_rejected {
            states.push(RowState::Rejected);
        }
        let rows = self.journal.rows_in(&states)?;
        Ok(rows
            .into_iter()
            .filter(|row| {
                row.state != RowState::Rejected
                    || matches!(
                        row.handling_class,
                        Some(HandlingClass::A | HandlingClass::B)
                    )
            })
            .collect())
    }

    /// The rows a [`reconcile`](Self::reconcile) would settle: unknown and interrupted ones.
    ///
    /// # Errors
    ///
    /// [`CampaignError::Journal`] / [`CampaignError::Corrupt`].
    pub fn rows_to_reconcile(&self) -> Result<Vec<JournalRow>, CampaignError> {
        self.journal
            .rows_in(&[RowState::Sending, RowState::Unknown])
    }

    /// Sends what is left of the campaign: every row of
    /// [`rows_to_run`](Self::rows_to_run), in row order, each with its journaled billno and
    /// [`RedpackClient::send_reliably`], within the options' rate and concurrency. Calls
    /// `observer` after each row is journaled. Returns the report of the journal, with this
    /// run's time and settled rows.
    ///
    /// Every request is built from the journal (texts, [`ClientFields`], the row's billno,
    /// openid and amount); the client gives only the nonce, the signature and the
    /// connection. Before anything is sent, the client must be of the campaign's merchant and
    /// give the journaled client fields. On a schema-1 journal none of whose rows was ever
    /// attempted, the run first journals this client's fields (see [`prepare`](Self::prepare)).
    ///
    /// Needs a Tokio runtime (rows are sent from tasks).
    ///
    /// # Errors
    ///
    /// [`CampaignError::Options`] for a zero rate or concurrency, [`CampaignError::Client`]
    /// for an invalid retry policy (or no `send_name` to adopt), [`CampaignError::Mismatch`]
    /// for a client of another merchant or of other client fields (naming the field and both
    /// values; nothing sent, the journal unchanged), [`CampaignError::OldJournal`] for a
    /// schema-1 journal with attempted rows, [`CampaignError::Busy`] when another process is
    /// running the campaign (a run holds an advisory lock on `<journal>.lock`),
    /// [`CampaignError::Journal`] when the journal cannot be written (the run stops starting
    /// rows, lets those in flight finish, and the next run resumes), and
    /// [`CampaignError::Task`] if a task ended abnormally.
    pub async fn run<T, F>(
        &self,
        client: &RedpackClient<T>,
        options: &RunOptions,
        observer: F,
    ) -> Result<Report, CampaignError>
    where
        T: Transport + 'static,
        F: FnMut(&Progress),
    {
        options.validate()?;
        self.drive(client, options, Mode::Batch, observer).await
    }

    /// Settles the unknown rows (and rows interrupted by a crash): `gethbinfo` first; a
    /// record that was issued makes the row sent, a `FAILED` one rejected (`SEND_FAILED`);
    /// otherwise the row is re-entered with its billno through
    /// [`RedpackClient::send_reliably`]. Pending and rejected rows are left alone.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub async fn reconcile<T, F>(
        &self,
        client: &RedpackClient<T>,
        options: &RunOptions,
        observer: F,
    ) -> Result<Report, CampaignError>
    where
        T: Transport + 'static,
        F: FnMut(&Progress),
    {
        options.validate()?;
        self.drive(client, options, Mode::Reconcile, observer).await
    }

    async fn drive<T, F>(
        &self,
        client: &RedpackClient<T>,
        options: &RunOptions,
        mode: Mode,
        mut observer: F,
    ) -> Result<Report, CampaignError>
    where
        T: Transport + 'static,
        F: FnMut(&Progress),
    {
        if *client.mch_id() != self.meta.mch_id {
            return Err(CampaignError::mismatch(
                self.path(),
                format!(
                    "it is merchant {}'s, the client is merchant {}'s",
                    self.meta.mch_id,
                    client.mch_id()
                ),
            ));
        }
        let template = &self.meta.template;
        let mismatch = |fields: &ClientFields| match fields.difference(client, template) {
            Some(difference) => Err(CampaignError::mismatch(self.path(), difference)),
            None => Ok(()),
        };
        if let Some(fields) = &self.meta.fields {
            mismatch(fields)?;
        }
        let _lock = RunLock::acquire(self.path())?;
        let fields = match &self.meta.fields {
            Some(fields) => fields.clone(),
            None => {
                // Schema 1: adopt this client's fields if no row was ever attempted (checked
                // again in the adopting transaction, under the run lock). Another run may
                // have adopted other values since this campaign was opened.
                let adopted = self
                    .journal
                    .adopt_fields(&ClientFields::of(client, template)?)?;
                mismatch(&adopted)?;
                self.adopted.get_or_init(|| adopted).clone()
            }
        };
        // The rows are chosen under the lock: read before it, they could be those of a run
        // that ended in between (and a row it rejected would be sent again).
        let rows = match mode {
            Mode::Batch => self.rows_to_run(options)?,
            Mode::Reconcile => self.rows_to_reconcile()?,
        };
        let clock = Arc::clone(client.clock());
        let start = clock.monotonic();
        let run_id = self.journal.start_run(mode.name(), unix_ms(clock.now()))?;
        let context = Arc::new(RowContext {
            client: client.clone(),
            journal: Arc::clone(&self.journal),
            limiter: RateLimiter::per_minute(options.rate_per_minute, Arc::clone(&clock)),
            policy: options.retry.clone(),
            basis: RequestBasis {
                mch_id: self.meta.mch_id.clone(),
                template: template.clone(),
                fields,
            },
            clock: Arc::clone(&clock),
            run_id,
            mode,
        });
        let to_do = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        let mut queue = rows.into_iter();
        let mut tasks = JoinSet::new();
        let mut done = 0u64;
        let mut settled = 0u64;
        let mut failure: Option<CampaignError> = None;
        loop {
            while failure.is_none() && tasks.len() < options.concurrency {
                let Some(row) = queue.next() else { break };
                tasks.spawn(process_row(Arc::clone(&context), row));
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            match joined {
                Ok(Ok(row)) => {
                    done += 1;
                    if row.state.is_settled() {
                        settled += 1;
                    }
                    observer(&Progress { row, done, to_do });
                }
                Ok(Err(error)) => {
                    tracing::error!(error = %error, "campaign row failed; stopping");
                    failure.get_or_insert(error);
                }
                Err(join_error) => {
                    failure.get_or_insert(CampaignError::Task(Box::new(join_error)));
                }
            }
        }
        let elapsed = clock.monotonic().saturating_sub(start);
        let finished = self
            .journal
            .finish_run(run_id, unix_ms(clock.now()), elapsed, settled);
        if let Some(error) = failure {
            return Err(error);
        }
        finished?;
        let mut report = self.journal.report()?;
        report.elapsed = elapsed;
        report.settled = settled;
        Ok(report)
    }
}

/// Keeps a second process from running the same campaign at the same time: an advisory lock
/// on `<journal>.lock`, released when the run ends or the process dies.
#[derive(Debug)]
struct RunLock {
    _file: std::fs::File,
}

impl RunLock {
    fn acquire(journal: &Path) -> Result<Self, CampaignError> {
        let mut name = journal.as_os_str().to_owned();
        name.push(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&name)
            .map_err(|e| CampaignError::journal(journal, "open its lock file", e))?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(CampaignError::Busy {
                path: journal.to_owned(),
            }),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(CampaignError::journal(journal, "lock its lock file", e))
            }
        }
    }
}

/// What every row task of a run shares.
struct RowContext<T> {
    client: RedpackClient<T>,
    journal: Arc<Journal>,
    limiter: RateLimiter,
    policy: RetryPolicy,
    /// The journaled fields every request is built from.
    basis: RequestBasis,
    clock: Arc<dyn Clock>,
    run_id: i64,
    mode: Mode,
}

/// Sends (or reconciles) one row: takes a rate slot, journals the attempt, sends, journals
/// the outcome. Returns the row as it now stands.
async fn process_row<T: Transport + 'static>(
    context: Arc<RowContext<T>>,
    mut row: JournalRow,
) -> Result<JournalRow, CampaignError> {
    // Built from the journal alone (the client gives the nonce): every attempt of the row,
    // in this run or any other, carries the same business fields.
    let request = context.basis.request(
        context.client.nonce(),
        row.mch_billno.clone(),
        &CampaignRowRef {
            openid: &row.openid,
            amount: row.amount,
        },
    );
    context.limiter.acquire().await;
    let attempt =
        context
            .journal
            .begin_attempt(row.row_no, context.run_id, unix_ms(context.clock.now()))?;
    let back_to = row.state.after_not_sent();
    // A row left `sending` or `unknown` by an earlier run may have been issued: a refusal
    // now does not make it rejected.
    // (A fixed text: the row's detail would nest one level deeper at every run.)
    let earlier = match row.state {
        RowState::Sending => Some("an attempt of an earlier run was interrupted"),
        RowState::Unknown => Some("an earlier run left the row unknown"),
        RowState::Pending | RowState::Sent | RowState::Rejected => None,
    };
    let finished = match context.mode {
        Mode::Batch => send(&context, &request, back_to, earlier).await,
        Mode::Reconcile => reconcile(&context, &request, &row, back_to, earlier).await,
    };
    context
        .journal
        .finish_attempt(attempt, row.row_no, &finished, unix_ms(context.clock.now()))?;
    row.attempts = row.attempts.saturating_add(1);
    apply(&mut row, finished);
    Ok(row)
}

async fn send<T: Transport>(
    context: &RowContext<T>,
    request: &SendRequest,
    back_to: RowState,
    earlier: Option<&'static str>,
) -> Finished {
    let result = match earlier {
        Some(earlier) => {
            context
                .client
                .resend_reliably(request, &context.policy, earlier)
                .await
        }
        None => context.client.send_reliably(request, &context.policy).await,
    };
    match result {
        Ok(SendOutcome::Sent {
            send_listid,
            confirmed_by,
            ..
        }) => Finished::Sent {
            send_listid,
            detail: match confirmed_by {
                Confirmation::Query(status) => format!("confirmed by gethbinfo ({status})"),
                _ => "confirmed by the send's answer".to_owned(),
            },
        },
        Ok(SendOutcome::Rejected {
            code,
            class,
            description,
        }) => Finished::Rejected {
            code,
            class,
            description,
        },
        Ok(SendOutcome::Unknown { cause }) => Finished::Unknown {
            detail: cause.to_string(),
        },
        Err(error @ Error::NotSent { .. }) => Finished::NotSent {
            back_to,
            detail: error_chain(&error),
        },
        Err(error) => Finished::Error {
            back_to,
            detail: error_chain(&error),
        },
    }
}

async fn reconcile<T: Transport>(
    context: &RowContext<T>,
    request: &SendRequest,
    row: &JournalRow,
    back_to: RowState,
    earlier: Option<&'static str>,
) -> Finished {
    match context
        .client
        .query_with_appid(&row.mch_billno, &context.basis.fields.wxappid)
        .await
    {
        Ok(QueryOutcome::Found(record))
            if record
                .total_amount
                .is_some_and(|amount| amount != row.amount) =>
        {
            Finished::Unknown {
                detail: format!(
                    "gethbinfo shows another packet under this billno ({} yuan, not {})",
                    record.total_amount.unwrap_or_default(),
                    row.amount
                ),
            }
        }
        Ok(QueryOutcome::Found(record)) if record.status.was_issued() => Finished::Sent {
            send_listid: record.detail_id,
            detail: format!("confirmed by gethbinfo ({})", record.status),
        },
        Ok(QueryOutcome::Found(record)) if record.status == Status::Failed => Finished::Rejected {
            code: ErrCode::SendFailed,
            class: HandlingClass::D,
            description: format!(
                "gethbinfo status FAILED: {}",
                record.reason.as_deref().unwrap_or("no reason given")
            ),
        },
        Ok(QueryOutcome::Found(record)) => Finished::Unknown {
            detail: format!("gethbinfo status {}", record.status),
        },
        // Not found, refused or no answer: re-enter with the same billno.
        Ok(_) | Err(_) => send(context, request, back_to, earlier).await,
    }
}

/// The row after an attempt, as the journal now holds it.
fn apply(row: &mut JournalRow, finished: Finished) {
    match finished {
        Finished::Sent {
            send_listid,
            detail,
        } => {
            row.state = RowState::Sent;
            row.send_listid = Some(send_listid);
            row.err_code = None;
            row.handling_class = None;
            row.detail = Some(detail);
        }
        Finished::Rejected {
            code,
            class,
            description,
        } => {
            row.state = RowState::Rejected;
            row.send_listid = None;
            row.err_code = Some(code);
            row.handling_class = Some(class);
            row.detail = Some(description);
        }
        Finished::Unknown { detail } => {
            row.state = RowState::Unknown;
            row.send_listid = None;
            row.err_code = None;
            row.handling_class = None;
            row.detail = Some(detail);
        }
        Finished::NotSent { back_to, .. } | Finished::Error { back_to, .. } => {
            row.state = back_to;
        }
    }
}

/// Checks every row's request, built as a run builds it, as the client checks a send;
/// collects the problems by line.
fn check_rows<T: Transport>(
    client: &RedpackClient<T>,
    basis: &RequestBasis,
    rows: &[(usize, CampaignRowRef<'_>, &MchBillno)],
) -> Result<(), CampaignError> {
    let mut errors = Vec::new();
    for (line, row, mch_billno) in rows {
        let request = basis.request(client.nonce(), (*mch_billno).clone(), row);
        let checked = client.check(&request);
        match checked {
            Ok(()) => {}
            Err(Error::Invalid { field, source }) => errors.push(LineError {
                line: *line,
                problem: LineProblem::Rule {
                    field,
                    reason: error_chain(&source),
                },
            }),
            Err(Error::Unsupported { field, reason }) => errors.push(LineError {
                line: *line,
                problem: LineProblem::Rule {
                    field,
                    reason: format!("field `{field}` {reason}"),
                },
            }),
            Err(other) => return Err(CampaignError::Client(other)),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CampaignError::File { errors })
    }
}

fn template_difference(journal: &PacketTemplate, given: &PacketTemplate) -> String {
    let fields: [(&str, Option<&str>, Option<&str>); 5] = [
        (
            "wishing",
            Some(journal.wishing.as_str()),
            Some(given.wishing.as_str()),
        ),
        (
            "act_name",
            Some(journal.act_name.as_str()),
            Some(given.act_name.as_str()),
        ),
        (
            "remark",
            Some(journal.remark.as_str()),
            Some(given.remark.as_str()),
        ),
        (
            "send_name",
            journal.send_name.as_ref().map(SendName::as_str),
            given.send_name.as_ref().map(SendName::as_str),
        ),
        (
            "scene_id",
            journal.scene_id.as_ref().map(SceneId::as_str),
            given.scene_id.as_ref().map(SceneId::as_str),
        ),
    ];
    fields.iter().find(|(_, a, b)| a != b).map_or_else(
        || "the packet texts differ".to_owned(),
        |(name, a, b)| {
            format!(
                "its {name} is {}, not {}",
                a.map_or("unset".to_owned(), |v| format!("{v:?}")),
                b.map_or("unset".to_owned(), |v| format!("{v:?}"))
            )
        },
    )
}

fn unix_ms(time: SystemTime) -> u64 {
    let ms = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// An error and its causes, `: `-separated.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
