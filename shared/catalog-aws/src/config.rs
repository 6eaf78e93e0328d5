//! Configuration from environment variables, parsed then validated at cold
//! start.
//!
//! Two steps, like ripgrep's low-level then high-level arguments: a
//! [`RawConfig`] holds the text of each variable exactly as found (read from
//! any iterator of `(name, value)` pairs, so tests never touch the process
//! environment), then [`Config::from_raw`] checks every variable and returns
//! either a typed [`Config`] or a [`ConfigErrors`] that lists *every* problem,
//! one line each: the variable, the bad value, what is expected. A function
//! fails its cold start with that list rather than failing later, one
//! variable at a time.
//!
//! A variable that is set but empty (or only whitespace) counts as unset: SAM
//! passes `""` for an optional parameter left blank. Values are trimmed.
//!
//! | variable | required | default | rule |
//! |---|---|---|---|
//! | `WORK_BUCKET` | yes | | an S3 bucket name (3–63 of `a-z 0-9 . -`, starts and ends alphanumeric) |
//! | `PROVIDER` | yes | | the provider's prefix in Amazon's bucket: `[a-z0-9][a-z0-9_-]*`, at most 63 |
//! | `CATALOG_ENV` | no | `staging` | `staging` or `prod` |
//! | `PRODUCTION_ACCESS` | no | `false` | `true` or `false`; `prod` without it is accepted, and the gate refuses to publish (see [`Config::notes`]) |
//! | `CATALOG_ID` | no | `PROVIDER` | the `id` of `<ProgramCatalog>`: at most 256 characters, no control characters |
//! | `DESTINATION_BUCKET` | no | `amazon-media-catalogs` | an S3 bucket name |
//! | `DESTINATION_ROLE_ARN` | no | | `arn:aws:iam::<12 digits>:role/<name>` (also `aws-cn`, `aws-us-gov`) |
//! | `DESTINATION_EXTERNAL_ID` | with the role | | 2–1224 of `A-Z a-z 0-9 + = , . @ : / _ -`; never echoed in errors or `Debug` |
//! | `PART_SIZE_MIB` | no | `8` | whole MiB, 5..=512 (S3's minimum part is 5 MiB) |
//! | `MAX_ITEMS_PER_FILE` | no | `5000000` | a whole number ≥ 1 |
//! | `FULL_AFTER_DAYS` | no | `25` | 1..=29 (Amazon's limit for a full refresh is 30) |
//! | `KEEPALIVE_AFTER_DAYS` | no | `4` | 1..=6 (Amazon's limit for an update is 7) |
//! | `SHRINK_LIMIT_PERCENT` | no | `10` | 0..=100, up to two decimals (`7.5`), kept as basis points |
//! | `AWS_ENDPOINT_URL` | no | | an `http://` or `https://` URL (a local S3/SQS emulator) |
//! | `ALERTS_QUEUE_URL` | no | | an `http://` or `https://` URL of the alerts queue |
//! | `EMBER_OMIT_INFERRED` | no | | comma-separated names of inferred EMBER elements not to send (builder) nor expect (gate), e.g. `Credits,RunLengths`; README lists them |
//! | `OFFER_CATALOG_ID` | no | `<CATALOG_ID>-offers` | the `id` of `<OfferCatalog>` |

use std::collections::HashMap;
use std::fmt;

use catalog_core::diff::Policy;

const WORK_BUCKET: &str = "WORK_BUCKET";
const PROVIDER: &str = "PROVIDER";
const CATALOG_ENV: &str = "CATALOG_ENV";
const PRODUCTION_ACCESS: &str = "PRODUCTION_ACCESS";
const CATALOG_ID: &str = "CATALOG_ID";
const DESTINATION_BUCKET: &str = "DESTINATION_BUCKET";
const DESTINATION_ROLE_ARN: &str = "DESTINATION_ROLE_ARN";
const DESTINATION_EXTERNAL_ID: &str = "DESTINATION_EXTERNAL_ID";
const PART_SIZE_MIB: &str = "PART_SIZE_MIB";
const MAX_ITEMS_PER_FILE: &str = "MAX_ITEMS_PER_FILE";
const FULL_AFTER_DAYS: &str = "FULL_AFTER_DAYS";
const KEEPALIVE_AFTER_DAYS: &str = "KEEPALIVE_AFTER_DAYS";
const SHRINK_LIMIT_PERCENT: &str = "SHRINK_LIMIT_PERCENT";
const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
const ALERTS_QUEUE_URL: &str = "ALERTS_QUEUE_URL";
const EMBER_OMIT_INFERRED: &str = "EMBER_OMIT_INFERRED";
const OFFER_CATALOG_ID: &str = "OFFER_CATALOG_ID";

