//! Fault profiles: the TOML files under mocks/ that tell each mock provider how
//! slow and how unreliable to be.
//!
//! A profile is parsed in two stages, like a scenario: serde reads the TOML into
//! raw types that reject unknown keys, then [`FaultProfile::parse`] checks every
//! value and builds the checked types. Every error names the file, the key path
//! (such as `sms.faults.http_500`) and the fix. mocks/README.md documents the
//! format.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::faults::{Fault, Provider};

/// Maximum API latency a profile may ask for, in milliseconds (10 minutes).
pub const MAX_LATENCY_MS: f64 = 600_000.0;

/// Maximum email or SMS delivery delay a profile may ask for, in seconds (one day).
pub const MAX_DELIVERY_DELAY_S: f64 = 86_400.0;

/// Maximum postal delivery delay a profile may ask for, in business days.
pub const MAX_POSTAL_DELAY_DAYS: f64 = 1_000.0;

/// Maximum hold of a hang, in seconds (one hour).
pub const MAX_HANG_S: f64 = 3_600.0;

/// Maximum `Retry-After` of an injected 429, in seconds.
pub const MAX_RETRY_AFTER_S: u64 = 3_600;

/// Twilio's error codes for an undeliverable message that a profile may pick.
pub const UNDELIVERABLE_ERROR_CODES: [u32; 4] = [30003, 30005, 30006, 30008];

/// A fault profile file rejected before the mocks start, naming the file, key and fix.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read fault profile {path}: {error}; check the path")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("invalid fault profile {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid fault profile {path}: key `{key}` {problem}; {fix}")]
    Invalid {
        path: PathBuf,
        key: String,
        problem: String,
        fix: String,
    },
}

/// A checked fault profile for the three mock providers.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultProfile {
    /// The file the profile came from, or `None` for [`FaultProfile::healthy`].
    pub path: Option<PathBuf>,
    pub description: Option<String>,
    /// Seed of every per-attempt draw; the same profile and seed give the same faults.
    pub seed: u64,
    pub email: ChannelProfile,
    pub sms: ChannelProfile,
    pub postal: ChannelProfile,
}

/// The profile settings of one provider.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChannelProfile {
    /// Time the API takes to respond, in milliseconds. `None` responds at once.
    pub latency: Option<Distribution>,
    /// Time from acceptance to delivery: seconds for email and SMS, business days
    /// for postal. `None` delivers email and SMS at once and leaves postal transit
    /// to [`super::ProviderSettings::postal_transit_business_days`].
    pub delivery_delay: Option<Distribution>,
    /// Probability of each fault, per attempt. Their sum is at most 1.
    pub faults: FaultRates,
    pub fault_settings: FaultSettings,
    pub outages: Vec<Outage>,
}

/// A distribution of a non-negative quantity, in the unit of the key that contains it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    Fixed {
        value: f64,
    },
    Uniform {
        min: f64,
        max: f64,
    },
    Exponential {
        mean: f64,
    },
    /// A log-normal distribution with the given median (`exp(mu)`) and `sigma`.
    Lognormal {
        median: f64,
        sigma: f64,
    },
}

impl Distribution {
    /// Returns the value that 999 draws in 1,000 stay under: the largest value
    /// of a bounded distribution, the 99.9th percentile of an unbounded one.
    pub fn practical_max(&self) -> f64 {
        // 3.09 is the standard normal's 99.9th percentile.
        const Z_999: f64 = 3.09;
        match *self {
            Distribution::Fixed { value } => value,
            Distribution::Uniform { max, .. } => max,
            Distribution::Exponential { mean } => mean * 1000f64.ln(),
            Distribution::Lognormal { median, sigma } => median * (Z_999 * sigma).exp(),
        }
    }
}

/// The probability of each fault kind, indexed by [`Fault::index`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultRates {
    probabilities: [f64; Fault::ALL.len()],
}

impl FaultRates {
    /// Returns the probability of `fault`.
    pub fn get(&self, fault: Fault) -> f64 {
        self.probabilities[fault.index()]
    }

    /// Sets the probability of `fault`; validation happens when a file is parsed.
    pub fn set(&mut self, fault: Fault, probability: f64) {
        self.probabilities[fault.index()] = probability;
    }

