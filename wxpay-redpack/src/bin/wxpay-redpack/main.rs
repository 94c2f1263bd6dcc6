//! `wxpay-redpack`: send, query and campaign WeChat Pay v2 cash red packets from the command
//! line, with the merchant file `wxpay-mock` writes (or a real merchant's, with the same
//! keys).
#![forbid(unsafe_code)]
#![allow(
    clippy::print_stdout,
    reason = "a command-line tool prints its results on stdout"
)]

mod output;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use wxpay_proto::rules::SendKind;
use wxpay_proto::{ActName, Fen, MchBillno, OpenId, Remark, SceneId, SendName, Wishing};
use wxpay_redpack::campaign::{
    Campaign, CampaignError, CampaignFile, DEFAULT_CONCURRENCY, DEFAULT_RATE_PER_MINUTE,
    PacketTemplate, ParseOptions, Report, RunOptions, Verdict,
};
use wxpay_redpack::{
    QueryOutcome, RedPacket, RedpackClient, RedpackClientBuilder, RetryPolicy, SendOutcome,
};
use wxpay_sign::ApiKey;

use crate::output::{Output, Progress};

/// The environment variable that may hold the API key instead of the merchant file.
const API_KEY_VAR: &str = "WXPAY_API_KEY";

/// The `send_name` when neither `--send-name` nor the merchant file gives one.
const DEFAULT_SEND_NAME: &str = "wxpay-redpack";

const EXIT_CODES: &str = "\
Exit status:
  0  everything asked for was sent (send, send-group, batch; send-mini: with its
     wx.sendBizRedPacket parameters), or the query found the packet's record (whatever
     its status: it is printed), or status or reconcile succeeded (reconcile: no unknown
     row is left)
  1  unexpected failure (the journal could not be written...): rerun the same command
  2  usage or configuration error: bad arguments, missing or invalid merchant file,
     unreadable certificate or key, wrong p12 password, malformed campaign file or one
     with no rows, journal of another campaign (or of another appid, client_ip or
     send_name: a batch resumes only with the settings it was started with), journal of
     an earlier version whose rows were already attempted, a request that breaks a rule.
     Nothing was sent.
  3  unknown outcome: a packet may or may not have been sent (or batch rows are not sent
     yet). Rerun the same command (send, send-group, send-mini: with --retry), or
     `reconcile`: always with the same billno.
     send-mini: the packet is sent, but its package (for wx.sendBizRedPacket) could not
     be fetched: rerun the same command with --retry to get it by a replay.
     query: no record (yet), or the query itself was refused (FREQ_LIMIT, SIGN_ERROR,
     CA_ERROR, NO_AUTH...) or got no answer: nothing is proven about the packet.
  4  rejected: WeChat Pay refused this request with a definitive code and did not pay it
     (batch: every row is settled and some were rejected). Nothing was issued under the
     refused billno, except after FATAL_ERROR: the billno already holds another packet
     (another openid or amount). After an exit 3, rerun with --retry: a refusal then
     exits 3, as the earlier attempt may have paid, unless gethbinfo settles it.
  5  not sent: the request provably never left (network down); safe to rerun as is.

The API key may be given in the environment variable WXPAY_API_KEY instead of the file.";

