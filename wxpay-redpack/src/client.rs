//! The client: builds, checks, signs and posts requests, and classifies the answers.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};
use wxpay_proto::rules::{self, AmountLimits, SendKind};
use wxpay_proto::{
    ApiRequest, AppId, ClientIp, ErrCode, Fen, HandlingClass, MchBillno, MchId, NonceStr, SendName,
    XmlMessage, gethbinfo, sendgroupredpack, sendminiprogramhb, sendredpack,
};
use wxpay_sign::{ApiKey, SignType, canonical_string_redacted, sign};
use wxpay_transport::{HttpsTransport, Transport};

use crate::billno::{BillDate, billno};
use crate::clock::Clock;
use crate::config::RedpackClientBuilder;
use crate::error::Error;
use crate::mini::{BizRedPacketParams, biz_red_packet_params};
use crate::nonce::NonceSource;
use crate::outcome::{
    Confirmation, Echo, PacketRecord, QueryOutcome, SendOutcome, UnknownCause, classify_query,
    classify_send,
};
use crate::packet::{RedPacket, SendRequest};
use crate::retry::{
    Decision, History, Observation, QueryObservation, RetryPolicy, SendObservation, decide,
};

/// The merchant a client acts for.
pub(crate) struct Merchant {
    pub(crate) mch_id: MchId,
    pub(crate) appid: AppId,
    pub(crate) mini_program_appid: Option<AppId>,
    pub(crate) api_key: ApiKey,
    pub(crate) send_name: Option<SendName>,
    pub(crate) client_ip: ClientIp,
    pub(crate) amount_limits: AmountLimits,
}

/// The red-packet client of one merchant (several merchants: several clients).
///
/// Cheap to clone: clones share the transport, the configuration and the per-billno locks.
/// Generic over the [`Transport`] so that tests can drive it with doubles; the default is the
/// HTTPS transport with the merchant's client certificate.
///
/// Every method that sends first checks the request locally (field formats, the API's rules,
/// the amount range) and returns [`Error::Invalid`] without sending anything if it breaks one.
/// Requests are signed with MD5 over exactly the endpoint's fields; no `sign_type` is ever
/// sent. Two sends of the same billno through one client never overlap.
pub struct RedpackClient<T = HttpsTransport> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    transport: T,
    merchant: Merchant,
    clock: Arc<dyn Clock>,
    nonce: Arc<dyn NonceSource>,
    locks: BillnoLocks,
}

impl<T> Clone for RedpackClient<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for RedpackClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.inner.merchant;
        f.debug_struct("RedpackClient")
            .field("mch_id", &m.mch_id)
            .field("appid", &m.appid)
            .field("mini_program_appid", &m.mini_program_appid)
            .field("api_key", &m.api_key)
            .field("transport", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

/// A request as it would be sent, for diagnosing `SIGN_ERROR`: see
/// [`RedpackClient::dry_run`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DryRun {
    /// The path it would be posted to.
    pub path: &'static str,
    /// The exact body.
    pub xml: String,
    /// The string that was signed, with the key shown as `***`
    /// (`k1=v1&…&kn=vn&key=***`).
    pub canonical_string: String,
    /// The `sign` value.
    pub sign: String,
}

impl RedpackClient<HttpsTransport> {
    /// A builder.
    pub fn builder() -> RedpackClientBuilder {
        RedpackClientBuilder::new()
    }

    /// A client from a `merchant.toml` (see [`RedpackClientBuilder::from_merchant_toml`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the file or key at fault.
    pub fn from_merchant_toml(path: impl AsRef<Path>) -> Result<Self, Error> {
        RedpackClientBuilder::from_merchant_toml(path)?.build()
    }
}

