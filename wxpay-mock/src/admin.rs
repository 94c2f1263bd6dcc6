//! The admin API: JSON over plain HTTP on loopback.

use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde_json::json;
use wxpay_proto::{ApiRequest, Fen, RawMessage};
use wxpay_sign::SignType;

use crate::Error;
use crate::clock::{format_beijing, to_system_time};
use crate::faults::FaultPlan;
use crate::state::{OpenidLists, Shared};

/// What the admin API knows besides the state.
#[derive(Debug)]
pub(crate) struct AdminInfo {
    pub(crate) default_mch_id: String,
    pub(crate) base_url: String,
}

/// An admin answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
}

fn json_answer(status: u16, value: &impl serde::Serialize) -> Answer {
    match serde_json::to_string_pretty(value) {
        Ok(body) => Answer {
            status,
            content_type: "application/json",
            body: body + "\n",
        },
        Err(e) => error(500, &format!("cannot encode the answer: {e}")),
    }
}

fn error(status: u16, message: &str) -> Answer {
    Answer {
        status,
        content_type: "application/json",
        body: json!({ "error": message }).to_string() + "\n",
    }
}

fn from_error(e: &Error) -> Answer {
    let status = match e {
        Error::UnknownMerchant { .. } | Error::UnknownPacket { .. } => 404,
        Error::InvalidSetting { .. } => 400,
        Error::ClaimRefused { .. } | Error::AmountOverflow | Error::Config { .. } => 409,
        _ => 500,
    };
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    error(status, &message)
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Answer> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| error(400, &format!("invalid JSON: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    #[serde(default)]
    seconds: u64,
    #[serde(default)]
    millis: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimBody {
    mch_id: Option<String>,
    mch_billno: String,
    openid: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopUp {
    mch_id: Option<String>,
    amount_fen: u64,
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn clock(shared: &Shared) -> serde_json::Value {
    let now = shared.now_ms();
    let mode = shared.lock().clock.mode();
    let unix = to_system_time(now)
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    json!({ "now": format_beijing(now), "unix_ms": now, "unix": unix, "mode": mode.as_str() })
}

/// Routes one admin request.
pub(crate) fn route(
    shared: &Shared,
    info: &AdminInfo,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Answer {
    let path = path.trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let result = match (method.as_str(), segments.as_slice()) {
        ("GET", ["__admin"]) => Ok(json_answer(
            200,
            &json!({
                "endpoint": info.base_url,
                "default_mch_id": info.default_mch_id,
                "routes": [
                    "GET /__admin/ledger",
                    "GET /__admin/packets/{mch_id}/{mch_billno}",
                    "GET /__admin/invariants",
                    "GET /__admin/clock",
                    "POST /__admin/clock/advance {\"seconds\":N}",
                    "POST /__admin/claim {\"mch_billno\":\"…\",\"openid\":\"…\"}",
                    "POST /__admin/topup {\"amount_fen\":N}",
                    "GET|POST|DELETE /__admin/faults",
                    "GET /__admin/requests",
                    "GET /__admin/merchants",
                    "PUT /__admin/merchants/{mch_id}/openids {\"openids\":[…],\"mini_program_openids\":[…]}",
                    "POST /__admin/sign?api=sendredpack",
                    "POST /__admin/reset"
                ]
            }),
        )),
        ("GET", ["__admin", "ledger"]) => Ok(json_answer(200, &shared.ledger())),
        ("GET", ["__admin", "packets", mch_id, billno]) => {
            match shared.ledger().packet(mch_id, billno) {
                Some(p) => Ok(json_answer(200, p)),
                None => Err(error(404, "no such packet")),
            }
        }
        ("GET", ["__admin", "invariants"]) => Ok(json_answer(200, &shared.invariants())),
        ("GET", ["__admin", "clock"]) => Ok(json_answer(200, &clock(shared))),
        ("POST", ["__admin", "clock", "advance"]) => parse::<Advance>(body).and_then(|a| {
            let Some(by) =
                Duration::from_secs(a.seconds).checked_add(Duration::from_millis(a.millis))
            else {
                return Err(error(400, "the advance is too large"));
            };
            shared
                .advance_clock(by)
                .map(|_| json_answer(200, &clock(shared)))
                .map_err(|e| from_error(&e))
        }),
        ("POST", ["__admin", "claim"]) => parse::<ClaimBody>(body).and_then(|c| {
            let mch_id = c.mch_id.as_deref().unwrap_or(&info.default_mch_id);
            shared
                .claim(mch_id, &c.mch_billno, c.openid.as_deref())
                .map(|o| json_answer(200, &o))
                .map_err(|e| from_error(&e))
        }),
        ("POST", ["__admin", "topup"]) => parse::<TopUp>(body).and_then(|t| {
            let mch_id = t.mch_id.as_deref().unwrap_or(&info.default_mch_id);
            shared
                .top_up(mch_id, Fen::new(t.amount_fen))
                .map(|balance| {
                    json_answer(200, &json!({ "mch_id": mch_id, "balance_fen": balance }))
                })
                .map_err(|e| from_error(&e))
        }),
        ("GET", ["__admin", "faults"]) => Ok(json_answer(200, &shared.faults())),
        ("POST", ["__admin", "faults"]) => parse::<FaultPlan>(body).map(|plan| {
            shared.set_faults(plan);
            json_answer(200, &shared.faults())
        }),
        ("DELETE", ["__admin", "faults"]) => {
            shared.set_faults(FaultPlan::default());
            Ok(json_answer(200, &shared.faults()))
        }
        ("GET", ["__admin", "requests"]) => Ok(json_answer(200, &shared.requests())),
        ("GET", ["__admin", "merchants"]) => {
            let users = shared.openid_lists();
            let declared = |mch_id: &str| users.get(mch_id).cloned().unwrap_or_default();
            Ok(json_answer(
                200,
                &shared
                    .merchants
                    .values()
                    .map(|m| {
                        let users = declared(&m.config.mch_id);
                        json!({
                            "mch_id": m.config.mch_id,
                            "appid": m.appid,
                            "mini_program_appid": m.mini_program_appid,
                            "ip_whitelist": m.config.ip_whitelist,
                            "product_enabled": m.config.product_enabled,
                            "api_method_enabled": m.config.api_method_enabled,
                            "openids": users.openids,
                            "mini_program_openids": users.mini_program_openids,
                        })
                    })
                    .collect::<Vec<_>>(),
            ))
        }
        ("PUT", ["__admin", "merchants", mch_id, "openids"]) => put_openids(shared, mch_id, body),
        ("POST", ["__admin", "sign"]) => sign(shared, info, query, body),
        ("POST", ["__admin", "reset"]) => shared
            .reset()
            .map(|()| json_answer(200, &json!({ "reset": true })))
            .map_err(|e| from_error(&e)),
        (_, ["__admin", ..]) => Err(error(404, "no such admin route")),
        _ => Err(error(404, "not an admin path (they start with /__admin)")),
    };
    result.unwrap_or_else(|e| e)
}

/// `PUT /__admin/merchants/{mch_id}/openids`: replaces the merchant's declared users (both
/// lists, `{"openids":[…],"mini_program_openids":[…]}`) for the sends and claims that follow.
/// 404 for an unknown merchant; 400, changing nothing, for a body that is not that JSON, an
/// openid that is not 1–32 letters, digits, `_` or `-`, or one under both lists. With a data
/// directory the lists are stored and outlive a restart, in place of the configured ones,
/// until `POST /__admin/reset` brings the configured ones back.
fn put_openids(shared: &Shared, mch_id: &str, body: &[u8]) -> Result<Answer, Answer> {
    if !shared.merchants.contains_key(mch_id) {
        return Err(error(404, &format!("unknown merchant {mch_id}")));
    }
    let lists = parse::<OpenidLists>(body)?;
    let answer = json!({
        "mch_id": mch_id,
        "openids": lists.openids,
        "mini_program_openids": lists.mini_program_openids,
    });
    shared
        .set_openids(mch_id, lists)
        .map(|()| json_answer(200, &answer))
        .map_err(|e| from_error(&e))
}

/// Signs an XML body with its merchant's key, for local testing with curl: over the named
/// API's signed fields (`?api=sendredpack`), or over every textual field but `sign` and
/// `sign_type`.
fn sign(
    shared: &Shared,
    info: &AdminInfo,
    query: Option<&str>,
    body: &[u8],
) -> Result<Answer, Answer> {
    let raw = RawMessage::parse(body).map_err(|e| error(400, &format!("invalid XML: {e}")))?;
    let mch_id = raw.text("mch_id").unwrap_or(&info.default_mch_id);
    let merchant = shared
        .merchants
        .get(mch_id)
        .ok_or_else(|| error(404, &format!("unknown merchant {mch_id}")))?;
    let names: Vec<&str> = match query_param(query, "api") {
        Some("sendredpack") => wxpay_proto::sendredpack::Request::SIGNED_FIELDS.to_vec(),
        Some("sendgroupredpack") => wxpay_proto::sendgroupredpack::Request::SIGNED_FIELDS.to_vec(),
        Some("sendminiprogramhb") => {
            let mut names = wxpay_proto::sendminiprogramhb::Request::SIGNED_FIELDS.to_vec();
            if shared.behaviour.mini_program_signs_client_ip {
                names.push("client_ip");
            }
            names
        }
        Some("gethbinfo") => wxpay_proto::gethbinfo::Request::SIGNED_FIELDS.to_vec(),
        Some(other) => return Err(error(400, &format!("unknown api {other:?}"))),
        None => raw
            .text_pairs()
            .map(|(k, _)| k)
            .filter(|k| *k != "sign" && *k != "sign_type")
            .collect(),
    };
    let signature = wxpay_sign::sign(SignType::Md5, &merchant.key, raw.text_pairs_of(&names))
        .map_err(|e| error(400, &format!("cannot sign: {e}")))?;
    let fields = raw
        .text_pairs()
        .filter(|(name, _)| *name != "sign")
        .chain(std::iter::once(("sign", signature.as_str())));
    let mut out = wxpay_proto::encode_text_fields(fields);
    out.push('\n');
    Ok(Answer {
        status: 200,
        content_type: "text/xml; charset=UTF-8",
        body: out,
    })
}