/// Send, query and campaign WeChat Pay v2 cash red packets (现金红包).
#[derive(Debug, Parser)]
#[command(name = "wxpay-redpack", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// The merchant file: mch_id, appid, mini_program_appid, api_key, cert_pem + key_pem or
    /// p12 (+ p12_password), ca_pem, endpoint. `wxpay-mock` writes one.
    #[arg(long, short = 'c', global = true, value_name = "merchant.toml")]
    config: Option<PathBuf>,
    /// Print the result as one JSON document on stdout (for scripts).
    #[arg(long, global = true)]
    json: bool,
    /// Log to stderr: -v for progress details, -vv for every request.
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send a normal red packet (sendredpack), retrying with the same billno until settled.
    Send(SendArgs),
    /// Send a group (fission) red packet (sendgroupredpack: retired by WeChat Pay in 2024,
    /// still served by wxpay-mock).
    SendGroup(GroupArgs),
    /// Send a mini-program red packet (sendminiprogramhb) and print the
    /// wx.sendBizRedPacket parameters (exit 3 if the packet is sent but its package could
    /// not be fetched: rerun with --retry).
    SendMini(SendArgs),
    /// Query a red packet (gethbinfo): status, amounts, claims, refund. Exits 0 only when
    /// the record is found, 3 when it is not found (yet: not a failure) or the query itself
    /// was refused or unanswered.
    Query(QueryArgs),
    /// Send one packet per openid of FILE: journaled, rate-limited, resumable. Rerun the same
    /// command after any interruption, with the same merchant file: the journal keeps the
    /// appid, client_ip and send_name its packets are sent with, and refuses other ones.
    Batch(BatchArgs),
    /// Summarize a campaign journal (no network).
    Status(StatusArgs),
    /// Settle a campaign's unknown rows: gethbinfo, then re-entry with the same billno and
    /// the journal's fields (the merchant file must give the batch's appid, client_ip and
    /// send_name).
    Reconcile(ReconcileArgs),
}

/// The texts of a packet.
#[derive(Debug, Args)]
struct TextArgs {
    /// `send_name` (default: the merchant file's, else "wxpay-redpack").
    #[arg(long)]
    send_name: Option<String>,
    /// `wishing`.
    #[arg(long, default_value = "恭喜发财，大吉大利")]
    wishing: String,
    /// `act_name`.
    #[arg(long, default_value = "红包活动")]
    act_name: String,
    /// `remark`.
    #[arg(long, default_value = "感谢参与")]
    remark: String,
    /// `scene_id`, PRODUCT_1 to PRODUCT_8 (required below 1 or above 200 yuan).
    #[arg(long, value_parser = parse_scene)]
    scene: Option<SceneId>,
}

#[derive(Debug, Args)]
struct SendArgs {
    /// The billno (mch_billno): yours, unique, at most 28 letters and digits. Reuse it to
    /// retry; never change it for the same intent.
    #[arg(long, value_parser = parse_billno)]
    billno: MchBillno,
    /// The recipient's openid.
    #[arg(long, value_parser = parse_openid)]
    openid: OpenId,
    /// The amount in yuan, e.g. 1.00.
    #[arg(long, value_parser = parse_yuan)]
    amount: Fen,
    #[command(flatten)]
    retry: RetryArg,
    #[command(flatten)]
    texts: TextArgs,
}

/// Whether an earlier run already sent this billno.
#[derive(Debug, Args)]
struct RetryArg {
    /// This billno was sent before and its outcome is unknown (an earlier run exited 3):
    /// that attempt may have paid, so a refusal now is checked with gethbinfo and, unless
    /// the record settles it, exits 3 (unknown), not 4; only SEND_FAILED, which speaks for
    /// every attempt of the billno, still exits 4.
    #[arg(long)]
    retry: bool,
}

#[derive(Debug, Args)]
struct GroupArgs {
    /// The billno (mch_billno).
    #[arg(long, value_parser = parse_billno)]
    billno: MchBillno,
    /// The seed user's openid.
    #[arg(long, value_parser = parse_openid)]
    openid: OpenId,
    /// The total amount in yuan.
    #[arg(long, value_parser = parse_yuan)]
    amount: Fen,
    /// The number of shares, 3 to 20.
    #[arg(long)]
    count: u32,
    #[command(flatten)]
    retry: RetryArg,
    #[command(flatten)]
    texts: TextArgs,
}

#[derive(Debug, Args)]
struct QueryArgs {
    /// The billno to query.
    #[arg(value_parser = parse_billno)]
    billno: MchBillno,
    /// The packet is a mini-program packet: query with the mini-program appid.
    #[arg(long)]
    mini: bool,
}