/// Every variable this module reads, in the order problems are reported.
pub const VARIABLES: [&str; 17] = [
    WORK_BUCKET,
    PROVIDER,
    CATALOG_ENV,
    PRODUCTION_ACCESS,
    CATALOG_ID,
    DESTINATION_BUCKET,
    DESTINATION_ROLE_ARN,
    DESTINATION_EXTERNAL_ID,
    PART_SIZE_MIB,
    MAX_ITEMS_PER_FILE,
    FULL_AFTER_DAYS,
    KEEPALIVE_AFTER_DAYS,
    SHRINK_LIMIT_PERCENT,
    AWS_ENDPOINT_URL,
    ALERTS_QUEUE_URL,
    EMBER_OMIT_INFERRED,
    OFFER_CATALOG_ID,
];

/// Amazon's bucket for media catalogs (DOMAIN.md A1).
pub const DEFAULT_DESTINATION_BUCKET: &str = "amazon-media-catalogs";
/// Default multipart part size, in MiB.
pub const DEFAULT_PART_SIZE_MIB: u32 = 8;
/// Default cap on items in one catalog file before it is split in parts.
pub const DEFAULT_MAX_ITEMS_PER_FILE: u64 = 5_000_000;
/// Default age of the last full submission that makes the next one full.
pub const DEFAULT_FULL_AFTER_DAYS: u32 = 25;
/// Default age of the last update that makes an empty update go out anyway.
pub const DEFAULT_KEEPALIVE_AFTER_DAYS: u32 = 4;
/// Default shrink guard, in basis points (10%).
pub const DEFAULT_SHRINK_LIMIT_BPS: u32 = 1000;

const MIB: u64 = 1024 * 1024;
const DAY_SECONDS: i64 = 24 * 60 * 60;

/// Which of Amazon's environments the catalogs go to: `<provider>/<env>/...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CatalogEnv {
    /// `staging`: always open.
    Staging,
    /// `prod`: open only once production access is granted.
    Prod,
}

impl CatalogEnv {
    /// The path segment: `staging` or `prod`.
    pub fn as_str(self) -> &'static str {
        match self {
            CatalogEnv::Staging => "staging",
            CatalogEnv::Prod => "prod",
        }
    }
}

impl fmt::Display for CatalogEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role Amazon grants for writing to its bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct DestinationRole {
    /// `arn:aws:iam::<account>:role/<name>`.
    pub arn: String,
    /// The external ID to pass to `sts:AssumeRole`. A shared secret: it is
    /// left out of `Debug` output.
    pub external_id: String,
}

impl fmt::Debug for DestinationRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DestinationRole")
            .field("arn", &self.arn)
            .field("external_id", &"<redacted>")
            .finish()
    }
}

/// The text of each variable as found, before any check. `None` when unset
/// or blank; otherwise trimmed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawConfig {
    values: HashMap<&'static str, String>,
}

impl RawConfig {
    /// Picks this module's variables out of `(name, value)` pairs; other
    /// names are ignored. When a name appears twice the last one wins, as
    /// with `env`.
    pub fn from_env_vars<I, K, V>(vars: I) -> RawConfig
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut values = HashMap::new();
        for (name, value) in vars {
            let Some(known) = VARIABLES.iter().find(|v| **v == name.as_ref()) else {
                continue;
            };
            let value = value.as_ref().trim();
            if value.is_empty() {
                values.remove(known);
            } else {
                values.insert(*known, value.to_owned());
            }
        }
        RawConfig { values }
    }

    /// The trimmed value of `name`, or `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

/// The checked configuration of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Our bucket: `source/`, `outbox/`, `state/`, `reports/`, `summaries/`.
    pub work_bucket: String,
    /// The provider's prefix in the destination bucket.
    pub provider: String,
    /// Where catalogs go: `<provider>/<env>/...`.
    pub env: CatalogEnv,
    /// Whether Amazon granted production access; the gate refuses `prod`
    /// without it.
    pub production_access: bool,
    /// The `id` attribute of `<ProgramCatalog>`.
    pub catalog_id: String,
    /// Amazon's bucket.
    pub destination_bucket: String,
    /// The role to assume for the destination bucket; `None` uses the
    /// function's own credentials (local runs, emulator tests).
    pub destination_role: Option<DestinationRole>,
    /// Multipart part size in MiB (5..=512).
    pub part_size_mib: u32,
    /// Items in one catalog file before the catalog is split in parts.
    pub max_items_per_file: u64,
    /// Days after the last full submission that make the next one full.
    pub full_after_days: u32,
    /// Days after the last update that make an empty update go out anyway.
    pub keepalive_after_days: u32,
    /// Share of live items a full catalog may drop, in basis points
    /// (1000 = 10%).
    pub shrink_limit_bps: u32,
    /// Endpoint of an S3/SQS emulator; `None` on AWS.
    pub aws_endpoint_url: Option<String>,
    /// Queue for alerts; `None` sends none.
    pub alerts_queue_url: Option<String>,
    /// The inferred EMBER elements not sent, and the offer catalog's id.
    pub ember: catalog_core::ember::EmberOptions,
}

