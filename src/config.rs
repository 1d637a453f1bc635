//! Configuration: read from the environment once, at start-up, and validated there, so that a
//! misconfigured function fails its first start with a message naming the variable instead of
//! failing requests later. Every variable, its default and its meaning are in the README's
//! configuration table; `Config::from_lookup` reads them all.

use crate::s3_names::is_bucket_name;
use std::time::Duration;

/// Enough hand-ons for about 100 million objects: at S3's 3,500 deletions a second in a prefix,
/// a 15-minute invocation deletes some 3 million objects, so 100 hops leave a threefold margin
/// (or room for a 5-minute timeout).
pub const DEFAULT_MAX_HOPS: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where jobs and their configuration sources are.
    pub places: Places,
    /// Who may ask for a deletion.
    pub trust: Trust,
    pub deletion: DeletionLimits,
    pub versioning: Versioning,
    pub time: Times,
    pub s3: S3Settings,
    /// Where a deletion that outlives its invocation is handed on.
    pub hand_on: HandOnSettings,
    /// The function's name (set by Lambda), the `FunctionName` dimension of its metrics.
    pub function_name: String,
}

/// Where jobs and their configuration sources are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Places {
    pub job_bucket: String,
    /// Empty, or a prefix ending with `/`.
    pub job_prefix: String,
    /// Buckets besides `job_bucket` that may hold configuration sources.
    pub config_buckets: Vec<String>,
    /// Where each project's configuration sources may lie; empty: anywhere the buckets allow.
    pub config_roots: Vec<ConfigRoot>,
}

/// How long an invocation works, and how often it says how far it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    /// The longest an HTTP invocation works before answering 202.
    pub http_budget: Duration,
    /// Kept before Lambda's deadline to hand the rest of a deletion on.
    pub deadline_margin: Duration,
    /// A progress line every this long while a deletion runs.
    pub progress_interval: Duration,
}

/// The function's own hand-on queue (SQS): a deletion that outlives its invocation sends its
/// next step there, and the queue's messages invoke the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandOnSettings {
    /// `HAND_ON_QUEUE_URL`; without it a deletion that outlives its invocation answers 503.
    pub queue: Option<QueueUrl>,
    /// A custom SQS endpoint (a local server).
    pub endpoint: Option<String>,
    /// Invocations a deletion may hand on before the chain stops.
    pub max_hops: u32,
}

/// An SQS queue's URL, `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrl {
    pub url: String,
    pub account: String,
    pub name: String,
    /// The region the URL names, if it names one.
    pub region: Option<String>,
}

impl QueueUrl {
    pub fn parse(url: &str) -> Option<QueueUrl> {
        let (scheme, rest) = url.split_once("://")?;
        let mut parts = rest.trim_end_matches('/').split('/');
        let host = parts.next()?;
        let (account, name) = (parts.next()?, parts.next()?);
        let plain = |s: &str| {
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !matches!(scheme, "https" | "http") || !plain(account) || !plain(name) {
            return None;
        }
        if parts.next().is_some() {
            return None;
        }
        let region = host.strip_prefix("sqs.").and_then(|h| h.split('.').next()).map(str::to_owned);
        Some(QueueUrl { url: url.to_owned(), account: account.into(), name: name.into(), region })
    }
}

/// A folder under which configuration sources may lie, `s3://bucket/prefix/`, where the segment
/// `{project_id}` stands for the caller's project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRoot {
    pub bucket: String,
    /// Ends with `/`, or is empty (the whole bucket); may hold `{project_id}` segments.
    prefix: String,
}

const PROJECT_SEGMENT: &str = "{project_id}";

impl ConfigRoot {
    /// `s3://bucket/prefix/`, whose segments are plain or exactly `{project_id}`.
    pub fn parse(text: &str) -> Option<ConfigRoot> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_end_matches('/');
        let segment_ok = |s: &str| {
            s == PROJECT_SEGMENT
                || (!s.is_empty()
                    && s != "."
                    && s != ".."
                    && !s.contains(['{', '}'])
                    && !s.chars().any(char::is_control))
        };
        if !is_bucket_name(bucket) || !(prefix.is_empty() || prefix.split('/').all(segment_ok)) {
            return None;
        }
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        Some(ConfigRoot { bucket: bucket.to_owned(), prefix })
    }

    /// The root's prefix for `project_id`.
    pub fn prefix_for(&self, project_id: &str) -> String {
        self.prefix
            .split_inclusive('/')
            .map(|segment| match segment.strip_suffix('/') {
                Some(PROJECT_SEGMENT) => format!("{project_id}/"),
                _ => segment.to_owned(),
            })
            .collect()
    }
}

