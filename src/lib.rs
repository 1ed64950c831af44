//! iam-assurance: the application layer shared by the Lambda handler and the CLI — event
//! routing, the offline audit, the live sweep/event path, run output, SNS messages and the
//! exports (ASFF and Security Hub, OCSF, CSV).
//!
//! The rules live in `iam-assurance-rules` (pure); every AWS call lives in
//! `iam-assurance-aws`. This crate wires them together and renders what people read.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod audit;
pub mod catalog_view;
pub mod change;
pub mod compliance_view;
pub mod export;
pub mod generate;
pub mod notify;
pub mod output;
pub mod route;
pub mod run;
pub mod telemetry;
