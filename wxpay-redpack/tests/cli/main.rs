//! End-to-end tests of the `wxpay-redpack` binary against `wxpay-mock` started by each test
//! (in process, over real mutual TLS), with the mock's `merchant.toml` as the configuration:
//! single sends and queries (people's output and `--json`), configuration errors, campaign
//! files, a batch killed with SIGKILL midway and resumed, rejections, status and reconcile.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wxpay_mock::{
    ClockMode, FaultAction, FaultApi, FaultPlan, FaultRule, FaultStage, Limits, MerchantConfig,
    MockServer,
};
use wxpay_proto::{ActName, Fen, OpenId, Remark, Wishing};
use wxpay_redpack::RetryPolicy;
use wxpay_redpack::campaign::{
    Campaign, CampaignFile, CampaignRow, PacketTemplate, ParseOptions, RunOptions,
};
use wxpay_transport::CapturingTransport;

const MCH_ID: &str = "1900000109";
const BILLNO: &str = "1900000109202601010000000001";

/// A mock with its data directory (and so its `merchant.toml`) in a temporary directory, and
/// a working directory for the tool.
struct Setup {
    mock: MockServer,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    setup_with(MerchantConfig::new(MCH_ID)).await
}

async fn setup_with(merchant: MerchantConfig) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::builder()
        .seed(21)
        .clock(ClockMode::Frozen)
        .data_dir(dir.path().join("mock"))
        .merchant(merchant)
        .start()
        .await
        .unwrap();
    Setup { mock, dir }
}

impl Setup {
    fn config(&self) -> &Path {
        self.mock.default_merchant().merchant_toml_path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The tool with `--config merchant.toml`, run in the temporary directory.
    fn tool(&self) -> Command {
        let mut command = bare(self.dir.path());
        command.arg("--config").arg(self.config());
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::of(self.tool().args(args).output().unwrap(), self.secret())
    }

    fn secret(&self) -> String {
        self.mock.default_merchant().api_key().to_owned()
    }

    fn packets(&self) -> Vec<String> {
        let mut billnos: Vec<String> = self
            .mock
            .ledger()
            .merchants
            .iter()
            .flat_map(|m| &m.packets)
            .map(|p| p.mch_billno.clone())
            .collect();
        billnos.sort();
        billnos
    }
}

/// The tool without a configuration.
fn bare(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wxpay-redpack"));
    command.current_dir(dir).env_remove("WXPAY_API_KEY");
    command
}

/// A finished run: exit code, stdout, stderr; checked to never show the API key.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of(output: Output, secret: String) -> Self {
        let run = Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        };
        assert!(
            !run.stdout.contains(&secret) && !run.stderr.contains(&secret),
            "the API key was printed"
        );
        run
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }

    fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A campaign file of `n` distinct openids.
