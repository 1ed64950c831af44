//! `iam-assurance`: the CLI, and the Lambda function when `AWS_LAMBDA_RUNTIME_API` is set.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use iam_assurance::audit::{self, AuditFiles, OptionalAuditFiles};
use iam_assurance::catalog_view;
use iam_assurance::export;
use iam_assurance::output::{RunOutput, Trigger};
use iam_assurance::run::{self, Config, SettingsSource};
use iam_assurance::telemetry;
use iam_assurance_aws::Clients;
use iam_assurance_rules::compliance::assess;
use iam_assurance_rules::rule::Standard;
use iam_assurance_rules::{evaluate, ProblemKind, Settings};
use serde_json::Value;

/// Continuous assurance for AWS IAM.
#[derive(Parser)]
#[command(name = "iam-assurance", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Json,
    Text,
}

/// How `audit` and `sweep` print their run.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum RunFormat {
    /// The run JSON (docs/output.md).
    Json,
    /// A terminal report.
    Text,
    /// The findings in ASFF: a JSON array for `aws securityhub batch-import-findings`.
    Asff,
    /// The findings as OCSF Compliance Finding events (a JSON array).
    Ocsf,
    /// The findings as CSV rows, for spreadsheets.
    Csv,
}

#[derive(Subcommand)]
enum Command {
    /// List the rule catalog.
    Rules {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Audit offline, from files the AWS CLI wrote.
    Audit {
        #[command(flatten)]
        files: AuditFiles,
        /// Rule settings: `{ "<rule-id>": {...} }`.
        #[arg(long, value_name = "FILE")]
        settings_file: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: RunFormat,
        /// Evaluate as of this time (RFC 3339) instead of now.
        #[arg(long, value_name = "TIME")]
        now: Option<DateTime<Utc>>,
    },
    /// Sweep the account the credentials reach.
    Sweep {
        /// Rule settings file instead of SSM Parameter Store.
        #[arg(long, value_name = "FILE")]
        settings_file: Option<PathBuf>,
        /// Publish findings to the topic in FINDINGS_TOPIC_ARN (and to Security Hub with
        /// SECURITY_HUB_EXPORT=true).
        #[arg(long)]
        publish: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: RunFormat,
        /// Sweep this member account of the organization, through its role
        /// (arn:aws:iam::ACCOUNT:role/ROLE_NAME).
        #[arg(long, value_name = "ACCOUNT_ID", conflicts_with = "organization")]
        account: Option<String>,
        /// The member role's name (default: MEMBER_ROLE_NAME, else iam-assurance-reader).
        #[arg(long, value_name = "NAME")]
        role_name: Option<String>,
        /// Sweep every ACTIVE account of the organization (with --format json: one run JSON per
        /// account, one per line).
        #[arg(long)]
        organization: bool,
        /// How many accounts are swept at once with --organization.
        #[arg(long, value_name = "N", default_value_t = 10, requires = "organization")]
        concurrency: usize,
    },
    /// Run the Lambda handler's code path on an event file and print its JSON result.
    /// Publishes to FINDINGS_TOPIC_ARN when it is set, as the function does.
    Invoke {
        event: PathBuf,
        /// Rule settings file instead of SSM Parameter Store.
        #[arg(long, value_name = "FILE")]
        settings_file: Option<PathBuf>,
        /// Do not publish even if FINDINGS_TOPIC_ARN is set.
        #[arg(long)]
        no_publish: bool,
    },
    /// Every IAM control of a standard with its status (pass, fail with the failing resources,
    /// not_evaluated with why, manual, not_covered): over a read-only sweep of the account the
    /// credentials reach (nothing is published or stored), or, given --authorization-details and
    /// --credential-report, over the same files as `audit`.
    Compliance {
        /// cis-5.0, cis-4.0, cis-3.0 or fsbp.
        #[arg(long, value_parser = parse_standard)]
        standard: Standard,
        #[command(flatten)]
        files: OptionalAuditFiles,
        /// Rule settings: a file (`{ "<rule-id>": {...} }`); without it, a sweep reads SSM
        /// Parameter Store and an offline audit uses the defaults.
        #[arg(long, value_name = "FILE")]
        settings_file: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Evaluate the files as of this time (RFC 3339) instead of now.
        #[arg(long, value_name = "TIME")]
        now: Option<DateTime<Utc>>,
    },
    /// Print the AWS actions the function calls (what its execution role must grant).
    Permissions,
    /// Print a file generated from the rule definitions and the event table (docs/rules.md,
    /// docs/events.md, infra/settings.yaml); `make generated` writes them.
    Generate {
        /// The file's path in the repository.
        path: String,
    },
    /// Run as the Lambda function (automatic when AWS_LAMBDA_RUNTIME_API is set).
    Lambda,
}

fn main() -> ExitCode {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return run_lambda();
    }
    let cli = Cli::parse();
    telemetry::init_logging(false);
    match run(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// One thread: a run is one invocation at a time whose waiting is on AWS calls (up to 16 in
/// flight, which one thread drives as well as several), and a Lambda function at the memory it
/// is given has a fraction of a vCPU. One thread also keeps one malloc arena, so memory the
/// evaluation freed is what publishing reuses (measured: 88 MB instead of 90 MB for a
/// 10,000-user sweep, and less CPU time).
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
}

/// Write to stdout; a closed pipe (`| head`) ends the output quietly instead of panicking.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("cannot write to stdout"),
        _ => Ok(()),
    }
}