#[derive(Debug, Args)]
struct BatchArgs {
    /// One openid a line, or `openid,amount` (yuan); blank lines and `#` comments skipped.
    file: PathBuf,
    /// The amount in yuan of lines that give none.
    #[arg(long, value_parser = parse_yuan)]
    amount: Option<Fen>,
    /// The campaign journal (SQLite): created on the first run, resumed by the next ones. A
    /// resume checks the file's rows, the texts, the campaign number (if given), and the
    /// mch_id, appid, client_ip and send_name (the merchant file's, or --send-name) against
    /// the journal, and sends nothing if one differs.
    #[arg(long)]
    journal: PathBuf,
    /// At most this many packets a minute.
    #[arg(long, default_value_t = DEFAULT_RATE_PER_MINUTE)]
    rate: u32,
    /// At most this many packets in flight at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// The campaign number in the billnos (0 to 9999; default: from the creation time, the
    /// next free one if another campaign whose journal is in the same directory has it).
    #[arg(long)]
    campaign_no: Option<u32>,
    /// Send every occurrence of an openid listed more than once (default: the first only).
    #[arg(long)]
    allow_duplicates: bool,
    /// Also resend rows rejected with a class A or B code (a limit lifted, the balance
    /// topped up), with their billno. SEND_FAILED, FATAL_ERROR and NO_AUTH rows never are.
    #[arg(long)]
    retry_rejected: bool,
    #[command(flatten)]
    texts: TextArgs,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// The campaign journal.
    #[arg(long)]
    journal: PathBuf,
}

#[derive(Debug, Args)]
struct ReconcileArgs {
    /// The campaign journal.
    #[arg(long)]
    journal: PathBuf,
    /// At most this many requests a minute.
    #[arg(long, default_value_t = DEFAULT_RATE_PER_MINUTE)]
    rate: u32,
    /// At most this many rows in flight at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
    concurrency: usize,
}

/// The exit status (see `EXIT_CODES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Success = 0,
    Internal = 1,
    Usage = 2,
    Unknown = 3,
    Rejected = 4,
    NotSent = 5,
}

/// Why a command stopped without a result: the exit status and what to say.
#[derive(Debug)]
struct Failure {
    exit: Exit,
    kind: &'static str,
    message: String,
    details: Vec<String>,
    /// The billno of the send that failed, when it is known.
    billno: Option<MchBillno>,
}

impl Failure {
    fn new(exit: Exit, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            exit,
            kind,
            message: message.into(),
            details: Vec::new(),
            billno: None,
        }
    }

    /// The failure of the send of `billno`.
    fn of_billno(mut self, billno: &MchBillno) -> Self {
        self.billno = Some(billno.clone());
        self
    }

    fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, "usage", message)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let out = Output::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("wxpay-redpack: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Internal as u8);
        }
    };
    let exit = match runtime.block_on(run(&cli, &out)) {
        Ok(exit) => exit,
        Err(failure) => {
            out.failure(&failure);
            failure.exit
        }
    };
    ExitCode::from(exit as u8)
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => tracing::Level::ERROR,
        1 => tracing::Level::INFO,
        2 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

