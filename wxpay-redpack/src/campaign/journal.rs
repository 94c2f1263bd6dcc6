//! The campaign journal: an SQLite file holding the campaign, each row with its billno, every
//! attempt and its outcome, and every run.
//!
//! Schema (version 2 in `PRAGMA user_version`, `PRAGMA application_id = 0x57585250`
//! "WXRP"):
//!
//! ```sql
//! campaign (singleton = 1, mch_id, campaign_no, bill_date, wishing, act_name, remark,
//!           send_name, scene_id, row_count, total_fen, created_unix_ms,
//!           wxappid, client_ip, resolved_send_name)
//! rows     (row_no PRIMARY KEY, line, openid, amount_fen, mch_billno UNIQUE,
//!           state IN ('pending','sending','sent','rejected','unknown'), attempts,
//!           send_listid, err_code, handling_class, detail, updated_unix_ms)
//! attempts (attempt_id, row_no, run_id, started_unix_ms, finished_unix_ms,
//!           outcome IN (NULL,'sent','rejected','unknown','not_sent','error'), err_code, detail)
//! runs     (run_id, command, started_unix_ms, finished_unix_ms, elapsed_ms, settled)
//! ```
//!
//! `send_name` is the template's (`NULL`: the client's default); `wxappid`, `client_ip` and
//! `resolved_send_name` are the values every request carries that come from the client
//! ([`ClientFields`]), resolved at creation.
//!
//! Version 1 (written by earlier versions) is version 2 without those three columns. It is
//! read (for `status`) but never run as is: a run adopts the client's values into it (adds
//! the columns, fills them, sets version 2, in one transaction) only if no row was ever
//! attempted, and otherwise refuses it ([`CampaignError::OldJournal`]). Other versions are
//! refused ([`CampaignError::Corrupt`]); a version-2 journal is refused by earlier versions.
//!
//! The campaign and all its rows, billnos included, are written in one transaction when the
//! journal is created, before anything is sent. Each attempt is written (row state `sending`)
//! and committed before its request, and its outcome after. WAL with `synchronous=FULL`: a
//! committed write survives `kill -9` and power loss.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use wxpay_proto::{ActName, AppId, ClientIp, ErrCode, Fen, HandlingClass, MchBillno, MchId};
use wxpay_proto::{OpenId, Remark, SceneId, SendName, Wishing};

use super::error::CampaignError;
use super::report::{Report, Tally};
use super::{BillDate, ClientFields, PacketTemplate, RowState};

/// "WXRP": marks the file as a campaign journal.
const APPLICATION_ID: i64 = 0x5758_5250;
/// The schema this version writes: with the client fields.
const SCHEMA_VERSION: i64 = 2;
/// The schema of earlier versions: without the client fields.
const SCHEMA_VERSION_WITHOUT_CLIENT_FIELDS: i64 = 1;

/// What version 2 adds to version 1 (see [`Journal::adopt_fields`]).
const CLIENT_FIELD_COLUMNS: &str = "
ALTER TABLE campaign ADD COLUMN wxappid TEXT;
ALTER TABLE campaign ADD COLUMN client_ip TEXT;
ALTER TABLE campaign ADD COLUMN resolved_send_name TEXT;
";

