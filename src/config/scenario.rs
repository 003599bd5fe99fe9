//! The scenario file: who the people are, what they do, and how hard to push.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::abuse::{AbuseSettings, Attack};
use crate::journeys::hashing::HashProfile;
use crate::people::person::SSN_SPACE;
use crate::people::{JourneyKind, JourneyMix};
use crate::providers::profile::FaultProfile;
use crate::report::thresholds::{self, Threshold};

use super::simulation::{simulation_from, RawSimulation, SimulationSettings};

/// A scenario file rejected before the run, naming the file, key and fix.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario file {path}: {error}; check the path")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("invalid scenario file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid scenario file {path}: key `{key}` {problem}; {fix}")]
    Invalid {
        path: PathBuf,
        key: String,
        problem: String,
        fix: String,
    },
    #[error("{error} (the profile named by `providers.profile` in {scenario})")]
    FaultProfile {
        scenario: PathBuf,
        error: crate::providers::profile::ProfileError,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: Option<String>,
    seed: u64,
    #[serde(default = "default_hash_profile")]
    hash_profile: String,
    #[serde(default)]
    population: RawPopulation,
    #[serde(default)]
    load: Option<RawLoad>,
    #[serde(default)]
    mix: Option<RawMix>,
    #[serde(default)]
    behaviour: RawBehaviour,
    #[serde(default)]
    providers: RawProviders,
    /// Read as a bare value first, so that a wrong shape gets an error that
    /// names the `[abuse]` keys rather than Rust types.
    #[serde(default)]
    abuse: Option<toml::Value>,
    /// Read as a bare value for the same reason as `abuse`.
    #[serde(default)]
    thresholds: Option<toml::Value>,
    #[serde(default)]
    simulation: Option<RawSimulation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAbuse {
    #[serde(default)]
    attacks: Option<toml::Value>,
    #[serde(default)]
    brute_force_victims: Option<i64>,
    #[serde(default)]
    timing_samples: Option<i64>,
    #[serde(default)]
    timing_tolerance_ms: Option<f64>,
}

fn default_hash_profile() -> String {
    "fast".to_owned()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPopulation {
    people: Option<i64>,
    first_index: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoad {
    users: i64,
    journeys_per_user: i64,
    max_duration_s: f64,
    #[serde(default)]
    users_per_second: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMix {
    #[serde(default)]
    sign_in: i64,
    #[serde(default)]
    forgot_username: i64,
    #[serde(default)]
    forgot_password: i64,
    #[serde(default)]
    temp_password_postal: i64,
    #[serde(default)]
    temp_password_email: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBehaviour {
    #[serde(default = "default_think_time")]
    think_time_ms: [i64; 2],
    #[serde(default)]
    abandon_probability: f64,
    #[serde(default)]
    typo_probability: f64,
    #[serde(default = "default_code_wait")]
    code_wait_s: f64,
}

impl Default for RawBehaviour {
    fn default() -> Self {
        Self {
            think_time_ms: default_think_time(),
            abandon_probability: 0.0,
            typo_probability: 0.0,
            code_wait_s: default_code_wait(),
        }
    }
}

fn default_think_time() -> [i64; 2] {
    [0, 0]
}

fn default_code_wait() -> f64 {
    10.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProviders {
    #[serde(default = "default_seconds_per_business_day")]
    seconds_per_business_day: f64,
    #[serde(default = "default_transit")]
    postal_transit_business_days: [i64; 2],
    /// A fault profile file, relative to the scenario file's folder.
    profile: Option<String>,
}

impl Default for RawProviders {
    fn default() -> Self {
        Self {
            seconds_per_business_day: default_seconds_per_business_day(),
            postal_transit_business_days: default_transit(),
            profile: None,
        }
    }
}

fn default_seconds_per_business_day() -> f64 {
    1.0
}

fn default_transit() -> [i64; 2] {
    [5, 10]
}

/// A checked scenario: every value is in range.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub path: PathBuf,
    pub name: String,
    pub description: Option<String>,
    pub seed: u64,
    pub hash_profile: HashProfile,
    /// People enrolled before the load starts.
    pub people: u64,
    /// The population index of the first person, so that shards on several
    /// machines can take disjoint ranges.
    pub first_index: u64,
    pub users: usize,
    pub journeys_per_user: usize,
    pub max_duration: Duration,
    pub users_per_second: f64,
    pub mix: JourneyMix,
    pub think_time_ms: (u64, u64),
    pub abandon_probability: f64,
    pub typo_probability: f64,
    pub code_wait: Duration,
    pub seconds_per_business_day: f64,
    pub postal_transit_business_days: (u32, u32),
    /// The mocks' fault profile, healthy when the scenario names none.
    pub fault_profile: FaultProfile,
    /// Attacks run after the load, if any.
    pub abuse: Option<AbuseSettings>,
    /// Pass/fail limits, by target, and in the file's order within one.
    pub thresholds: Vec<Threshold>,
    /// The virtual-time run's arrivals, calendar and capacity, if the
    /// scenario sets them; `recoverylab simulate` otherwise replays `[load]`.
    pub simulation: Option<SimulationSettings>,
}

impl Scenario {
    /// Returns whether the scenario drives journeys; a scenario of attacks
    /// alone has no `[load]`.
    pub fn has_load(&self) -> bool {
        self.users > 0
    }
}

impl Scenario {
    /// Returns the fewest people that let every journey of the run find a
    /// fresh person of its kind, whatever goose's user allocation.
    pub fn minimum_people(users: usize, journeys_per_user: usize, mix: &JourneyMix) -> u64 {
        let users_per_kind = mix.users_per_kind(users);
        JourneyKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let journeys = (users_per_kind[kind.index()] * journeys_per_user) as u64;
                (journeys > 0).then(|| mix.nth_of_kind(kind, journeys - 1).unwrap_or(0) + 1)
            })
            .max()
            .unwrap_or(0)
    }

    /// Returns the longest a postal letter can take in compressed time: the
    /// end of the transit range, or the fault profile's postal delay when it
    /// sets one (its 99.9th percentile when the delay is unbounded).
    pub fn max_postal_transit(&self) -> Duration {
        let business_days = match &self.fault_profile.postal.delivery_delay {
            Some(delay) => delay.practical_max().ceil(),
            None => f64::from(self.postal_transit_business_days.1),
        };
        Duration::try_from_secs_f64(business_days * self.seconds_per_business_day)
            .unwrap_or(Duration::MAX)
    }
}

/// Reads and validates a scenario file.
pub fn load_scenario(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|error| ScenarioError::Read {
        path: path.to_owned(),
        error,
    })?;
    parse_scenario(path, &text)
}

/// Parses and validates scenario text; `path` names the file in errors.
pub fn parse_scenario(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let raw: RawScenario = toml::from_str(text).map_err(|error| ScenarioError::Parse {
        path: path.to_owned(),
        message: plain_type_names(error.to_string().trim_end()).replace('\n', "\n  ")
            + "\n  docs/scenarios.md lists every key with its type and range",
    })?;
    validate(path, raw)
}

/// Replaces Rust type names in TOML errors with the words a scenario author uses.
fn plain_type_names(message: &str) -> String {
    message
        .replace("expected i64", "expected a whole number")
        .replace("expected u64", "expected a whole number of 0 or more")
        .replace("expected f64", "expected a number")
        .replace("expected a sequence", "expected a list such as [1, 2]")
}

pub(super) struct Checker<'a> {
    path: &'a Path,
}

impl Checker<'_> {
    pub(super) fn invalid(&self, key: &str, problem: String, fix: &str) -> ScenarioError {
        ScenarioError::Invalid {
            path: self.path.to_owned(),
            key: key.to_owned(),
            problem,
            fix: fix.to_owned(),
        }
    }

    pub(super) fn count(
        &self,
        key: &str,
        value: i64,
        min: i64,
        max: i64,
    ) -> Result<u64, ScenarioError> {
        if value < min || value > max {
            return Err(self.invalid(
                key,
                format!("is {value}"),
                &format!("set a whole number from {min} to {max}"),
            ));
        }
        Ok(value as u64)
    }

    fn seconds(&self, key: &str, value: f64, max: f64) -> Result<f64, ScenarioError> {
        if !value.is_finite() || value <= 0.0 || value > max {
            return Err(self.invalid(
                key,
                format!("is {value}"),
                &format!("set a number of seconds greater than 0 and at most {max}"),
            ));
        }
        Ok(value)
    }

    fn rate(&self, key: &str, value: f64, max: f64) -> Result<f64, ScenarioError> {
        if !value.is_finite() || value <= 0.0 || value > max {
            return Err(self.invalid(
                key,
                format!("is {value}"),
                &format!("set a rate per second greater than 0 and at most {max}"),
            ));
        }
        Ok(value)
    }

    fn probability(&self, key: &str, value: f64) -> Result<f64, ScenarioError> {
        if !(0.0..=1.0).contains(&value) {
            return Err(self.invalid(key, format!("is {value}"), "set a probability from 0 to 1"));
        }
        Ok(value)
    }
}