fn print(output: &RunOutput, format: Format) -> Result<()> {
    match format {
        // Streamed: a large account's run JSON is tens of MB, never held as one string.
        Format::Json => {
            use std::io::Write;
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
            let written = serde_json::to_writer_pretty(&mut out, output).map_err(std::io::Error::from).and_then(|()| {
                out.write_all(b"\n")?;
                out.flush()
            });
            match written {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("cannot write to stdout"),
                _ => Ok(()),
            }
        }
        Format::Text => emit(&output.to_text()),
    }
}

/// Write a JSON value (an array of thousands of findings) to stdout, streamed.
fn emit_json<T: serde::Serialize>(value: &T) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let written = serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from).and_then(|()| {
        out.write_all(b"\n")?;
        out.flush()
    });
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("cannot write to stdout"),
        _ => Ok(()),
    }
}

/// The region an ASFF file is for (its product ARN names it): `AWS_REGION`, `AWS_DEFAULT_REGION`,
/// else us-east-1, said on stderr.
fn asff_region() -> String {
    let var = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).unwrap_or_else(|| {
        eprintln!("note: AWS_REGION is not set: the findings' ProductArn names us-east-1 (set AWS_REGION to import them elsewhere)");
        "us-east-1".to_string()
    })
}

fn print_run(output: &RunOutput, format: RunFormat) -> Result<()> {
    match format {
        RunFormat::Json => print(output, Format::Json),
        RunFormat::Text => print(output, Format::Text),
        RunFormat::Asff => emit_json(&export::asff_document(output, &asff_region())),
        RunFormat::Ocsf => emit_json(&export::ocsf_document(output)),
        RunFormat::Csv => {
            use std::io::Write;
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
            let written = export::csv_document(&mut out, output).map_err(std::io::Error::from).and_then(|()| out.flush());
            match written {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("cannot write to stdout"),
                _ => Ok(()),
            }
        }
    }
}

/// Exit status after a run: 3 when settings are invalid (a user mistake: the affected rules
/// were not evaluated, the others ran), 4 when a data source could not be collected (the rules
/// that needed it were not evaluated), else 0. Either way the run's JSON says which.
fn exit_for(output: &RunOutput) -> ExitCode {
    let of = |kind: ProblemKind| output.errors.iter().filter(move |e| e.kind == kind).peekable();
    for (kind, code, what) in [
        (ProblemKind::Settings, 3, "invalid settings (the affected rules were not evaluated)"),
        (ProblemKind::Collection, 4, "data that could not be collected (the rules that needed it were not evaluated)"),
    ] {
        let mut problems = of(kind);
        if problems.peek().is_some() {
            eprintln!("error: {what}:");
            for e in problems {
                eprintln!("  - {e}");
            }
            return ExitCode::from(code);
        }
    }
    ExitCode::SUCCESS
}