async fn run(cli: &Cli, out: &Output) -> Result<Exit, Failure> {
    match &cli.command {
        Command::Send(args) => async {
            let client = load_client(cli.config.as_deref())?;
            let packet = packet(args.billno.clone(), &args.openid, args.amount, &args.texts)?;
            let request = client.normal(&packet).map_err(request_failure)?;
            send(&client, &request, out, args.retry.retry).await
        }
        .await
        .map_err(|f| f.of_billno(&args.billno)),
        Command::SendGroup(args) => async {
            let client = load_client(cli.config.as_deref())?;
            let packet = packet(args.billno.clone(), &args.openid, args.amount, &args.texts)?
                .with_total_num(args.count);
            #[allow(deprecated, reason = "the retired API is still served by wxpay-mock")]
            let request = client.group(&packet).map_err(request_failure)?;
            send(&client, &request, out, args.retry.retry).await
        }
        .await
        .map_err(|f| f.of_billno(&args.billno)),
        Command::SendMini(args) => async {
            let client = load_client(cli.config.as_deref())?;
            let packet = packet(args.billno.clone(), &args.openid, args.amount, &args.texts)?;
            let request = client.mini_program(&packet).map_err(request_failure)?;
            send(&client, &request, out, args.retry.retry).await
        }
        .await
        .map_err(|f| f.of_billno(&args.billno)),
        Command::Query(args) => {
            let client = load_client(cli.config.as_deref())?;
            query(&client, args, out).await
        }
        Command::Batch(args) => batch(cli, args, out).await,
        Command::Status(args) => {
            let campaign = Campaign::open(&args.journal).map_err(campaign_failure)?;
            let report = campaign.report().map_err(campaign_failure)?;
            let rows = campaign.rows().map_err(campaign_failure)?;
            out.status(&campaign, &report, &rows);
            Ok(Exit::Success)
        }
        Command::Reconcile(args) => {
            let client = load_client(cli.config.as_deref())?;
            let campaign = Campaign::open(&args.journal).map_err(campaign_failure)?;
            let options = RunOptions::default()
                .rate_per_minute(args.rate)
                .concurrency(args.concurrency);
            options.validate().map_err(campaign_failure)?;
            let to_do = campaign
                .rows_to_reconcile()
                .map_err(campaign_failure)?
                .len();
            out.campaign_header(&campaign, "reconcile", to_do, &[]);
            let progress = Progress::new(out, to_do);
            let report = campaign
                .reconcile(&client, &options, |p| progress.row(p))
                .await;
            progress.finish();
            let report = report.map_err(campaign_failure)?;
            out.report(&campaign, &report, &[]);
            Ok(if report.unknown.count > 0 {
                Exit::Unknown
            } else {
                Exit::Success
            })
        }
    }
}

/// The client of the merchant file, with the API key from `WXPAY_API_KEY` if set.
fn load_client(config: Option<&Path>) -> Result<RedpackClient, Failure> {
    let Some(path) = config else {
        return Err(Failure::usage(
            "this command needs the merchant file: --config merchant.toml",
        ));
    };
    let key = match std::env::var(API_KEY_VAR) {
        Ok(key) if !key.is_empty() => Some(ApiKey::new(key).map_err(|e| {
            Failure::new(
                Exit::Usage,
                "config",
                format!("{API_KEY_VAR}: {}", output::chain(&e)),
            )
        })?),
        _ => None,
    };
    let builder = match key {
        Some(key) => RedpackClientBuilder::from_merchant_toml_with_api_key(path, key),
        None => RedpackClientBuilder::from_merchant_toml(path),
    };
    let config_failure = |e: wxpay_redpack::Error| {
        Failure::new(
            Exit::Usage,
            "config",
            format!("merchant file `{}`: {}", path.display(), output::chain(&e)),
        )
    };
    builder
        .map_err(config_failure)?
        .send_name_if_unset(DEFAULT_SEND_NAME)
        .build()
        .map_err(config_failure)
}

fn packet(
    billno: MchBillno,
    openid: &OpenId,
    amount: Fen,
    texts: &TextArgs,
) -> Result<RedPacket, Failure> {
    let field = |name: &str, e: wxpay_proto::Error| {
        Failure::usage(format!("--{name}: {}", output::chain(&e)))
    };
    let mut packet = RedPacket::new(
        billno,
        openid.clone(),
        amount,
        Wishing::new(texts.wishing.as_str()).map_err(|e| field("wishing", e))?,
        ActName::new(texts.act_name.as_str()).map_err(|e| field("act-name", e))?,
        Remark::new(texts.remark.as_str()).map_err(|e| field("remark", e))?,
    );
    if let Some(name) = &texts.send_name {
        packet =
            packet.with_send_name(SendName::new(name.as_str()).map_err(|e| field("send-name", e))?);
    }
    if let Some(scene) = &texts.scene {
        packet = packet.with_scene_id(scene.clone());
    }
    Ok(packet)
}