fn validate(path: &Path, raw: RawScenario) -> Result<Scenario, ScenarioError> {
    let check = Checker { path };
    if raw.name.trim().is_empty() {
        return Err(check.invalid("name", "is empty".to_owned(), "name the scenario"));
    }
    let hash_profile: HashProfile = raw.hash_profile.parse().map_err(|message: String| {
        check.invalid(
            "hash_profile",
            format!("is {:?}", raw.hash_profile),
            &message,
        )
    })?;

    let abuse = raw
        .abuse
        .as_ref()
        .map(|abuse| abuse_from(&check, abuse))
        .transpose()?;
    let thresholds = match &raw.thresholds {
        Some(table) => thresholds_from(&check, table)?,
        None => Vec::new(),
    };

    let Load {
        users,
        journeys_per_user,
        max_duration,
        users_per_second,
        mix,
    } = match (&raw.load, &raw.mix) {
        (Some(load), Some(mix)) => load_from(&check, load, mix)?,
        (None, None) if abuse.is_some() => Load::none(),
        (None, _) => {
            return Err(check.invalid(
                "load",
                "is missing".to_owned(),
                "add a [load] table with users, journeys_per_user and max_duration_s, or an [abuse] table for a scenario of attacks alone",
            ))
        }
        (Some(_), None) => {
            return Err(check.invalid(
                "mix",
                "is missing".to_owned(),
                "add a [mix] table that gives at least one journey kind a positive weight",
            ))
        }
    };

    check_threshold_targets(&check, &thresholds, &mix, users, max_duration)?;

    let minimum = Scenario::minimum_people(users, journeys_per_user, &mix);
    let people = match raw.population.people {
        None => minimum,
        Some(people) => {
            let people = check.count("population.people", people, 1, SSN_SPACE as i64)?;
            if people < minimum {
                return Err(check.invalid(
                    "population.people",
                    format!("is {people}, too few for {users} users x {journeys_per_user} journeys with this mix"),
                    &format!("set it to at least {minimum}, or remove it to use that minimum"),
                ));
            }
            people
        }
    };
    if people > SSN_SPACE {
        return Err(check.invalid(
            "load.journeys_per_user",
            format!("with load.users needs {people} people, more than the {SSN_SPACE} distinct synthetic people"),
            "lower load.users or load.journeys_per_user",
        ));
    }
    let attack_people = abuse.as_ref().map_or(0, AbuseSettings::people_needed);
    if people + attack_people > SSN_SPACE {
        return Err(check.invalid(
            "abuse.timing_samples",
            format!("with population.people needs {} people, more than the {SSN_SPACE} distinct synthetic people", people + attack_people),
            "lower abuse.timing_samples or population.people",
        ));
    }
    let first_index = check.count(
        "population.first_index",
        raw.population.first_index.unwrap_or(0),
        0,
        (SSN_SPACE - people - attack_people) as i64,
    )?;

    let [think_min, think_max] = raw.behaviour.think_time_ms;
    if think_min < 0 || think_max < think_min || think_max > 600_000 {
        return Err(check.invalid(
            "behaviour.think_time_ms",
            format!("is [{think_min}, {think_max}]"),
            "set [min, max] milliseconds with 0 <= min <= max <= 600000",
        ));
    }
    let abandon_probability = check.probability(
        "behaviour.abandon_probability",
        raw.behaviour.abandon_probability,
    )?;
    let typo_probability =
        check.probability("behaviour.typo_probability", raw.behaviour.typo_probability)?;
    let code_wait = check.seconds("behaviour.code_wait_s", raw.behaviour.code_wait_s, 3600.0)?;

    let seconds_per_business_day = check.seconds(
        "providers.seconds_per_business_day",
        raw.providers.seconds_per_business_day,
        86_400.0,
    )?;
    let [transit_min, transit_max] = raw.providers.postal_transit_business_days;
    if transit_min < 1 || transit_max < transit_min || transit_max > 60 {
        return Err(check.invalid(
            "providers.postal_transit_business_days",
            format!("is [{transit_min}, {transit_max}]"),
            "set [min, max] business days with 1 <= min <= max <= 60",
        ));
    }

    let fault_profile = match &raw.providers.profile {
        None => FaultProfile::healthy(),
        Some(profile) => {
            let resolved = path.parent().unwrap_or(Path::new("")).join(profile);
            if !resolved.is_file() {
                return Err(check.invalid(
                    "providers.profile",
                    format!("is {profile:?}, and {} is not a file", resolved.display()),
                    "name a profile file relative to the scenario's folder, such as \"../mocks/flaky.toml\"",
                ));
            }
            let mut loaded =
                FaultProfile::load(&resolved).map_err(|error| ScenarioError::FaultProfile {
                    scenario: path.to_owned(),
                    error,
                })?;
            loaded.path = Some(lexically_normal(&resolved));
            loaded
        }
    };

    let simulation = raw
        .simulation
        .map(|simulation| simulation_from(&check, simulation))
        .transpose()?;

    let scenario = Scenario {
        path: path.to_owned(),
        name: raw.name,
        description: raw.description,
        seed: raw.seed,
        hash_profile,
        people,
        first_index,
        users,
        journeys_per_user,
        max_duration,
        users_per_second,
        mix,
        think_time_ms: (think_min as u64, think_max as u64),
        abandon_probability,
        typo_probability,
        code_wait: Duration::from_secs_f64(code_wait),
        seconds_per_business_day,
        postal_transit_business_days: (transit_min as u32, transit_max as u32),
        fault_profile,
        abuse,
        thresholds,
        simulation,
    };
    if scenario.has_load()
        && scenario.mix.weight(JourneyKind::TempPasswordPostal) > 0
        && scenario.max_postal_transit() >= scenario.max_duration
    {
        return Err(check.invalid(
            "providers.seconds_per_business_day",
            format!(
                "is {seconds_per_business_day}, so a letter can take {:.0} s, longer than load.max_duration_s = {}",
                scenario.max_postal_transit().as_secs_f64(),
                max_duration.as_secs_f64()
            ),
            "compress postal time further or raise load.max_duration_s so postal journeys can complete",
        ));
    }
    Ok(scenario)
}