fn parse_standard(text: &str) -> Result<Standard, String> {
    Standard::parse(text).ok_or_else(|| format!("unknown standard {text:?} (one of: {})", Standard::ALL.map(|s| s.as_str()).join(", ")))
}

fn settings_from_file(path: &PathBuf) -> Result<Settings> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    Settings::from_json_text(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Rules { format } => {
            match format {
                Format::Json => emit(&(serde_json::to_string_pretty(&catalog_view::catalog_json())? + "\n"))?,
                Format::Text => emit(&catalog_view::catalog_text())?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate { path } => {
            let Some(file) = iam_assurance::generate::all().into_iter().find(|g| g.path == path) else {
                let known: Vec<&str> = iam_assurance::generate::all().iter().map(|g| g.path).collect();
                anyhow::bail!("{path} is not a generated file (generated: {})", known.join(", "));
            };
            emit(&file.content)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Permissions => {
            emit(&iam_assurance_aws::permissions::all().iter().map(|a| format!("{a}\n")).collect::<String>())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { files, settings_file, format, now } => {
            let settings = match &settings_file {
                Some(path) => settings_from_file(path)?,
                None => Settings::defaults(),
            };
            let inventory = audit::load(&files)?;
            let report = evaluate(&inventory, &settings, now.unwrap_or_else(Utc::now));
            let output = RunOutput::from_report(report, Trigger::Offline, Default::default());
            print_run(&output, format)?;
            Ok(exit_for(&output))
        }
        Command::Sweep { settings_file, publish, format, account, role_name, organization, concurrency } => {
            let mut config = Config::from_env();
            if let Some(path) = settings_file {
                settings_from_file(&path)?; // fail early on a bad file
                config.settings = SettingsSource::File(path);
            }
            if publish && config.topic_arn.is_none() {
                anyhow::bail!("--publish needs FINDINGS_TOPIC_ARN set to the SNS topic ARN");
            }
            if !publish {
                config.topic_arn = None;
            }
            if let Some(account) = &account {
                if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                    anyhow::bail!("--account {account:?}: expected a 12-digit account id");
                }
            }
            let role = role_name.or(config.member_role_name.clone()).unwrap_or_else(|| run::config::DEFAULT_MEMBER_ROLE.to_string());
            config.member_role_name = Some(role.clone());
            let rt = runtime()?;
            if organization {
                let format = match format {
                    RunFormat::Json => Format::Json,
                    RunFormat::Text => Format::Text,
                    other => anyhow::bail!(
                        "--organization prints one run per account as json or text; for --format {}, sweep each account with --account",
                        other.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default()
                    ),
                };
                return rt.block_on(sweep_organization(&config, &role, concurrency.max(1), format));
            }
            let output = rt.block_on(async {
                let clients = Clients::from_env().await;
                run::sweep_account(&clients, &config, account.as_deref(), &role, Trigger::Manual, Utc::now()).await
            })?;
            print_run(&output, format)?;
            Ok(exit_for(&output))
        }
        Command::Invoke { event, settings_file, no_publish } => {
            let text = std::fs::read_to_string(&event).with_context(|| format!("{}", event.display()))?;
            // The function acknowledges any payload (Lambda would retry an error forever); a file
            // given on the command line that is not JSON is the user's mistake.
            let payload: Value = serde_json::from_str(&text).with_context(|| format!("{}: not a JSON event", event.display()))?;
            let mut config = Config::from_env();
            if let Some(path) = settings_file {
                settings_from_file(&path)?;
                config.settings = SettingsSource::File(path);
            }
            if no_publish {
                config.topic_arn = None;
            }
            let rt = runtime()?;
            if run::organization::is_queue_event(&payload) {
                // A batch of the accounts queue: each account's run, then the batch response.
                let batch: aws_lambda_events::sqs::SqsEvent =
                    serde_json::from_value(payload).with_context(|| format!("{}: not an SQS event", event.display()))?;
                let (response, runs) = rt.block_on(async {
                    let clients = Clients::from_env().await;
                    run::organization::consume(&clients, &config, &batch, Utc::now()).await
                });
                let runs: Vec<Value> = runs
                    .iter()
                    .map(|r| match r {
                        Ok(output) => serde_json::to_value(output).unwrap_or(Value::Null),
                        Err(e) => serde_json::json!({"error": e.to_string()}),
                    })
                    .collect();
                let failed = !response.batch_item_failures.is_empty();
                let mut out = serde_json::to_value(&response)?;
                out["runs"] = Value::Array(runs);
                emit(&(serde_json::to_string_pretty(&out)? + "\n"))?;
                return Ok(if failed { ExitCode::from(5) } else { ExitCode::SUCCESS });
            }
            let output = rt.block_on(async {
                let clients = Clients::from_env().await;
                run::handle_event(&clients, &config, &payload, Utc::now()).await
            })?;
            print(&output, Format::Json)?;
            Ok(exit_for(&output))
        }
        Command::Compliance { standard, files, settings_file, format, now } => {
            let (report, settings) = match files.audit().map_err(anyhow::Error::msg)? {
                Some(files) => {
                    let settings = match &settings_file {
                        Some(path) => settings_from_file(path)?,
                        None => Settings::defaults(),
                    };
                    let inventory = audit::load(&files)?;
                    (evaluate(&inventory, &settings, now.unwrap_or_else(Utc::now)), settings)
                }
                None => {
                    if now.is_some() {
                        anyhow::bail!("--now applies to an offline audit (--authorization-details, --credential-report)");
                    }
                    let mut config = Config::from_env();
                    if let Some(path) = settings_file {
                        settings_from_file(&path)?;
                        config.settings = SettingsSource::File(path);
                    }
                    let rt = runtime()?;
                    rt.block_on(async {
                        let clients = Clients::from_env().await;
                        iam_assurance::compliance_view::live(&clients, &config, Utc::now()).await
                    })?
                }
            };
            let compliance = assess(standard, &report, &settings);
            match format {
                Format::Json => emit(&(serde_json::to_string_pretty(&compliance)? + "\n"))?,
                Format::Text => emit(&iam_assurance::compliance_view::text(&compliance))?,
            }
            // Problems (settings, collection) say so on stderr and in the exit status, as a run does.
            let output = RunOutput::from_report(report, Trigger::Offline, Default::default());
            Ok(exit_for(&output))
        }
        Command::Lambda => Ok(run_lambda()),
    }
}

/// `sweep --organization`: every account of the round, `concurrency` at a time, each with its
/// own clients (its own call count). Prints each run as it completes (JSON: one per line; a
/// failed account as `{"account_id", "error"}`); exit 5 when an account failed.
async fn sweep_organization(config: &Config, role: &str, concurrency: usize, format: Format) -> Result<ExitCode> {
    let sdk = iam_assurance_aws::load_config().await;
    let hub = Clients::from_config(&sdk);
    let plan = run::organization::round_accounts(&hub, config).await?;
    // Publishing: one round, with the organization's digest, as the function's rounds.
    let mut config = config.clone();
    if let (Some(table), Some(_)) = (config.state_table.as_deref(), config.topic_arn.as_deref()) {
        let round = format!("cli-{}", Utc::now().format("%Y%m%dT%H%M%SZ"));
        run::round::start(&hub, table, &round, plan.accounts.len(), Utc::now()).await?;
        config.round = Some(round);
    }
    let config = &config;
    if format == Format::Text {
        eprintln!("{} accounts ({}; {} excluded)", plan.accounts.len(), plan.source, plan.excluded.len());
    }
    let mut pending = plan.accounts.into_iter();
    let mut running = tokio::task::JoinSet::new();
    let mut failed = 0usize;
    loop {
        while running.len() < concurrency {
            let Some(account) = pending.next() else { break };
            let (sdk, config, role) = (sdk.clone(), config.clone(), role.to_string());
            running.spawn(async move {
                let clients = Clients::from_config(&sdk);
                let result = run::sweep_account(&clients, &config, Some(&account), &role, Trigger::Manual, Utc::now()).await;
                (account, result)
            });
        }
        let Some(joined) = running.join_next().await else { break };
        let (account, result) = joined.context("an account's sweep task failed")?;
        match result {
            Ok(output) => match format {
                Format::Json => emit(&(serde_json::to_string(&output)? + "\n"))?,
                Format::Text => emit(&(output.to_text() + "\n"))?,
            },
            Err(error) => {
                failed += 1;
                match format {
                    Format::Json => emit(&(serde_json::json!({"account_id": account, "error": error.to_string()}).to_string() + "\n"))?,
                    Format::Text => eprintln!("error: account {account}: {error}"),
                }
            }
        }
    }
    if failed > 0 {
        eprintln!("error: {failed} account(s) could not be swept (the others were)");
        return Ok(ExitCode::from(5));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_lambda() -> ExitCode {
    telemetry::init_logging(true);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let clients = Clients::from_env().await;
        let config = Config::from_env();
        if config.topic_arn.is_none() {
            tracing::warn!("FINDINGS_TOPIC_ARN is not set: findings will not be published");
        }
        let clients = &clients;
        let config = &config;
        lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<Value>| async move {
            let mut config = config.clone();
            // Leave time to publish before Lambda's own deadline. A deadline already past (a
            // local Runtime API emulator that sends the timeout instead of a time) keeps the default.
            if let Ok(remaining) = event.context.deadline().duration_since(std::time::SystemTime::now()) {
                config.time_budget = remaining.saturating_sub(std::time::Duration::from_secs(20)).max(std::time::Duration::from_secs(5));
            }
            // arn:aws:lambda:REGION:ACCOUNT:function:NAME: the account the function runs in.
            config.home_account = event.context.invoked_function_arn.split(':').nth(4).filter(|a| a.len() == 12).map(str::to_owned);
            let invocation = telemetry::Invocation::start(&event.context.request_id);
            // Organization mode: a batch of the accounts queue, one sweep per account; the
            // failed ones are reported so that SQS delivers them again alone.
            if run::organization::is_queue_event(&event.payload) {
                let batch: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(event.payload.clone())
                    .map_err(|e| lambda_runtime::Diagnostic { error_type: "InvalidQueueEvent".into(), error_message: e.to_string() })?;
                let (response, runs) = run::organization::consume(clients, &config, &batch, Utc::now()).await;
                for result in &runs {
                    invocation.finish(&event.payload, result);
                }
                return serde_json::to_value(response)
                    .map_err(|e| lambda_runtime::Diagnostic { error_type: "OutputError".into(), error_message: e.to_string() });
            }
            let result = run::handle_event(clients, &config, &event.payload, Utc::now()).await;
            invocation.finish(&event.payload, &result);
            match result {
                Ok(output) => {
                    tracing::info!(
                        trigger = output.trigger.kind(),
                        findings = output.findings.len(),
                        api_calls = output.api_calls_total,
                        "run complete"
                    );
                    // Lambda refuses responses over 6 MB: keep the result within 5 MB.
                    output
                        .truncate_within(5 * 1024 * 1024)
                        .and_then(serde_json::to_value)
                        .map_err(|e| lambda_runtime::Diagnostic { error_type: "OutputError".into(), error_message: e.to_string() })
                }
                Err(err) => {
                    tracing::error!(error = %err, "run failed; the invocation fails so Lambda retries");
                    Err(lambda_runtime::Diagnostic { error_type: err.error_type().into(), error_message: err.to_string() })
                }
            }
        }))
        .await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lambda runtime error: {e}");
            ExitCode::FAILURE
        }
    }
}