fn template(texts: &TextArgs) -> Result<PacketTemplate, Failure> {
    let field = |name: &str, e: wxpay_proto::Error| {
        Failure::usage(format!("--{name}: {}", output::chain(&e)))
    };
    let mut template = PacketTemplate::new(
        Wishing::new(texts.wishing.as_str()).map_err(|e| field("wishing", e))?,
        ActName::new(texts.act_name.as_str()).map_err(|e| field("act-name", e))?,
        Remark::new(texts.remark.as_str()).map_err(|e| field("remark", e))?,
    );
    if let Some(name) = &texts.send_name {
        template = template
            .with_send_name(SendName::new(name.as_str()).map_err(|e| field("send-name", e))?);
    }
    if let Some(scene) = &texts.scene {
        template = template.with_scene_id(scene.clone());
    }
    Ok(template)
}

/// A request the client refuses to send (it breaks a rule): a usage error, nothing sent.
fn request_failure(error: wxpay_redpack::Error) -> Failure {
    if error.is_not_sent() {
        return Failure::new(Exit::NotSent, "not_sent", output::chain(&error));
    }
    let mut failure = Failure::new(Exit::Usage, "invalid_request", output::chain(&error));
    failure.details.push("nothing was sent".to_owned());
    failure
}

/// The earlier attempt `--retry` stands for, in words.
const EARLIER_UNKNOWN: &str = "an earlier run of this billno ended with an unknown outcome";

async fn send(
    client: &RedpackClient,
    request: &wxpay_redpack::SendRequest,
    out: &Output,
    retry: bool,
) -> Result<Exit, Failure> {
    let policy = RetryPolicy::default();
    let outcome = if retry {
        client
            .resend_reliably(request, &policy, EARLIER_UNKNOWN)
            .await
    } else {
        client.send_reliably(request, &policy).await
    }
    .map_err(request_failure)?;
    let mini = request.kind() == SendKind::MiniProgram;
    let biz = match &outcome {
        SendOutcome::Sent { package, .. } if mini => Some(
            package
                .as_deref()
                .map(|package| client.biz_red_packet_params(package))
                .transpose()
                .unwrap_or_else(|error| {
                    tracing::warn!(error = %output::chain(&error), "no wx.sendBizRedPacket parameters");
                    None
                }),
        ),
        _ => None,
    };
    // A mini-program packet the page cannot hand over is not settled for the caller: its
    // package comes from a replay of the same billno.
    let package_missing = matches!(biz, Some(None));
    out.send_outcome(request, &outcome, biz.flatten().as_ref());
    Ok(match outcome {
        SendOutcome::Sent { .. } if package_missing => Exit::Unknown,
        SendOutcome::Sent { .. } => Exit::Success,
        SendOutcome::Rejected { .. } => Exit::Rejected,
        SendOutcome::Unknown { .. } => Exit::Unknown,
    })
}

async fn query(client: &RedpackClient, args: &QueryArgs, out: &Output) -> Result<Exit, Failure> {
    let result = if args.mini {
        let Some(appid) = client.mini_program_appid().cloned() else {
            return Err(Failure::new(
                Exit::Usage,
                "config",
                "--mini needs mini_program_appid in the merchant file",
            ));
        };
        client.query_with_appid(&args.billno, &appid).await
    } else {
        client.query(&args.billno).await
    };
    let outcome = result.map_err(request_failure)?;
    out.query_outcome(&args.billno, &outcome);
    // Only a record settles anything: "not found" is not failure (spec §4.4), and a refused
    // query says nothing about the packet.
    Ok(match outcome {
        QueryOutcome::Found(_) => Exit::Success,
        _ => Exit::Unknown,
    })
}

