//! The account's own settings outside IAM that CIS and FSBP ask about: IAM Access Analyzer's
//! analyzers in each region, and the security alternate contact.
//!
//! Calls:
//!
//! | source | calls |
//! |---|---|
//! | access analyzers | account:ListRegions × pages (only when the rule names no regions), then accessanalyzer:ListAnalyzers × pages per region, one region after the other |
//! | security contact | account:GetAlternateContact (SECURITY) |

use aws_sdk_account::types::{AlternateContactType, RegionOptStatus};
use iam_assurance_rules::inventory::{AccessAnalyzers, AlternateContact, Analyzer, RegionAnalyzers};

use crate::error::AwsFailure;
use crate::Clients;

/// Upper bound on pages of one listing (it only stops an endpoint that keeps saying "more").
const MAX_PAGES: usize = 1_000;

/// The regions the account has enabled (opted in, or enabled by default): account:ListRegions.
pub async fn enabled_regions(clients: &Clients) -> Result<Vec<String>, String> {
    let mut regions = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let out = clients
            .account
            .list_regions()
            .region_opt_status_contains(RegionOptStatus::Enabled)
            .region_opt_status_contains(RegionOptStatus::EnabledByDefault)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk(&e).reason("account:ListRegions"))?;
        regions.extend(out.regions().iter().filter_map(|r| r.region_name()).map(str::to_owned));
        match out.next_token().filter(|t| !t.is_empty()) {
            Some(next) => token = Some(next.to_owned()),
            None => {
                regions.sort();
                regions.dedup();
                return Ok(regions);
            }
        }
    }
    Err(format!("account:ListRegions still had more pages after {MAX_PAGES}"))
}

/// The analyzers of one region: accessanalyzer:ListAnalyzers, signed for that region.
pub async fn region_analyzers(clients: &Clients, region: &str) -> Result<RegionAnalyzers, String> {
    let mut analyzers = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let out = clients
            .accessanalyzer
            .list_analyzers()
            .set_next_token(token.take())
            .customize()
            .config_override(
                aws_sdk_accessanalyzer::config::Config::builder().region(aws_sdk_accessanalyzer::config::Region::new(region.to_owned())),
            )
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk(&e).reason(&format!("accessanalyzer:ListAnalyzers in {region}")))?;
        analyzers.extend(out.analyzers().iter().map(|a| Analyzer {
            name: a.name().to_owned(),
            arn: a.arn().to_owned(),
            kind: a.r#type().as_str().to_owned(),
            status: a.status().as_str().to_owned(),
        }));
        match out.next_token().filter(|t| !t.is_empty()) {
            Some(next) => token = Some(next.to_owned()),
            None => return Ok(RegionAnalyzers { region: region.to_owned(), analyzers }),
        }
    }
    Err(format!("accessanalyzer:ListAnalyzers in {region} still had more pages after {MAX_PAGES}"))
}

/// The analyzers of `regions`, or of every enabled region when none are given. A region that
/// cannot be read fails the whole source, naming it: the rule must not pass a region it did
/// not see.
pub async fn access_analyzers(clients: &Clients, regions: &[String]) -> Result<AccessAnalyzers, String> {
    let (regions, regions_from) = if regions.is_empty() {
        let enabled = enabled_regions(clients).await.map_err(|e| {
            format!(
                "{e} (it lists the regions the account has enabled; or name them in the access-analyzer-enabled rule's `regions` setting)"
            )
        })?;
        (enabled, "the regions account:ListRegions reported enabled".to_string())
    } else {
        (regions.to_vec(), "the rule's `regions` setting".to_string())
    };
    let mut found = Vec::with_capacity(regions.len());
    for region in &regions {
        found.push(region_analyzers(clients, region).await?);
    }
    Ok(AccessAnalyzers { regions: found, regions_from })
}

/// The security alternate contact: account:GetAlternateContact. `Ok(None)`: none is set
/// (ResourceNotFoundException).
pub async fn security_contact(clients: &Clients) -> Result<Option<AlternateContact>, String> {
    match clients.account.get_alternate_contact().alternate_contact_type(AlternateContactType::Security).send().await {
        Ok(out) => Ok(out.alternate_contact().map(|c| AlternateContact {
            name: c.name().map(str::to_owned),
            title: c.title().map(str::to_owned),
            email: c.email_address().map(str::to_owned),
            phone: c.phone_number().map(str::to_owned),
        })),
        Err(err) => {
            let failure = AwsFailure::from_sdk(&err);
            if failure.is("ResourceNotFoundException") {
                Ok(None)
            } else {
                Err(failure.reason("account:GetAlternateContact"))
            }
        }
    }
}
