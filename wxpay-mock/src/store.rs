//! The ledger's store: SQLite (WAL, `synchronous=FULL`), so a commit is on disk before the
//! answer is written and `kill -9` right after loses nothing.
//!
//! Without a data directory there is nothing to keep across runs: the in-memory ledger is
//! the only copy, and the store keeps just its meta values (a second copy of every packet in
//! an in-memory database cost about a fifth of the mock's CPU per send and 700 bytes per
//! packet).

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::Error;
use crate::ledger::{Change, Money, Packet};

/// The store: a file in the data directory, or nothing but meta values in memory.
#[derive(Debug)]
pub(crate) struct Store {
    /// `None` without a data directory.
    conn: Option<Connection>,
    /// The meta values when there is no database.
    meta: BTreeMap<String, String>,
}

fn to_i64(what: &str, v: u64) -> Result<i64, Error> {
    i64::try_from(v).map_err(|e| Error::store(format!("{what} out of range"), e))
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Store {
    /// Opens (or creates) the store at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, Error> {
        let conn = Connection::open(path)
            .map_err(|e| Error::store(format!("cannot open {}", path.display()), e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| Error::store("cannot enable WAL", e))?;
        Self::init(conn)
    }

    /// The store of a mock without a data directory: it stores no money and no packet.
    pub(crate) fn in_memory() -> Self {
        Self {
            conn: None,
            meta: BTreeMap::new(),
        }
    }

    fn init(conn: Connection) -> Result<Self, Error> {
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| Error::store("cannot set synchronous", e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| Error::store("cannot set busy timeout", e))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS meta (
                 key TEXT PRIMARY KEY,
                 value TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS merchants (
                 mch_id TEXT PRIMARY KEY,
                 initial_fen INTEGER NOT NULL,
                 topups_fen INTEGER NOT NULL,
                 balance_fen INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS packets (
                 mch_id TEXT NOT NULL,
                 mch_billno TEXT NOT NULL,
                 status TEXT NOT NULL,
                 send_time_ms INTEGER NOT NULL,
                 data TEXT NOT NULL,
                 PRIMARY KEY (mch_id, mch_billno)
             );",
        )
        .map_err(|e| Error::store("cannot create tables", e))?;
        Ok(Self {
            conn: Some(conn),
            meta: BTreeMap::new(),
        })
    }

    /// Reads a meta value.
    pub(crate) fn meta(&self, key: &str) -> Result<Option<String>, Error> {
        let Some(conn) = &self.conn else {
            return Ok(self.meta.get(key).cloned());
        };
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| Error::store("cannot read meta", e))
    }

    /// Writes a meta value.
    pub(crate) fn set_meta(&mut self, key: &str, value: &str) -> Result<(), Error> {
        let Some(conn) = &self.conn else {
            self.meta.insert(key.to_owned(), value.to_owned());
            return Ok(());
        };
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )
        .map(drop)
        .map_err(|e| Error::store("cannot write meta", e))
    }

    /// Every merchant's money.
    pub(crate) fn load_money(&self) -> Result<Vec<(String, Money)>, Error> {
        let Some(conn) = &self.conn else {
            return Ok(Vec::new());
        };
        let mut stmt = conn
            .prepare("SELECT mch_id, initial_fen, topups_fen, balance_fen FROM merchants")
            .map_err(|e| Error::store("cannot read merchants", e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Money {
                        initial: to_u64(r.get(1)?),
                        topups: to_u64(r.get(2)?),
                        balance: to_u64(r.get(3)?),
                    },
                ))
            })
            .map_err(|e| Error::store("cannot read merchants", e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::store("cannot read merchants", e))
    }

    /// Every packet, in send order.
    pub(crate) fn load_packets(&self) -> Result<Vec<(String, Packet)>, Error> {
        let Some(conn) = &self.conn else {
            return Ok(Vec::new());
        };
        let mut stmt = conn
            .prepare("SELECT mch_id, data FROM packets ORDER BY send_time_ms, mch_billno")
            .map_err(|e| Error::store("cannot read packets", e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| Error::store("cannot read packets", e))?;
        let mut out = Vec::new();
        for row in rows {
            let (mch_id, data) = row.map_err(|e| Error::store("cannot read packets", e))?;
            let packet: Packet = serde_json::from_str(&data)
                .map_err(|e| Error::store(format!("corrupt packet row of {mch_id}"), e))?;
            out.push((mch_id, packet));
        }
        Ok(out)
    }

    /// Number of stored packets; `None` when packets are not stored.
    pub(crate) fn packet_count(&self) -> Result<Option<u64>, Error> {
        let Some(conn) = &self.conn else {
            return Ok(None);
        };
        conn.query_row("SELECT COUNT(*) FROM packets", [], |r| r.get::<_, i64>(0))
            .map(|n| Some(to_u64(n)))
            .map_err(|e| Error::store("cannot count packets", e))
    }

    /// Writes a change in one transaction; it is durable when this returns.
    pub(crate) fn write(&mut self, change: &Change) -> Result<(), Error> {
        let Some(conn) = &mut self.conn else {
            return Ok(());
        };
        if change.is_empty() {
            return Ok(());
        }
        let tx = conn
            .transaction()
            .map_err(|e| Error::store("cannot begin", e))?;
        // Prepared once per connection (the statement cache), not parsed on every commit.
        for (mch_id, money) in &change.money {
            let values = (
                to_i64("initial balance", money.initial)?,
                to_i64("top-ups", money.topups)?,
                to_i64("balance", money.balance)?,
            );
            tx.prepare_cached(
                "INSERT INTO merchants (mch_id, initial_fen, topups_fen, balance_fen)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(mch_id) DO UPDATE SET initial_fen = excluded.initial_fen,
                     topups_fen = excluded.topups_fen, balance_fen = excluded.balance_fen",
            )
            .and_then(|mut stmt| stmt.execute(params![mch_id, values.0, values.1, values.2]))
            .map_err(|e| Error::store("cannot write merchant", e))?;
        }
        for (mch_id, packet) in &change.packets {
            let data = serde_json::to_string(packet)
                .map_err(|e| Error::store("cannot encode packet", e))?;
            let send_time = to_i64("send time", packet.send_time)?;
            tx.prepare_cached(
                "INSERT INTO packets (mch_id, mch_billno, status, send_time_ms, data)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(mch_id, mch_billno) DO UPDATE SET status = excluded.status,
                     send_time_ms = excluded.send_time_ms, data = excluded.data",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    mch_id,
                    packet.mch_billno,
                    packet.status.wire(),
                    send_time,
                    data
                ])
            })
            .map_err(|e| Error::store("cannot write packet", e))?;
        }
        tx.commit().map_err(|e| Error::store("cannot commit", e))
    }

    /// Deletes every merchant and packet (the admin reset).
    pub(crate) fn clear(&mut self) -> Result<(), Error> {
        let Some(conn) = &self.conn else {
            self.meta.clear();
            return Ok(());
        };
        conn.execute_batch("DELETE FROM packets; DELETE FROM merchants; DELETE FROM meta;")
            .map_err(|e| Error::store("cannot clear", e))
    }
}
