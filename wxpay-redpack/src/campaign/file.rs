//! The campaign file: one openid a line, optionally `openid,amount` (yuan).

use std::collections::BTreeMap;
use std::path::Path;

use wxpay_proto::{Fen, OpenId};

use super::error::{CampaignError, LineError, LineProblem};

/// The most rows a campaign holds: the row number takes six of the billno's ten digits.
pub const MAX_ROWS: usize = 999_999;

/// How to read a campaign file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ParseOptions {
    /// The amount of lines that give none (`--amount`).
    pub default_amount: Option<Fen>,
    /// Keep every occurrence of an openid that appears more than once (each becomes a row
    /// and a packet). By default only the first is kept and the others are reported.
    pub allow_duplicates: bool,
}

impl ParseOptions {
    /// Options with a default amount for lines that give none.
    pub fn with_default_amount(amount: Fen) -> Self {
        Self {
            default_amount: Some(amount),
            allow_duplicates: false,
        }
    }

    /// Sets [`ParseOptions::allow_duplicates`].
    #[must_use]
    pub fn allow_duplicates(mut self, allow: bool) -> Self {
        self.allow_duplicates = allow;
        self
    }
}

/// One row of a campaign: who gets how much, and the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CampaignRow {
    /// The line of the file, from 1.
    pub line: usize,
    /// The recipient.
    pub openid: OpenId,
    /// The amount, in fen.
    pub amount: Fen,
}

impl CampaignRow {
    /// A row.
    pub fn new(line: usize, openid: OpenId, amount: Fen) -> Self {
        Self {
            line,
            openid,
            amount,
        }
    }
}

/// An openid met again: reported, and not a row unless duplicates are allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Duplicate {
    /// The line of the repeat.
    pub line: usize,
    /// The line where the openid first appears.
    pub first_line: usize,
    /// The openid.
    pub openid: OpenId,
}

/// A parsed campaign file: its rows in file order, and the duplicates found.
///
/// The format: one openid a line, or `openid,amount` with the amount in yuan (at most two
/// decimals, never rounded); spaces around fields, blank lines, lines starting with `#`, a
/// UTF-8 byte-order mark and CRLF line ends are all fine.
///
/// ```
/// use wxpay_proto::Fen;
/// use wxpay_redpack::campaign::{CampaignFile, ParseOptions};
///
/// let text = "# spring campaign\noUser0001\noUser0002, 2.50\n\noUser0001\n";
/// let file = CampaignFile::parse(text, &ParseOptions::with_default_amount(Fen::new(100)))?;
/// assert_eq!(file.rows().len(), 2);
/// assert_eq!(file.rows()[1].amount, Fen::new(250));
/// assert_eq!(file.duplicates()[0].line, 5);
/// # Ok::<(), wxpay_redpack::campaign::CampaignError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignFile {
    rows: Vec<CampaignRow>,
    duplicates: Vec<Duplicate>,
}

impl CampaignFile {
    /// Reads and parses a campaign file.
    ///
    /// # Errors
    ///
    /// [`CampaignError::Read`] when it cannot be read (or is not UTF-8), and as
    /// [`parse`](Self::parse).
    pub fn read(path: impl AsRef<Path>, options: &ParseOptions) -> Result<Self, CampaignError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CampaignError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, options)
    }

    /// Parses the text of a campaign file.
    ///
    /// # Errors
    ///
    /// [`CampaignError::File`] listing every malformed line (an openid that is not one, an
    /// amount that is not yuan, a missing amount without a default, extra fields), and a file
    /// of more than [`MAX_ROWS`] rows.
    pub fn parse(text: &str, options: &ParseOptions) -> Result<Self, CampaignError> {
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let mut rows = Vec::new();
        let mut duplicates = Vec::new();
        let mut errors = Vec::new();
        let mut first_seen: BTreeMap<String, usize> = BTreeMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let row = match parse_line(line, content, options.default_amount) {
                Ok(row) => row,
                Err(problem) => {
                    errors.push(LineError { line, problem });
                    continue;
                }
            };
            match first_seen.get(row.openid.as_str()) {
                Some(&first_line) => {
                    duplicates.push(Duplicate {
                        line,
                        first_line,
                        openid: row.openid.clone(),
                    });
                    if options.allow_duplicates {
                        rows.push(row);
                    }
                }
                None => {
                    first_seen.insert(row.openid.as_str().to_owned(), line);
                    rows.push(row);
                }
            }
            if rows.len() > MAX_ROWS {
                errors.push(LineError {
                    line,
                    problem: LineProblem::TooManyRows,
                });
                break;
            }
        }
        if errors.is_empty() {
            Ok(Self { rows, duplicates })
        } else {
            Err(CampaignError::File { errors })
        }
    }

    /// A campaign of these rows (for rows that do not come from a file).
    ///
    /// # Errors
    ///
    /// [`CampaignError::File`] when there are more than [`MAX_ROWS`] rows.
    pub fn from_rows(rows: Vec<CampaignRow>) -> Result<Self, CampaignError> {
        if rows.len() > MAX_ROWS {
            let line = rows.get(MAX_ROWS).map_or(0, |row| row.line);
            return Err(CampaignError::File {
                errors: vec![LineError {
                    line,
                    problem: LineProblem::TooManyRows,
                }],
            });
        }
        Ok(Self {
            rows,
            duplicates: Vec::new(),
        })
    }

    /// The rows, in file order.
    pub fn rows(&self) -> &[CampaignRow] {
        &self.rows
    }

    /// The openids met more than once, in file order.
    pub fn duplicates(&self) -> &[Duplicate] {
        &self.duplicates
    }

    /// The sum of the rows' amounts, or `None` if it overflows.
    pub fn total(&self) -> Option<Fen> {
        self.rows
            .iter()
            .try_fold(Fen::ZERO, |sum, row| sum.checked_add(row.amount))
    }
}