impl Config {
    /// Reads and checks the configuration from `(name, value)` pairs.
    pub fn from_env_vars<I, K, V>(vars: I) -> Result<Config, ConfigErrors>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Config::from_raw(&RawConfig::from_env_vars(vars))
    }

    /// Reads and checks the configuration from the process environment.
    /// A value that is not valid Unicode is read lossily, and then fails its
    /// check with the replacement characters shown.
    pub fn from_process_env() -> Result<Config, ConfigErrors> {
        Config::from_env_vars(std::env::vars_os().map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        }))
    }

    /// Checks every variable of `raw`, collecting every problem.
    pub fn from_raw(raw: &RawConfig) -> Result<Config, ConfigErrors> {
        let mut errors = Vec::new();
        let mut check = |name: &'static str, rule: Result<(), String>| {
            if let Err(expected) = rule {
                errors.push(ConfigError::new(name, raw.get(name), expected));
            }
        };

        let work_bucket = raw.get(WORK_BUCKET).unwrap_or_default().to_owned();
        check(WORK_BUCKET, required(raw, WORK_BUCKET, check_bucket_name));

        let provider = raw.get(PROVIDER).unwrap_or_default().to_owned();
        check(PROVIDER, required(raw, PROVIDER, check_provider));

        let env = match raw.get(CATALOG_ENV) {
            None | Some("staging") => CatalogEnv::Staging,
            Some("prod") => CatalogEnv::Prod,
            Some(_) => {
                check(CATALOG_ENV, Err("`staging` or `prod`".to_owned()));
                CatalogEnv::Staging
            }
        };

        let production_access = match raw.get(PRODUCTION_ACCESS).map(parse_bool) {
            None => false,
            Some(Ok(flag)) => flag,
            Some(Err(expected)) => {
                check(PRODUCTION_ACCESS, Err(expected));
                false
            }
        };

        let catalog_id = match raw.get(CATALOG_ID) {
            None => provider.clone(),
            Some(id) => {
                check(CATALOG_ID, check_catalog_id(id));
                id.to_owned()
            }
        };

        let destination_bucket = match raw.get(DESTINATION_BUCKET) {
            None => DEFAULT_DESTINATION_BUCKET.to_owned(),
            Some(bucket) => {
                check(DESTINATION_BUCKET, check_bucket_name(bucket));
                bucket.to_owned()
            }
        };

        let external_id = raw.get(DESTINATION_EXTERNAL_ID);
        if let Some(id) = external_id {
            check(DESTINATION_EXTERNAL_ID, check_external_id(id));
        }
        let destination_role = match raw.get(DESTINATION_ROLE_ARN) {
            None => None,
            Some(arn) => {
                check(DESTINATION_ROLE_ARN, check_role_arn(arn));
                if external_id.is_none() {
                    check(
                        DESTINATION_EXTERNAL_ID,
                        Err("the external ID Amazon gave with the role (required when \
                             DESTINATION_ROLE_ARN is set)"
                            .to_owned()),
                    );
                }
                Some(DestinationRole {
                    arn: arn.to_owned(),
                    external_id: external_id.unwrap_or_default().to_owned(),
                })
            }
        };

        let mut number = |name: &'static str, default: u64, min: u64, max: u64| -> u64 {
            match raw.get(name).map(|v| parse_in_range(v, min, max)) {
                None => default,
                Some(Ok(n)) => n,
                Some(Err(expected)) => {
                    check(name, Err(expected));
                    default
                }
            }
        };
        let part_size_mib = number(PART_SIZE_MIB, DEFAULT_PART_SIZE_MIB.into(), 5, 512);
        let max_items_per_file = number(
            MAX_ITEMS_PER_FILE,
            DEFAULT_MAX_ITEMS_PER_FILE,
            1,
            u64::from(u32::MAX),
        );
        let full_after_days = number(FULL_AFTER_DAYS, DEFAULT_FULL_AFTER_DAYS.into(), 1, 29);
        let keepalive_after_days = number(
            KEEPALIVE_AFTER_DAYS,
            DEFAULT_KEEPALIVE_AFTER_DAYS.into(),
            1,
            6,
        );

        let shrink_limit_bps = match raw.get(SHRINK_LIMIT_PERCENT).map(parse_percent_bps) {
            None => DEFAULT_SHRINK_LIMIT_BPS,
            Some(Ok(bps)) => bps,
            Some(Err(expected)) => {
                check(SHRINK_LIMIT_PERCENT, Err(expected));
                DEFAULT_SHRINK_LIMIT_BPS
            }
        };

        let aws_endpoint_url = raw.get(AWS_ENDPOINT_URL).map(|url| {
            check(AWS_ENDPOINT_URL, check_url(url));
            url.to_owned()
        });
        let alerts_queue_url = raw.get(ALERTS_QUEUE_URL).map(|url| {
            check(ALERTS_QUEUE_URL, check_url(url));
            url.to_owned()
        });
        let omit = match raw
            .get(EMBER_OMIT_INFERRED)
            .map(catalog_core::ember::Omit::parse)
        {
            None => catalog_core::ember::Omit::NONE,
            Some(Ok(omit)) => omit,
            Some(Err(error)) => {
                check(EMBER_OMIT_INFERRED, Err(error.to_string()));
                catalog_core::ember::Omit::NONE
            }
        };
        let offer_catalog_id = raw.get(OFFER_CATALOG_ID).map(|id| {
            check(OFFER_CATALOG_ID, check_catalog_id(id));
            id.to_owned()
        });

        if !errors.is_empty() {
            errors.sort_by_key(|e| VARIABLES.iter().position(|v| *v == e.variable));
            return Err(ConfigErrors { errors });
        }
        // The ranges above keep every number within u32 except the item cap.
        let small = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(Config {
            work_bucket,
            provider,
            env,
            production_access,
            catalog_id,
            destination_bucket,
            destination_role,
            part_size_mib: small(part_size_mib),
            max_items_per_file,
            full_after_days: small(full_after_days),
            keepalive_after_days: small(keepalive_after_days),
            shrink_limit_bps,
            aws_endpoint_url,
            alerts_queue_url,
            ember: catalog_core::ember::EmberOptions {
                omit,
                offer_catalog_id,
            },
        })
    }

    /// The multipart part size in bytes.
    pub fn part_size_bytes(&self) -> u64 {
        u64::from(self.part_size_mib) * MIB
    }

    /// The diff policy these settings describe.
    pub fn diff_policy(&self) -> Policy {
        Policy {
            full_after: i64::from(self.full_after_days) * DAY_SECONDS,
            keepalive_after: i64::from(self.keepalive_after_days) * DAY_SECONDS,
            shrink_limit_bps: self.shrink_limit_bps,
        }
    }

    /// Settings that are valid but worth a line in the cold-start log, such
    /// as `prod` without production access (the gate will refuse every
    /// publication).
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.env == CatalogEnv::Prod && !self.production_access {
            notes.push(
                "CATALOG_ENV=prod but PRODUCTION_ACCESS=false: catalogs are built, \
                 and the gate refuses to publish them until production access is granted"
                    .to_owned(),
            );
        }
        if self.env == CatalogEnv::Staging && self.production_access {
            notes.push("PRODUCTION_ACCESS=true has no effect while CATALOG_ENV=staging".to_owned());
        }
        if self.destination_role.is_none() {
            notes.push(
                "DESTINATION_ROLE_ARN is not set: the destination bucket is reached with \
                 the function's own credentials"
                    .to_owned(),
            );
        }
        notes
    }
}

