//! The load: N clients, each a `RedpackClient` of its own (so each keeps its own keep-alive
//! connection), each sending one normal red packet after another with `send` (one attempt,
//! no retry loop), every packet under a new billno to a new openid.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use wxpay_proto::{ActName, Fen, OpenId, Remark, SceneId, Wishing};
use wxpay_redpack::{RedPacket, RedpackClient, SendOutcome};

use benches::Fixture;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The business content every packet shares: the fixture's amount, texts and scene.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    amount: Fen,
    wishing: Wishing,
    act_name: ActName,
    remark: Remark,
    scene_id: SceneId,
}

impl Template {
    pub(crate) fn from_fixture(fixture: &Fixture) -> Result<Self, BoxError> {
        Ok(Self {
            amount: Fen::new(fixture.param("total_amount")?.parse()?),
            wishing: Wishing::new(fixture.param("wishing")?)?,
            act_name: ActName::new(fixture.param("act_name")?)?,
            remark: Remark::new(fixture.param("remark")?)?,
            scene_id: SceneId::from(fixture.param("scene_id")?),
        })
    }

    /// Packet `seq`: billno `mch_id + date + seq`, openid `oLoadgen` + `seq` on 20 digits.
    fn packet(&self, client: &RedpackClient, seq: u64) -> Result<RedPacket, BoxError> {
        Ok(RedPacket::new(
            client.billno(seq)?,
            OpenId::new(format!("oLoadgen{seq:020}"))?,
            self.amount,
            self.wishing.clone(),
            self.act_name.clone(),
            self.remark.clone(),
        )
        .with_scene_id(self.scene_id.clone()))
    }
}

/// When a run stops, and which completions it counts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Plan {
    /// Send until `until`; count the requests that complete in `[from, until]`.
    Timed { from: Instant, until: Instant },
    /// Send sequences `[start, end)` and count them all.
    Packets { start: u64, end: u64 },
}

/// What a run measured.
#[derive(Debug, Default)]
pub(crate) struct Sample {
    /// Latency of each counted request, in ns (client side: build, sign, encode, post, read,
    /// decode, classify).
    pub(crate) latencies_ns: Vec<u64>,
    /// Counted requests answered `Sent`.
    pub(crate) sent: u64,
    /// Counted requests with any other outcome.
    pub(crate) failed: u64,
    /// The first failure, for the report.
    pub(crate) first_failure: Option<String>,
}

impl Sample {
    pub(crate) fn merge(&mut self, other: Self) {
        self.latencies_ns.extend(other.latencies_ns);
        self.sent += other.sent;
        self.failed += other.failed;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }

    /// Requests counted.
    pub(crate) fn requests(&self) -> u64 {
        self.sent + self.failed
    }

    /// The latency below which a fraction `q` of the requests completed (nearest rank).
    pub(crate) fn percentile(&mut self, q: f64) -> Duration {
        self.latencies_ns.sort_unstable();
        let n = self.latencies_ns.len();
        if n == 0 {
            return Duration::ZERO;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a rank in [1, n] computed from a fraction in [0, 1]"
        )]
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        Duration::from_nanos(self.latencies_ns[rank - 1])
    }
}

/// Runs `plan` with one task per client on the current runtime; `base` offsets the
/// sequences of a timed plan so that no two runs share a billno.
pub(crate) async fn run(
    clients: &[RedpackClient],
    template: &Template,
    plan: Plan,
    base: u64,
) -> Sample {
    let next = Arc::new(AtomicU64::new(match plan {
        Plan::Timed { .. } => base,
        Plan::Packets { start, .. } => start,
    }));
    let mut tasks = Vec::with_capacity(clients.len());
    for client in clients {
        let client = client.clone();
        let template = template.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            one_client(&client, &template, plan, &next).await
        }));
    }
    let mut total = Sample::default();
    for task in tasks {
        match task.await {
            Ok(sample) => total.merge(sample),
            Err(e) => {
                total.failed += 1;
                total
                    .first_failure
                    .get_or_insert(format!("client task: {e}"));
            }
        }
    }
    total
}

async fn one_client(
    client: &RedpackClient,
    template: &Template,
    plan: Plan,
    next: &AtomicU64,
) -> Sample {
    let mut sample = Sample::default();
    loop {
        let seq = next.fetch_add(1, Ordering::Relaxed);
        match plan {
            Plan::Timed { until, .. } if Instant::now() >= until => break,
            Plan::Packets { end, .. } if seq >= end => break,
            _ => {}
        }
        let started = Instant::now();
        let outcome = match template.packet(client, seq) {
            Ok(packet) => client.send(&packet).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let ended = Instant::now();
        // A warm-up (an empty window) counts nothing.
        if let Plan::Timed { from, until } = plan
            && (ended < from || ended > until || from >= until)
        {
            continue;
        }
        let nanos = u64::try_from((ended - started).as_nanos()).unwrap_or(u64::MAX);
        sample.latencies_ns.push(nanos);
        match outcome {
            Ok(SendOutcome::Sent { .. }) => sample.sent += 1,
            Ok(other) => {
                sample.failed += 1;
                sample
                    .first_failure
                    .get_or_insert_with(|| format!("{other:?}"));
            }
            Err(e) => {
                sample.failed += 1;
                sample.first_failure.get_or_insert(e);
            }
        }
    }
    sample
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let mut s = Sample {
            latencies_ns: (1..=1000).rev().collect(),
            ..Sample::default()
        };
        assert_eq!(s.percentile(0.5), Duration::from_nanos(500));
        assert_eq!(s.percentile(0.99), Duration::from_nanos(990));
        assert_eq!(s.percentile(0.999), Duration::from_nanos(999));
        assert_eq!(s.percentile(1.0), Duration::from_nanos(1000));
        assert_eq!(Sample::default().percentile(0.5), Duration::ZERO);
    }
}
