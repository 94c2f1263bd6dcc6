//! Fault injection placed around the commit point.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::RngExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Which API a fault rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FaultApi {
    /// `*`: every API.
    #[default]
    #[serde(rename = "*")]
    Any,
    /// `sendredpack`.
    #[serde(rename = "sendredpack")]
    SendRedpack,
    /// `sendgroupredpack`.
    #[serde(rename = "sendgroupredpack")]
    SendGroupRedpack,
    /// `sendminiprogramhb`.
    #[serde(rename = "sendminiprogramhb")]
    SendMiniProgramHb,
    /// `gethbinfo`.
    #[serde(rename = "gethbinfo")]
    GetHbInfo,
}

impl FaultApi {
    pub(crate) fn matches(self, api: crate::api::Api) -> bool {
        use crate::api::Api;
        matches!(
            (self, api),
            (Self::Any, _)
                | (Self::SendRedpack, Api::SendRedpack)
                | (Self::SendGroupRedpack, Api::SendGroupRedpack)
                | (Self::SendMiniProgramHb, Api::SendMiniProgramHb)
                | (Self::GetHbInfo, Api::GetHbInfo)
        )
    }
}

/// Where a fault sits relative to the commit point.
///
/// The stage places the transport actions (`reset`, `timeout`, `systemerror`, `processing`,
/// `garbage`, `html`). These act on the answer (or the timing) of any request their rule
/// matches, whatever its processing would have answered: a request refused before the commit
/// point (`PARAM_ERROR`, `SIGN_ERROR`, a replay…) gets them too, and spends one of the rule's
/// firings. The commit actions (`send_failed`, `late_commit`, `sending`) ignore the stage;
/// see [`FaultAction`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultStage {
    /// Before: the request has no effect (nothing is committed) and is answered by the
    /// fault. `timeout` holds the request before its commit point instead, then processes it
    /// normally.
    #[default]
    BeforeCommit,
    /// After: the request is processed in full (a send is committed) and the answer is
    /// replaced by the fault. `timeout` delays the real answer.
    AfterCommit,
}

/// What a fault does.
///
/// `send_failed`, `late_commit` and `sending` change a commit: they fire, and count against
/// [`FaultRule::times`], only for a send that commits (a packet is recorded). A request
/// refused before or at its commit (`PARAM_ERROR`, `SIGN_ERROR`, `MONEY_LIMIT`, a limit,
/// `NOTENOUGH`…), a replay of a committed billno, a duplicate answered `PROCESSING` and a
/// `gethbinfo` leave them for the next send that commits. Such a rule is still chosen when
/// the request arrives (it is the request's one fault, in the plan's order), so it keeps a
/// request it matched from getting a later rule's fault. The other actions are transport
/// faults, placed by [`FaultStage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultAction {
    /// Close the TCP connection (RST) without any HTTP response, after reading the request.
    Reset,
    /// Answer after `delay_ms` of real time.
    Timeout,
    /// Answer `SYSTEMERROR` ("请求已受理，请稍后使用原单号查询发放结果").
    #[default]
    Systemerror,
    /// Answer `PROCESSING`.
    Processing,
    /// Answer HTTP 200 with truncated XML.
    Garbage,
    /// Answer HTTP 502 with an HTML error page.
    Html,
    /// A send that would commit is recorded as `FAILED` (reason 余额不足, nothing paid) and
    /// answered `SYSTEMERROR`; the billno answers `SEND_FAILED` from then on. The stage is
    /// not used.
    SendFailed,
    /// "Commit lands late": a send that commits stays invisible to `gethbinfo` (not found)
    /// for `late_secs` seconds of virtual time; its own answer is normal. The stage is not
    /// used.
    LateCommit,
    /// "Still sending" (spec §6: an accepted send starts in `SENDING`): a send that commits
    /// is answered `SYSTEMERROR` ("请求已受理…"), and for `late_secs` seconds of virtual time
    /// its record reads `SENDING` in `gethbinfo`, a resend of its billno is answered
    /// `PROCESSING`, and it cannot be claimed; then it is `SENT`. The money leaves the
    /// balance at the commit. The stage is not used.
    Sending,
}

impl FaultAction {
    /// The action's name in the admin JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::Timeout => "timeout",
            Self::Systemerror => "systemerror",
            Self::Processing => "processing",
            Self::Garbage => "garbage",
            Self::Html => "html",
            Self::SendFailed => "send_failed",
            Self::LateCommit => "late_commit",
            Self::Sending => "sending",
        }
    }

    /// Whether the action changes a commit (fires only for a send that commits) rather than
    /// the answer.
    pub(crate) fn at_commit(self) -> bool {
        matches!(self, Self::SendFailed | Self::LateCommit | Self::Sending)
    }
}

