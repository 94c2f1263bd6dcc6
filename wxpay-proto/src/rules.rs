//! The business rules of spec §5 as pure functions, shared by the client (before sending)
//! and the mock (when receiving), so both reject the same requests with the same code.
//!
//! Field formats (lengths, character sets, IPv4) are enforced by the value types when a
//! request is built or decoded; the functions here check how fields combine.

use crate::enums::{AmtType, BillType, ErrCode, NotifyWay, SceneId};
use crate::error::Error;
use crate::types::Fen;

/// Which send API a rule is applied for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the three send APIs; a new API gets a new major version"
)]
pub enum SendKind {
    /// `sendredpack`: a normal packet for one user.
    Normal,
    /// `sendgroupredpack`: a group (fission) packet shared by 3 to 20 users.
    Group,
    /// `sendminiprogramhb`: a mini-program packet.
    MiniProgram,
}

/// Fewest packets in a group.
pub const GROUP_MIN_NUM: u32 = 3;
/// Most packets in a group.
pub const GROUP_MAX_NUM: u32 = 20;
/// Without a `scene_id`, a packet must be at least this much (1 yuan).
pub const SCENE_FREE_MIN: Fen = Fen::new(100);
/// Without a `scene_id`, a packet must be at most this much (200 yuan).
pub const SCENE_FREE_MAX: Fen = Fen::new(20_000);

/// `total_num`: exactly 1 for normal and mini-program packets, 3 to 20 for a group.
pub fn check_total_num(kind: SendKind, total_num: u32) -> Result<(), Error> {
    match kind {
        SendKind::Normal | SendKind::MiniProgram if total_num != 1 => Err(Error::rule(
            "total_num",
            ErrCode::ParamError,
            "参数错误:total_num必须等于1",
        )),
        SendKind::Group if !(GROUP_MIN_NUM..=GROUP_MAX_NUM).contains(&total_num) => {
            Err(Error::rule(
                "total_num",
                ErrCode::ParamError,
                "参数错误:total_num必须介于(包括)3到20之间.",
            ))
        }
        _ => Ok(()),
    }
}

/// The amount of one packet: the total, or for a group the average share (rounded down).
/// `total_num` of 0 counts as 1, so this never divides by zero.
pub fn per_packet(total_amount: Fen, total_num: u32) -> Fen {
    Fen::new(total_amount.get() / u64::from(total_num.max(1)))
}

/// The `PARAM_ERROR` text of a scene the merchant platform has not enabled (spec §4.1).
pub const SCENE_NOT_ENABLED: &str =
    "参数错误:该场景未开通，请登陆商户平台：产品中心-现金红包-产品设置-使用场景 进行开通";

/// `scene_id` is required when a packet is below 1 yuan or above 200 yuan (DESIGN §6.5: a
/// missing one is `PARAM_ERROR`). For normal and mini-program packets; a group's average is
/// bound to 1–200 yuan whatever the scene (`MONEY_LIMIT`, [`check_amount`]).
/// A given scene is also checked by [`check_scene_known`].
pub fn check_scene_required(
    total_amount: Fen,
    total_num: u32,
    scene_id: Option<&SceneId>,
) -> Result<(), Error> {
    check_scene_known(scene_id)?;
    let packet = per_packet(total_amount, total_num);
    if scene_id.is_none() && !(SCENE_FREE_MIN..=SCENE_FREE_MAX).contains(&packet) {
        return Err(Error::rule(
            "scene_id",
            ErrCode::ParamError,
            "参数错误:红包金额小于1元或大于200元时scene_id字段必填",
        ));
    }
    Ok(())
}

/// A given `scene_id` must be one of `PRODUCT_1` … `PRODUCT_8` (spec §4.1): no other can be
/// enabled on the merchant platform (`PARAM_ERROR` [`SCENE_NOT_ENABLED`]), and a value the
/// wire cannot carry as it is would be signed as one text and sent as another.
pub fn check_scene_known(scene_id: Option<&SceneId>) -> Result<(), Error> {
    match scene_id {
        Some(scene) if !scene.is_known() => Err(Error::rule(
            "scene_id",
            ErrCode::ParamError,
            SCENE_NOT_ENABLED,
        )),
        _ => Ok(()),
    }
}