impl std::fmt::Display for ConfigRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Who may ask for a deletion: the claim that carries a caller's project, and the callers and
/// event senders trusted without a user token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// The authorizer claim that carries the caller's project.
    pub project_claim: String,
    /// The only EventBridge `source` whose "Delete Job" events are honoured.
    pub event_source: String,
    /// Accounts, besides the function's own, whose EventBridge events are honoured.
    pub accounts: Vec<String>,
    /// IAM principals that may call the HTTP API with IAM auth.
    pub principals: Vec<PrincipalPattern>,
}

/// An IAM ARN, or a prefix of one when it ends with `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalPattern(String);

impl PrincipalPattern {
    /// `arn:PARTITION:iam|sts::ACCOUNT:RESOURCE`, a `*` only at the end of the resource: a
    /// pattern always names one account, so no pattern can trust every caller.
    pub fn parse(text: &str) -> Option<PrincipalPattern> {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else { return None };
        let stem = resource.strip_suffix('*').unwrap_or(resource);
        let fixed = [arn, partition, service, region, account, stem];
        let well_formed = arn == "arn"
            && !partition.is_empty()
            && matches!(service, "iam" | "sts")
            && region.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && !stem.is_empty()
            && fixed.iter().all(|part| !part.contains('*'));
        well_formed.then(|| PrincipalPattern(text.to_owned()))
    }

    /// Whether `arn` is the pattern, or starts with it when the pattern ends with `*`.
    pub fn matches(&self, arn: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => arn.starts_with(prefix),
            None => arn == self.0,
        }
    }
}

/// Whether buckets keep versions, which deleting must then remove one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    /// Ask each bucket (GetBucketVersioning) once per process.
    Auto,
    On,
    Off,
}

/// How hard one invocation drives the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletionLimits {
    /// DeleteObjects requests in flight at once.
    pub concurrency: usize,
    /// Keys per DeleteObjects request; S3 takes at most 1000. A store may delete the keys of
    /// one request one after another (Garage does): many small requests then keep it busier,
    /// and the last ones finish together instead of one long request trailing.
    pub batch_size: usize,
    /// ListObjectsV2 requests in flight, over a job's sub-folders and key ranges. A busy store
    /// answers lists slowly, so enough must be in flight to keep every deleter fed. (What they
    /// list waits in a backlog of its own bound, `engine/backlog.rs`.) A quarter of them may
    /// read full pages at once, the rest are short probes (`engine/lister/`).
    pub list_concurrency: usize,
}