impl<T: Transport> RedpackClient<T> {
    pub(crate) fn from_parts(
        transport: T,
        merchant: Merchant,
        clock: Arc<dyn Clock>,
        nonce: Arc<dyn NonceSource>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                transport,
                merchant,
                clock,
                nonce,
                locks: BillnoLocks::default(),
            }),
        }
    }

    /// The merchant id.
    pub fn mch_id(&self) -> &MchId {
        &self.inner.merchant.mch_id
    }

    /// The Official Account appid.
    pub fn appid(&self) -> &AppId {
        &self.inner.merchant.appid
    }

    /// The mini-program appid, if configured.
    pub fn mini_program_appid(&self) -> Option<&AppId> {
        self.inner.merchant.mini_program_appid.as_ref()
    }

    /// The `client_ip` of normal packets.
    pub fn client_ip(&self) -> &ClientIp {
        &self.inner.merchant.client_ip
    }

    /// The default `send_name`, used by packets that set none.
    pub fn default_send_name(&self) -> Option<&SendName> {
        self.inner.merchant.send_name.as_ref()
    }

    /// A fresh `nonce_str` from the client's nonce source, for requests built from a
    /// campaign's journal rather than by [`normal`](Self::normal).
    pub(crate) fn nonce(&self) -> NonceStr {
        self.inner.nonce.nonce()
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.inner.transport
    }

    /// The clock (billno dates, the campaign's rate limit and timestamps).
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The billno `mch_id` + today's date in Beijing time (by the client's clock) +
    /// `sequence` on 10 digits; see [`billno`](crate::billno()). Persist it before sending.
    ///
    /// # Errors
    ///
    /// As [`billno`](crate::billno()).
    pub fn billno(&self, sequence: u64) -> Result<MchBillno, Error> {
        billno(
            self.mch_id(),
            BillDate::beijing(self.inner.clock.now()),
            sequence,
        )
    }

    /// The `sendredpack` request for `packet`, with this client's `mch_id`, appid,
    /// `client_ip`, default `send_name` and a fresh `nonce_str`.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when the packet has no `send_name` and the client no default.
    pub fn normal(&self, packet: &RedPacket) -> Result<SendRequest, Error> {
        let m = &self.inner.merchant;
        let mut request = sendredpack::Request::new(
            self.inner.nonce.nonce(),
            packet.mch_billno.clone(),
            m.mch_id.clone(),
            m.appid.clone(),
            self.send_name(packet)?,
            packet.re_openid.clone(),
            packet.total_amount,
            packet.wishing.clone(),
            m.client_ip.clone(),
            packet.act_name.clone(),
            packet.remark.clone(),
        );
        request.total_num = packet.total_num;
        request.scene_id.clone_from(&packet.scene_id);
        request.risk_info.clone_from(&packet.risk_info);
        Ok(request.into())
    }

    /// The `sendgroupredpack` request for `packet` (set its `total_num`, 3 to 20). There is
    /// no `client_ip` in it: signing one makes the server answer `SIGN_ERROR`.
    ///
    /// # Errors
    ///
    /// As [`normal`](Self::normal).
    #[deprecated(
        note = "sendgroupredpack was retired by WeChat Pay on 2024-06-05; it still works against wxpay-mock"
    )]
    pub fn group(&self, packet: &RedPacket) -> Result<SendRequest, Error> {
        let m = &self.inner.merchant;
        let mut request = sendgroupredpack::Request::new(
            self.inner.nonce.nonce(),
            packet.mch_billno.clone(),
            m.mch_id.clone(),
            m.appid.clone(),
            self.send_name(packet)?,
            packet.re_openid.clone(),
            packet.total_amount,
            packet.total_num,
            packet.wishing.clone(),
            packet.act_name.clone(),
            packet.remark.clone(),
        );
        request.scene_id.clone_from(&packet.scene_id);
        request.risk_info.clone_from(&packet.risk_info);
        Ok(request.into())
    }

    /// The `sendminiprogramhb` request for `packet`, with the mini-program appid as
    /// `wxappid` and `notify_way=MINI_PROGRAM_JSAPI` (and no `client_ip`).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when no mini-program appid is configured, when the packet sets
    /// `risk_info` (not a field of this API), or has no `send_name` and the client no default.
    pub fn mini_program(&self, packet: &RedPacket) -> Result<SendRequest, Error> {
        let m = &self.inner.merchant;
        let appid = m.mini_program_appid.clone().ok_or(Error::Unsupported {
            field: "wxappid",
            reason: "needs a mini-program appid on the client",
        })?;
        if packet.risk_info.is_some() {
            return Err(Error::Unsupported {
                field: "risk_info",
                reason: "is not a field of sendminiprogramhb",
            });
        }
        let mut request = sendminiprogramhb::Request::new(
            self.inner.nonce.nonce(),
            packet.mch_billno.clone(),
            m.mch_id.clone(),
            appid,
            self.send_name(packet)?,
            packet.re_openid.clone(),
            packet.total_amount,
            packet.wishing.clone(),
            packet.act_name.clone(),
            packet.remark.clone(),
        );
        request.total_num = packet.total_num;
        request.scene_id.clone_from(&packet.scene_id);
        Ok(request.into())
    }

    /// Sends a normal red packet (`sendredpack`) once.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] / [`Error::Unsupported`] for a request that breaks a rule (nothing
    /// is sent), [`Error::NotSent`] when the request provably never left.
    pub async fn send(&self, packet: &RedPacket) -> Result<SendOutcome, Error> {
        self.send_request(&self.normal(packet)?).await
    }

    /// Sends a group (fission) red packet (`sendgroupredpack`) once.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    #[deprecated(
        note = "sendgroupredpack was retired by WeChat Pay on 2024-06-05; it still works against wxpay-mock"
    )]
    pub async fn send_group(&self, packet: &RedPacket) -> Result<SendOutcome, Error> {
        #[allow(deprecated, reason = "the deprecated API's own implementation")]
        let request = self.group(packet)?;
        self.send_request(&request).await
    }

    /// Sends a mini-program red packet (`sendminiprogramhb`) once. On success the outcome
    /// carries the `package` for [`biz_red_packet_params`](Self::biz_red_packet_params).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), and as [`mini_program`](Self::mini_program).
    pub async fn send_mini_program(&self, packet: &RedPacket) -> Result<SendOutcome, Error> {
        self.send_request(&self.mini_program(packet)?).await
    }

    /// Sends a request once and classifies the answer. An [`SendOutcome::Unknown`] is left to
    /// the caller: retry with the same request (or use
    /// [`send_reliably`](Self::send_reliably)), never with a new billno.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_request(&self, request: &SendRequest) -> Result<SendOutcome, Error> {
        let prepared = self.prepare(request)?;
        let _guard = self.inner.locks.lock(&prepared.billno).await;
        let outcome = self.post(&prepared).await;
        log_outcome(&prepared, &outcome, 1);
        outcome
    }

    /// Sends a request **exactly once** as far as the API allows: retries an unknown outcome
    /// with the same billno and the same bytes, settles it with `gethbinfo`, and returns
    /// `Sent` or `Rejected` as soon as they are known, `Unknown` only when the policy's budget
    /// is spent. Never makes up a new billno. A refusal that follows an unknown attempt is
    /// `Rejected` only for `SEND_FAILED` or when a query finds the record `FAILED`; otherwise
    /// the earlier attempt may still have issued the packet, and the outcome is `Unknown`
    /// ([`UnknownCause::RefusedAfterUnknown`]).
    ///
    /// Each retry posts the byte-identical body of the first attempt: same billno, same
    /// business fields, and also the same `nonce_str` and `sign` (the nonce is not business
    /// data, but keeping it makes every attempt the very same request). Queries get fresh
    /// nonces. The steps follow [`decide`](crate::decide); see the [`retry`](crate::retry)
    /// module for the rules. A `FAILED` record is reported as `Rejected` with
    /// `SEND_FAILED` (the one case that allows a new billno). When a query shows a
    /// mini-program packet issued, the same request is sent once more (a replay, answered
    /// with the original `send_listid`) to obtain its `package`.
    ///
    /// # Errors
    ///
    /// As [`send_request`](Self::send_request) (`NotSent` only when no attempt may have
    /// reached the server), and [`Error::Policy`] for an invalid policy.
    pub async fn send_reliably(
        &self,
        request: &SendRequest,
        policy: &RetryPolicy,
    ) -> Result<SendOutcome, Error> {
        self.reliably(request, policy, None).await
    }

    /// [`send_reliably`](Self::send_reliably) for a request whose earlier attempt, in another
    /// call or another process, ended [`SendOutcome::Unknown`] (`earlier`: why, in words).
    ///
    /// That attempt may have issued the packet, so a refusal now says nothing about it: a
    /// refusal (any code but `SEND_FAILED`) is checked with a query and, unless the query
    /// finds the record, reported as [`UnknownCause::RefusedAfterUnknown`], not as
    /// `Rejected`. `send_reliably` does the same within one call.
    ///
    /// # Errors
    ///
    /// As [`send_reliably`](Self::send_reliably).
    pub async fn resend_reliably(
        &self,
        request: &SendRequest,
        policy: &RetryPolicy,
        earlier: impl Into<String>,
    ) -> Result<SendOutcome, Error> {
        self.reliably(request, policy, Some(earlier.into())).await
    }

    async fn reliably(
        &self,
        request: &SendRequest,
        policy: &RetryPolicy,
        mut earlier_unknown: Option<String>,
    ) -> Result<SendOutcome, Error> {
        policy.validate()?;
        let prepared = self.prepare(request)?;
        let _guard = self.inner.locks.lock(&prepared.billno).await;
        let clock = &*self.inner.clock;
        let start = clock.monotonic();
        let since_start = || clock.monotonic().saturating_sub(start);

        let mut history = if earlier_unknown.is_some() {
            History::after_unknown()
        } else {
            History::new()
        };
        // The outcome of the last send that may have reached the server.
        let mut landed: Option<SendOutcome> = None;
        let mut not_sent: Option<Error> = None;
        let mut record: Option<PacketRecord> = None;
        loop {
            match decide(policy, &history) {
                Decision::Stop => break,
                Decision::RetryAfter(wait) => {
                    sleep(clock, wait).await;
                    let result = self.post(&prepared).await;
                    tracing::debug!(
                        mch_billno = %prepared.billno,
                        attempt = history.sends + 1,
                        ?result,
                        "red packet send attempt"
                    );
                    match result {
                        Ok(outcome) => {
                            history.record_send(SendObservation::of(&outcome), since_start());
                            // The send before this one, if it was unknown, may have issued
                            // the packet whatever this one is answered.
                            if let Some(SendOutcome::Unknown { cause }) = &landed {
                                earlier_unknown = Some(cause.to_string());
                            }
                            landed = Some(outcome);
                        }
                        Err(error @ Error::NotSent { .. }) => {
                            history.record_send(SendObservation::NotSent, since_start());
                            not_sent = Some(error);
                        }
                        Err(error) => return Err(error),
                    }
                }
                Decision::QueryAfter(wait) => {
                    sleep(clock, wait).await;
                    let observation = match self
                        .query_with_appid(&prepared.billno, &prepared.wxappid)
                        .await
                    {
                        Ok(QueryOutcome::Found(found)) => {
                            let observation = prepared.observe(&found);
                            record = Some(*found);
                            observation
                        }
                        Ok(outcome) => QueryObservation::of(&outcome),
                        Err(Error::NotSent { .. }) => QueryObservation::Unknown,
                        Err(error) => return Err(error),
                    };
                    tracing::debug!(
                        mch_billno = %prepared.billno,
                        query = history.queries + 1,
                        ?observation,
                        "red packet query"
                    );
                    history.record_query(observation, since_start());
                }
            }
        }

        let outcome = match (history.last, record) {
            (Some(Observation::Query(QueryObservation::Issued)), Some(record)) => {
                self.confirmed(&prepared, policy, &history, record, since_start())
                    .await
            }
            (Some(Observation::Query(QueryObservation::Failed)), Some(record)) => {
                Ok(SendOutcome::Rejected {
                    code: ErrCode::SendFailed,
                    class: HandlingClass::D,
                    description: format!(
                        "gethbinfo status FAILED: {}",
                        record.reason.as_deref().unwrap_or("no reason given")
                    ),
                })
            }
            (last, _) => match landed {
                // The record exists and is in progress, whatever the last send was answered.
                Some(SendOutcome::Unknown { .. } | SendOutcome::Rejected { .. })
                    if last == Some(Observation::Query(QueryObservation::Sending)) =>
                {
                    Ok(SendOutcome::Unknown {
                        cause: UnknownCause::StillSending,
                    })
                }
                // A refusal after an unknown attempt proves nothing about that attempt.
                Some(SendOutcome::Rejected {
                    code,
                    class,
                    description,
                }) if !code.allows_new_billno() && earlier_unknown.is_some() => {
                    Ok(SendOutcome::Unknown {
                        cause: UnknownCause::RefusedAfterUnknown {
                            code,
                            class,
                            description,
                            earlier: earlier_unknown.unwrap_or_default(),
                        },
                    })
                }
                Some(outcome) => Ok(outcome),
                None => Err(not_sent.unwrap_or(Error::Policy {
                    problem: "the policy allowed no attempt",
                })),
            },
        };
        log_outcome(&prepared, &outcome, history.sends);
        outcome
    }

    /// The `Sent` outcome of a packet a query found issued; for a mini-program packet, one
    /// more send of the same request fetches its `package`.
    async fn confirmed(
        &self,
        prepared: &Prepared,
        policy: &RetryPolicy,
        history: &History,
        record: PacketRecord,
        elapsed: Duration,
    ) -> Result<SendOutcome, Error> {
        if prepared.kind == SendKind::MiniProgram && history.sends < policy.max_attempts {
            let wait = history.since_landed_send().map_or(Duration::ZERO, |since| {
                policy.min_delay.saturating_sub(since)
            });
            if elapsed.saturating_add(wait) <= policy.max_total {
                sleep(&*self.inner.clock, wait).await;
                if let Ok(
                    sent @ SendOutcome::Sent {
                        package: Some(_), ..
                    },
                ) = self.post(prepared).await
                {
                    return Ok(sent);
                }
            }
        }
        Ok(SendOutcome::Sent {
            mch_billno: record.mch_billno,
            send_listid: record.detail_id,
            package: None,
            confirmed_by: Confirmation::Query(record.status),
        })
    }

    /// Queries a packet sent with the Official Account appid (`gethbinfo`).
    ///
    /// # Errors
    ///
    /// [`Error::NotSent`] when the query provably never left.
    pub async fn query(&self, mch_billno: &MchBillno) -> Result<QueryOutcome, Error> {
        self.query_with_appid(mch_billno, self.appid()).await
    }

    /// Queries a packet sent with another appid (a mini-program packet: the mini-program
    /// appid).
    ///
    /// # Errors
    ///
    /// As [`query`](Self::query).
    pub async fn query_with_appid(
        &self,
        mch_billno: &MchBillno,
        appid: &AppId,
    ) -> Result<QueryOutcome, Error> {
        let request = self.signed_query(mch_billno, appid)?;
        let result = self
            .inner
            .transport
            .post(gethbinfo::Request::PATH, Bytes::from(request.to_xml()))
            .await;
        classify_query(mch_billno, self.mch_id().as_str(), result)
    }

    /// What [`send_request`](Self::send_request) would post, without sending: the exact XML
    /// and the string that was signed with the key redacted. The same local checks apply.
    ///
    /// ```no_run
    /// # fn run(client: &wxpay_redpack::RedpackClient, packet: &wxpay_redpack::RedPacket)
    /// #     -> Result<(), wxpay_redpack::Error> {
    /// let dry = client.dry_run(&client.normal(packet)?)?;
    /// tracing::info!(canonical = %dry.canonical_string, xml = %dry.xml, "what would be sent");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] / [`Error::Unsupported`] as for a send.
    pub fn dry_run(&self, request: &SendRequest) -> Result<DryRun, Error> {
        self.check(request)?;
        let canonical_string =
            canonical_string_redacted(request.sign_fields().pairs()).map_err(Error::Sign)?;
        let (signed, signature) = self.signed(request)?;
        Ok(DryRun {
            path: request.path(),
            xml: signed.to_xml(),
            canonical_string,
            sign: signature,
        })
    }

    /// What [`query`](Self::query) would post, without sending.
    ///
    /// # Errors
    ///
    /// [`Error::Sign`] only (which cannot happen).
    pub fn dry_run_query(&self, mch_billno: &MchBillno) -> Result<DryRun, Error> {
        let request = self.signed_query(mch_billno, self.appid())?;
        let canonical_string =
            canonical_string_redacted(request.sign_fields().pairs()).map_err(Error::Sign)?;
        Ok(DryRun {
            path: gethbinfo::Request::PATH,
            xml: request.to_xml(),
            canonical_string,
            sign: request.sign.clone().unwrap_or_default(),
        })
    }

    /// The `wx.sendBizRedPacket` parameters for the `package` of a mini-program packet,
    /// signed for this client's mini-program appid, with the clock's time and a fresh nonce.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] when no mini-program appid is configured or `package` is empty.
    pub fn biz_red_packet_params(&self, package: &str) -> Result<BizRedPacketParams, Error> {
        let appid = self.mini_program_appid().ok_or(Error::Unsupported {
            field: "appId",
            reason: "needs a mini-program appid on the client",
        })?;
        let time_stamp = self
            .inner
            .clock
            .now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        biz_red_packet_params(
            appid,
            &self.inner.merchant.api_key,
            package,
            time_stamp,
            &self.inner.nonce.nonce(),
        )
    }

    fn send_name(&self, packet: &RedPacket) -> Result<SendName, Error> {
        packet
            .send_name
            .clone()
            .or_else(|| self.inner.merchant.send_name.clone())
            .ok_or(Error::Unsupported {
                field: "send_name",
                reason: "is not set: give one in the packet or a default on the client",
            })
    }

    /// The local checks: this merchant, the API's rules, the amount range.
    /// The local checks of a send (this client's merchant, field formats, the amount range
    /// and `scene_id`), without signing or sending.
    pub(crate) fn check(&self, request: &SendRequest) -> Result<(), Error> {
        if request.mch_id() != self.mch_id() {
            return Err(Error::Unsupported {
                field: "mch_id",
                reason: "is not this client's merchant",
            });
        }
        request.validate().map_err(Error::invalid)?;
        rules::check_amount(
            request.kind(),
            request.total_amount(),
            request.total_num(),
            request.scene_id(),
            &self.inner.merchant.amount_limits,
        )
        .map_err(Error::invalid)
    }

    /// A signed copy of the request and its signature.
    fn signed(&self, request: &SendRequest) -> Result<(SendRequest, String), Error> {
        let signature = sign(
            SignType::Md5,
            &self.inner.merchant.api_key,
            request.sign_fields().pairs(),
        )
        .map_err(Error::Sign)?;
        let mut signed = request.clone();
        signed.set_sign(signature.as_str().to_owned());
        Ok((signed, signature.as_str().to_owned()))
    }

    fn prepare(&self, request: &SendRequest) -> Result<Prepared, Error> {
        self.check(request)?;
        let (signed, _) = self.signed(request)?;
        Ok(Prepared {
            path: request.path(),
            api: request.api_name(),
            body: Bytes::from(signed.to_xml()),
            echo: Echo::of(request),
            billno: request.mch_billno().clone(),
            wxappid: request.wxappid().clone(),
            kind: request.kind(),
            total_amount: request.total_amount(),
        })
    }

    fn signed_query(
        &self,
        mch_billno: &MchBillno,
        appid: &AppId,
    ) -> Result<gethbinfo::Request, Error> {
        let nonce: NonceStr = self.inner.nonce.nonce();
        let mut request = gethbinfo::Request::new(
            nonce,
            mch_billno.clone(),
            self.mch_id().clone(),
            appid.clone(),
        );
        request.validate().map_err(Error::invalid)?;
        let signature = sign(
            SignType::Md5,
            &self.inner.merchant.api_key,
            request.sign_fields().pairs(),
        )
        .map_err(Error::Sign)?;
        request.set_sign(signature.as_str().to_owned());
        Ok(request)
    }

    async fn post(&self, prepared: &Prepared) -> Result<SendOutcome, Error> {
        let result = self
            .inner
            .transport
            .post(prepared.path, prepared.body.clone())
            .await;
        classify_send(&prepared.echo, &prepared.billno, result)
    }
}

