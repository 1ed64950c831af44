//! The words every layer shares: how severe a finding is, and what kind of resource it is on.

use serde::{Deserialize, Serialize};

/// Finding severity, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 5] = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// AWS Config's resource type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ResourceType {
    #[serde(rename = "AWS::IAM::User")]
    User,
    #[serde(rename = "AWS::IAM::Role")]
    Role,
    #[serde(rename = "AWS::IAM::Group")]
    Group,
    #[serde(rename = "AWS::IAM::Policy")]
    Policy,
    #[serde(rename = "AWS::IAM::ServerCertificate")]
    ServerCertificate,
    #[serde(rename = "AWS::::Account")]
    Account,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::User => "AWS::IAM::User",
            ResourceType::Role => "AWS::IAM::Role",
            ResourceType::Group => "AWS::IAM::Group",
            ResourceType::Policy => "AWS::IAM::Policy",
            ResourceType::ServerCertificate => "AWS::IAM::ServerCertificate",
            ResourceType::Account => "AWS::::Account",
        }
    }
}

/// A published standard whose controls rules implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Standard {
    /// CIS Amazon Web Services Foundations Benchmark v3.0.0.
    #[serde(rename = "cis-3.0")]
    Cis3,
    /// CIS Amazon Web Services Foundations Benchmark v4.0.0.
    #[serde(rename = "cis-4.0")]
    Cis4,
    /// CIS Amazon Web Services Foundations Benchmark v5.0.0.
    #[serde(rename = "cis-5.0")]
    Cis5,
    /// AWS Foundational Security Best Practices (Security Hub).
    #[serde(rename = "fsbp")]
    Fsbp,
}

impl Standard {
    pub const ALL: [Standard; 4] = [Standard::Cis3, Standard::Cis4, Standard::Cis5, Standard::Fsbp];

    /// `cis-5.0`, `fsbp`: how the CLI names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Standard::Cis3 => "cis-3.0",
            Standard::Cis4 => "cis-4.0",
            Standard::Cis5 => "cis-5.0",
            Standard::Fsbp => "fsbp",
        }
    }
}

/// A control of a standard, by its id there (`1.4`, `IAM.4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Control {
    pub standard: Standard,
    pub id: &'static str,
}

impl Control {
    /// A control of CIS AWS Foundations v3.0.0.
    pub const fn cis3(id: &'static str) -> Control {
        Control { standard: Standard::Cis3, id }
    }
    /// A control of CIS AWS Foundations v4.0.1.
    pub const fn cis4(id: &'static str) -> Control {
        Control { standard: Standard::Cis4, id }
    }
    /// A control of CIS AWS Foundations v5.0.0.
    pub const fn cis5(id: &'static str) -> Control {
        Control { standard: Standard::Cis5, id }
    }
    /// A control of AWS Foundational Security Best Practices.
    pub const fn fsbp(id: &'static str) -> Control {
        Control { standard: Standard::Fsbp, id }
    }
}