/// Applies `rule` to a variable that must be set.
fn required(
    raw: &RawConfig,
    name: &'static str,
    rule: fn(&str) -> Result<(), String>,
) -> Result<(), String> {
    match raw.get(name) {
        None => Err(expectation(name).to_owned()),
        Some(value) => rule(value),
    }
}

/// What a required variable holds, for the "must be set" message.
fn expectation(name: &str) -> &'static str {
    match name {
        WORK_BUCKET => "the name of the work bucket",
        PROVIDER => "the provider's prefix in Amazon's bucket, like `acme-video`",
        _ => "a value",
    }
}

/// Checks an S3 bucket name; `Err` says what is expected.
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    const EXPECTED: &str = "an S3 bucket name: 3 to 63 of lower-case letters, digits, `.` and `-`, \
                            starting and ending with a letter or digit";
    let bytes = name.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-';
    let alnum = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if (3..=63).contains(&bytes.len())
        && bytes.iter().all(allowed)
        && alnum(bytes.first())
        && alnum(bytes.last())
        && !name.contains("..")
    {
        Ok(())
    } else {
        Err(EXPECTED.to_owned())
    }
}

/// Checks a provider prefix; `Err` says what is expected.
pub fn check_provider(provider: &str) -> Result<(), String> {
    let bytes = provider.as_bytes();
    let first = bytes
        .first()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let rest = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_');
    if first && rest && bytes.len() <= 63 {
        Ok(())
    } else {
        Err(
            "a safe S3 prefix segment: `[a-z0-9][a-z0-9_-]*`, at most 63 characters, \
             like `acme-video`"
                .to_owned(),
        )
    }
}

fn check_catalog_id(id: &str) -> Result<(), String> {
    if id.chars().count() <= 256 && !id.chars().any(char::is_control) {
        Ok(())
    } else {
        Err("a catalog id of at most 256 characters without control characters".to_owned())
    }
}