fn default_probability() -> f64 {
    1.0
}

fn default_delay_ms() -> u64 {
    3000
}

fn default_late_secs() -> u64 {
    10
}

/// One fault rule (the admin JSON's `rules[]` item).
///
/// In JSON: `{"api":"sendredpack","stage":"after_commit","action":"reset",
/// "probability":0.2,"times":3}`; `api` defaults to `*`, `stage` to `before_commit`,
/// `probability` to 1, `times` to unlimited, `delay_ms` to 3000, `late_secs` to 10.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    clippy::exhaustive_structs,
    reason = "plain data mirroring the admin JSON; build it with `..Default::default()` or `FaultRule::new`"
)]
pub struct FaultRule {
    /// The API it applies to.
    #[serde(default)]
    pub api: FaultApi,
    /// Before or after the commit point.
    #[serde(default)]
    pub stage: FaultStage,
    /// What happens.
    pub action: FaultAction,
    /// The chance that a matching request gets the fault (seeded; 1 = always).
    #[serde(default = "default_probability")]
    pub probability: f64,
    /// How many times the rule fires at most (`None` = unlimited). A commit action
    /// (`send_failed`, `late_commit`, `sending`) fires only for a send that commits, so only
    /// those count (see [`FaultAction`]); a transport action counts every request it answers.
    #[serde(default)]
    pub times: Option<u32>,
    /// `timeout`: how long the answer is held, in real milliseconds.
    #[serde(default = "default_delay_ms")]
    pub delay_ms: u64,
    /// `late_commit`: how long the packet stays invisible to `gethbinfo`; `sending`: how long
    /// its record reads `SENDING`. In virtual seconds.
    #[serde(default = "default_late_secs")]
    pub late_secs: u64,
}

impl Default for FaultRule {
    fn default() -> Self {
        Self {
            api: FaultApi::Any,
            stage: FaultStage::BeforeCommit,
            action: FaultAction::Systemerror,
            probability: default_probability(),
            times: None,
            delay_ms: default_delay_ms(),
            late_secs: default_late_secs(),
        }
    }
}

impl FaultRule {
    /// A rule that always fires, without limit.
    pub fn new(api: FaultApi, stage: FaultStage, action: FaultAction) -> Self {
        Self {
            api,
            stage,
            action,
            ..Self::default()
        }
    }

    /// Fires at most `n` times.
    #[must_use]
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Fires with probability `p` (seeded by the plan's seed).
    #[must_use]
    pub fn probability(mut self, p: f64) -> Self {
        self.probability = p;
        self
    }

    /// The `timeout` delay.
    #[must_use]
    pub fn delay(mut self, delay: std::time::Duration) -> Self {
        self.delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// The `late_commit` or `sending` window, in virtual seconds.
    #[must_use]
    pub fn late_secs(mut self, secs: u64) -> Self {
        self.late_secs = secs;
        self
    }
}

/// A set of fault rules with the seed of their probabilities (`POST /__admin/faults`).
///
/// For each request, the first rule that matches its API, has firings left and wins its
/// probability draw fires; at most one fault per request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    clippy::exhaustive_structs,
    reason = "plain data mirroring the admin JSON"
)]
pub struct FaultPlan {
    /// The seed of the probability draws.
    #[serde(default)]
    pub seed: u64,
    /// The rules, in priority order.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
}

/// A fault chosen for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fault {
    pub(crate) stage: FaultStage,
    pub(crate) action: FaultAction,
    pub(crate) delay_ms: u64,
    pub(crate) late_secs: u64,
    /// The engine (plan) it was drawn from, and its rule there: a commit action is counted
    /// at the commit, by [`FaultEngine::fire_at_commit`].
    engine: u64,
    rule: usize,
}

/// The next engine's id: a plan replaced while a request runs no longer counts its faults.
static NEXT_ENGINE: AtomicU64 = AtomicU64::new(0);

/// The active plan with its remaining firings and its RNG.
#[derive(Debug)]
pub(crate) struct FaultEngine {
    plan: FaultPlan,
    fired: Vec<u32>,
    rng: ChaCha8Rng,
    id: u64,
}