    /// Returns the sum of every probability.
    pub fn total(&self) -> f64 {
        self.probabilities.iter().sum()
    }
}

/// Parameters of the faults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultSettings {
    /// `Retry-After` of an injected 429, in seconds.
    pub retry_after_s: u64,
    /// Time a hang delays the response, in seconds.
    pub hang_s: f64,
    /// Twilio error code of an undeliverable text message.
    pub undeliverable_error_code: u32,
}

impl Default for FaultSettings {
    fn default() -> Self {
        Self {
            retry_after_s: 1,
            hang_s: 30.0,
            undeliverable_error_code: 30003,
        }
    }
}

/// A window of time, relative to the mocks' start, in which a provider fails every send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outage {
    pub start_s: f64,
    pub end_s: f64,
    pub kind: OutageKind,
}

/// The failure of every send during an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageKind {
    #[serde(rename = "http_503")]
    Http503,
    ConnectionReset,
    Hang,
}

impl FaultProfile {
    /// Returns the profile with no faults, no latency and no delivery delay.
    pub fn healthy() -> Self {
        Self {
            path: None,
            description: Some("No faults, no latency, no delivery delay".to_owned()),
            seed: 0,
            email: ChannelProfile::default(),
            sms: ChannelProfile::default(),
            postal: ChannelProfile::default(),
        }
    }

    /// Reads and checks a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|error| ProfileError::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and checks profile text; `path` names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ProfileError> {
        let raw: RawProfile = toml::from_str(text).map_err(|error| ProfileError::Parse {
            path: path.to_owned(),
            message: plain_type_names(error.to_string().trim_end()).replace('\n', "\n  ")
                + "\n  mocks/README.md lists every key with its unit and default",
        })?;
        let check = Checker { path };
        Ok(Self {
            path: Some(path.to_owned()),
            description: raw.description,
            seed: raw.seed.unwrap_or(0),
            email: check.channel(Provider::Email, raw.email.unwrap_or_default())?,
            sms: check.channel(Provider::Sms, raw.sms.unwrap_or_default())?,
            postal: check.channel(Provider::Postal, raw.postal.unwrap_or_default())?,
        })
    }

    /// Returns the part of the profile for `provider`.
    pub fn channel(&self, provider: Provider) -> &ChannelProfile {
        match provider {
            Provider::Email => &self.email,
            Provider::Sms => &self.sms,
            Provider::Postal => &self.postal,
        }
    }
}

impl Default for FaultProfile {
    fn default() -> Self {
        Self::healthy()
    }
}