fn check_role_arn(arn: &str) -> Result<(), String> {
    let expected =
        || Err("an IAM role ARN: `arn:aws:iam::<12-digit account>:role/<name>`".to_owned());
    let Some(rest) = ["arn:aws:iam::", "arn:aws-cn:iam::", "arn:aws-us-gov:iam::"]
        .iter()
        .find_map(|prefix| arn.strip_prefix(prefix))
    else {
        return expected();
    };
    let Some((account, role)) = rest.split_once(':') else {
        return expected();
    };
    let Some(name) = role.strip_prefix("role/") else {
        return expected();
    };
    let name_ok = !name.is_empty()
        && !name.ends_with('/')
        && name.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '+' | '=' | ',' | '.' | '@' | '_' | '-' | '/')
        });
    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && name_ok {
        Ok(())
    } else {
        expected()
    }
}

fn check_external_id(id: &str) -> Result<(), String> {
    let chars_ok = id.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(c, '+' | '=' | ',' | '.' | '@' | ':' | '/' | '_' | '-')
    });
    if (2..=1224).contains(&id.len()) && chars_ok {
        Ok(())
    } else {
        Err("an STS external ID: 2 to 1224 of letters, digits and `+=,.@:/_-`".to_owned())
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.contains(char::is_whitespace) => Ok(()),
        _ => Err("an `http://` or `https://` URL".to_owned()),
    }
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("`true` or `false`".to_owned()),
    }
}

fn parse_in_range(value: &str, min: u64, max: u64) -> Result<u64, String> {
    let expected = || format!("a whole number from {min} to {max}");
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(expected());
    }
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(expected()),
    }
}

/// `"7.5"` → 750: a percentage with at most two decimals, in basis points.
fn parse_percent_bps(value: &str) -> Result<u32, String> {
    let expected =
        || Err("a percentage from 0 to 100 with at most two decimals, like `7.5`".to_owned());
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let fraction_ok = !value.contains('.') || (1..=2).contains(&fraction.len());
    if whole.is_empty() || whole.len() > 3 || !digits(whole) || !digits(fraction) || !fraction_ok {
        return expected();
    }
    let Ok(whole) = whole.parse::<u32>() else {
        return expected();
    };
    let hundredths = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<u32>().map_or(u32::MAX, |f| f * 10),
        _ => fraction.parse::<u32>().unwrap_or(u32::MAX),
    };
    let bps = whole.saturating_mul(100).saturating_add(hundredths);
    if bps <= 10_000 { Ok(bps) } else { expected() }
}

/// One problem with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name.
    pub variable: &'static str,
    /// The value found, `None` when unset; a secret's value is never kept.
    pub value: Option<String>,
    /// What the variable must hold.
    pub expected: String,
}

impl ConfigError {
    fn new(variable: &'static str, value: Option<&str>, expected: String) -> ConfigError {
        let value = value.map(|v| {
            if variable == DESTINATION_EXTERNAL_ID {
                format!("<{} characters, not shown>", v.chars().count())
            } else {
                v.to_owned()
            }
        });
        ConfigError {
            variable,
            value,
            expected,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            None => write!(
                f,
                "{} is not set; expected {}",
                self.variable, self.expected
            ),
            Some(value) => write!(
                f,
                "{}={:?} is invalid; expected {}",
                self.variable, value, self.expected
            ),
        }
    }
}