const SCHEMA: &str = "
CREATE TABLE campaign (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    mch_id TEXT NOT NULL,
    campaign_no INTEGER NOT NULL,
    bill_date TEXT NOT NULL,
    wishing TEXT NOT NULL,
    act_name TEXT NOT NULL,
    remark TEXT NOT NULL,
    send_name TEXT,
    scene_id TEXT,
    row_count INTEGER NOT NULL,
    total_fen INTEGER NOT NULL,
    created_unix_ms INTEGER NOT NULL,
    wxappid TEXT,
    client_ip TEXT,
    resolved_send_name TEXT
);
CREATE TABLE rows (
    row_no INTEGER PRIMARY KEY,
    line INTEGER NOT NULL,
    openid TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    mch_billno TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'rejected', 'unknown')),
    attempts INTEGER NOT NULL DEFAULT 0,
    send_listid TEXT,
    err_code TEXT,
    handling_class TEXT,
    detail TEXT,
    updated_unix_ms INTEGER
);
CREATE TABLE runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    started_unix_ms INTEGER NOT NULL,
    finished_unix_ms INTEGER,
    elapsed_ms INTEGER,
    settled INTEGER
);
CREATE TABLE attempts (
    attempt_id INTEGER PRIMARY KEY AUTOINCREMENT,
    row_no INTEGER NOT NULL REFERENCES rows (row_no),
    run_id INTEGER NOT NULL REFERENCES runs (run_id),
    started_unix_ms INTEGER NOT NULL,
    finished_unix_ms INTEGER,
    outcome TEXT CHECK (outcome IN ('sent', 'rejected', 'unknown', 'not_sent', 'error')),
    err_code TEXT,
    detail TEXT
);
CREATE INDEX rows_by_state ON rows (state);
CREATE INDEX attempts_by_row ON attempts (row_no);
";

/// The campaign as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) mch_id: MchId,
    pub(crate) campaign_no: u32,
    pub(crate) bill_date: BillDate,
    pub(crate) template: PacketTemplate,
    /// `None` only for a journal of schema 1 (the values were not journaled).
    pub(crate) fields: Option<ClientFields>,
    pub(crate) row_count: u64,
    pub(crate) total: Fen,
    pub(crate) created_unix_ms: u64,
}

/// A row to write when the journal is created.
#[derive(Debug)]
pub(crate) struct NewRow<'a> {
    pub(crate) row_no: u64,
    pub(crate) line: usize,
    pub(crate) openid: &'a OpenId,
    pub(crate) amount: Fen,
    pub(crate) mch_billno: &'a MchBillno,
}

/// A row of the journal: its content, its billno and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalRow {
    /// The row number in the campaign, from 1 (part of the billno).
    pub row_no: u64,
    /// The line of the campaign file it came from.
    pub line: usize,
    /// The recipient.
    pub openid: OpenId,
    /// The amount.
    pub amount: Fen,
    /// The row's billno, fixed when the journal was created.
    pub mch_billno: MchBillno,
    /// Where the row stands.
    pub state: RowState,
    /// How many reliable sends (or reconciliations) were started for it.
    pub attempts: u32,
    /// `send_listid` of a sent row.
    pub send_listid: Option<String>,
    /// The error code of a rejected row.
    pub err_code: Option<ErrCode>,
    /// Its handling class.
    pub handling_class: Option<HandlingClass>,
    /// What the last attempt found, in words (the cause of an unknown outcome, the
    /// description of a rejection…).
    pub detail: Option<String>,
}

/// How an attempt ended, as journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finished {
    Sent {
        send_listid: String,
        detail: String,
    },
    Rejected {
        code: ErrCode,
        class: HandlingClass,
        description: String,
    },
    Unknown {
        detail: String,
    },
    /// Nothing reached the server (or the client refused the request): the row goes back to
    /// the state it had.
    NotSent {
        back_to: RowState,
        detail: String,
    },
    Error {
        back_to: RowState,
        detail: String,
    },
}