impl FaultEngine {
    pub(crate) fn new(plan: FaultPlan) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(plan.seed);
        let fired = vec![0; plan.rules.len()];
        let id = NEXT_ENGINE.fetch_add(1, Ordering::Relaxed);
        Self {
            plan,
            fired,
            rng,
            id,
        }
    }

    pub(crate) fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Whether rule `i` may fire again.
    fn has_firings_left(&self, i: usize) -> bool {
        let fired = self.fired.get(i).copied().unwrap_or(0);
        self.plan
            .rules
            .get(i)
            .is_some_and(|rule| rule.times.is_none_or(|t| fired < t))
    }

    /// Picks the fault for a request to `api`, if any. A transport fault is counted now; a
    /// commit fault only if the request commits ([`FaultEngine::fire_at_commit`]).
    pub(crate) fn draw(&mut self, api: crate::api::Api) -> Option<Fault> {
        for (i, rule) in self.plan.rules.iter().enumerate() {
            if !rule.api.matches(api) {
                continue;
            }
            let fired = self.fired.get(i).copied().unwrap_or(0);
            if rule.times.is_some_and(|t| fired >= t) {
                continue;
            }
            let p = if rule.probability.is_nan() {
                0.0
            } else {
                rule.probability.clamp(0.0, 1.0)
            };
            let hit = p >= 1.0 || (p > 0.0 && self.rng.random_bool(p));
            if !hit {
                continue;
            }
            let fault = Fault {
                stage: rule.stage,
                action: rule.action,
                delay_ms: rule.delay_ms,
                late_secs: rule.late_secs,
                engine: self.id,
                rule: i,
            };
            if !rule.action.at_commit() {
                self.count(i);
            }
            return Some(fault);
        }
        None
    }

    /// Whether a commit fault drawn for a request can fire at its commit: its plan is still
    /// the active one and its rule has firings left (another request may have spent them
    /// meanwhile). Counts nothing: see [`FaultEngine::fire_at_commit`].
    pub(crate) fn can_fire_at_commit(&self, fault: &Fault) -> bool {
        fault.engine == self.id && self.has_firings_left(fault.rule)
    }

    /// Counts a commit fault that fired (its request committed); `false`, counting nothing,
    /// if it [cannot fire](FaultEngine::can_fire_at_commit).
    pub(crate) fn fire_at_commit(&mut self, fault: &Fault) -> bool {
        if !self.can_fire_at_commit(fault) {
            return false;
        }
        self.count(fault.rule);
        true
    }

    fn count(&mut self, i: usize) {
        if let Some(slot) = self.fired.get_mut(i) {
            *slot = slot.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Api;

    #[test]
    fn admin_json_defaults_apply() {
        let plan: FaultPlan = serde_json::from_str(
            r#"{"seed":3,"rules":[{"api":"sendredpack","stage":"after_commit","action":"reset"}]}"#,
        )
        .unwrap();
        let rule = &plan.rules[0];
        assert_eq!(rule.probability, 1.0);
        assert_eq!(rule.times, None);
        assert_eq!(rule.api, FaultApi::SendRedpack);
        assert_eq!(rule.stage, FaultStage::AfterCommit);
    }

    #[test]
    fn scripted_rule_fires_exactly_times_then_stops() {
        let mut engine = FaultEngine::new(FaultPlan {
            seed: 0,
            rules: vec![
                FaultRule::new(
                    FaultApi::SendRedpack,
                    FaultStage::BeforeCommit,
                    FaultAction::Html,
                )
                .times(2),
            ],
        });
        assert!(engine.draw(Api::GetHbInfo).is_none());
        assert!(engine.draw(Api::SendRedpack).is_some());
        assert!(engine.draw(Api::SendRedpack).is_some());
        assert!(engine.draw(Api::SendRedpack).is_none());
    }

    #[test]
    fn a_commit_fault_counts_only_when_it_fires_at_a_commit() {
        let mut engine = FaultEngine::new(FaultPlan {
            seed: 0,
            rules: vec![
                FaultRule::new(
                    FaultApi::SendRedpack,
                    FaultStage::AfterCommit,
                    FaultAction::SendFailed,
                )
                .times(1),
            ],
        });
        let refused = engine.draw(Api::SendRedpack).unwrap();
        let first = engine.draw(Api::SendRedpack).unwrap();
        let second = engine.draw(Api::SendRedpack).unwrap();

        assert!(engine.fire_at_commit(&first));
        assert!(!engine.fire_at_commit(&second));
        assert!(!engine.can_fire_at_commit(&refused));
        assert!(engine.draw(Api::SendRedpack).is_none());

        let replaced = FaultEngine::new(engine.plan().clone());
        assert!(!replaced.can_fire_at_commit(&second));
    }

    #[test]
    fn probability_draws_are_reproducible_from_the_seed() {
        let plan = FaultPlan {
            seed: 42,
            rules: vec![FaultRule::default().probability(0.5)],
        };
        let run = |plan: &FaultPlan| {
            let mut e = FaultEngine::new(plan.clone());
            (0..64)
                .map(|_| e.draw(Api::SendRedpack).is_some())
                .collect::<Vec<_>>()
        };
        let a = run(&plan);
        assert_eq!(a, run(&plan));
        let hits = a.iter().filter(|h| **h).count();
        assert!((10..=54).contains(&hits), "{hits}");
    }
}