fn parse_line(
    line: usize,
    content: &str,
    default_amount: Option<Fen>,
) -> Result<CampaignRow, LineProblem> {
    let fields: Vec<&str> = content.split(',').map(str::trim).collect();
    let (openid, amount) = match fields.as_slice() {
        [openid] => (*openid, None),
        [openid, amount] => (*openid, Some(*amount)),
        _ => {
            return Err(LineProblem::TooManyFields {
                count: fields.len(),
            });
        }
    };
    let openid = OpenId::new(openid).map_err(|_| LineProblem::OpenId {
        text: excerpt(openid),
    })?;
    let amount = match amount {
        Some(text) => Fen::parse_yuan(text).map_err(|_| LineProblem::Amount {
            text: excerpt(text),
        })?,
        None => default_amount.ok_or(LineProblem::MissingAmount)?,
    };
    Ok(CampaignRow::new(line, openid, amount))
}

/// At most 40 characters of a field, for error messages.
fn excerpt(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or(text)),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yuan(amount: u64) -> ParseOptions {
        ParseOptions::with_default_amount(Fen::new(amount * 100))
    }

    #[test]
    fn openids_amounts_comments_blank_lines_and_crlf_are_read() {
        // Arrange
        let text = "\u{FEFF}# header\r\noA\r\n\r\n  oB , 2.5 \r\n# oC\r\noC,0.30\n";

        // Act
        let file = CampaignFile::parse(text, &yuan(1)).unwrap();

        // Assert
        let rows: Vec<(usize, &str, u64)> = file
            .rows()
            .iter()
            .map(|r| (r.line, r.openid.as_str(), r.amount.get()))
            .collect();
        assert_eq!(rows, vec![(2, "oA", 100), (4, "oB", 250), (6, "oC", 30)]);
        assert!(file.duplicates().is_empty());
        assert_eq!(file.total(), Some(Fen::new(380)));
    }

    #[test]
    fn every_malformed_line_is_reported_with_its_number() {
        // Arrange
        let text = "oGood\nbad openid\noX,1.005\noY,-1\noZ,1,2\n,1.00\noW\n";

        // Act
        let error = CampaignFile::parse(text, &ParseOptions::default()).unwrap_err();

        // Assert
        let lines: Vec<(usize, String)> = error
            .line_errors()
            .iter()
            .map(|e| (e.line, e.to_string()))
            .collect();
        assert_eq!(lines.len(), 7, "{lines:?}");
        assert_eq!(lines[0].0, 1, "no amount and no default");
        assert!(lines[0].1.contains("no amount"), "{lines:?}");
        assert!(
            lines[1]
                .1
                .starts_with("line 2: \"bad openid\" is not an openid")
        );
        assert!(lines[2].1.contains("\"1.005\" is not an amount"));
        assert!(lines[3].1.contains("\"-1\" is not an amount"));
        assert!(lines[4].1.contains("3 fields"));
        assert!(lines[5].1.contains("\"\" is not an openid"));
        assert_eq!(lines[6].0, 7);
        assert_eq!(
            error.to_string(),
            "the campaign file has 7 malformed line(s)"
        );
    }

    #[test]
    fn a_repeated_openid_is_reported_and_kept_once_unless_duplicates_are_allowed() {
        let text = "oA\noB\noA,5\noA\n";

        let once = CampaignFile::parse(text, &yuan(1)).unwrap();
        let every = CampaignFile::parse(text, &yuan(1).allow_duplicates(true)).unwrap();

        assert_eq!(once.rows().len(), 2);
        let dups: Vec<(usize, usize)> = once
            .duplicates()
            .iter()
            .map(|d| (d.line, d.first_line))
            .collect();
        assert_eq!(dups, vec![(3, 1), (4, 1)]);
        assert_eq!(every.rows().len(), 4);
        assert_eq!(every.duplicates().len(), 2);
        assert_eq!(every.rows()[2].amount, Fen::new(500));
    }

    #[test]
    fn a_long_field_is_cut_short_in_the_report() {
        let text = format!("{}\n", "é".repeat(5000));
        let error = CampaignFile::parse(&text, &yuan(1)).unwrap_err();
        let message = error.line_errors()[0].to_string();
        assert!(message.chars().count() < 120, "{message}");
        assert!(message.contains(&format!("{}…", "é".repeat(40))));
    }

    #[test]
    fn an_empty_file_has_no_rows() {
        let file = CampaignFile::parse("# nothing\n\n", &yuan(1)).unwrap();
        assert!(file.rows().is_empty());
        assert_eq!(file.total(), Some(Fen::ZERO));
    }

    #[test]
    fn any_text_parses_or_fails_without_panicking() {
        for text in [
            "\0",
            "a,",
            ",",
            "\u{FEFF}",
            "é",
            "a\u{2028}b",
            "#,\n,#",
            "a,1e3",
        ] {
            let _ = CampaignFile::parse(text, &yuan(1));
        }
    }
}