/// The journal file, behind one connection.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Journal {
    /// Opens an existing journal, or an empty or absent file for [`Journal::create`].
    /// Returns the campaign when the journal holds one.
    pub(crate) fn open_or_new(path: &Path) -> Result<(Self, Option<Meta>), CampaignError> {
        let conn = Connection::open(path)
            .map_err(|e| CampaignError::journal(path, "open the journal", e))?;
        let journal = Self::with_connection(path, conn)?;
        let meta = journal.meta()?;
        Ok((journal, meta))
    }

    /// Opens a journal that must hold a campaign.
    pub(crate) fn open_existing(path: &Path) -> Result<(Self, Meta), CampaignError> {
        if !path.exists() {
            return Err(CampaignError::NoJournal {
                path: path.to_owned(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| CampaignError::journal(path, "open the journal", e))?;
        let journal = Self::with_connection(path, conn)?;
        match journal.meta()? {
            Some(meta) => Ok((journal, meta)),
            None => Err(CampaignError::corrupt(
                path,
                "it holds no campaign (was its creation interrupted?)",
            )),
        }
    }

    fn with_connection(path: &Path, conn: Connection) -> Result<Self, CampaignError> {
        let setup = |conn: &Connection| -> rusqlite::Result<()> {
            conn.busy_timeout(Duration::from_secs(10))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            Ok(())
        };
        setup(&conn).map_err(|e| CampaignError::journal(path, "open the journal", e))?;
        Ok(Self {
            path: path.to_owned(),
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // Every use of the connection is one statement or one transaction that either
        // committed or rolled back when its guard dropped: a poisoned lock is consistent.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn err(&self, action: &'static str) -> impl FnOnce(rusqlite::Error) -> CampaignError + '_ {
        move |e| CampaignError::journal(&self.path, action, e)
    }

    /// The campaign, or `None` for an empty file. Refuses files that are not journals.
    pub(crate) fn meta(&self) -> Result<Option<Meta>, CampaignError> {
        let conn = self.lock();
        let read = self.err("read the journal");
        let header = |conn: &Connection| -> rusqlite::Result<(i64, i64, i64)> {
            let app: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            let objects: i64 =
                conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            Ok((app, version, objects))
        };
        let (app, version, objects) = header(&conn).map_err(read)?;
        if app == 0 && objects == 0 {
            return Ok(None);
        }
        if app != APPLICATION_ID {
            return Err(CampaignError::corrupt(
                &self.path,
                "not a wxpay-redpack campaign journal",
            ));
        }
        if version != SCHEMA_VERSION && version != SCHEMA_VERSION_WITHOUT_CLIENT_FIELDS {
            return Err(CampaignError::corrupt(
                &self.path,
                format!(
                    "schema version {version}, this program reads \
                     {SCHEMA_VERSION_WITHOUT_CLIENT_FIELDS} and {SCHEMA_VERSION}"
                ),
            ));
        }
        type MetaRow = (
            String,
            i64,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            i64,
            i64,
            i64,
        );
        let row: Option<MetaRow> = conn
            .query_row(
                "SELECT mch_id, campaign_no, bill_date, wishing, act_name, remark, send_name,
                        scene_id, row_count, total_fen, created_unix_ms
                 FROM campaign WHERE singleton = 1",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                        r.get(10)?,
                    ))
                },
            )
            .optional()
            .map_err(self.err("read the campaign"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let fields = if version == SCHEMA_VERSION {
            Some(self.read_fields(&conn)?)
        } else {
            None
        };
        let bad = |what: &str| CampaignError::corrupt(&self.path, format!("invalid {what}"));
        let (mch_id, no, date, wishing, act_name, remark, send_name, scene, count, total, at) = row;
        let template = PacketTemplate {
            wishing: Wishing::new(wishing).map_err(|_| bad("wishing"))?,
            act_name: ActName::new(act_name).map_err(|_| bad("act_name"))?,
            remark: Remark::new(remark).map_err(|_| bad("remark"))?,
            send_name: send_name
                .map(SendName::new)
                .transpose()
                .map_err(|_| bad("send_name"))?,
            scene_id: scene.map(SceneId::from),
        };
        Ok(Some(Meta {
            mch_id: MchId::new(mch_id).map_err(|_| bad("mch_id"))?,
            campaign_no: u32::try_from(no).map_err(|_| bad("campaign_no"))?,
            bill_date: BillDate::from_yyyymmdd(&date).ok_or_else(|| bad("bill_date"))?,
            template,
            fields,
            row_count: u64::try_from(count).map_err(|_| bad("row_count"))?,
            total: Fen::new(u64::try_from(total).map_err(|_| bad("total_fen"))?),
            created_unix_ms: u64::try_from(at).map_err(|_| bad("created_unix_ms"))?,
        }))
    }

    /// The client fields of a schema-2 journal.
    fn read_fields(&self, conn: &Connection) -> Result<ClientFields, CampaignError> {
        let (wxappid, client_ip, send_name): (Option<String>, Option<String>, Option<String>) =
            conn.query_row(
                "SELECT wxappid, client_ip, resolved_send_name FROM campaign WHERE singleton = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(self.err("read the campaign"))?;
        let bad = |what: &str| CampaignError::corrupt(&self.path, format!("invalid {what}"));
        Ok(ClientFields {
            wxappid: wxappid
                .map(AppId::new)
                .and_then(Result::ok)
                .ok_or_else(|| bad("wxappid"))?,
            client_ip: client_ip
                .map(ClientIp::new)
                .and_then(Result::ok)
                .ok_or_else(|| bad("client_ip"))?,
            send_name: send_name
                .map(SendName::new)
                .and_then(Result::ok)
                .ok_or_else(|| bad("resolved_send_name"))?,
        })
    }

    /// How many rows were ever attempted: not pending, or with an attempt recorded.
    pub(crate) fn attempted_rows(&self) -> Result<u64, CampaignError> {
        let conn = self.lock();
        count_attempted(&conn).map_err(self.err("read the rows"))
    }

    /// Makes a schema-1 journal schema 2 with `fields` as its client fields, in one
    /// transaction, if no row was ever attempted (checked in the transaction); returns the
    /// journal's client fields. A journal already at schema 2 (another run adopted it) is
    /// left as it is and its fields are returned.
    pub(crate) fn adopt_fields(
        &self,
        fields: &ClientFields,
    ) -> Result<ClientFields, CampaignError> {
        const ACTION: &str = "record the client fields";
        let mut conn = self.lock();
        // Immediate: no other connection writes between the check and the change.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err(ACTION))?;
        let version: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(self.err(ACTION))?;
        if version == SCHEMA_VERSION {
            return self.read_fields(&tx);
        }
        if version != SCHEMA_VERSION_WITHOUT_CLIENT_FIELDS {
            return Err(CampaignError::corrupt(
                &self.path,
                format!("schema version {version}"),
            ));
        }
        let attempted = count_attempted(&tx).map_err(self.err(ACTION))?;
        if attempted > 0 {
            return Err(CampaignError::OldJournal {
                path: self.path.clone(),
                attempted,
            });
        }
        let write = |tx: &Transaction<'_>| -> rusqlite::Result<()> {
            tx.execute_batch(CLIENT_FIELD_COLUMNS)?;
            tx.execute(
                "UPDATE campaign SET wxappid = ?1, client_ip = ?2, resolved_send_name = ?3
                 WHERE singleton = 1",
                params![
                    fields.wxappid.as_str(),
                    fields.client_ip.as_str(),
                    fields.send_name.as_str()
                ],
            )?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        };
        write(&tx).map_err(self.err(ACTION))?;
        tx.commit().map_err(self.err(ACTION))?;
        tracing::info!(
            journal = %self.path.display(),
            wxappid = %fields.wxappid,
            client_ip = %fields.client_ip,
            send_name = %fields.send_name,
            "schema-1 campaign journal: no row was attempted, the client's fields are journaled"
        );
        Ok(fields.clone())
    }

    /// Writes the schema, the campaign and every row with its billno, in one transaction.
    pub(crate) fn create(&self, meta: &Meta, rows: &[NewRow<'_>]) -> Result<(), CampaignError> {
        let fields = meta.fields.as_ref().ok_or_else(|| {
            CampaignError::options("a campaign is created with its client fields")
        })?;
        let mut conn = self.lock();
        let write = |tx: &Transaction<'_>| -> rusqlite::Result<()> {
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            let t = &meta.template;
            tx.execute(
                "INSERT INTO campaign (singleton, mch_id, campaign_no, bill_date, wishing,
                     act_name, remark, send_name, scene_id, row_count, total_fen, created_unix_ms,
                     wxappid, client_ip, resolved_send_name)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    meta.mch_id.as_str(),
                    i64::from(meta.campaign_no),
                    meta.bill_date.to_string(),
                    t.wishing.as_str(),
                    t.act_name.as_str(),
                    t.remark.as_str(),
                    t.send_name.as_ref().map(SendName::as_str),
                    t.scene_id.as_ref().map(SceneId::as_str),
                    to_i64(meta.row_count),
                    to_i64(meta.total.get()),
                    to_i64(meta.created_unix_ms),
                    fields.wxappid.as_str(),
                    fields.client_ip.as_str(),
                    fields.send_name.as_str(),
                ],
            )?;
            let mut insert = tx.prepare(
                "INSERT INTO rows (row_no, line, openid, amount_fen, mch_billno, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending')",
            )?;
            for row in rows {
                insert.execute(params![
                    to_i64(row.row_no),
                    to_i64(u64::try_from(row.line).unwrap_or(u64::MAX)),
                    row.openid.as_str(),
                    to_i64(row.amount.get()),
                    row.mch_billno.as_str(),
                ])?;
            }
            Ok(())
        };
        let tx = conn
            .transaction()
            .map_err(self.err("create the campaign"))?;
        write(&tx).map_err(self.err("create the campaign"))?;
        tx.commit().map_err(self.err("create the campaign"))
    }

    /// Every row, in row order.
    pub(crate) fn rows(&self) -> Result<Vec<JournalRow>, CampaignError> {
        self.rows_where("1")
    }

    /// The rows in these states, in row order.
    pub(crate) fn rows_in(&self, states: &[RowState]) -> Result<Vec<JournalRow>, CampaignError> {
        if states.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
        self.rows_where(&format!("state IN ({})", list.join(", ")))
    }

    fn rows_where(&self, condition: &str) -> Result<Vec<JournalRow>, CampaignError> {
        type RawRow = (
            i64,
            i64,
            String,
            i64,
            String,
            String,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let conn = self.lock();
        let read = |conn: &Connection| -> rusqlite::Result<Vec<RawRow>> {
            let mut statement = conn.prepare(&format!(
                "SELECT row_no, line, openid, amount_fen, mch_billno, state, attempts,
                        send_listid, err_code, handling_class, detail
                 FROM rows WHERE {condition} ORDER BY row_no"
            ))?;
            let rows = statement.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                ))
            })?;
            rows.collect()
        };
        let raw = read(&conn).map_err(self.err("read the rows"))?;
        raw.into_iter()
            .map(
                |(
                    row_no,
                    line,
                    openid,
                    amount,
                    billno,
                    state,
                    attempts,
                    listid,
                    code,
                    class,
                    detail,
                )| {
                    let bad = |what: &str| {
                        CampaignError::corrupt(&self.path, format!("row {row_no}: invalid {what}"))
                    };
                    Ok(JournalRow {
                        row_no: u64::try_from(row_no).map_err(|_| bad("row_no"))?,
                        line: usize::try_from(line).map_err(|_| bad("line"))?,
                        openid: OpenId::new(openid).map_err(|_| bad("openid"))?,
                        amount: Fen::new(u64::try_from(amount).map_err(|_| bad("amount_fen"))?),
                        mch_billno: MchBillno::new(billno).map_err(|_| bad("mch_billno"))?,
                        state: RowState::parse(&state).ok_or_else(|| bad("state"))?,
                        attempts: u32::try_from(attempts).map_err(|_| bad("attempts"))?,
                        send_listid: listid,
                        err_code: code.map(ErrCode::from),
                        handling_class: match class.as_deref() {
                            None => None,
                            Some(text) => {
                                Some(parse_class(text).ok_or_else(|| bad("handling_class"))?)
                            }
                        },
                        detail,
                    })
                },
            )
            .collect()
    }

    /// Starts a run; returns its id.
    pub(crate) fn start_run(&self, command: &str, now_ms: u64) -> Result<i64, CampaignError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO runs (command, started_unix_ms) VALUES (?1, ?2)",
            params![command, to_i64(now_ms)],
        )
        .map_err(self.err("record the run"))?;
        Ok(conn.last_insert_rowid())
    }

    /// Ends a run.
    pub(crate) fn finish_run(
        &self,
        run_id: i64,
        now_ms: u64,
        elapsed: Duration,
        settled: u64,
    ) -> Result<(), CampaignError> {
        let elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        self.lock()
            .execute(
                "UPDATE runs SET finished_unix_ms = ?2, elapsed_ms = ?3, settled = ?4
                 WHERE run_id = ?1",
                params![run_id, to_i64(now_ms), to_i64(elapsed_ms), to_i64(settled)],
            )
            .map_err(self.err("record the run"))?;
        Ok(())
    }

    /// Records that an attempt starts (the row becomes `sending`), durably, before its first
    /// request. Returns the attempt's id.
    pub(crate) fn begin_attempt(
        &self,
        row_no: u64,
        run_id: i64,
        now_ms: u64,
    ) -> Result<i64, CampaignError> {
        let mut conn = self.lock();
        let write = |tx: &Transaction<'_>| -> rusqlite::Result<i64> {
            tx.execute(
                "INSERT INTO attempts (row_no, run_id, started_unix_ms) VALUES (?1, ?2, ?3)",
                params![to_i64(row_no), run_id, to_i64(now_ms)],
            )?;
            let attempt_id = tx.last_insert_rowid();
            tx.execute(
                "UPDATE rows SET state = 'sending', attempts = attempts + 1, updated_unix_ms = ?2
                 WHERE row_no = ?1",
                params![to_i64(row_no), to_i64(now_ms)],
            )?;
            Ok(attempt_id)
        };
        let tx = conn.transaction().map_err(self.err("record an attempt"))?;
        let attempt_id = write(&tx).map_err(self.err("record an attempt"))?;
        tx.commit().map_err(self.err("record an attempt"))?;
        Ok(attempt_id)
    }

    /// Records how an attempt ended and the row's new state, in one transaction.
    pub(crate) fn finish_attempt(
        &self,
        attempt_id: i64,
        row_no: u64,
        finished: &Finished,
        now_ms: u64,
    ) -> Result<(), CampaignError> {
        let (outcome, state, listid, code, class, detail): (
            &str,
            RowState,
            Option<&str>,
            Option<&str>,
            Option<&str>,
            &str,
        ) = match finished {
            Finished::Sent {
                send_listid,
                detail,
            } => (
                "sent",
                RowState::Sent,
                Some(send_listid),
                None,
                None,
                detail,
            ),
            Finished::Rejected {
                code,
                class,
                description,
            } => (
                "rejected",
                RowState::Rejected,
                None,
                Some(code.as_str()),
                Some(class_str(*class)),
                description,
            ),
            Finished::Unknown { detail } => {
                ("unknown", RowState::Unknown, None, None, None, detail)
            }
            Finished::NotSent { back_to, detail } => {
                ("not_sent", *back_to, None, None, None, detail)
            }
            Finished::Error { back_to, detail } => ("error", *back_to, None, None, None, detail),
        };
        let mut conn = self.lock();
        let write = |tx: &Transaction<'_>| -> rusqlite::Result<()> {
            tx.execute(
                "UPDATE attempts SET finished_unix_ms = ?2, outcome = ?3, err_code = ?4, detail = ?5
                 WHERE attempt_id = ?1",
                params![attempt_id, to_i64(now_ms), outcome, code, detail],
            )?;
            if matches!(finished, Finished::NotSent { .. } | Finished::Error { .. }) {
                // The row keeps what it knew (a rejection's code, an unknown's cause).
                tx.execute(
                    "UPDATE rows SET state = ?2, updated_unix_ms = ?3 WHERE row_no = ?1",
                    params![to_i64(row_no), state.as_str(), to_i64(now_ms)],
                )?;
            } else {
                tx.execute(
                    "UPDATE rows SET state = ?2, send_listid = ?3, err_code = ?4,
                         handling_class = ?5, detail = ?6, updated_unix_ms = ?7
                     WHERE row_no = ?1",
                    params![
                        to_i64(row_no),
                        state.as_str(),
                        listid,
                        code,
                        class,
                        detail,
                        to_i64(now_ms)
                    ],
                )?;
            }
            Ok(())
        };
        let tx = conn.transaction().map_err(self.err("record an outcome"))?;
        write(&tx).map_err(self.err("record an outcome"))?;
        tx.commit().map_err(self.err("record an outcome"))
    }

    /// The counts and amounts by state and code, and the time and settled rows of the
    /// finished runs.
    pub(crate) fn report(&self) -> Result<Report, CampaignError> {
        type Group = (String, Option<String>, i64, i64);
        let conn = self.lock();
        let read = |conn: &Connection| -> rusqlite::Result<(Vec<Group>, i64, i64)> {
            let mut statement = conn.prepare(
                "SELECT state, err_code, count(*), coalesce(sum(amount_fen), 0)
                 FROM rows GROUP BY state, err_code ORDER BY state, err_code",
            )?;
            let groups = statement
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<Vec<Group>>>()?;
            // A run stopped by a crash has no end: its time runs to its last recorded
            // outcome, and its settled rows are counted from its attempts.
            let (elapsed, settled) = conn.query_row(
                "SELECT
                     coalesce(sum(coalesce(elapsed_ms, max(0, coalesce(
                         (SELECT max(a.finished_unix_ms) FROM attempts a
                          WHERE a.run_id = runs.run_id),
                         started_unix_ms) - started_unix_ms))), 0),
                     coalesce(sum(coalesce(settled,
                         (SELECT count(*) FROM attempts a
                          WHERE a.run_id = runs.run_id
                            AND a.outcome IN ('sent', 'rejected')))), 0)
                 FROM runs",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok((groups, elapsed, settled))
        };
        let (groups, elapsed_ms, settled) = read(&conn).map_err(self.err("read the report"))?;
        let mut report = Report::default();
        let mut rejected: BTreeMap<String, Tally> = BTreeMap::new();
        for (state, code, count, amount) in groups {
            let tally = Tally {
                count: u64::try_from(count).unwrap_or(0),
                amount: Fen::new(u64::try_from(amount).unwrap_or(0)),
            };
            report.rows += tally.count;
            match RowState::parse(&state) {
                Some(RowState::Sent) => report.sent.add(tally),
                Some(RowState::Rejected) => rejected
                    .entry(code.unwrap_or_else(|| "UNKNOWN_CODE".to_owned()))
                    .or_default()
                    .add(tally),
                Some(RowState::Pending) => report.pending.add(tally),
                Some(RowState::Sending | RowState::Unknown) | None => report.unknown.add(tally),
            }
        }
        report.rejected = rejected;
        report.elapsed = Duration::from_millis(u64::try_from(elapsed_ms).unwrap_or(0));
        report.settled = u64::try_from(settled).unwrap_or(0);
        Ok(report)
    }
}

/// Rows not pending, or with an attempt recorded.
fn count_attempted(conn: &Connection) -> rusqlite::Result<u64> {
    let count: i64 = conn.query_row(
        "SELECT count(*) FROM rows
         WHERE state <> 'pending' OR attempts > 0
            OR row_no IN (SELECT row_no FROM attempts)",
        [],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// SQLite integers are signed: amounts, times and counts this large never occur, and are
/// clamped rather than wrapped if they did.
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn class_str(class: HandlingClass) -> &'static str {
    match class {
        HandlingClass::A => "A",
        HandlingClass::B => "B",
        HandlingClass::C => "C",
        HandlingClass::D => "D",
    }
}

fn parse_class(text: &str) -> Option<HandlingClass> {
    match text {
        "A" => Some(HandlingClass::A),
        "B" => Some(HandlingClass::B),
        "C" => Some(HandlingClass::C),
        "D" => Some(HandlingClass::D),
        _ => None,
    }
}