/// `amt_type` of a group packet must be `ALL_RAND`.
pub fn check_amt_type(amt_type: &AmtType) -> Result<(), Error> {
    if *amt_type != AmtType::AllRand {
        return Err(Error::rule(
            "amt_type",
            ErrCode::ParamError,
            "参数错误:amt_type只能为ALL_RAND",
        ));
    }
    Ok(())
}

/// `notify_way` of a mini-program packet must be `MINI_PROGRAM_JSAPI`.
pub fn check_notify_way(notify_way: &NotifyWay) -> Result<(), Error> {
    if *notify_way != NotifyWay::MiniProgramJsapi {
        return Err(Error::rule(
            "notify_way",
            ErrCode::ParamError,
            "参数错误:notify_way只能为MINI_PROGRAM_JSAPI",
        ));
    }
    Ok(())
}

/// `bill_type` of a query must be `MCHT`.
pub fn check_bill_type(bill_type: &BillType) -> Result<(), Error> {
    if *bill_type != BillType::Mcht {
        return Err(Error::rule(
            "bill_type",
            ErrCode::ParamError,
            "参数错误:bill_type只能为MCHT",
        ));
    }
    Ok(())
}

/// In service-provider mode (`sub_mch_id` set), `msgappid` is required.
pub fn check_partner_fields(has_sub_mch_id: bool, has_msgappid: bool) -> Result<(), Error> {
    if has_sub_mch_id && !has_msgappid {
        return Err(Error::rule(
            "msgappid",
            ErrCode::ParamError,
            "参数错误:授理模式下msgappid字段必填,并且最长32字符.",
        ));
    }
    Ok(())
}

/// The per-packet amount range a merchant may send (configurable on the merchant platform).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AmountLimits {
    /// Smallest packet without a `scene_id` (default 1 yuan).
    pub min: Fen,
    /// Largest packet without a `scene_id` (default 200 yuan).
    pub max: Fen,
    /// Smallest packet with a `scene_id` (default 0.30 yuan, the lowest a merchant can set).
    pub scene_min: Fen,
    /// Largest packet with a `scene_id` (default 4999 yuan).
    pub scene_max: Fen,
    /// Smallest average share of a group packet (1 yuan).
    pub group_average_min: Fen,
    /// Largest average share of a group packet (200 yuan).
    pub group_average_max: Fen,
}

impl AmountLimits {
    /// The documented defaults.
    pub const DEFAULT: Self = Self {
        min: SCENE_FREE_MIN,
        max: SCENE_FREE_MAX,
        scene_min: Fen::new(30),
        scene_max: Fen::new(499_900),
        group_average_min: Fen::new(100),
        group_average_max: Fen::new(20_000),
    };
}

impl Default for AmountLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The amount range (`MONEY_LIMIT`): a normal or mini-program packet within `min..=max`
/// (or `scene_min..=scene_max` with a `scene_id`); a group's average share within
/// `group_average_min..=group_average_max`.
pub fn check_amount(
    kind: SendKind,
    total_amount: Fen,
    total_num: u32,
    scene_id: Option<&SceneId>,
    limits: &AmountLimits,
) -> Result<(), Error> {
    let (low, high) = match (kind, scene_id) {
        (SendKind::Group, _) => (limits.group_average_min, limits.group_average_max),
        (_, Some(_)) => (limits.scene_min, limits.scene_max),
        (_, None) => (limits.min, limits.max),
    };
    // A group's average must not be rounded into range: the total must reach low × num and
    // stay within high × num. A product too large for a `u64` is beyond any total: a floor
    // no total reaches, a ceiling no total passes.
    let (below, above) = match kind {
        SendKind::Group => {
            let num = u64::from(total_num.max(1));
            (
                low.checked_mul(num)
                    .is_none_or(|floor| total_amount < floor),
                high.checked_mul(num)
                    .is_some_and(|ceiling| total_amount > ceiling),
            )
        }
        SendKind::Normal | SendKind::MiniProgram => (total_amount < low, total_amount > high),
    };
    if below || above {
        return Err(Error::rule(
            "total_amount",
            ErrCode::MoneyLimit,
            format!("每个红包的平均金额必须在{low}元到{high}元之间."),
        ));
    }
    Ok(())
}