impl Default for DeletionLimits {
    fn default() -> Self {
        // Chosen with bench/run.sh on Garage: 32 × 200 with 32 list slots beat 16 × 1000
        // with 4 (the store kept busier, the deleters fed), and 32 × 100 then beat 32 × 200 (a
        // store that deletes a request's keys one by one ends smaller requests sooner).
        DeletionLimits { concurrency: 32, batch_size: 100, list_concurrency: 32 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub max_attempts: u32,
    pub attempt_timeout: Duration,
    /// A custom endpoint; when set, buckets are addressed path-style, as local servers expect.
    pub endpoint: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration variable {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup`; unset and empty are the same.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let vars = Vars(&lookup);
        Ok(Config {
            places: Places::read(&vars)?,
            trust: Trust::read(&vars)?,
            deletion: DeletionLimits::read(&vars)?,
            versioning: Versioning::read(&vars)?,
            time: Times::read(&vars)?,
            s3: S3Settings::read(&vars)?,
            hand_on: HandOnSettings::read(&vars)?,
            function_name: vars
                .text("AWS_LAMBDA_FUNCTION_NAME")
                .unwrap_or_else(|| "del-job".into()),
        })
    }
}

/// The variables, as `lookup` gives them: unset and empty are the same.
struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    fn text(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    /// A comma-separated list; empty items are ignored.
    fn list(&self, name: &str) -> Vec<String> {
        let text = self.text(name).unwrap_or_default();
        text.split(',').map(str::trim).filter(|i| !i.is_empty()).map(str::to_owned).collect()
    }

    /// A whole number in `range`, `default` when unset.
    fn number(
        &self,
        name: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let Some(text) = self.text(name) else { return Ok(default) };
        match text.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(fail(
                name,
                format!("{text:?} is not a whole number from {} to {}", range.start(), range.end()),
            )),
        }
    }

    fn millis(
        &self,
        name: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number(name, default, range).map(Duration::from_millis)
    }
}

fn fail(name: &'static str, problem: String) -> ConfigError {
    ConfigError { name, problem }
}

impl Places {
    /// `JOB_BUCKET`, `JOB_PREFIX`, `CONFIG_BUCKETS`, `CONFIG_ROOTS`.
    fn read(vars: &Vars) -> Result<Places, ConfigError> {
        let job_bucket = vars.text("JOB_BUCKET").ok_or_else(|| {
            fail("JOB_BUCKET", "is required: the bucket that holds the jobs".into())
        })?;
        if !is_bucket_name(&job_bucket) {
            return Err(fail("JOB_BUCKET", format!("{job_bucket:?} is not a valid bucket name")));
        }
        let job_prefix = vars.text("JOB_PREFIX").unwrap_or_default();
        let prefix_ok = job_prefix.is_empty()
            || (job_prefix.ends_with('/')
                && !job_prefix.starts_with('/')
                && !job_prefix.contains("//"));
        if !prefix_ok {
            return Err(fail(
                "JOB_PREFIX",
                format!(
                    "{job_prefix:?} must end with '/', and neither start with '/' nor contain '//'"
                ),
            ));
        }
        let config_buckets = vars.list("CONFIG_BUCKETS");
        if let Some(bad) = config_buckets.iter().find(|b| !is_bucket_name(b)) {
            return Err(fail("CONFIG_BUCKETS", format!("{bad:?} is not a valid bucket name")));
        }
        let config_roots = (vars.list("CONFIG_ROOTS").iter())
            .map(|text| {
                let root = ConfigRoot::parse(text).ok_or_else(|| {
                    fail(
                        "CONFIG_ROOTS",
                        format!(
                            "{text:?} is not s3://bucket/prefix/, whose segments are names or \
                             exactly {PROJECT_SEGMENT}"
                        ),
                    )
                })?;
                if root.bucket != job_bucket && !config_buckets.contains(&root.bucket) {
                    return Err(fail(
                        "CONFIG_ROOTS",
                        format!("{text:?} is in neither JOB_BUCKET nor CONFIG_BUCKETS"),
                    ));
                }
                Ok(root)
            })
            .collect::<Result<_, _>>()?;
        Ok(Places { job_bucket, job_prefix, config_buckets, config_roots })
    }
}

impl Trust {
    /// `PROJECT_CLAIM`, `EVENT_SOURCE`, `TRUSTED_ACCOUNTS`, `TRUSTED_PRINCIPALS`.
    fn read(vars: &Vars) -> Result<Trust, ConfigError> {
        let accounts = vars.list("TRUSTED_ACCOUNTS");
        if let Some(bad) =
            accounts.iter().find(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(fail("TRUSTED_ACCOUNTS", format!("{bad:?} is not a 12-digit account id")));
        }
        let principals = (vars.list("TRUSTED_PRINCIPALS").iter())
            .map(|text| {
                PrincipalPattern::parse(text).ok_or_else(|| {
                    fail(
                        "TRUSTED_PRINCIPALS",
                        format!(
                            "{text:?} is not an IAM ARN (arn:PARTITION:iam::ACCOUNT:role/NAME), \
                             with at most a trailing '*'"
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Trust {
            project_claim: vars.text("PROJECT_CLAIM").unwrap_or_else(|| "project_id".into()),
            event_source: vars.text("EVENT_SOURCE").unwrap_or_else(|| "res.jobs".into()),
            accounts,
            principals,
        })
    }
}

impl DeletionLimits {
    /// `DELETE_CONCURRENCY`, `DELETE_BATCH_SIZE`, `LIST_CONCURRENCY`.
    fn read(vars: &Vars) -> Result<DeletionLimits, ConfigError> {
        let d = DeletionLimits::default();
        let number = |name, default: usize, most| {
            vars.number(name, default as u64, 1..=most).map(|n| n as usize)
        };
        Ok(DeletionLimits {
            concurrency: number("DELETE_CONCURRENCY", d.concurrency, 256)?,
            batch_size: number("DELETE_BATCH_SIZE", d.batch_size, 1000)?,
            list_concurrency: number("LIST_CONCURRENCY", d.list_concurrency, 256)?,
        })
    }
}

impl Versioning {
    /// `BUCKET_VERSIONING`.
    fn read(vars: &Vars) -> Result<Versioning, ConfigError> {
        match vars.text("BUCKET_VERSIONING").as_deref().map(str::trim) {
            None | Some("auto") => Ok(Versioning::Auto),
            Some("on") => Ok(Versioning::On),
            Some("off") => Ok(Versioning::Off),
            Some(other) => {
                Err(fail("BUCKET_VERSIONING", format!("{other:?} is not one of auto, on, off")))
            }
        }
    }
}

impl Times {
    /// `HTTP_BUDGET_MS`, `DEADLINE_MARGIN_MS`, `PROGRESS_INTERVAL_MS`.
    fn read(vars: &Vars) -> Result<Times, ConfigError> {
        Ok(Times {
            http_budget: vars.millis("HTTP_BUDGET_MS", 25_000, 1_000..=900_000)?,
            deadline_margin: vars.millis("DEADLINE_MARGIN_MS", 3_000, 100..=60_000)?,
            progress_interval: vars.millis("PROGRESS_INTERVAL_MS", 20_000, 1_000..=900_000)?,
        })
    }
}

impl S3Settings {
    /// `S3_MAX_ATTEMPTS`, `S3_ATTEMPT_TIMEOUT_MS`, `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`.
    fn read(vars: &Vars) -> Result<S3Settings, ConfigError> {
        Ok(S3Settings {
            max_attempts: vars.number("S3_MAX_ATTEMPTS", 5, 1..=20)? as u32,
            attempt_timeout: vars.millis("S3_ATTEMPT_TIMEOUT_MS", 20_000, 100..=900_000)?,
            endpoint: vars.text("AWS_ENDPOINT_URL_S3").or_else(|| vars.text("AWS_ENDPOINT_URL")),
        })
    }
}

impl HandOnSettings {
    /// `HAND_ON_QUEUE_URL`, `MAX_HOPS`, `AWS_ENDPOINT_URL_SQS` or `AWS_ENDPOINT_URL`.
    fn read(vars: &Vars) -> Result<HandOnSettings, ConfigError> {
        let queue = (vars.text("HAND_ON_QUEUE_URL"))
            .map(|url| {
                QueueUrl::parse(url.trim()).ok_or_else(|| {
                    fail(
                        "HAND_ON_QUEUE_URL",
                        format!(
                            "{url:?} is not a queue URL \
                             (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
                        ),
                    )
                })
            })
            .transpose()?;
        Ok(HandOnSettings {
            queue,
            endpoint: vars.text("AWS_ENDPOINT_URL_SQS").or_else(|| vars.text("AWS_ENDPOINT_URL")),
            max_hops: vars.number("MAX_HOPS", DEFAULT_MAX_HOPS.into(), 1..=10_000)? as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn only_the_bucket_is_required() {
        let c = config(&[("JOB_BUCKET", "jobs")]).unwrap();
        assert_eq!(c.places.job_prefix, "");
        assert!(c.places.config_buckets.is_empty());
        assert_eq!(c.trust.project_claim, "project_id");
        assert_eq!(c.deletion, DeletionLimits::default());
        assert_eq!(c.s3.endpoint, None);
        assert_eq!(c.time.http_budget, Duration::from_secs(25));
        assert_eq!(c.time.deadline_margin, Duration::from_secs(3));
        assert_eq!(c.trust.event_source, "res.jobs");
        assert!(c.trust.accounts.is_empty() && c.trust.principals.is_empty());
        assert_eq!(c.hand_on.max_hops, DEFAULT_MAX_HOPS);
        assert_eq!(c.time.progress_interval, Duration::from_secs(20));
        assert_eq!(c.function_name, "del-job");
        assert_eq!(config(&[]).unwrap_err().name, "JOB_BUCKET");
        assert_eq!(config(&[("JOB_BUCKET", " ")]).unwrap_err().name, "JOB_BUCKET");
    }

    #[test]
    fn every_variable_is_read_and_checked() {
        let c = config(&[
            ("JOB_BUCKET", "jobs"),
            ("JOB_PREFIX", "res/"),
            ("CONFIG_BUCKETS", "cfg-a, cfg-b,"),
            ("PROJECT_CLAIM", "custom:project"),
            ("DELETE_CONCURRENCY", "8"),
            ("DELETE_BATCH_SIZE", "500"),
            ("LIST_CONCURRENCY", "6"),
            ("S3_MAX_ATTEMPTS", "3"),
            ("S3_ATTEMPT_TIMEOUT_MS", "1500"),
            ("HTTP_BUDGET_MS", "10000"),
            ("DEADLINE_MARGIN_MS", "500"),
            ("BUCKET_VERSIONING", "on"),
            ("EVENT_SOURCE", "acme.jobs"),
            ("TRUSTED_ACCOUNTS", "111122223333, 444455556666"),
            (
                "TRUSTED_PRINCIPALS",
                "arn:aws:iam::111122223333:role/cleanup-*,arn:aws:iam::111122223333:user/ops",
            ),
            ("MAX_HOPS", "7"),
            ("PROGRESS_INTERVAL_MS", "5000"),
            ("AWS_LAMBDA_FUNCTION_NAME", "del-job-prod"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:3900"),
        ])
        .unwrap();
        assert_eq!(c.trust.event_source, "acme.jobs");
        assert_eq!(c.trust.accounts, ["111122223333", "444455556666"]);
        assert_eq!(c.trust.principals.len(), 2);
        assert_eq!(c.hand_on.max_hops, 7);
        assert_eq!(c.time.progress_interval, Duration::from_secs(5));
        assert_eq!(c.function_name, "del-job-prod");
        assert_eq!(c.places.job_prefix, "res/");
        assert_eq!(c.places.config_buckets, ["cfg-a", "cfg-b"]);
        assert_eq!(c.trust.project_claim, "custom:project");
        assert_eq!(
            c.deletion,
            DeletionLimits { concurrency: 8, batch_size: 500, list_concurrency: 6 }
        );
        assert_eq!(c.s3.max_attempts, 3);
        assert_eq!(c.s3.attempt_timeout, Duration::from_millis(1500));
        assert_eq!(c.time.http_budget, Duration::from_secs(10));
        assert_eq!(c.time.deadline_margin, Duration::from_millis(500));
        assert_eq!(c.versioning, Versioning::On);
        assert_eq!(c.s3.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
    }

    #[test]
    fn principal_patterns_match_exactly_or_by_their_prefix() {
        let prefix = PrincipalPattern::parse("arn:aws:iam::111122223333:role/cleanup-*").unwrap();
        assert!(prefix.matches("arn:aws:iam::111122223333:role/cleanup-nightly"));
        assert!(!prefix.matches("arn:aws:iam::111122223333:role/other"));
        assert!(!prefix.matches("arn:aws:iam::999922223333:role/cleanup-nightly"));
        let exact = PrincipalPattern::parse("arn:aws:iam::111122223333:user/ops").unwrap();
        assert!(exact.matches("arn:aws:iam::111122223333:user/ops"));
        assert!(!exact.matches("arn:aws:iam::111122223333:user/ops2"));
    }

    #[test]
    fn the_hand_on_queue_and_config_roots_are_read_and_checked() {
        let c = config(&[
            ("JOB_BUCKET", "jobs"),
            ("CONFIG_BUCKETS", "cfg"),
            (
                "HAND_ON_QUEUE_URL",
                "https://sqs.eu-west-1.amazonaws.com/123456789012/del-job-hand-on",
            ),
            ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:4566"),
            ("CONFIG_ROOTS", "s3://cfg/sources/{project_id}/, s3://jobs/shared"),
        ])
        .unwrap();
        let queue = c.hand_on.queue.unwrap();
        assert_eq!(
            (queue.account.as_str(), queue.name.as_str()),
            ("123456789012", "del-job-hand-on")
        );
        assert_eq!(queue.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.hand_on.endpoint.as_deref(), Some("http://127.0.0.1:4566"));
        let roots: Vec<String> = c.places.config_roots.iter().map(ToString::to_string).collect();
        assert_eq!(roots, ["s3://cfg/sources/{project_id}/", "s3://jobs/shared/"]);
        assert_eq!(c.places.config_roots[0].prefix_for("p1"), "sources/p1/");
        let none = config(&[("JOB_BUCKET", "jobs")]).unwrap().hand_on;
        assert_eq!((none.queue, none.endpoint), (None, None));
        for (name, value) in [
            ("HAND_ON_QUEUE_URL", "del-job-hand-on"),
            ("HAND_ON_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/123456789012"),
            ("HAND_ON_QUEUE_URL", "ftp://sqs.eu-west-1.amazonaws.com/1/q"),
            ("CONFIG_ROOTS", "s3://other/sources/"),
            ("CONFIG_ROOTS", "cfg/sources/"),
            ("CONFIG_ROOTS", "s3://cfg/sources/{project}/"),
            ("CONFIG_ROOTS", "s3://cfg/sources/p{project_id}/"),
            ("CONFIG_ROOTS", "s3://cfg/a/../b/"),
        ] {
            let err = config(&[("JOB_BUCKET", "jobs"), ("CONFIG_BUCKETS", "cfg"), (name, value)])
                .expect_err(value);
            assert_eq!(err.name, name, "{value}");
        }
    }

    #[test]
    fn the_s3_specific_endpoint_wins() {
        let c = config(&[
            ("JOB_BUCKET", "jobs"),
            ("AWS_ENDPOINT_URL", "http://general"),
            ("AWS_ENDPOINT_URL_S3", "http://s3-only"),
        ])
        .unwrap();
        assert_eq!(c.s3.endpoint.as_deref(), Some("http://s3-only"));
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        for (name, value) in [
            ("JOB_BUCKET", "Not_A_Bucket"),
            ("JOB_PREFIX", "res"),
            ("JOB_PREFIX", "/res/"),
            ("JOB_PREFIX", "a//b/"),
            ("CONFIG_BUCKETS", "ok-bucket,BAD"),
            ("DELETE_CONCURRENCY", "0"),
            ("DELETE_CONCURRENCY", "many"),
            ("DELETE_BATCH_SIZE", "1001"),
            ("LIST_CONCURRENCY", "0"),
            ("S3_MAX_ATTEMPTS", "0"),
            ("S3_ATTEMPT_TIMEOUT_MS", "-1"),
            ("HTTP_BUDGET_MS", "999"),
            ("DEADLINE_MARGIN_MS", "60001"),
            ("BUCKET_VERSIONING", "yes"),
            ("TRUSTED_ACCOUNTS", "12345"),
            ("TRUSTED_PRINCIPALS", "*"),
            ("TRUSTED_PRINCIPALS", "arn:*"),
            ("TRUSTED_PRINCIPALS", "arn:aws:iam::*:role/x"),
            ("TRUSTED_PRINCIPALS", "arn:aws:iam::111122223333:*"),
            ("TRUSTED_PRINCIPALS", "arn:aws:s3:::bucket"),
            ("TRUSTED_PRINCIPALS", "arn:aws:iam::111122223333:role/*x"),
            ("MAX_HOPS", "0"),
            ("PROGRESS_INTERVAL_MS", "999"),
        ] {
            let mut vars = vec![("JOB_BUCKET", "jobs")];
            vars.push((name, value));
            let err = config(&vars).expect_err(value);
            assert_eq!(err.name, name);
            assert!(err.to_string().contains(name));
        }
    }
}