/// Replaces Rust type names in TOML errors with the words a profile author uses.
fn plain_type_names(message: &str) -> String {
    message
        .replace("expected u64", "expected a whole number of 0 or more")
        .replace("expected f64", "expected a number")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    description: Option<String>,
    seed: Option<u64>,
    email: Option<RawChannel>,
    sms: Option<RawChannel>,
    postal: Option<RawChannel>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    latency: Option<toml::Table>,
    delivery_delay: Option<toml::Table>,
    #[serde(default)]
    faults: toml::Table,
    #[serde(default)]
    fault_settings: RawFaultSettings,
    #[serde(default)]
    outages: Vec<RawOutage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFaultSettings {
    retry_after_s: Option<u64>,
    hang_s: Option<f64>,
    undeliverable_error_code: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutage {
    start_s: f64,
    end_s: f64,
    kind: OutageKind,
}

/// Unit of a distribution's key: its parameters carry `suffix`, and no value may
/// exceed `max`.
struct Unit {
    suffix: &'static str,
    name: &'static str,
    max: f64,
    whole: bool,
}

const MILLISECONDS: Unit = Unit {
    suffix: "_ms",
    name: "milliseconds",
    max: MAX_LATENCY_MS,
    whole: false,
};

const SECONDS: Unit = Unit {
    suffix: "_s",
    name: "seconds",
    max: MAX_DELIVERY_DELAY_S,
    whole: false,
};

const BUSINESS_DAYS: Unit = Unit {
    suffix: "",
    name: "business days",
    max: MAX_POSTAL_DELAY_DAYS,
    whole: true,
};

struct Checker<'a> {
    path: &'a Path,
}

impl Checker<'_> {
    fn invalid(
        &self,
        key: &str,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> ProfileError {
        ProfileError::Invalid {
            path: self.path.to_owned(),
            key: key.to_owned(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    fn channel(&self, provider: Provider, raw: RawChannel) -> Result<ChannelProfile, ProfileError> {
        let name = provider.name();
        let delay_unit = match provider {
            Provider::Postal => BUSINESS_DAYS,
            Provider::Email | Provider::Sms => SECONDS,
        };
        let latency = raw
            .latency
            .map(|table| self.distribution(&format!("{name}.latency"), &table, &MILLISECONDS))
            .transpose()?;
        let delivery_delay = raw
            .delivery_delay
            .map(|table| self.distribution(&format!("{name}.delivery_delay"), &table, &delay_unit))
            .transpose()?;
        let faults = self.faults(provider, &raw.faults)?;
        let fault_settings = self.fault_settings(name, &raw.fault_settings)?;
        let outages = raw
            .outages
            .iter()
            .enumerate()
            .map(|(index, outage)| self.outage(&format!("{name}.outages[{index}]"), outage))
            .collect::<Result<_, _>>()?;
        Ok(ChannelProfile {
            latency,
            delivery_delay,
            faults,
            fault_settings,
            outages,
        })
    }

    fn faults(&self, provider: Provider, table: &toml::Table) -> Result<FaultRates, ProfileError> {
        let name = provider.name();
        let mut rates = FaultRates::default();
        for (key, value) in table {
            let path = format!("{name}.faults.{key}");
            let Some(fault) = Fault::from_name(key) else {
                let known: Vec<&str> = Fault::ALL
                    .iter()
                    .filter(|fault| fault.applies_to(provider))
                    .map(|fault| fault.name())
                    .collect();
                return Err(self.invalid(
                    &path,
                    "is not a fault kind",
                    format!("use one of {}", known.join(", ")),
                ));
            };
            if !fault.applies_to(provider) {
                return Err(self.invalid(
                    &path,
                    format!("does not apply to {name}"),
                    format!(
                        "remove it; {key} applies only to {}",
                        fault.only_provider_names()
                    ),
                ));
            }
            let probability = self.number(&path, value)?;
            if !(0.0..=1.0).contains(&probability) {
                return Err(self.invalid(
                    &path,
                    format!("is {probability}"),
                    "set a probability from 0 to 1",
                ));
            }
            rates.set(fault, probability);
        }
        // A small tolerance lets sums such as 0.1 + 0.2 + 0.7 pass despite rounding.
        if rates.total() > 1.0 + 1e-9 {
            return Err(self.invalid(
                &format!("{name}.faults"),
                // Rounded, so that 0.9 + 0.26 reads 1.16, not 1.1600000000000001.
                format!(
                    "has probabilities that sum to {}",
                    (rates.total() * 1e9).round() / 1e9
                ),
                "lower them so that they sum to at most 1",
            ));
        }
        Ok(rates)
    }

    fn fault_settings(
        &self,
        name: &str,
        raw: &RawFaultSettings,
    ) -> Result<FaultSettings, ProfileError> {
        let mut settings = FaultSettings::default();
        if let Some(seconds) = raw.retry_after_s {
            if seconds > MAX_RETRY_AFTER_S {
                return Err(self.invalid(
                    &format!("{name}.fault_settings.retry_after_s"),
                    format!("is {seconds}"),
                    format!("set a whole number of seconds from 0 to {MAX_RETRY_AFTER_S}"),
                ));
            }
            settings.retry_after_s = seconds;
        }
        if let Some(seconds) = raw.hang_s {
            if !seconds.is_finite() || !(0.0..=MAX_HANG_S).contains(&seconds) {
                return Err(self.invalid(
                    &format!("{name}.fault_settings.hang_s"),
                    format!("is {seconds}"),
                    format!("set a number of seconds from 0 to {MAX_HANG_S}"),
                ));
            }
            settings.hang_s = seconds;
        }
        if let Some(code) = raw.undeliverable_error_code {
            let key = format!("{name}.fault_settings.undeliverable_error_code");
            if name != Provider::Sms.name() {
                return Err(self.invalid(
                    &key,
                    format!("does not apply to {name}"),
                    "remove it; it applies only to sms",
                ));
            }
            if !UNDELIVERABLE_ERROR_CODES.contains(&code) {
                return Err(self.invalid(
                    &key,
                    format!("is {code}"),
                    "set one of Twilio's codes 30003, 30005, 30006 or 30008",
                ));
            }
            settings.undeliverable_error_code = code;
        }
        Ok(settings)
    }

    fn outage(&self, key: &str, raw: &RawOutage) -> Result<Outage, ProfileError> {
        if !raw.start_s.is_finite() || raw.start_s < 0.0 {
            return Err(self.invalid(
                &format!("{key}.start_s"),
                format!("is {}", raw.start_s),
                "set a number of seconds after the mocks start, 0 or more",
            ));
        }
        if !raw.end_s.is_finite() || raw.end_s <= raw.start_s {
            return Err(self.invalid(
                &format!("{key}.end_s"),
                format!("is {}, not after start_s = {}", raw.end_s, raw.start_s),
                "set end_s greater than start_s",
            ));
        }
        Ok(Outage {
            start_s: raw.start_s,
            end_s: raw.end_s,
            kind: raw.kind,
        })
    }

    /// Checks a distribution table whose parameters are in `unit`.
    fn distribution(
        &self,
        key: &str,
        table: &toml::Table,
        unit: &Unit,
    ) -> Result<Distribution, ProfileError> {
        let kind = match table.get("distribution") {
            Some(toml::Value::String(kind)) => kind.as_str(),
            Some(other) => {
                return Err(self.invalid(
                    &format!("{key}.distribution"),
                    format!("is {other}"),
                    "set \"fixed\", \"uniform\", \"exponential\" or \"lognormal\"",
                ))
            }
            None => {
                return Err(self.invalid(
                    &format!("{key}.distribution"),
                    "is missing",
                    "set \"fixed\", \"uniform\", \"exponential\" or \"lognormal\"",
                ))
            }
        };
        let parameters: &[&str] = match kind {
            "fixed" => &["value"],
            "uniform" => &["min", "max"],
            "exponential" => &["mean"],
            "lognormal" => &["median", "sigma"],
            other => {
                return Err(self.invalid(
                    &format!("{key}.distribution"),
                    format!("is {other:?}"),
                    "set \"fixed\", \"uniform\", \"exponential\" or \"lognormal\"",
                ))
            }
        };
        let full_name = |parameter: &str| match parameter {
            "sigma" => "sigma".to_owned(),
            _ => format!("{parameter}{}", unit.suffix),
        };
        let expected: Vec<String> = parameters
            .iter()
            .map(|parameter| full_name(parameter))
            .collect();
        for name in table.keys() {
            if name != "distribution" && !expected.contains(name) {
                return Err(self.invalid(
                    &format!("{key}.{name}"),
                    format!(
                        "is not a parameter of a {kind} distribution in {}",
                        unit.name
                    ),
                    format!("use {}", expected.join(" and ")),
                ));
            }
        }
        let value = |parameter: &str| -> Result<f64, ProfileError> {
            let name = full_name(parameter);
            let path = format!("{key}.{name}");
            let value = table.get(&name).ok_or_else(|| {
                self.invalid(
                    &path,
                    "is missing",
                    format!("set {name} for a {kind} distribution"),
                )
            })?;
            let number = self.number(&path, value)?;
            let limit = if parameter == "sigma" { 10.0 } else { unit.max };
            if !number.is_finite() || number < 0.0 || number > limit {
                return Err(self.invalid(
                    &path,
                    format!("is {number}"),
                    format!("set a number from 0 to {limit}"),
                ));
            }
            if unit.whole
                && parameter != "sigma"
                && parameter != "median"
                && parameter != "mean"
                && number.fract() != 0.0
            {
                return Err(self.invalid(
                    &path,
                    format!("is {number}"),
                    format!("set a whole number of {}", unit.name),
                ));
            }
            Ok(number)
        };
        let distribution = match kind {
            "fixed" => Distribution::Fixed {
                value: value("value")?,
            },
            "uniform" => {
                let (min, max) = (value("min")?, value("max")?);
                if min > max {
                    return Err(self.invalid(
                        &format!("{key}.{}", full_name("min")),
                        format!("is {min}, greater than the maximum {max}"),
                        "set min no greater than max",
                    ));
                }
                Distribution::Uniform { min, max }
            }
            "exponential" => Distribution::Exponential {
                mean: value("mean")?,
            },
            _ => {
                let median = value("median")?;
                if median <= 0.0 {
                    return Err(self.invalid(
                        &format!("{key}.{}", full_name("median")),
                        "is 0",
                        "set a median greater than 0",
                    ));
                }
                Distribution::Lognormal {
                    median,
                    sigma: value("sigma")?,
                }
            }
        };
        Ok(distribution)
    }

    /// Reads a TOML integer or float as a number.
    fn number(&self, key: &str, value: &toml::Value) -> Result<f64, ProfileError> {
        match value {
            toml::Value::Integer(number) => Ok(*number as f64),
            toml::Value::Float(number) => Ok(*number),
            other => Err(self.invalid(key, format!("is {other}, not a number"), "set a number")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example profile of the wire contract, which every team reads.
    const CONTRACT_EXAMPLE: &str = r#"
description = "example"
seed = 7

[sms]
latency = { distribution = "lognormal", median_ms = 40, sigma = 0.5 }
delivery_delay = { distribution = "exponential", mean_s = 0.2 }
[sms.faults]
http_500 = 0.10
http_503 = 0.10
http_429 = 0.02
connection_reset = 0.01
hang_before_accept = 0.0
hang_after_accept = 0.05
silent_loss = 0.02
duplicate = 0.0
undeliverable = 0.01
[sms.fault_settings]
retry_after_s = 1
hang_s = 30
undeliverable_error_code = 30003

[email]
[email.faults]
bounce = 0.01
[[email.outages]]
start_s = 10
end_s = 20
kind = "http_503"

[postal]
delivery_delay = { distribution = "uniform", min = 5, max = 10 }
[postal.faults]
returned_to_sender = 0.05
"#;

    #[test]
    fn contract_example_parses() {
        let profile =
            FaultProfile::parse(Path::new("flaky.toml"), CONTRACT_EXAMPLE).expect("valid");
        assert_eq!(profile.seed, 7);
        assert_eq!(
            profile.sms.latency,
            Some(Distribution::Lognormal {
                median: 40.0,
                sigma: 0.5
            })
        );
        assert_eq!(
            profile.sms.delivery_delay,
            Some(Distribution::Exponential { mean: 0.2 })
        );
        assert_eq!(profile.sms.faults.get(Fault::HangAfterAccept), 0.05);
        assert!((profile.sms.faults.total() - 0.31).abs() < 1e-9);
        assert_eq!(profile.sms.fault_settings.hang_s, 30.0);
        assert_eq!(profile.email.faults.get(Fault::Bounce), 0.01);
        assert_eq!(
            profile.email.outages,
            [Outage {
                start_s: 10.0,
                end_s: 20.0,
                kind: OutageKind::Http503
            }]
        );
        assert_eq!(
            profile.postal.delivery_delay,
            Some(Distribution::Uniform {
                min: 5.0,
                max: 10.0
            })
        );
        assert_eq!(profile.postal.faults.get(Fault::ReturnedToSender), 0.05);
    }

    #[test]
    fn empty_profile_is_healthy() {
        let profile = FaultProfile::parse(Path::new("empty.toml"), "").expect("valid");
        let healthy = FaultProfile::healthy();
        assert_eq!(profile.seed, 0);
        assert_eq!(profile.sms, healthy.sms);
        assert_eq!(profile.email, healthy.email);
        assert_eq!(profile.postal, healthy.postal);
        assert_eq!(profile.sms.fault_settings, FaultSettings::default());
    }

    #[test]
    fn sum_of_one_accepted() {
        let text = "[sms.faults]\nhttp_500 = 0.1\nhttp_503 = 0.2\nsilent_loss = 0.7";
        let profile =
            FaultProfile::parse(Path::new("full.toml"), text).expect("a sum of 1 is valid");
        assert!((profile.sms.faults.total() - 1.0).abs() < 1e-9);
    }
}
