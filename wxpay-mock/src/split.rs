//! Splitting a group packet `ALL_RAND`.

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wxpay_proto::Fen;

use crate::Error;

/// The smallest share of a group packet: 1 yuan.
pub const MIN_GROUP_SHARE: Fen = Fen::new(100);

/// Splits `total` into `num` random shares of at least [`MIN_GROUP_SHARE`] that add up to
/// exactly `total`, as `ALL_RAND` does; the same seed gives the same split.
///
/// ```
/// use wxpay_mock::split_all_rand;
/// use wxpay_proto::Fen;
///
/// let shares = split_all_rand(Fen::new(1000), 3, 7)?;
/// assert_eq!(shares.iter().map(|s| s.get()).sum::<u64>(), 1000);
/// assert!(shares.iter().all(|s| s.get() >= 100));
/// # Ok::<(), wxpay_mock::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Config`] if `num` is 0 or `total` is less than `num` × 1 yuan.
pub fn split_all_rand(total: Fen, num: u32, seed: u64) -> Result<Vec<Fen>, Error> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    split_with(total, num, MIN_GROUP_SHARE, &mut rng)
        .ok_or_else(|| Error::config(format!("cannot split {total} yuan into {num} shares")))
}

/// Splits with a given minimum share: `num - 1` uniform cut points over what is left above
/// the minimums. `None` if `num` is 0 or the total cannot cover the minimums.
pub(crate) fn split_with(
    total: Fen,
    num: u32,
    min_share: Fen,
    rng: &mut impl Rng,
) -> Option<Vec<Fen>> {
    if num == 0 {
        return None;
    }
    let floor = min_share.checked_mul(u64::from(num))?;
    let spare = total.checked_sub(floor)?.get();
    let mut cuts: Vec<u64> = (1..num).map(|_| rng.random_range(0..=spare)).collect();
    cuts.sort_unstable();
    let mut shares = Vec::with_capacity(usize::try_from(num).unwrap_or(0));
    let mut previous = 0;
    for cut in cuts.into_iter().chain(std::iter::once(spare)) {
        shares.push(min_share.checked_add(Fen::new(cut - previous))?);
        previous = cut;
    }
    Some(shares)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_floor_gives_equal_shares() {
        let shares = split_all_rand(Fen::new(300), 3, 1).unwrap();
        assert_eq!(shares, vec![Fen::new(100); 3]);
    }

    #[test]
    fn too_small_a_total_is_refused() {
        assert!(split_all_rand(Fen::new(299), 3, 1).is_err());
        assert!(split_all_rand(Fen::new(299), 0, 1).is_err());
    }
}