/// Drops `.` and folds `folder/..` out of a path without touching the file
/// system, so that reports show `mocks/flaky.toml`, not
/// `scenarios/../mocks/flaky.toml`. A `..` after a symbolic link can name
/// another folder than the folded path, so files are read through the
/// path as written and the folded one is only shown.
fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(normal.components().next_back(), Some(Component::Normal(_))) =>
            {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// The checked `[load]` and `[mix]` tables.
struct Load {
    users: usize,
    journeys_per_user: usize,
    max_duration: Duration,
    users_per_second: f64,
    mix: JourneyMix,
}

impl Load {
    /// Returns the load of a scenario of attacks alone: no users. The mix is
    /// never drawn from, but stays valid.
    fn none() -> Self {
        Self {
            users: 0,
            journeys_per_user: 0,
            max_duration: Duration::ZERO,
            users_per_second: 1.0,
            mix: JourneyMix::new([1, 0, 0, 0, 0]),
        }
    }
}

fn load_from(check: &Checker<'_>, load: &RawLoad, mix: &RawMix) -> Result<Load, ScenarioError> {
    let users = check.count("load.users", load.users, 1, 100_000)? as usize;
    let journeys_per_user = check.count(
        "load.journeys_per_user",
        load.journeys_per_user,
        1,
        1_000_000,
    )? as usize;
    let max_duration = check.seconds("load.max_duration_s", load.max_duration_s, 7.0 * 86_400.0)?;
    let users_per_second = check.rate(
        "load.users_per_second",
        load.users_per_second.unwrap_or(users as f64),
        1_000_000.0,
    )?;

    let mix = mix_from(check, mix)?;
    let active = mix.active_kinds().count();
    if users < active {
        return Err(check.invalid(
            "load.users",
            format!("is {users}, fewer than the {active} journey kinds with a positive weight"),
            &format!("set load.users to at least {active} so that every kind gets a user"),
        ));
    }
    Ok(Load {
        users,
        journeys_per_user,
        max_duration: Duration::from_secs_f64(max_duration),
        users_per_second,
        mix,
    })
}

/// The longest `delay_abort_eval` accepted: a day.
const MAX_ABORT_DELAY_S: f64 = 86_400.0;

/// Reads the `[thresholds]` table: each key is a target, such as
/// `"step:sign_in.code"`, and its value a list of expressions, each a string
/// or a table with `threshold`, `abort_on_fail` and `delay_abort_eval`.
fn thresholds_from(
    check: &Checker<'_>,
    table: &toml::Value,
) -> Result<Vec<Threshold>, ScenarioError> {
    const SHAPE: &str = "write [thresholds] with a target as each key and a list of expressions as its value, such as \"step:sign_in.code\" = [\"p(99) < 250ms\"]";
    let Some(table) = table.as_table() else {
        return Err(check.invalid("thresholds", "is not a table".to_owned(), SHAPE));
    };
    let mut parsed = Vec::new();
    for (key, value) in table {
        let name = format!("thresholds.\"{key}\"");
        let target = thresholds::parse_target(key, &crate::load::journeys::STEP_NAMES).map_err(
            |problem| check.invalid(&name, problem, "docs/reports.md lists the targets"),
        )?;
        let entries = match value {
            toml::Value::Array(entries) => entries.as_slice(),
            single => std::slice::from_ref(single),
        };
        if entries.is_empty() {
            return Err(check.invalid(
                &name,
                "is an empty list".to_owned(),
                "give at least one expression, such as \"p(99) < 250ms\", or remove the key",
            ));
        }
        for entry in entries {
            parsed.push(threshold_from(check, &name, target.clone(), entry)?);
        }
    }
    Ok(parsed)
}

fn threshold_from(
    check: &Checker<'_>,
    name: &str,
    target: thresholds::Target,
    entry: &toml::Value,
) -> Result<Threshold, ScenarioError> {
    const ENTRY_SHAPE: &str = "give a string such as \"p(99) < 250ms\" or a table such as { threshold = \"p(99) < 250ms\", abort_on_fail = true, delay_abort_eval = \"10s\" }";
    let (expression, abort_on_fail, delay) = match entry {
        toml::Value::String(expression) => (expression.as_str(), false, None),
        toml::Value::Table(table) => {
            if let Some(unknown) = table.keys().find(|key| {
                !matches!(
                    key.as_str(),
                    "threshold" | "abort_on_fail" | "delay_abort_eval"
                )
            }) {
                return Err(check.invalid(
                    name,
                    format!("has an entry with the unknown key `{unknown}`"),
                    ENTRY_SHAPE,
                ));
            }
            let Some(expression) = table.get("threshold").and_then(toml::Value::as_str) else {
                return Err(check.invalid(
                    name,
                    "has a table entry without a `threshold` string".to_owned(),
                    ENTRY_SHAPE,
                ));
            };
            let abort_on_fail = match table.get("abort_on_fail") {
                None => false,
                Some(toml::Value::Boolean(abort)) => *abort,
                Some(other) => {
                    return Err(check.invalid(
                        name,
                        format!("has abort_on_fail = {other}"),
                        "set abort_on_fail to true or false",
                    ))
                }
            };
            (expression, abort_on_fail, table.get("delay_abort_eval"))
        }
        other => return Err(check.invalid(name, format!("has the entry {other}"), ENTRY_SHAPE)),
    };
    let (metric, comparison, limit) =
        thresholds::parse_expression(&target, expression).map_err(|problem| {
            check.invalid(
                name,
                problem,
                "docs/reports.md lists the metrics of each target",
            )
        })?;
    let delay_abort_eval = match delay {
        None => std::time::Duration::ZERO,
        Some(value) => {
            let seconds = value
                .as_str()
                .and_then(|text| crate::duration::parse_seconds(text).ok())
                .filter(|seconds| (0.0..=MAX_ABORT_DELAY_S).contains(seconds));
            match seconds {
                Some(seconds) => std::time::Duration::from_secs_f64(seconds),
                None => return Err(check.invalid(
                    name,
                    format!("has delay_abort_eval = {value}"),
                    "give a duration from \"0s\" to \"24h\" as a string, such as \"10s\" or \"2m\"",
                )),
            }
        }
    };
    if delay.is_some() && !abort_on_fail {
        return Err(check.invalid(
            name,
            format!("sets delay_abort_eval on {expression:?} without abort_on_fail"),
            "add abort_on_fail = true, or remove delay_abort_eval",
        ));
    }
    Ok(Threshold {
        target,
        expression: expression.trim().to_owned(),
        metric,
        comparison,
        limit,
        abort_on_fail,
        delay_abort_eval,
    })
}

/// Rejects thresholds that the run could never measure or act on. These are
/// thresholds on a step or journey kind that the mix gives no weight, and
/// aborts that could start only after the load ends. An abort on a provider
/// is rejected too, because provider counters are read once the load is over.
fn check_threshold_targets(
    check: &Checker<'_>,
    thresholds: &[Threshold],
    mix: &JourneyMix,
    users: usize,
    max_duration: std::time::Duration,
) -> Result<(), ScenarioError> {
    use thresholds::Target;
    for threshold in thresholds {
        let name = format!("thresholds.\"{}\"", threshold.target);
        let kind = match &threshold.target {
            Target::Step(step) => JourneyKind::ALL.into_iter().find(|kind| {
                step.strip_prefix(kind.name())
                    .is_some_and(|rest| rest.starts_with('.'))
            }),
            Target::Journey(kind) => Some(*kind),
            _ => None,
        };
        if let Some(kind) = kind {
            if users == 0 || mix.weight(kind) == 0 {
                return Err(check.invalid(
                    &name,
                    format!("is on the journey kind {}, which no user runs", kind.name()),
                    &format!(
                        "give mix.{} a positive weight, or remove the threshold",
                        kind.name()
                    ),
                ));
            }
        }
        if users == 0 && matches!(threshold.target, Target::AllSteps | Target::AllJourneys) {
            return Err(check.invalid(
                &name,
                "is on journeys, but the scenario has no [load]".to_owned(),
                "add a [load] and [mix], or remove the threshold",
            ));
        }
        if !threshold.abort_on_fail {
            continue;
        }
        if matches!(threshold.target, Target::Provider(_)) {
            return Err(check.invalid(
                &name,
                format!("sets abort_on_fail on {:?}, but provider counters are read only after the load", threshold.expression),
                "remove abort_on_fail; the threshold is still checked at the end of the run",
            ));
        }
        if threshold.delay_abort_eval >= max_duration && users > 0 {
            return Err(check.invalid(
                &name,
                format!(
                    "sets delay_abort_eval to {} s, not before load.max_duration_s ({} s), so the abort could never start",
                    threshold.delay_abort_eval.as_secs_f64(),
                    max_duration.as_secs_f64()
                ),
                "shorten delay_abort_eval or lengthen load.max_duration_s",
            ));
        }
    }
    Ok(())
}

fn abuse_from(check: &Checker<'_>, value: &toml::Value) -> Result<AbuseSettings, ScenarioError> {
    if !value.is_table() {
        return Err(check.invalid(
            "abuse",
            format!("is {value}, not a table"),
            "write an [abuse] table with attacks = [...], as in scenarios/abuse.toml",
        ));
    }
    let raw: RawAbuse = value.clone().try_into().map_err(|error: toml::de::Error| {
        check.invalid(
            "abuse",
            plain_type_names(error.to_string().trim_end()),
            "docs/abuse.md lists the [abuse] keys with their types and ranges",
        )
    })?;
    let attacks = attacks_from(check, raw.attacks.as_ref())?;
    let brute_force_victims = check.count(
        "abuse.brute_force_victims",
        raw.brute_force_victims.unwrap_or(4),
        1,
        100,
    )? as usize;
    let timing_samples = check.count(
        "abuse.timing_samples",
        raw.timing_samples.unwrap_or(100),
        20,
        10_000,
    )? as usize;
    let tolerance_ms = raw.timing_tolerance_ms.unwrap_or(2.0);
    if !tolerance_ms.is_finite() || tolerance_ms <= 0.0 || tolerance_ms > 1_000.0 {
        return Err(check.invalid(
            "abuse.timing_tolerance_ms",
            format!("is {tolerance_ms}"),
            "set a number of milliseconds greater than 0 and at most 1000",
        ));
    }
    Ok(AbuseSettings {
        attacks,
        brute_force_victims,
        timing_samples,
        timing_tolerance: Duration::from_secs_f64(tolerance_ms / 1e3),
    })
}

/// Checks `abuse.attacks`: a list of attack names, each named once.
fn attacks_from(
    check: &Checker<'_>,
    attacks: Option<&toml::Value>,
) -> Result<Vec<Attack>, ScenarioError> {
    let known: Vec<&str> = Attack::ALL.iter().map(|attack| attack.name()).collect();
    let list_fix = format!(
        "set a list of attack names such as [\"code_brute_force\"]; the attacks are {}",
        known.join(", ")
    );
    let names: Vec<String> = match attacks {
        None => return Err(check.invalid("abuse.attacks", "is missing".to_owned(), &list_fix)),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    check.invalid(
                        "abuse.attacks",
                        format!("holds {item}, which is not an attack name"),
                        &list_fix,
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(check.invalid(
                "abuse.attacks",
                format!("is {other}, not a list"),
                &list_fix,
            ))
        }
    };
    if names.is_empty() {
        return Err(check.invalid(
            "abuse.attacks",
            "is empty".to_owned(),
            &format!("name one or more of {}", known.join(", ")),
        ));
    }
    let mut attacks = Vec::new();
    for name in &names {
        let attack = Attack::from_name(name).ok_or_else(|| {
            check.invalid(
                "abuse.attacks",
                format!("names {name:?}, which is not an attack"),
                &format!("use one of {}", known.join(", ")),
            )
        })?;
        if attacks.contains(&attack) {
            return Err(check.invalid(
                "abuse.attacks",
                format!("names {name:?} twice"),
                "name each attack once",
            ));
        }
        attacks.push(attack);
    }
    Ok(attacks)
}

fn mix_from(check: &Checker<'_>, raw: &RawMix) -> Result<JourneyMix, ScenarioError> {
    let entries = [
        ("mix.sign_in", raw.sign_in),
        ("mix.forgot_username", raw.forgot_username),
        ("mix.forgot_password", raw.forgot_password),
        ("mix.temp_password_postal", raw.temp_password_postal),
        ("mix.temp_password_email", raw.temp_password_email),
    ];
    let mut weights = [0u32; 5];
    for (slot, (key, value)) in entries.iter().enumerate() {
        weights[slot] = check.count(key, *value, 0, 1000)? as u32;
    }
    if weights.iter().all(|weight| *weight == 0) {
        return Err(check.invalid(
            "mix",
            "has weights that sum to zero".to_owned(),
            "give at least one journey kind a positive weight",
        ));
    }
    Ok(JourneyMix::new(weights))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexically_normal_folds_parent_folders() {
        assert_eq!(
            lexically_normal(Path::new("scenarios/../mocks/./flaky.toml")),
            PathBuf::from("mocks/flaky.toml")
        );
        assert_eq!(
            lexically_normal(Path::new("../mocks/flaky.toml")),
            PathBuf::from("../mocks/flaky.toml")
        );
        assert_eq!(
            lexically_normal(Path::new("/work/a/../b.toml")),
            PathBuf::from("/work/b.toml")
        );
    }

    const VALID: &str = r#"
name = "t"
seed = 1
[load]
users = 5
journeys_per_user = 2
max_duration_s = 30
[mix]
sign_in = 1
forgot_username = 1
forgot_password = 1
temp_password_postal = 1
temp_password_email = 1
[providers]
seconds_per_business_day = 0.5
"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        parse_scenario(Path::new("test.toml"), text)
    }

    #[test]
    fn valid_scenario_parses() {
        let scenario = parse(VALID).expect("valid");
        assert_eq!(scenario.users, 5);
        assert_eq!(
            scenario.people, 10,
            "minimum population covers 10 journeys of each kind's share"
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases = [
            (
                "unknown key",
                VALID.replace("seed = 1", "seed = 1\ncolour = 2"),
                "colour",
            ),
            (
                "wrong type",
                VALID.replace("users = 5", "users = \"five\""),
                "users",
            ),
            (
                "no users",
                VALID.replace("users = 5", "users = 0"),
                "load.users",
            ),
            (
                "negative duration",
                VALID.replace("max_duration_s = 30", "max_duration_s = -1"),
                "load.max_duration_s",
            ),
            (
                "zero weights",
                VALID
                    .replace("= 1\nforgot", "= 0\nforgot")
                    .replace("forgot_username = 1", "forgot_username = 0")
                    .replace("forgot_password = 1", "forgot_password = 0")
                    .replace("postal = 1", "postal = 0")
                    .replace("email = 1", "email = 0"),
                "mix",
            ),
            (
                "probability",
                VALID.replace(
                    "[providers]",
                    "[behaviour]\nabandon_probability = 1.5\n[providers]",
                ),
                "behaviour.abandon_probability",
            ),
            (
                "hash profile",
                VALID.replace("seed = 1", "seed = 1\nhash_profile = \"slow\""),
                "hash_profile",
            ),
            (
                "letters slower than run",
                VALID.replace(
                    "seconds_per_business_day = 0.5",
                    "seconds_per_business_day = 5",
                ),
                "providers.seconds_per_business_day",
            ),
            (
                "too few people",
                VALID.replace("[load]", "[population]\npeople = 3\n[load]"),
                "population.people",
            ),
            (
                "too many journeys",
                VALID
                    .replace("users = 5", "users = 100000")
                    .replace("journeys_per_user = 2", "journeys_per_user = 1000000"),
                "load.journeys_per_user",
            ),
            (
                "first index past the people",
                VALID.replace("[load]", "[population]\nfirst_index = 98990095\n[load]"),
                "population.first_index",
            ),
            (
                "rate of users",
                VALID.replace(
                    "max_duration_s = 30",
                    "max_duration_s = 30\nusers_per_second = 0",
                ),
                "per second",
            ),
        ];
        for (case, text, key) in cases {
            let error = parse(&text).expect_err(case).to_string();
            assert!(error.contains(key), "case {case}: {error}");
            assert!(
                error.contains("test.toml"),
                "case {case} names the file: {error}"
            );
        }
    }
}
