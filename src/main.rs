//! `iam-assurance`: the CLI, and the Lambda function when `AWS_LAMBDA_RUNTIME_API` is set.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use iam_assurance::audit::{self, AuditFiles};
use iam_assurance::catalog_view;
use iam_assurance::export;
use iam_assurance::output::{RunOutput, Trigger};
use iam_assurance::run::{self, Config, SettingsSource};
use iam_assurance::telemetry;
use iam_assurance_aws::Clients;
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
        Command::Sweep { settings_file, publish, format } => {
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
            let rt = runtime()?;
            let output = rt.block_on(async {
                let clients = Clients::from_env().await;
                run::sweep(&clients, &config, Trigger::Manual, Utc::now()).await
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
            let output = rt.block_on(async {
                let clients = Clients::from_env().await;
                run::handle_event(&clients, &config, &payload, Utc::now()).await
            })?;
            print(&output, Format::Json)?;
            Ok(exit_for(&output))
        }
        Command::Lambda => Ok(run_lambda()),
    }
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