fn openids(path: &Path, n: usize) {
    let mut text = String::from("# a test campaign\n");
    for i in 1..=n {
        text.push_str(&format!("oCli{i:06}\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// The rows of a journal in each state, read as another process would.
fn journal_states(path: &Path) -> Vec<(String, i64)> {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let _ = conn.busy_timeout(Duration::from_secs(2));
    let Ok(mut statement) = conn.prepare("SELECT state, count(*) FROM rows GROUP BY state") else {
        return Vec::new();
    };
    statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

fn count(states: &[(String, i64)], state: &str) -> i64 {
    states
        .iter()
        .find(|(s, _)| s == state)
        .map_or(0, |(_, n)| *n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_and_query_print_the_packet_for_people_and_json_for_scripts() {
    // Arrange
    let s = setup().await;

    // Act
    let sent = s
        .run(&[
            "send",
            "--billno",
            BILLNO,
            "--openid",
            "oCliUser1",
            "--amount",
            "1.00",
        ])
        .expect(0);
    let replayed = s
        .run(&[
            "send",
            "--billno",
            BILLNO,
            "--openid",
            "oCliUser1",
            "--amount",
            "1.00",
            "--json",
        ])
        .expect(0);
    let queried = s.run(&["query", BILLNO]).expect(0);
    let queried_json = s.run(&["query", BILLNO, "--json"]).expect(0);

    // Assert
    assert!(
        sent.stdout.starts_with(&format!("sent      {BILLNO}")),
        "{}",
        sent.stdout
    );
    let json = replayed.json();
    assert_eq!(json["outcome"], "sent");
    assert_eq!(json["mch_billno"], BILLNO);
    assert_eq!(json["amount_fen"], 100);
    assert_eq!(json["amount"], "1.00");
    assert_eq!(json["api"], "sendredpack");
    let listid = json["send_listid"].as_str().unwrap().to_owned();
    assert!(
        sent.stdout.contains(&listid),
        "a replay answers the same send_listid"
    );
    assert!(queried.stdout.contains("SENT"), "{}", queried.stdout);
    let record = queried_json.json();
    assert_eq!(record["outcome"], "found");
    assert_eq!(record["status"], "SENT");
    assert_eq!(record["detail_id"], listid.as_str());
    assert_eq!(record["total_amount_fen"], 100);
    assert_eq!(s.packets(), vec![BILLNO.to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_exits_0_only_for_a_found_record_and_3_when_not_found_or_refused() {
    // Arrange: one packet sent; the API key of a merchant file edited by mistake.
    let s = setup().await;
    s.run(&[
        "send",
        "--billno",
        BILLNO,
        "--openid",
        "oCliUser1",
        "--amount",
        "1.00",
    ])
    .expect(0);
    let wrong_key = |args: &[&str]| {
        let mut command = s.tool();
        command
            .env("WXPAY_API_KEY", "0123456789abcdef0123456789abcdef")
            .args(args);
        Run::of(command.output().unwrap(), s.secret())
    };

    // Act
    let found = s.run(&["query", BILLNO, "--json"]).expect(0).json();
    let missing = s
        .run(&["query", "1900000109202601019999999999", "--json"])
        .expect(3)
        .json();
    let missing_text = s.run(&["query", "1900000109202601019999999999"]).expect(3);
    let refused = wrong_key(&["query", BILLNO, "--json"]).expect(3).json();
    let refused_text = wrong_key(&["query", BILLNO]).expect(3);

    // Assert
    assert_eq!(found["outcome"], "found");
    assert_eq!(missing["outcome"], "not_found");
    assert!(
        missing_text.stdout.contains("not a failure"),
        "{}",
        missing_text.stdout
    );
    assert_eq!(refused["outcome"], "refused");
    assert_eq!(refused["err_code"], "SIGN_ERROR");
    assert!(
        refused_text
            .stdout
            .contains("says nothing about the packet"),
        "{}",
        refused_text.stdout
    );
    assert_eq!(s.packets(), vec![BILLNO.to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_and_mini_program_packets_are_sent_and_rejections_exit_4() {
    let s = setup().await;
    let group_billno = "1900000109202601010000000002";
    let mini_billno = "1900000109202601010000000003";

    let group = s
        .run(&[
            "send-group",
            "--billno",
            group_billno,
            "--openid",
            "oCliSeed",
            "--amount",
            "10.00",
            "--count",
            "5",
            "--json",
        ])
        .expect(0)
        .json();
    let mini = s
        .run(&[
            "send-mini",
            "--billno",
            mini_billno,
            "--openid",
            "oCliMini",
            "--amount",
            "2.00",
            "--json",
        ])
        .expect(0)
        .json();
    let fatal = s
        .run(&[
            "send",
            "--billno",
            group_billno,
            "--openid",
            "oCliOther",
            "--amount",
            "10.00",
            "--json",
        ])
        .expect(4)
        .json();
    let mini_query = s
        .run(&["query", mini_billno, "--mini", "--json"])
        .expect(0)
        .json();

    assert_eq!(group["outcome"], "sent");
    assert_eq!(group["total_num"], 5);
    assert_eq!(group["api"], "sendgroupredpack");
    assert_eq!(mini["outcome"], "sent");
    assert!(mini["package"].as_str().unwrap().contains("sendid="));
    assert_eq!(mini["biz_red_packet"]["signType"], "MD5");
    assert_eq!(
        mini["biz_red_packet"]["paySign"].as_str().unwrap().len(),
        32
    );
    assert_eq!(fatal["outcome"], "rejected");
    assert_eq!(fatal["err_code"], "FATAL_ERROR");
    assert_eq!(fatal["handling_class"], "D");
    assert_eq!(mini_query["status"], "SENT");
    assert_eq!(s.packets().len(), 2);
}

/// A client of the mock's merchant file with the tool's defaults (send_name and texts), for
/// "an earlier run" made through the library.
fn library_client(s: &Setup) -> wxpay_redpack::RedpackClient {
    wxpay_redpack::RedpackClientBuilder::from_merchant_toml(s.config())
        .unwrap()
        .send_name("wxpay-redpack")
        .build()
        .unwrap()
}

/// The packet `send` / `send-mini` make of these arguments with the default texts.
fn default_packet(billno: &str, openid: &str, fen: u64) -> wxpay_redpack::RedPacket {
    wxpay_redpack::RedPacket::new(
        wxpay_proto::MchBillno::new(billno).unwrap(),
        OpenId::new(openid).unwrap(),
        Fen::new(fen),
        Wishing::new("恭喜发财，大吉大利").unwrap(),
        ActName::new("红包活动").unwrap(),
        Remark::new("感谢参与").unwrap(),
    )
}

/// One attempt of `request` whose answer is lost after the mock committed it (an earlier run
/// that exited 3).
async fn lost_answer(s: &Setup, request: &wxpay_redpack::SendRequest) {
    s.mock.set_faults(FaultPlan {
        seed: 1,
        rules: vec![
            FaultRule::new(FaultApi::Any, FaultStage::AfterCommit, FaultAction::Reset).times(1),
        ],
    });
    let outcome = library_client(s).send_request(request).await.unwrap();
    assert!(
        matches!(outcome, wxpay_redpack::SendOutcome::Unknown { .. }),
        "{outcome:?}"
    );
    s.mock.clear_faults();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_refused_before_the_billno_check_after_an_unknown_outcome_exits_3_not_4() {
    // Arrange: a normal and a mini-program packet issued by attempts whose answers were lost;
    // the reruns refused by a check that comes before the billno's (here the signature: an
    // API key edited by mistake; a certificate expiry or an IP change are alike).
    let s = setup().await;
    let mini_billno = "1900000109202601010000000003";
    let client = library_client(&s);
    lost_answer(
        &s,
        &client
            .normal(&default_packet(BILLNO, "oCliUser1", 100))
            .unwrap(),
    )
    .await;
    lost_answer(
        &s,
        &client
            .mini_program(&default_packet(mini_billno, "oCliMini", 200))
            .unwrap(),
    )
    .await;
    let send = [
        "send",
        "--billno",
        BILLNO,
        "--openid",
        "oCliUser1",
        "--amount",
        "1.00",
    ];
    let send_mini = [
        "send-mini",
        "--billno",
        mini_billno,
        "--openid",
        "oCliMini",
        "--amount",
        "2.00",
    ];
    let wrong_key = |args: &[&str]| {
        let mut command = s.tool();
        command
            .env("WXPAY_API_KEY", "0123456789abcdef0123456789abcdef")
            .args(args);
        Run::of(command.output().unwrap(), s.secret())
    };

    // Act
    let refused = wrong_key(&[&send[..], &["--retry"]].concat()).expect(3);
    let refused_json = wrong_key(&[&send[..], &["--retry", "--json"]].concat())
        .expect(3)
        .json();
    let refused_mini = wrong_key(&[&send_mini[..], &["--retry"]].concat()).expect(3);
    let settled = s
        .run(&[&send[..], &["--retry", "--json"]].concat())
        .expect(0);
    let settled_mini = s
        .run(&[&send_mini[..], &["--retry", "--json"]].concat())
        .expect(0);

    // Assert
    assert!(
        refused.stdout.starts_with(&format!("unknown   {BILLNO}")),
        "{}",
        refused.stdout
    );
    assert!(refused.stdout.contains("SIGN_ERROR"), "{}", refused.stdout);
    assert!(
        refused.stdout.contains(&format!(
            "again with --retry (same billno), or `query {BILLNO}`"
        )),
        "{}",
        refused.stdout
    );
    assert_eq!(refused_json["outcome"], "unknown");
    assert_eq!(refused_json["mch_billno"], BILLNO);
    assert!(
        refused_mini
            .stdout
            .contains(&format!("`query {mini_billno} --mini`")),
        "{}",
        refused_mini.stdout
    );
    assert_eq!(settled.json()["outcome"], "sent");
    assert_eq!(settled_mini.json()["outcome"], "sent");
    assert_eq!(
        s.packets(),
        vec![BILLNO.to_owned(), mini_billno.to_owned()],
        "one packet per billno"
    );
    assert!(s.mock.invariants().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mini_program_packet_sent_without_its_package_exits_3_until_a_retry_fetches_it() {
    // Arrange: the send's answer is lost after the commit, gethbinfo finds the packet, and
    // the replay that would fetch its package is lost too.
    let s = setup().await;
    let lose_two_answers = || {
        s.mock.set_faults(FaultPlan {
            seed: 1,
            rules: vec![
                FaultRule::new(
                    FaultApi::SendMiniProgramHb,
                    FaultStage::AfterCommit,
                    FaultAction::Reset,
                )
                .times(2),
            ],
        });
    };
    let send_mini = [
        "send-mini",
        "--billno",
        BILLNO,
        "--openid",
        "oCliMini",
        "--amount",
        "2.00",
    ];

    // Act
    lose_two_answers();
    let missing = s
        .run(&[&send_mini[..], &["--json"]].concat())
        .expect(3)
        .json();
    lose_two_answers();
    let missing_text = s.run(&send_mini).expect(3);
    s.mock.clear_faults();
    let fetched = s
        .run(&[&send_mini[..], &["--retry", "--json"]].concat())
        .expect(0)
        .json();

    // Assert
    assert_eq!(missing["outcome"], "sent");
    assert_eq!(missing["package_missing"], true);
    assert!(missing["package"].is_null());
    assert!(missing.get("biz_red_packet").is_none());
    assert!(
        missing_text.stdout.contains("could not be fetched")
            && missing_text.stdout.contains("with --retry (same billno)"),
        "{}",
        missing_text.stdout
    );
    assert_eq!(fetched["outcome"], "sent");
    assert_eq!(fetched["package_missing"], false);
    assert_eq!(fetched["biz_red_packet"]["signType"], "MD5");
    assert_eq!(s.packets(), vec![BILLNO.to_owned()]);
    assert!(s.mock.invariants().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_breaks_a_rule_exits_2_and_sends_nothing() {
    let s = setup().await;

    let cheap = s
        .run(&[
            "send",
            "--billno",
            BILLNO,
            "--openid",
            "oCliUser1",
            "--amount",
            "0.50",
        ])
        .expect(2);
    let bad_amount = s
        .run(&[
            "send",
            "--billno",
            BILLNO,
            "--openid",
            "oCliUser1",
            "--amount",
            "1.005",
        ])
        .expect(2);
    let bad_scene = s
        .run(&[
            "send",
            "--billno",
            BILLNO,
            "--openid",
            "oCliUser1",
            "--amount",
            "0.50",
            "--scene",
            "PRODUCT_9",
        ])
        .expect(2);

    assert!(cheap.stderr.contains("scene_id"), "{}", cheap.stderr);
    assert!(
        cheap.stderr.contains("nothing was sent"),
        "{}",
        cheap.stderr
    );
    assert!(
        bad_amount.stderr.contains("\"1.005\" is not an amount"),
        "{}",
        bad_amount.stderr
    );
    assert!(
        bad_scene.stderr.contains("PRODUCT_1 to PRODUCT_8"),
        "{}",
        bad_scene.stderr
    );
    assert!(s.packets().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_fails_before_sending_names_its_billno_and_outcome_in_json() {
    // Arrange: a merchant file whose endpoint nothing listens on (the network is down).
    let s = setup().await;
    let toml = std::fs::read_to_string(s.config()).unwrap();
    assert!(toml.lines().any(|l| l.starts_with("endpoint")), "{toml}");
    let down = s.config().with_file_name("merchant-down.toml");
    std::fs::write(
        &down,
        toml.lines()
            .map(|l| {
                if l.starts_with("endpoint") {
                    "endpoint = \"https://127.0.0.1:1\"\n".to_owned()
                } else {
                    format!("{l}\n")
                }
            })
            .collect::<String>(),
    )
    .unwrap();
    let args = |amount: &'static str| {
        [
            "send-mini",
            "--billno",
            BILLNO,
            "--openid",
            "oCliUser1",
            "--amount",
            amount,
            "--json",
        ]
    };

    // Act
    let not_sent = Run::of(
        bare(s.dir.path())
            .arg("--config")
            .arg(&down)
            .args(args("1.00"))
            .output()
            .unwrap(),
        s.secret(),
    )
    .expect(5)
    .json();
    let invalid = s.run(&args("0.50")).expect(2).json();

    // Assert
    assert_eq!(not_sent["mch_billno"], BILLNO);
    assert_eq!(not_sent["outcome"], "not_sent");
    assert_eq!(not_sent["error"]["kind"], "not_sent");
    assert_eq!(not_sent["error"]["exit_code"], 5);
    assert_eq!(invalid["mch_billno"], BILLNO);
    assert_eq!(invalid["outcome"], "invalid");
    assert_eq!(invalid["error"]["kind"], "invalid_request");
    assert_eq!(invalid["error"]["exit_code"], 2);
    assert!(s.packets().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_problems_exit_2_with_a_clear_message_and_never_the_key() {
    // Arrange
    let s = setup().await;
    let merchant = s.mock.default_merchant();
    let key = merchant.api_key().to_owned();
    let toml = std::fs::read_to_string(s.config()).unwrap();
    let without_key: String = toml
        .lines()
        .filter(|l| !l.starts_with("api_key"))
        .map(|l| format!("{l}\n"))
        .collect();
    let keyless = s.path("keyless.toml");
    std::fs::write(&keyless, &without_key).unwrap();
    let garbage_cert = s.path("garbage.pem");
    std::fs::write(&garbage_cert, "not a certificate").unwrap();
    let bad_cert = s.path("bad_cert.toml");
    std::fs::write(
        &bad_cert,
        toml.lines()
            .map(|l| {
                if l.starts_with("cert_pem") {
                    format!("cert_pem = {:?}\n", garbage_cert.display().to_string())
                } else {
                    format!("{l}\n")
                }
            })
            .collect::<String>(),
    )
    .unwrap();
    let wrong_password = s.path("wrong_password.toml");
    std::fs::write(
        &wrong_password,
        toml.lines()
            .filter(|l| !l.starts_with("cert_pem") && !l.starts_with("key_pem"))
            .map(|l| format!("{l}\n"))
            .chain(std::iter::once(
                "p12_password = \"not-the-password\"\n".to_owned(),
            ))
            .collect::<String>(),
    )
    .unwrap();
    let send = [
        "send",
        "--billno",
        BILLNO,
        "--openid",
        "oCliUser1",
        "--amount",
        "1.00",
    ];
    let run = |config: &Path, env_key: Option<&str>| {
        let mut command = bare(s.dir.path());
        command.arg("--config").arg(config).args(send);
        if let Some(key) = env_key {
            command.env("WXPAY_API_KEY", key);
        }
        Run::of(command.output().unwrap(), key.clone())
    };

    // Act
    let missing = run(&s.path("absent.toml"), None).expect(2);
    let no_config = Run::of(bare(s.dir.path()).args(send).output().unwrap(), key.clone()).expect(2);
    let no_key = run(&keyless, None).expect(2);
    let cert = run(&bad_cert, None).expect(2);
    let password = run(&wrong_password, None).expect(2);
    let bad_env = run(&keyless, Some(" spaced ")).expect(2);
    let env_key = run(&keyless, Some(&key)).expect(0);

    // Assert
    assert!(missing.stderr.contains("absent.toml"), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("No such file"),
        "{}",
        missing.stderr
    );
    assert!(
        no_config.stderr.contains("--config"),
        "{}",
        no_config.stderr
    );
    assert!(
        no_key.stderr.contains("missing key `api_key`"),
        "{}",
        no_key.stderr
    );
    assert!(cert.stderr.contains("garbage.pem"), "{}", cert.stderr);
    assert!(cert.stderr.contains("identity"), "{}", cert.stderr);
    assert!(
        password.stderr.contains("wrong PKCS#12 password"),
        "{}",
        password.stderr
    );
    assert!(
        bad_env.stderr.contains("WXPAY_API_KEY"),
        "{}",
        bad_env.stderr
    );
    assert!(env_key.stdout.starts_with("sent"), "{}", env_key.stdout);
    assert_eq!(s.packets().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_campaign_file_is_reported_by_line_and_nothing_is_sent() {
    let s = setup().await;
    let file = s.path("openids.txt");
    std::fs::write(
        &file,
        "oGood1\nnot an openid\noGood2,1.234\n# fine\noGood3,2,3\n",
    )
    .unwrap();
    let journal = s.path("campaign.db");

    let run = s
        .run(&[
            "batch",
            file.to_str().unwrap(),
            "--amount",
            "1.00",
            "--journal",
            journal.to_str().unwrap(),
            "--json",
        ])
        .expect(2);

    let json = run.json();
    assert_eq!(json["error"]["kind"], "campaign_file");
    assert_eq!(json["error"]["exit_code"], 2);
    let details: Vec<&str> = json["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(details[0].starts_with("line 2: "), "{details:?}");
    assert!(details[1].starts_with("line 3: "), "{details:?}");
    assert!(details[2].starts_with("line 5: "), "{details:?}");
    assert!(
        run.stderr
            .contains("line 2: \"not an openid\" is not an openid")
    );
    assert!(!journal.exists());

    // A journal in a directory that does not exist: a usage error too.
    openids(&file, 3);
    let nowhere = s.path("no/such/dir/campaign.db");
    let run = s
        .run(&[
            "batch",
            file.to_str().unwrap(),
            "--amount",
            "1.00",
            "--journal",
            nowhere.to_str().unwrap(),
        ])
        .expect(2);
    assert!(
        run.stderr.contains("cannot open the journal"),
        "{}",
        run.stderr
    );
    assert!(s.packets().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_a_file_with_no_rows_exits_2_and_writes_nothing() {
    let s = setup().await;
    let empty = s.path("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let comments = s.path("comments.txt");
    std::fs::write(&comments, "# to be filled in\n\n").unwrap();
    let batch = |file: &Path, json: bool| {
        let mut args = vec![
            "batch",
            file.to_str().unwrap(),
            "--amount",
            "1.00",
            "--journal",
            "campaign.db",
        ];
        if json {
            args.push("--json");
        }
        s.run(&args)
    };

    let refused = batch(&empty, false).expect(2);
    let refused_json = batch(&comments, true).expect(2).json();

    assert!(
        refused.stderr.contains("the campaign file has no rows"),
        "{}",
        refused.stderr
    );
    assert_eq!(refused_json["error"]["kind"], "campaign_file");
    let mut written: Vec<String> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        vec!["comments.txt", "empty.txt", "mock"],
        "no journal, no campaign number registry"
    );
    assert!(s.mock.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_a_zero_rate_or_concurrency_exits_2_and_writes_nothing() {
    let s = setup().await;
    let file = s.path("openids.txt");
    openids(&file, 3);
    let batch = |option: &str| {
        s.run(&[
            "batch",
            file.to_str().unwrap(),
            "--amount",
            "1.00",
            "--journal",
            "campaign.db",
            option,
            "0",
            "--json",
        ])
    };

    let rate = batch("--rate").expect(2).json();
    let concurrency = batch("--concurrency").expect(2).json();

    let rate_message = rate["error"]["message"].as_str().unwrap();
    assert!(
        rate_message.contains("the rate must be at least 1"),
        "{rate_message}"
    );
    let concurrency_message = concurrency["error"]["message"].as_str().unwrap();
    assert!(
        concurrency_message.contains("the concurrency must be at least 1"),
        "{concurrency_message}"
    );
    let mut written: Vec<String> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        vec!["mock", "openids.txt"],
        "no journal, no campaign number registry"
    );
    assert!(s.mock.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_killed_midway_resumes_to_exactly_one_packet_per_row() {
    // Arrange: 300 rows; answers lost or replaced after the commit now and then.
    let s = setup().await;
    let after_commit = |action, p| {
        FaultRule::new(FaultApi::SendRedpack, FaultStage::AfterCommit, action).probability(p)
    };
    s.mock.set_faults(FaultPlan {
        seed: 9,
        rules: vec![
            after_commit(FaultAction::Reset, 0.02),
            after_commit(FaultAction::Systemerror, 0.02),
            after_commit(FaultAction::Garbage, 0.02),
            after_commit(FaultAction::Processing, 0.02),
        ],
    });
    let file = s.path("openids.txt");
    openids(&file, 300);
    let journal = s.path("campaign.db");
    let args = |rate: &str| -> Vec<String> {
        [
            "batch",
            file.to_str().unwrap(),
            "--amount",
            "1.00",
            "--journal",
            journal.to_str().unwrap(),
            "--rate",
            rate,
            "--concurrency",
            "8",
            "--json",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect()
    };

    // Act 1: start at 100 a second, and kill -9 once 100 rows are sent.
    let mut child = s
        .tool()
        .args(args("6000"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the batch made no progress");
        if count(&journal_states(&journal), "sent") >= 100 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the batch ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running when killed"
    );
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    let midway = journal_states(&journal);
    assert!(count(&midway, "pending") > 0, "killed midway: {midway:?}");
    assert_eq!(midway.iter().map(|(_, n)| n).sum::<i64>(), 300);

    // Act 2: the same command again, faster.
    let resumed = s
        .run(&args("60000").iter().map(String::as_str).collect::<Vec<_>>())
        .expect(0)
        .json();
    let status = s
        .run(&["status", "--journal", journal.to_str().unwrap(), "--json"])
        .expect(0)
        .json();

    // Assert: one packet per row, under the journal's billnos, and the mock's invariants.
    assert_eq!(resumed["created"], false);
    assert_eq!(resumed["verdict"], "all_sent");
    assert_eq!(resumed["sent"]["count"], 300);
    assert_eq!(resumed["sent"]["amount"], "300.00");
    assert_eq!(status["verdict"], "all_sent");
    assert_eq!(s.packets(), journal_billnos(&journal));
    let report = s.mock.invariants();
    assert!(report.ok, "{:?}", report.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_rejections_exits_4_and_resends_them_with_their_billnos_when_asked() {
    // Arrange: 5.00 yuan for eight 1.00-yuan rows, one of them listed twice.
    let s = setup_with(
        MerchantConfig::new(MCH_ID)
            .balance(Fen::new(500))
            .limits(Limits::DEFAULT.freq_per_minute(100_000)),
    )
    .await;
    let file = s.path("openids.txt");
    openids(&file, 8);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("oCli000002\n");
    std::fs::write(&file, text).unwrap();
    let journal = s.path("campaign.db");
    let batch = |extra: &[&str]| {
        let mut args = vec![
            "batch",
            file.to_str().unwrap(),
            "--amount",
            "1.00",
            "--journal",
            journal.to_str().unwrap(),
            "--concurrency",
            "1",
            "--json",
        ];
        args.extend_from_slice(extra);
        s.run(&args)
    };

    // Act
    let first = batch(&[]).expect(4);
    let again = batch(&[]).expect(4);
    s.mock.top_up(MCH_ID, Fen::new(1000)).unwrap();
    let retried = batch(&["--retry-rejected"]).expect(0).json();

    // Assert
    let first_json = first.json();
    assert_eq!(first_json["verdict"], "rejected");
    assert_eq!(first_json["sent"]["count"], 5);
    assert_eq!(first_json["rejected"]["NOTENOUGH"]["count"], 3);
    assert_eq!(first_json["rejected"]["NOTENOUGH"]["amount_fen"], 300);
    assert_eq!(first_json["duplicates"][0]["line"], 10);
    assert_eq!(first_json["duplicates"][0]["first_line"], 3);
    assert!(
        first
            .stderr
            .contains("line 10 repeats the openid oCli000002 of line 3")
    );
    assert_eq!(again.json()["run"]["settled"], 0);
    assert_eq!(retried["sent"]["count"], 8);
    assert_eq!(s.packets().len(), 8, "the duplicate was sent once");
    assert!(s.mock.invariants().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_unknown_rows_and_reconcile_settles_them_with_their_billnos() {
    // Arrange: a campaign whose every answer was lost (rows unknown), through the library.
    let s = setup().await;
    let journal = s.path("campaign.db");
    let lost = wxpay_redpack::RedpackClientBuilder::from_merchant_toml(s.config())
        .unwrap()
        .send_name("wxpay-redpack")
        .build_with_transport(CapturingTransport::new())
        .unwrap();
    let rows = CampaignFile::from_rows(
        (1..=4)
            .map(|i| {
                CampaignRow::new(
                    i,
                    OpenId::new(format!("oCliLost{i}")).unwrap(),
                    Fen::new(100),
                )
            })
            .collect(),
    )
    .unwrap();
    let template = PacketTemplate::new(
        Wishing::new("恭喜发财").unwrap(),
        ActName::new("对账测试").unwrap(),
        Remark::new("备注").unwrap(),
    );
    let campaign = Campaign::prepare(&journal, &lost, &rows, &template, Some(77)).unwrap();
    let mut one_shot = RetryPolicy::default();
    one_shot.max_attempts = 1;
    one_shot.max_queries = 0;
    campaign
        .run(&lost, &RunOptions::default().retry(one_shot), |_| {})
        .await
        .unwrap();
    drop(campaign);
    let journal_arg = journal.to_str().unwrap();

    // Act
    let status = Run::of(
        bare(s.dir.path())
            .args(["status", "--journal", journal_arg])
            .output()
            .unwrap(),
        s.secret(),
    )
    .expect(0);
    let status_json = s
        .run(&["status", "--journal", journal_arg, "--json"])
        .expect(0)
        .json();
    let reconciled = s
        .run(&["reconcile", "--journal", journal_arg, "--json"])
        .expect(0)
        .json();
    let missing = s.run(&["status", "--journal", "absent.db"]).expect(2);

    // Assert
    assert!(status.stdout.contains("unknown rows:"), "{}", status.stdout);
    assert!(status.stdout.contains("oCliLost3"), "{}", status.stdout);
    assert_eq!(status_json["verdict"], "unfinished");
    assert_eq!(status_json["unknown"]["count"], 4);
    assert_eq!(status_json["unknown_rows"].as_array().unwrap().len(), 4);
    assert_eq!(reconciled["verdict"], "all_sent");
    assert_eq!(reconciled["sent"]["count"], 4);
    assert!(
        missing.stderr.contains("no campaign journal"),
        "{}",
        missing.stderr
    );
    let billnos: Vec<String> = status_json["unknown_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["mch_billno"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(s.packets(), billnos, "settled under the journal's billnos");
    assert!(s.mock.invariants().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_resumed_with_an_edited_merchant_file_is_refused_naming_the_fields_and_sends_nothing()
 {
    // Arrange: a campaign whose every answer was lost (rows unknown), made through the
    // library as `batch` makes it: its default texts, the merchant file, the tool's default
    // send_name.
    let s = setup().await;
    let file = s.path("openids.txt");
    openids(&file, 3);
    let journal = s.path("campaign.db");
    let lost = wxpay_redpack::RedpackClientBuilder::from_merchant_toml(s.config())
        .unwrap()
        .send_name("wxpay-redpack")
        .build_with_transport(CapturingTransport::new())
        .unwrap();
    let rows =
        CampaignFile::read(&file, &ParseOptions::with_default_amount(Fen::new(100))).unwrap();
    let template = PacketTemplate::new(
        Wishing::new("恭喜发财，大吉大利").unwrap(),
        ActName::new("红包活动").unwrap(),
        Remark::new("感谢参与").unwrap(),
    );
    let campaign = Campaign::prepare(&journal, &lost, &rows, &template, None).unwrap();
    let mut one_shot = RetryPolicy::default();
    one_shot.max_attempts = 1;
    one_shot.max_queries = 0;
    let lost_run = campaign
        .run(&lost, &RunOptions::default().retry(one_shot), |_| {})
        .await
        .unwrap();
    assert_eq!(lost_run.unknown.count, 3);
    drop(campaign);
    let before = std::fs::read(&journal).unwrap();
    // The merchant file edited after the crash: another send_name and client_ip.
    let edited = s.config().with_file_name("merchant-edited.toml");
    let mut text = std::fs::read_to_string(s.config()).unwrap();
    text.push_str("send_name = \"另一个商户\"\nclient_ip = \"10.9.8.7\"\n");
    std::fs::write(&edited, text).unwrap();
    let batch = |config: &Path| {
        let output = bare(s.dir.path())
            .arg("--config")
            .arg(config)
            .args(["batch", file.to_str().unwrap(), "--amount", "1.00"])
            .args(["--journal", journal.to_str().unwrap(), "--json"])
            .output()
            .unwrap();
        Run::of(output, s.secret())
    };

    // Act
    let refused = batch(&edited).expect(2).json();
    let journal_after = std::fs::read(&journal).unwrap();
    let requests_after = s.mock.requests().len();
    let resumed = batch(s.config()).expect(0).json();

    // Assert
    assert_eq!(refused["error"]["kind"], "journal_mismatch");
    let message = refused["error"]["message"].as_str().unwrap();
    for words in [
        "its requests carry client_ip \"127.0.0.1\", the client gives \"10.9.8.7\"",
        "its requests carry send_name \"wxpay-redpack\", the client gives \"另一个商户\"",
    ] {
        assert!(message.contains(words), "{message}");
    }
    assert_eq!(requests_after, 0, "nothing was sent");
    assert_eq!(journal_after, before, "the journal is unchanged");
    assert_eq!(resumed["created"], false);
    assert_eq!(resumed["verdict"], "all_sent");
    assert_eq!(s.packets(), journal_billnos(&journal));
    assert!(s.mock.invariants().ok);
}

#[test]
fn the_help_documents_the_exit_codes_and_every_command() {
    let output = bare(Path::new(".")).arg("--help").output().unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success());
    for word in [
        "send",
        "send-group",
        "send-mini",
        "query",
        "batch",
        "status",
        "reconcile",
        "Exit status",
        "WXPAY_API_KEY",
    ] {
        assert!(help.contains(word), "{word} missing from:\n{help}");
    }
    let usage = bare(Path::new(".")).arg("frobnicate").output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

/// Every billno of a campaign journal, sorted.
fn journal_billnos(journal: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(journal).unwrap();
    let mut billnos: Vec<String> = conn
        .prepare("SELECT mch_billno FROM rows")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    billnos.sort();
    billnos
}
