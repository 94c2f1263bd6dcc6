//! The campaign numbers taken, per merchant and day, by the campaigns whose journals share a
//! directory: the file [`REGISTRY`] there, one line `mch_id yyyymmdd number` per campaign,
//! read and appended under an exclusive lock and synced before the campaign is written.
//!
//! Without it, two campaigns of one merchant created on the same day within the same ten
//! seconds would get the same default number, and so the same billnos: the second
//! campaign's rows would replay the first one's packets instead of paying their own.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use wxpay_proto::MchId;

use super::{CampaignError, MAX_CAMPAIGN_NO};
use crate::billno::BillDate;

/// The registry's file name, in the journal's directory.
pub const REGISTRY: &str = ".wxpay-redpack-campaign-numbers";

/// Where the registry of the journal at `journal` is.
pub(crate) fn registry_of(journal: &Path) -> PathBuf {
    match journal.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(REGISTRY),
        _ => PathBuf::from(REGISTRY),
    }
}

/// Takes a number for a new campaign of `mch_id` on `date`, and records it.
///
/// `explicit`: the number the caller chose; refused if another campaign of the directory has
/// it. Otherwise `preferred` if free, else the next free one (wrapping past
/// [`MAX_CAMPAIGN_NO`]).
pub(crate) fn take(
    journal: &Path,
    mch_id: &MchId,
    date: BillDate,
    explicit: Option<u32>,
    preferred: u32,
) -> Result<u32, CampaignError> {
    let path = registry_of(journal);
    let failed = |action: &'static str, e: std::io::Error| CampaignError::journal(&path, action, e);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .append(true)
        .open(&path)
        .map_err(|e| failed("open the campaign number registry", e))?;
    file.lock()
        .map_err(|e| failed("lock the campaign number registry", e))?;
    let taken = taken(&mut file, mch_id, date).map_err(|e| failed("read the registry", e))?;
    let number = match explicit {
        Some(number) if taken.contains(&number) => {
            return Err(CampaignError::options(format!(
                "campaign number {number} of {date} is already taken by another campaign of \
                 merchant {mch_id} in this directory (see {}): choose another",
                path.display()
            )));
        }
        Some(number) => number,
        None => (0..=MAX_CAMPAIGN_NO)
            .map(|step| (preferred + step) % (MAX_CAMPAIGN_NO + 1))
            .find(|number| !taken.contains(number))
            .ok_or_else(|| {
                CampaignError::options(format!(
                    "every campaign number of {date} is taken for merchant {mch_id}"
                ))
            })?,
    };
    writeln!(file, "{mch_id} {date} {number}")
        .and_then(|()| file.sync_all())
        .map_err(|e| failed("write the registry", e))?;
    Ok(number)
}

/// The numbers the registry holds for `mch_id` on `date`; lines it cannot read are skipped.
fn taken(file: &mut File, mch_id: &MchId, date: BillDate) -> std::io::Result<BTreeSet<u32>> {
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let date = date.to_string();
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(m), Some(d), Some(n), None) if m == mch_id.as_str() && d == date => {
                    n.parse().ok()
                }
                _ => None,
            }
        })
        .collect())
}
