//! The campaign's error type, and the problems of a campaign file's lines.

use std::fmt;
use std::path::PathBuf;

/// A boxed cause kept in `source()` without naming a dependency's type.
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a campaign could not be prepared, resumed, run or read.
///
/// None of these says anything about a packet: rows that were sent, rejected or left unknown
/// are in the [`Report`](crate::campaign::Report), not here. When preparing a campaign fails
/// ([`CampaignError::File`], [`CampaignError::EmptyFile`], [`CampaignError::Mismatch`],
/// [`CampaignError::OldJournal`], [`CampaignError::Options`]), nothing was sent and the
/// journal was not changed.
///
/// `Display` describes this level only; the cause is in `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CampaignError {
    /// The campaign file cannot be read.
    #[error("cannot read the campaign file `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Lines of the campaign file are malformed, or rows break a rule of the API (an amount
    /// out of range, for instance). Every problem is listed, each with its line number; nothing
    /// is sent until the file is clean.
    #[error("the campaign file has {} malformed line(s)", errors.len())]
    File {
        /// Every problem, in line order.
        errors: Vec<LineError>,
    },
    /// The campaign file has no rows (it is empty, or only blank lines and comments): there
    /// is nothing to send. Nothing was written: no journal, no campaign number.
    #[error("the campaign file has no rows")]
    EmptyFile,
    /// The journal cannot be opened, read or written.
    #[error("campaign journal `{}`: cannot {action}", path.display())]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The database error.
        #[source]
        source: BoxError,
    },
    /// The journal holds something this version cannot use: not a campaign journal, a newer
    /// schema, or a value that does not parse. Nothing was sent.
    #[error("campaign journal `{}` is not usable: {problem}", path.display())]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The journal does not exist (`status` and `reconcile` need one made by a batch).
    #[error("no campaign journal at `{}`", path.display())]
    NoJournal {
        /// The path given.
        path: PathBuf,
    },
    /// The journal was made for another campaign: another merchant, another file, other
    /// packet texts, or a client that gives other request fields than those journaled
    /// (`wxappid`, `client_ip`, the default `send_name`: see
    /// [`ClientFields`](crate::campaign::ClientFields)). Resuming it with these would send
    /// other packets, or other fields, under its billnos, so nothing was sent and the journal
    /// was not changed. Use the original file, options and merchant file, or a new journal.
    #[error("campaign journal `{}` belongs to another campaign: {difference}", path.display())]
    Mismatch {
        /// The journal file.
        path: PathBuf,
        /// What differs.
        difference: String,
    },
    /// The journal was written by an earlier version of this program (schema 1), which did
    /// not journal the fields the requests take from the client (`wxappid`, `client_ip`, the
    /// default `send_name`), and some of its rows were already attempted: their requests may
    /// have carried other values than this client's, and re-entering a billno with other
    /// business fields may be refused (`FATAL_ERROR`, `OPENID_ERROR`) for a packet that was
    /// paid. Nothing was sent and the journal was not changed. Finish the campaign with the
    /// version that created it and the merchant file it was started with, or settle its rows
    /// one by one (`query` each billno). A schema-1 journal none of whose rows was ever
    /// attempted is not refused: its first run journals the client's values.
    #[error(
        "campaign journal `{}` was written by an earlier version that did not record the \
         wxappid, client_ip and send_name of its requests, and {attempted} of its rows were \
         already attempted: resuming it could change those fields under a billno that may \
         have been paid",
        path.display()
    )]
    OldJournal {
        /// The journal file.
        path: PathBuf,
        /// How many rows were attempted (not pending, or with an attempt).
        attempted: u64,
    },
    /// Another process is running this campaign (its journal's lock file is held). Nothing
    /// was sent by this call.
    #[error("campaign journal `{}` is being run by another process", path.display())]
    Busy {
        /// The journal file.
        path: PathBuf,
    },
    /// An option is out of range (a zero rate or concurrency, a campaign number over 9999, too
    /// many rows…).
    #[error("invalid campaign option: {problem}")]
    Options {
        /// What is wrong.
        problem: String,
    },
    /// The client refused a request for a reason that is not about one row (its
    /// configuration, an invalid retry policy).
    #[error("the client refused the campaign's request")]
    Client(#[source] crate::Error),
    /// A sending task ended abnormally (it panicked or was cancelled). Its row keeps its
    /// journaled state and is resumed by the next run.
    #[error("a sending task ended abnormally")]
    Task(#[source] BoxError),
}

impl CampaignError {
    /// The line problems of a [`CampaignError::File`] (empty for the other variants).
    pub fn line_errors(&self) -> &[LineError] {
        match self {
            Self::File { errors } => errors,
            _ => &[],
        }
    }

    pub(crate) fn journal(
        path: &std::path::Path,
        action: &'static str,
        source: impl Into<BoxError>,
    ) -> Self {
        Self::Journal {
            path: path.to_owned(),
            action,
            source: source.into(),
        }
    }

    pub(crate) fn corrupt(path: &std::path::Path, problem: impl Into<String>) -> Self {
        Self::Corrupt {
            path: path.to_owned(),
            problem: problem.into(),
        }
    }

    pub(crate) fn mismatch(path: &std::path::Path, difference: impl Into<String>) -> Self {
        Self::Mismatch {
            path: path.to_owned(),
            difference: difference.into(),
        }
    }

    pub(crate) fn options(problem: impl Into<String>) -> Self {
        Self::Options {
            problem: problem.into(),
        }
    }
}

/// One problem of a campaign file, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LineError {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub problem: LineProblem,
}

/// `line N: problem`.
impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

/// What is wrong with a line of a campaign file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineProblem {
    /// The first field is not an openid (empty, too long, or a character outside
    /// `[0-9A-Za-z_-]`).
    OpenId {
        /// The field as written.
        text: String,
    },
    /// The amount is not yuan with at most two decimals (`"1"`, `"1.5"`, `"1.50"`).
    Amount {
        /// The field as written.
        text: String,
    },
    /// No amount on the line and no default amount for the campaign.
    MissingAmount,
    /// More than two comma-separated fields.
    TooManyFields {
        /// How many there are.
        count: usize,
    },
    /// The row breaks a rule of the API (checked as the client checks before sending: the
    /// amount range and `scene_id`, field formats).
    Rule {
        /// The wire name of the field at fault.
        field: &'static str,
        /// The rule broken, in words (naming the field).
        reason: String,
    },
    /// The file has more rows than a campaign may hold ([`MAX_ROWS`](crate::campaign::MAX_ROWS)).
    TooManyRows,
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OpenId { text } => write!(
                f,
                "{text:?} is not an openid (1 to 32 characters of [0-9A-Za-z_-])"
            ),
            Self::Amount { text } => write!(
                f,
                "{text:?} is not an amount in yuan (digits with at most two decimals, e.g. 1.50)"
            ),
            Self::MissingAmount => {
                f.write_str("no amount: write `openid,amount` or give a default amount")
            }
            Self::TooManyFields { count } => {
                write!(f, "{count} fields: expected `openid` or `openid,amount`")
            }
            Self::Rule { reason, .. } => f.write_str(reason),
            Self::TooManyRows => write!(
                f,
                "more than {} rows: split the campaign",
                crate::campaign::MAX_ROWS
            ),
        }
    }
}