async fn batch(cli: &Cli, args: &BatchArgs, out: &Output) -> Result<Exit, Failure> {
    let client = load_client(cli.config.as_deref())?;
    let mut parse = ParseOptions::default().allow_duplicates(args.allow_duplicates);
    parse.default_amount = args.amount;
    let file = CampaignFile::read(&args.file, &parse).map_err(campaign_failure)?;
    let template = template(&args.texts)?;
    let options = RunOptions::default()
        .rate_per_minute(args.rate)
        .concurrency(args.concurrency)
        .retry_rejected(args.retry_rejected);
    // Bad options are refused before `prepare` writes the journal.
    options.validate().map_err(campaign_failure)?;
    let campaign = Campaign::prepare(&args.journal, &client, &file, &template, args.campaign_no)
        .map_err(campaign_failure)?;
    let to_do = campaign
        .rows_to_run(&options)
        .map_err(campaign_failure)?
        .len();
    out.campaign_header(&campaign, "batch", to_do, file.duplicates());
    let progress = Progress::new(out, to_do);
    let report = campaign.run(&client, &options, |p| progress.row(p)).await;
    progress.finish();
    let report = report.map_err(campaign_failure)?;
    out.report(&campaign, &report, file.duplicates());
    Ok(verdict_exit(&report))
}

fn verdict_exit(report: &Report) -> Exit {
    match report.verdict() {
        Verdict::AllSent => Exit::Success,
        Verdict::Rejected => Exit::Rejected,
        _ => Exit::Unknown,
    }
}

fn campaign_failure(error: CampaignError) -> Failure {
    let exit = match &error {
        // A journal that cannot even be opened is a wrong path, not a failure mid-run.
        CampaignError::Journal { action, .. } if *action == "open the journal" => Exit::Usage,
        CampaignError::Journal { .. } | CampaignError::Task(_) => Exit::Internal,
        _ => Exit::Usage,
    };
    let kind = match &error {
        CampaignError::Read { .. } | CampaignError::File { .. } | CampaignError::EmptyFile => {
            "campaign_file"
        }
        CampaignError::Mismatch { .. } => "journal_mismatch",
        CampaignError::OldJournal { .. } => "journal_old_schema",
        CampaignError::Busy { .. } => "journal_busy",
        CampaignError::NoJournal { .. }
        | CampaignError::Corrupt { .. }
        | CampaignError::Journal { .. } => "journal",
        CampaignError::Client(_) => "config",
        _ => "campaign",
    };
    let mut failure = Failure::new(exit, kind, output::chain(&error));
    failure.details = error
        .line_errors()
        .iter()
        .map(ToString::to_string)
        .collect();
    match &error {
        CampaignError::File { .. } => failure
            .details
            .push("nothing was sent: fix these lines and run the same command".to_owned()),
        CampaignError::EmptyFile => failure.details.push(
            "nothing was sent and no journal was written: give a file of one openid a line"
                .to_owned(),
        ),
        CampaignError::Journal { .. } | CampaignError::Task(_) => failure
            .details
            .push("every row keeps its billno: run the same command again to resume".to_owned()),
        CampaignError::Mismatch { .. } => failure.details.push(
            "nothing was sent: resume with the file, options and merchant file the campaign \
             was started with, or use a new journal"
                .to_owned(),
        ),
        CampaignError::OldJournal { .. } => failure.details.push(
            "nothing was sent: finish it with the wxpay-redpack version that created it and \
             the same merchant file, or settle each billno with `query`"
                .to_owned(),
        ),
        _ => {}
    }
    failure
}

fn parse_yuan(text: &str) -> Result<Fen, String> {
    Fen::parse_yuan(text)
        .map_err(|_| format!("{text:?} is not an amount in yuan (digits, at most two decimals)"))
}

fn parse_billno(text: &str) -> Result<MchBillno, String> {
    MchBillno::new(text).map_err(|e| output::chain(&e))
}

fn parse_openid(text: &str) -> Result<OpenId, String> {
    OpenId::new(text).map_err(|e| output::chain(&e))
}

fn parse_scene(text: &str) -> Result<SceneId, String> {
    let scene = SceneId::from(text);
    if scene.is_known() {
        Ok(scene)
    } else {
        Err(format!("{text:?} is not one of PRODUCT_1 to PRODUCT_8"))
    }
}