/// A checked, signed and encoded send, posted as is on every attempt.
struct Prepared {
    path: &'static str,
    api: &'static str,
    body: Bytes,
    echo: Echo,
    billno: MchBillno,
    wxappid: AppId,
    kind: SendKind,
    total_amount: Fen,
}

impl Prepared {
    /// What a record found by a query says about this request. A record of another amount
    /// is not this request's packet (a resend will answer `FATAL_ERROR`).
    fn observe(&self, record: &PacketRecord) -> QueryObservation {
        match record.total_amount {
            Some(amount) if amount != self.total_amount => {
                tracing::warn!(
                    mch_billno = %self.billno,
                    recorded = amount.get(),
                    requested = self.total_amount.get(),
                    "the billno's record has another amount"
                );
                QueryObservation::Unknown
            }
            _ => QueryObservation::of_status(&record.status),
        }
    }
}

async fn sleep(clock: &dyn Clock, wait: Duration) {
    if !wait.is_zero() {
        clock.sleep(wait).await;
    }
}

fn log_outcome(prepared: &Prepared, outcome: &Result<SendOutcome, Error>, attempts: u32) {
    let billno = &prepared.billno;
    let api = prepared.api;
    match outcome {
        Ok(SendOutcome::Sent { send_listid, .. }) => {
            tracing::info!(mch_billno = %billno, api, send_listid, attempts, "red packet sent");
        }
        Ok(SendOutcome::Rejected { code, class, .. }) => {
            tracing::warn!(mch_billno = %billno, api, %code, ?class, attempts, "red packet rejected");
        }
        Ok(SendOutcome::Unknown { cause }) => {
            tracing::warn!(
                mch_billno = %billno, api, %cause, attempts,
                "red packet outcome unknown: retry with the same billno"
            );
        }
        Err(error) => {
            tracing::warn!(mch_billno = %billno, api, %error, "red packet not sent");
        }
    }
}

/// One lock per billno, so that two sends of the same billno through one client never overlap
/// (spec §8: serialise retries per billno). Entries go away with their last holder.
#[derive(Default)]
struct BillnoLocks {
    locks: std::sync::Mutex<BTreeMap<String, Weak<AsyncMutex<()>>>>,
}

impl BillnoLocks {
    async fn lock(&self, billno: &MchBillno) -> OwnedMutexGuard<()> {
        let lock = {
            // Each critical section is a lookup and an insert: a poisoned map is consistent.
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            locks.retain(|_, weak| weak.strong_count() > 0);
            match locks.get(billno.as_str()).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(AsyncMutex::new(()));
                    locks.insert(billno.as_str().to_owned(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}