/// Every problem found in the configuration, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The problems, in the order of [`VARIABLES`].
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "invalid configuration ({n} problem{})",
            if n == 1 { "" } else { "s" }
        )?;
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let mut all = vec![("WORK_BUCKET", "acme-work"), ("PROVIDER", "acme-video")];
        all.extend_from_slice(vars);
        Config::from_env_vars(all)
    }

    fn problems(vars: &[(&str, &str)]) -> Vec<ConfigError> {
        config(vars).unwrap_err().errors
    }

    fn only_problem(vars: &[(&str, &str)]) -> ConfigError {
        let errors = problems(vars);
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn minimal_config_takes_every_default() {
        let c = config(&[]).unwrap();
        assert_eq!(c.work_bucket, "acme-work");
        assert_eq!(c.provider, "acme-video");
        assert_eq!(c.env, CatalogEnv::Staging);
        assert!(!c.production_access);
        assert_eq!(c.catalog_id, "acme-video");
        assert_eq!(c.destination_bucket, "amazon-media-catalogs");
        assert_eq!(c.destination_role, None);
        assert_eq!(c.part_size_mib, 8);
        assert_eq!(c.part_size_bytes(), 8 * 1024 * 1024);
        assert_eq!(c.max_items_per_file, 5_000_000);
        assert_eq!(c.full_after_days, 25);
        assert_eq!(c.keepalive_after_days, 4);
        assert_eq!(c.shrink_limit_bps, 1000);
        assert_eq!(c.aws_endpoint_url, None);
        assert_eq!(c.alerts_queue_url, None);
        assert_eq!(c.diff_policy(), Policy::default());
    }

    #[test]
    fn inferred_ember_elements_can_be_switched_off_by_name() {
        use catalog_core::ember::{Inferred, Omit};
        let c = config(&[
            ("EMBER_OMIT_INFERRED", "credits, RunLengths"),
            ("OFFER_CATALOG_ID", "ACME-OFFERS"),
        ])
        .unwrap();
        assert!(c.ember.omit.omits(Inferred::Credits));
        assert!(c.ember.omit.omits(Inferred::RunLengths));
        assert!(!c.ember.omit.omits(Inferred::Relationships));
        assert_eq!(c.ember.offer_catalog_id.as_deref(), Some("ACME-OFFERS"));
        assert_eq!(config(&[]).unwrap().ember.omit, Omit::NONE);
        let problem = only_problem(&[("EMBER_OMIT_INFERRED", "Credits,Nonsense")]);
        assert_eq!(problem.variable, "EMBER_OMIT_INFERRED");
        assert!(problem.to_string().contains("Nonsense"), "{problem}");
    }

    #[test]
    fn every_variable_set_is_read() {
        let c = config(&[
            ("CATALOG_ENV", "prod"),
            ("PRODUCTION_ACCESS", "true"),
            ("CATALOG_ID", "ACME_CATALOG"),
            ("DESTINATION_BUCKET", "amazon-media-catalogs-test"),
            (
                "DESTINATION_ROLE_ARN",
                "arn:aws:iam::123456789012:role/path/AmazonCatalogWriter",
            ),
            ("DESTINATION_EXTERNAL_ID", "acme-7f3a:b2"),
            ("PART_SIZE_MIB", "64"),
            ("MAX_ITEMS_PER_FILE", "100000"),
            ("FULL_AFTER_DAYS", "20"),
            ("KEEPALIVE_AFTER_DAYS", "2"),
            ("SHRINK_LIMIT_PERCENT", "7.5"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            (
                "ALERTS_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/123456789012/alerts",
            ),
        ])
        .unwrap();
        assert_eq!(c.env, CatalogEnv::Prod);
        assert!(c.production_access);
        assert_eq!(c.catalog_id, "ACME_CATALOG");
        assert_eq!(c.destination_bucket, "amazon-media-catalogs-test");
        let role = c.destination_role.as_ref().unwrap();
        assert_eq!(
            role.arn,
            "arn:aws:iam::123456789012:role/path/AmazonCatalogWriter"
        );
        assert_eq!(role.external_id, "acme-7f3a:b2");
        assert_eq!(c.part_size_bytes(), 64 * 1024 * 1024);
        assert_eq!(c.max_items_per_file, 100_000);
        assert_eq!(c.shrink_limit_bps, 750);
        assert_eq!(c.aws_endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert!(c.alerts_queue_url.is_some());
        let policy = c.diff_policy();
        assert_eq!(policy.full_after, 20 * 86_400);
        assert_eq!(policy.keepalive_after, 2 * 86_400);
        assert_eq!(policy.shrink_limit_bps, 750);
        assert!(c.notes().is_empty(), "{:?}", c.notes());
    }

    #[test]
    fn empty_environment_names_both_required_variables() {
        let errors = Config::from_env_vars(Vec::<(String, String)>::new())
            .unwrap_err()
            .errors;
        let names: Vec<_> = errors.iter().map(|e| e.variable).collect();
        assert_eq!(names, ["WORK_BUCKET", "PROVIDER"]);
        assert!(errors.iter().all(|e| e.value.is_none()));
    }

    #[test]
    fn blank_values_count_as_unset_and_values_are_trimmed() {
        let c = config(&[
            ("DESTINATION_ROLE_ARN", ""),
            ("CATALOG_ID", "   "),
            ("PART_SIZE_MIB", " 16 "),
        ])
        .unwrap();
        assert_eq!(c.destination_role, None);
        assert_eq!(c.catalog_id, "acme-video");
        assert_eq!(c.part_size_mib, 16);
        let e = problems(&[("WORK_BUCKET", " ")]);
        assert_eq!(e[0].variable, "WORK_BUCKET");
        assert_eq!(e[0].value, None);
    }

    #[test]
    fn unrelated_variables_are_ignored_and_the_last_duplicate_wins() {
        let c = Config::from_env_vars([
            ("HOME", "/root"),
            ("WORK_BUCKET", "first-bucket"),
            ("PROVIDER", "acme"),
            ("WORK_BUCKET", "second-bucket"),
        ])
        .unwrap();
        assert_eq!(c.work_bucket, "second-bucket");
    }

    #[test]
    fn work_bucket_must_be_a_bucket_name() {
        for bad in ["ab", "Acme-Work", "acme_work", "-acme", "acme-", "a..b"] {
            let e = only_problem(&[("WORK_BUCKET", bad)]);
            assert_eq!(e.variable, "WORK_BUCKET");
            assert_eq!(e.value.as_deref(), Some(bad));
        }
        let long = "a".repeat(64);
        assert_eq!(
            only_problem(&[("WORK_BUCKET", &long)]).variable,
            "WORK_BUCKET"
        );
        assert!(config(&[("WORK_BUCKET", "my.work-bucket-1")]).is_ok());
    }

    #[test]
    fn provider_must_be_a_safe_prefix_segment() {
        for bad in [
            "Acme",
            "-acme",
            "_acme",
            "acme/video",
            "acme video",
            "..",
            "acmé",
        ] {
            let e = only_problem(&[("PROVIDER", bad)]);
            assert_eq!(e.variable, "PROVIDER", "{bad}");
        }
        for good in ["acme", "0acme", "acme-video_2"] {
            assert!(config(&[("PROVIDER", good)]).is_ok(), "{good}");
        }
    }

    #[test]
    fn catalog_env_is_staging_or_prod() {
        assert_eq!(
            config(&[("CATALOG_ENV", "staging")]).unwrap().env,
            CatalogEnv::Staging
        );
        assert_eq!(
            config(&[("CATALOG_ENV", "prod")]).unwrap().env.as_str(),
            "prod"
        );
        let e = only_problem(&[("CATALOG_ENV", "production")]);
        assert_eq!(e.variable, "CATALOG_ENV");
        assert!(e.expected.contains("`staging` or `prod`"));
    }

    #[test]
    fn production_access_is_a_boolean() {
        assert!(
            config(&[("PRODUCTION_ACCESS", "TRUE")])
                .unwrap()
                .production_access
        );
        assert!(
            !config(&[("PRODUCTION_ACCESS", "false")])
                .unwrap()
                .production_access
        );
        let e = only_problem(&[("PRODUCTION_ACCESS", "yes")]);
        assert_eq!(e.variable, "PRODUCTION_ACCESS");
    }

    #[test]
    fn prod_without_production_access_is_accepted_with_a_note() {
        let c = config(&[("CATALOG_ENV", "prod")]).unwrap();
        assert_eq!(c.env, CatalogEnv::Prod);
        assert!(!c.production_access);
        assert!(
            c.notes()
                .iter()
                .any(|n| n.contains("PRODUCTION_ACCESS=false"))
        );
    }

    #[test]
    fn catalog_id_defaults_to_provider_and_rejects_control_characters() {
        assert_eq!(config(&[]).unwrap().catalog_id, "acme-video");
        let e = only_problem(&[("CATALOG_ID", "ACME\u{7}")]);
        assert_eq!(e.variable, "CATALOG_ID");
    }

    #[test]
    fn destination_bucket_must_be_a_bucket_name() {
        let e = only_problem(&[("DESTINATION_BUCKET", "Amazon_Media")]);
        assert_eq!(e.variable, "DESTINATION_BUCKET");
    }

    #[test]
    fn role_arn_must_look_like_an_iam_role() {
        for bad in [
            "arn:aws:iam::12345678901:role/Writer",
            "arn:aws:iam::123456789012:user/Writer",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::1234567890ab:role/Writer",
            "123456789012",
        ] {
            let e = only_problem(&[
                ("DESTINATION_ROLE_ARN", bad),
                ("DESTINATION_EXTERNAL_ID", "secret-id"),
            ]);
            assert_eq!(e.variable, "DESTINATION_ROLE_ARN", "{bad}");
        }
        assert!(
            config(&[
                (
                    "DESTINATION_ROLE_ARN",
                    "arn:aws-cn:iam::123456789012:role/Writer"
                ),
                ("DESTINATION_EXTERNAL_ID", "secret-id"),
            ])
            .is_ok()
        );
    }

    #[test]
    fn external_id_is_required_with_the_role() {
        let e = only_problem(&[(
            "DESTINATION_ROLE_ARN",
            "arn:aws:iam::123456789012:role/Writer",
        )]);
        assert_eq!(e.variable, "DESTINATION_EXTERNAL_ID");
        assert_eq!(e.value, None);
        assert!(
            e.expected
                .contains("required when DESTINATION_ROLE_ARN is set")
        );
    }

    #[test]
    fn external_id_is_never_echoed() {
        let e = only_problem(&[
            (
                "DESTINATION_ROLE_ARN",
                "arn:aws:iam::123456789012:role/Writer",
            ),
            ("DESTINATION_EXTERNAL_ID", "top secret!"),
        ]);
        assert_eq!(e.variable, "DESTINATION_EXTERNAL_ID");
        assert_eq!(e.value.as_deref(), Some("<11 characters, not shown>"));
        let c = config(&[
            (
                "DESTINATION_ROLE_ARN",
                "arn:aws:iam::123456789012:role/Writer",
            ),
            ("DESTINATION_EXTERNAL_ID", "top-secret"),
        ])
        .unwrap();
        assert!(!format!("{c:?}").contains("top-secret"));
    }

    #[test]
    fn part_size_is_5_to_512_mib() {
        assert_eq!(config(&[("PART_SIZE_MIB", "5")]).unwrap().part_size_mib, 5);
        assert_eq!(
            config(&[("PART_SIZE_MIB", "512")]).unwrap().part_size_mib,
            512
        );
        for bad in ["4", "513", "8.5", "-8", "8MiB", "99999999999999999999999"] {
            let e = only_problem(&[("PART_SIZE_MIB", bad)]);
            assert_eq!(e.variable, "PART_SIZE_MIB", "{bad}");
            assert_eq!(e.expected, "a whole number from 5 to 512");
        }
    }

    #[test]
    fn max_items_per_file_is_at_least_one() {
        assert_eq!(
            only_problem(&[("MAX_ITEMS_PER_FILE", "0")]).variable,
            "MAX_ITEMS_PER_FILE"
        );
        assert_eq!(
            only_problem(&[("MAX_ITEMS_PER_FILE", "5_000_000")]).variable,
            "MAX_ITEMS_PER_FILE"
        );
        assert_eq!(
            config(&[("MAX_ITEMS_PER_FILE", "1")])
                .unwrap()
                .max_items_per_file,
            1
        );
    }

    #[test]
    fn full_after_days_is_1_to_29() {
        assert_eq!(
            config(&[("FULL_AFTER_DAYS", "29")])
                .unwrap()
                .full_after_days,
            29
        );
        assert_eq!(
            config(&[("FULL_AFTER_DAYS", "1")]).unwrap().full_after_days,
            1
        );
        for bad in ["0", "30"] {
            assert_eq!(
                only_problem(&[("FULL_AFTER_DAYS", bad)]).variable,
                "FULL_AFTER_DAYS"
            );
        }
    }

    #[test]
    fn keepalive_after_days_is_1_to_6() {
        assert_eq!(
            config(&[("KEEPALIVE_AFTER_DAYS", "6")])
                .unwrap()
                .keepalive_after_days,
            6
        );
        for bad in ["0", "7"] {
            assert_eq!(
                only_problem(&[("KEEPALIVE_AFTER_DAYS", bad)]).variable,
                "KEEPALIVE_AFTER_DAYS"
            );
        }
    }

    #[test]
    fn shrink_limit_accepts_up_to_two_decimals() {
        for (text, bps) in [
            ("0", 0),
            ("10", 1000),
            ("7.5", 750),
            ("7.50", 750),
            ("0.01", 1),
            ("100", 10_000),
            ("100.0", 10_000),
        ] {
            assert_eq!(parse_percent_bps(text), Ok(bps), "{text}");
        }
        for bad in [
            "100.01", "101", "7.", ".5", "7.555", "-1", "1e1", "ten", "1000",
        ] {
            let e = only_problem(&[("SHRINK_LIMIT_PERCENT", bad)]);
            assert_eq!(e.variable, "SHRINK_LIMIT_PERCENT", "{bad}");
        }
    }

    #[test]
    fn urls_must_be_http_or_https() {
        for name in ["AWS_ENDPOINT_URL", "ALERTS_QUEUE_URL"] {
            assert_eq!(only_problem(&[(name, "localhost:5000")]).variable, name);
            assert_eq!(only_problem(&[(name, "http://")]).variable, name);
            assert!(config(&[(name, "https://example.test/q")]).is_ok());
        }
    }

    #[test]
    fn every_problem_is_listed_once_in_variable_order() {
        let errors = Config::from_env_vars([
            ("SHRINK_LIMIT_PERCENT", "200"),
            ("CATALOG_ENV", "dev"),
            ("PART_SIZE_MIB", "1"),
            ("DESTINATION_ROLE_ARN", "not-an-arn"),
        ])
        .unwrap_err();
        let names: Vec<_> = errors.errors.iter().map(|e| e.variable).collect();
        assert_eq!(
            names,
            [
                "WORK_BUCKET",
                "PROVIDER",
                "CATALOG_ENV",
                "DESTINATION_ROLE_ARN",
                "DESTINATION_EXTERNAL_ID",
                "PART_SIZE_MIB",
                "SHRINK_LIMIT_PERCENT",
            ]
        );
        let text = errors.to_string();
        assert_eq!(text.lines().count(), 1 + names.len(), "{text}");
        assert!(text.starts_with("invalid configuration (7 problems)"));
        assert!(
            text.contains(
                "\n  PART_SIZE_MIB=\"1\" is invalid; expected a whole number from 5 to 512"
            )
        );
        assert!(text.contains("\n  WORK_BUCKET is not set; expected the name of the work bucket"));
    }
}
