//! The deletion request, parsed from the caller's JSON and validated to the letter of the API
//! (`../shared/spec/`): every refusal names the parameter, with the RES code for its kind.

use crate::error::ApiError;
use crate::strict_json::Json;
use std::fmt;

/// The longest id accepted. The API page says 1 to 20 for `job_id`, yet its own example id has
/// 32 characters, as every RES id does; 64 leaves room without giving up the character rule.
pub const MAX_ID_CHARS: usize = 64;
/// The largest body read; anything longer is refused before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// `platform`, `cluster_name` and `cluster_id` (RES documents 64 for `platform`).
const MAX_NAME_CHARS: usize = 64;
/// S3's limit on a key, and so on any path the request can name.
const MAX_PATH_BYTES: usize = 1024;

/// 1 to 64 characters of `[A-Za-z0-9_-]`: always exactly one segment of an S3 key, never `.`,
/// `..`, a `/` or anything that could be decoded into one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Id(String);

impl Id {
    pub fn parse(param: &str, value: &str) -> Result<Id, ApiError> {
        let chars = value.chars().count();
        if chars == 0 || chars > MAX_ID_CHARS {
            return Err(ApiError::too_long(
                param,
                format!("it must have 1 to {MAX_ID_CHARS} characters, it has {chars}"),
            ));
        }
        if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(ApiError::invalid(
                param,
                "only letters, digits, hyphens (-) and underscores (_) are allowed",
            ));
        }
        Ok(Id(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The RES job types ("Querying Job Lists"). `recall` is the Chinese page's name for `retrieval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobType {
    Standard,
    Retrieval,
    Filter,
    Etl,
    Ranking,
    Nearline,
    Evaluation,
}

impl JobType {
    const ACCEPTED: &'static str =
        "standard, retrieval (or recall), filter, etl, ranking, nearline, evaluation";

    pub fn parse(value: &str) -> Option<JobType> {
        Some(match value {
            "standard" => JobType::Standard,
            "retrieval" | "recall" => JobType::Retrieval,
            "filter" => JobType::Filter,
            "etl" => JobType::Etl,
            "ranking" => JobType::Ranking,
            "nearline" => JobType::Nearline,
            "evaluation" => JobType::Evaluation,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Standard => "standard",
            JobType::Retrieval => "retrieval",
            JobType::Filter => "filter",
            JobType::Etl => "etl",
            JobType::Ranking => "ranking",
            JobType::Nearline => "nearline",
            JobType::Evaluation => "evaluation",
        }
    }

    /// The page: `offline_platform` "is mandatory when type is set to etl, retrieval, filter,
    /// or standard but optional in other conditions".
    fn needs_offline_platform(self) -> bool {
        matches!(self, JobType::Standard | JobType::Retrieval | JobType::Filter | JobType::Etl)
    }
}

/// A validated deletion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    pub project_id: Id,
    pub job_id: Id,
    pub job_type: JobType,
    pub offline_platform: Option<OfflinePlatform>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflinePlatform {
    pub platform: Option<String>,
    pub platform_parameter: Option<PlatformParameter>,
    /// Where the job's configuration sources are kept; `{path}/{job_id}/` is deleted with the job.
    pub config_load_path: Option<S3Path>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformParameter {
    pub cluster_name: String,
    pub cluster_id: Option<String>,
}

/// `s3://bucket/prefix`, with the prefix's trailing slashes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Path {
    pub bucket: String,
    /// Empty for the bucket's root; otherwise `/`-separated segments, none empty, `.` or `..`.
    pub prefix: String,
}

impl fmt::Display for S3Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix.as_str() {
            "" => write!(f, "s3://{}", self.bucket),
            prefix => write!(f, "s3://{}/{prefix}", self.bucket),
        }
    }
}

impl S3Path {
    /// Reads `s3://bucket/prefix`; a refusal names `param`.
    pub fn parse(param: &str, value: &str) -> Result<S3Path, ApiError> {
        if value.len() > MAX_PATH_BYTES {
            return Err(ApiError::too_long(param, format!("at most {MAX_PATH_BYTES} bytes")));
        }
        let expected = "expected s3://bucket/prefix";
        let Some(rest) = value.strip_prefix("s3://") else {
            return Err(ApiError::invalid(param, expected));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !is_bucket_name(bucket) {
            return Err(ApiError::invalid(param, format!("{expected}, with a valid bucket name")));
        }
        let prefix = prefix.trim_end_matches('/');
        let bad_segment = |s: &str| s.is_empty() || s == "." || s == "..";
        if !prefix.is_empty() && prefix.split('/').any(bad_segment) {
            return Err(ApiError::invalid(
                param,
                "the prefix must not contain empty, '.' or '..' segments",
            ));
        }
        if prefix.chars().any(char::is_control) {
            return Err(ApiError::invalid(param, "the prefix must not contain control characters"));
        }
        Ok(S3Path { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
    }
}

/// S3's rules for a general purpose bucket name: 3 to 63 of `[a-z0-9.-]`, starting and ending
/// with a letter or digit, no `..`, and not shaped like an IP address.
pub fn is_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

impl DeleteRequest {
    /// A request of the HTTP API: the project from the path, `job_id` from the body or the query
    /// string or both (then they must agree), the rest from the body.
    pub fn from_http(
        project_id: Id,
        query_job_ids: &[String],
        body: &[u8],
    ) -> Result<DeleteRequest, ApiError> {
        let mut body = Members::of_body(body, &["job_id", "type", "offline_platform"])?;
        let mut query_job_id: Option<Id> = None;
        for value in query_job_ids {
            let id = Id::parse("job_id", value)?;
            if query_job_id.as_ref().is_some_and(|seen| *seen != id) {
                return Err(ApiError::invalid(
                    "job_id",
                    "the query string names two different jobs",
                ));
            }
            query_job_id = Some(id);
        }
        let body_job_id = body.optional("job_id").map(|v| id_value("job_id", v)).transpose()?;
        let job_id = match (body_job_id, query_job_id) {
            (Some(from_body), Some(from_query)) if from_body != from_query => {
                return Err(ApiError::invalid(
                    "job_id",
                    "the body and the query string name different jobs",
                ));
            }
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => return Err(ApiError::MissingParameter("job_id".into())),
        };
        let (job_type, offline_platform) = job_type_and_platform(&mut body)?;
        Ok(DeleteRequest { project_id, job_id, job_type, offline_platform })
    }

    /// A request carried by an event (an SQS message body, an EventBridge detail, a deletion
    /// ticket): the same rules, with `project_id` part of the body.
    pub fn from_event(body: &[u8]) -> Result<DeleteRequest, ApiError> {
        let known = ["project_id", "job_id", "type", "offline_platform"];
        let mut body = Members::of_body(body, &known)?;
        let project_id = id_value("project_id", body.required("project_id")?)?;
        let job_id = id_value("job_id", body.required("job_id")?)?;
        let (job_type, offline_platform) = job_type_and_platform(&mut body)?;
        Ok(DeleteRequest { project_id, job_id, job_type, offline_platform })
    }

    /// Where the request says the job's configuration sources are.
    pub fn config_load_path(&self) -> Option<&S3Path> {
        self.offline_platform.as_ref()?.config_load_path.as_ref()
    }

    /// The request as an event body: `from_event` reads it back unchanged.
    pub fn to_event(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "project_id": self.project_id.as_str(),
            "job_id": self.job_id.as_str(),
            "type": self.job_type.as_str(),
        });
        if let Some(platform) = &self.offline_platform {
            let mut p = serde_json::Map::new();
            if let Some(name) = &platform.platform {
                p.insert("platform".into(), name.as_str().into());
            }
            if let Some(parameter) = &platform.platform_parameter {
                let mut q = serde_json::Map::new();
                q.insert("cluster_name".into(), parameter.cluster_name.as_str().into());
                if let Some(id) = &parameter.cluster_id {
                    q.insert("cluster_id".into(), id.as_str().into());
                }
                p.insert("platform_parameter".into(), q.into());
            }
            if let Some(path) = &platform.config_load_path {
                p.insert("config_load_path".into(), path.to_string().into());
            }
            body["offline_platform"] = p.into();
        }
        body
    }
}

fn job_type_and_platform(
    body: &mut Members,
) -> Result<(JobType, Option<OfflinePlatform>), ApiError> {
    let job_type = string("type", body.required("type")?)?;
    let job_type = JobType::parse(&job_type).ok_or_else(|| {
        ApiError::invalid("type", format!("it must be one of {}", JobType::ACCEPTED))
    })?;
    let offline_platform = match body.optional("offline_platform") {
        Some(value) => Some(offline_platform(value)?),
        None if job_type.needs_offline_platform() => {
            return Err(ApiError::MissingParameter("offline_platform".into()));
        }
        None => None,
    };
    Ok((job_type, offline_platform))
}

fn offline_platform(value: Json) -> Result<OfflinePlatform, ApiError> {
    let mut members = Members::of_object(
        "offline_platform",
        value,
        &["platform", "platform_parameter", "config_load_path"],
    )?;
    let platform =
        members.optional("platform").map(|v| name("offline_platform.platform", v)).transpose()?;
    let platform_parameter =
        members.optional("platform_parameter").map(platform_parameter).transpose()?;
    let config_load_path = members
        .optional("config_load_path")
        .map(|v| {
            let param = "offline_platform.config_load_path";
            S3Path::parse(param, &string(param, v)?)
        })
        .transpose()?;
    Ok(OfflinePlatform { platform, platform_parameter, config_load_path })
}

fn platform_parameter(value: Json) -> Result<PlatformParameter, ApiError> {
    let path = "offline_platform.platform_parameter";
    let mut members = Members::of_object(path, value, &["cluster_name", "cluster_id"])?;
    let cluster_name = name(&format!("{path}.cluster_name"), members.required("cluster_name")?)?;
    let cluster_id = members
        .optional("cluster_id")
        .map(|v| name(&format!("{path}.cluster_id"), v))
        .transpose()?;
    Ok(PlatformParameter { cluster_name, cluster_id })
}

/// The members of one JSON object being validated, known by their dotted path for messages.
struct Members {
    path: &'static str,
    members: Vec<(String, Json)>,
}

impl Members {
    fn of_body(body: &[u8], known: &[&str]) -> Result<Members, ApiError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::too_long(
                "body",
                format!("at most {MAX_BODY_BYTES} bytes, it has {}", body.len()),
            ));
        }
        // No body at all reads as `{}`, so that the answer names the first missing parameter.
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Members { path: "", members: Vec::new() });
        }
        let json = Json::parse(body)
            .map_err(|e| ApiError::InvalidContent(format!("the body is not valid JSON ({e})")))?;
        match json {
            Json::Object(_) => Members::of_object("", json, known),
            other => Err(ApiError::InvalidContent(format!(
                "the body must be a JSON object, not {}",
                other.kind()
            ))),
        }
    }

    /// Refuses duplicated and unknown members up front, so that a misspelt name is reported as
    /// such rather than as the parameter it was meant to be being null.
    fn of_object(path: &'static str, value: Json, known: &[&str]) -> Result<Members, ApiError> {
        let Json::Object(members) = value else {
            return Err(ApiError::invalid(
                path,
                format!("expected an object, found {}", value.kind()),
            ));
        };
        for (i, (name, _)) in members.iter().enumerate() {
            let full = qualified(path, name);
            if !known.contains(&name.as_str()) {
                return Err(ApiError::InvalidContent(format!(
                    "the parameter({}) is not part of this API",
                    printable(&full)
                )));
            }
            if members[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::InvalidContent(format!(
                    "the parameter({full}) is given more than once"
                )));
            }
        }
        Ok(Members { path, members })
    }

    /// The member's value; absent and `null` both read as `None`.
    fn optional(&mut self, name: &str) -> Option<Json> {
        let at = self.members.iter().position(|(n, _)| n == name)?;
        Some(self.members.swap_remove(at).1).filter(|v| *v != Json::Null)
    }

    fn required(&mut self, name: &str) -> Result<Json, ApiError> {
        self.optional(name).ok_or_else(|| ApiError::MissingParameter(qualified(self.path, name)))
    }
}

fn qualified(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") }
}

/// A caller's unknown member name, cut short and stripped of control characters before it is
/// echoed back.
fn printable(name: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = name.chars().filter(|c| !c.is_control()).take(MAX).collect();
    if name.chars().count() > MAX {
        out.push('…');
    }
    out
}

fn string(param: &str, value: Json) -> Result<String, ApiError> {
    match value {
        Json::String(s) => Ok(s),
        other => {
            Err(ApiError::invalid(param, format!("expected a string, found {}", other.kind())))
        }
    }
}

fn id_value(param: &str, value: Json) -> Result<Id, ApiError> {
    Id::parse(param, &string(param, value)?)
}

/// A free-form name (platform, cluster): a non-empty string of at most 64 characters.
fn name(param: &str, value: Json) -> Result<String, ApiError> {
    let s = string(param, value)?;
    let chars = s.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(ApiError::too_long(
            param,
            format!("it must have 1 to {MAX_NAME_CHARS} characters, it has {chars}"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(ApiError::invalid(param, "control characters are not allowed"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROJECT: &str = "0a5e29b1c4d84f6e9b7a2c3d4e5f6a7b";
    const JOB: &str = "aa22ac78f14142eaa7deacc8e88d477e";

    fn parse(body: &str) -> Result<DeleteRequest, ApiError> {
        DeleteRequest::from_http(project(PROJECT), &[], body.as_bytes())
    }

    fn project(id: &str) -> Id {
        Id::parse("project_id", id).unwrap()
    }

    fn code(result: Result<DeleteRequest, ApiError>) -> &'static str {
        result.expect_err("the request should be refused").code()
    }

    #[test]
    fn the_pages_example_request_is_accepted() {
        let request = parse(
            r#"{ "job_id": "aa22ac78f14142eaa7deacc8e88d477e", "type":"etl",
                 "offline_platform": { "platform": "DLI",
                   "platform_parameter": {"cluster_name":"res_one"},
                   "config_load_path": "s3://res-config/sources/" } }"#,
        )
        .unwrap();
        assert_eq!(request.project_id.as_str(), PROJECT);
        assert_eq!(request.job_id.as_str(), JOB);
        assert_eq!(request.job_type, JobType::Etl);
        let platform = request.offline_platform.unwrap();
        assert_eq!(platform.platform.as_deref(), Some("DLI"));
        assert_eq!(platform.platform_parameter.unwrap().cluster_name, "res_one");
        assert_eq!(
            platform.config_load_path,
            Some(S3Path { bucket: "res-config".into(), prefix: "sources".into() })
        );
    }

    #[test]
    fn ids_follow_the_character_and_length_rules() {
        assert!(Id::parse("job_id", "a").is_ok());
        assert!(Id::parse("job_id", "A-z_09").is_ok());
        assert!(Id::parse("job_id", &"x".repeat(64)).is_ok());
        for (value, code) in [
            ("", "res.1002"),
            (&"x".repeat(65) as &str, "res.1002"),
            ("..", "res.1001"),
            ("a/b", "res.1001"),
            ("a%2Fb", "res.1001"),
            ("a b", "res.1001"),
            ("a.b", "res.1001"),
            ("аbc", "res.1001"),  // Cyrillic а, a look-alike
            ("ａbc", "res.1001"), // full-width
        ] {
            let err = Id::parse("job_id", value).expect_err(value);
            assert_eq!(err.code(), code, "{value:?}");
            assert!(err.to_string().contains("parameter(job_id)"), "{err}");
        }
    }

    #[test]
    fn every_type_and_the_recall_alias_are_accepted() {
        for (given, parsed) in [
            ("standard", JobType::Standard),
            ("retrieval", JobType::Retrieval),
            ("recall", JobType::Retrieval),
            ("filter", JobType::Filter),
            ("etl", JobType::Etl),
            ("ranking", JobType::Ranking),
            ("nearline", JobType::Nearline),
            ("evaluation", JobType::Evaluation),
        ] {
            let body = format!(
                r#"{{"job_id":"j1","type":"{given}","offline_platform":{{"platform":"DLI"}}}}"#
            );
            assert_eq!(parse(&body).unwrap().job_type, parsed);
        }
    }

    #[test]
    fn an_unknown_type_is_invalid() {
        let err = parse(r#"{"job_id":"j1","type":"ETL"}"#).unwrap_err();
        assert_eq!(err.code(), "res.1001");
        assert!(err.to_string().contains("parameter(type)"));
    }

    #[test]
    fn offline_platform_is_mandatory_for_four_types_only() {
        for t in ["standard", "retrieval", "recall", "filter", "etl"] {
            let err = parse(&format!(r#"{{"job_id":"j1","type":"{t}"}}"#)).unwrap_err();
            assert_eq!(err, ApiError::MissingParameter("offline_platform".into()), "{t}");
        }
        for t in ["ranking", "nearline", "evaluation"] {
            assert!(parse(&format!(r#"{{"job_id":"j1","type":"{t}"}}"#)).is_ok(), "{t}");
        }
        let null_platform = r#"{"job_id":"j1","type":"etl","offline_platform":null}"#;
        assert_eq!(code(parse(null_platform)), "res.1003");
    }

    #[test]
    fn missing_parameters_are_named_null() {
        let err = parse(r#"{"type":"ranking"}"#).unwrap_err();
        assert_eq!(err.to_string(), "The request parameter(job_id) is null.");
        assert_eq!(err.code(), "res.1003");
        assert_eq!(code(parse(r#"{"job_id":null,"type":"ranking"}"#)), "res.1003");
        let err = parse(r#"{"job_id":"j1"}"#).unwrap_err();
        assert_eq!(err.to_string(), "The request parameter(type) is null.");
        let err = parse("").unwrap_err();
        assert_eq!(err.to_string(), "The request parameter(job_id) is null.");
        let err =
            parse(r#"{"job_id":"j1","type":"etl","offline_platform":{"platform_parameter":{}}}"#)
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "The request parameter(offline_platform.platform_parameter.cluster_name) is null."
        );
    }

    #[test]
    fn wrong_json_types_are_invalid_values() {
        for (body, param) in [
            (r#"{"job_id":7,"type":"ranking"}"#, "job_id"),
            (r#"{"job_id":"j1","type":["etl"]}"#, "type"),
            (r#"{"job_id":"j1","type":"etl","offline_platform":"DLI"}"#, "offline_platform"),
            (
                r#"{"job_id":"j1","type":"etl","offline_platform":{"platform":1}}"#,
                "offline_platform.platform",
            ),
            (
                r#"{"job_id":"j1","type":"etl","offline_platform":{"platform_parameter":"c"}}"#,
                "offline_platform.platform_parameter",
            ),
            (
                r#"{"job_id":"j1","type":"etl","offline_platform":{"platform_parameter":{"cluster_name":true}}}"#,
                "offline_platform.platform_parameter.cluster_name",
            ),
            (
                r#"{"job_id":"j1","type":"etl","offline_platform":{"config_load_path":{}}}"#,
                "offline_platform.config_load_path",
            ),
        ] {
            let err = parse(body).unwrap_err();
            assert_eq!(err.code(), "res.1001", "{body}");
            assert!(err.to_string().contains(&format!("parameter({param})")), "{err}");
        }
    }

    #[test]
    fn names_longer_than_64_characters_are_too_long() {
        let long = "p".repeat(65);
        let body =
            format!(r#"{{"job_id":"j1","type":"etl","offline_platform":{{"platform":"{long}"}}}}"#);
        let err = parse(&body).unwrap_err();
        assert_eq!(err.code(), "res.1002");
        assert!(err.to_string().contains("parameter(offline_platform.platform)"));
    }

    #[test]
    fn bodies_that_are_not_objects_or_not_json_are_invalid_content() {
        for body in ["[]", "null", "\"job\"", "17", "{", "{\"job_id\":\"j1\"} {}", "\u{feff}{}"] {
            assert_eq!(code(parse(body)), "res.1006", "{body:?}");
        }
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(code(parse(&deep)), "res.1006");
    }

    #[test]
    fn unknown_and_duplicated_members_are_refused_by_name() {
        let err = parse(r#"{"job_id":"j1","typ":"etl"}"#).unwrap_err();
        assert_eq!(err.code(), "res.1006");
        assert!(err.to_string().contains("parameter(typ)"), "{err}");
        let err = parse(r#"{"job_id":"j1","type":"ranking","project_id":"other"}"#).unwrap_err();
        assert!(err.to_string().contains("parameter(project_id)"), "{err}");
        let err = parse(r#"{"job_id":"j1","type":"etl","offline_platform":{"cluster":"x"}}"#)
            .unwrap_err();
        assert!(err.to_string().contains("parameter(offline_platform.cluster)"), "{err}");
        let err = parse(r#"{"job_id":"j1","job_id":"j2","type":"ranking"}"#).unwrap_err();
        assert_eq!(err.code(), "res.1006");
        assert!(err.to_string().contains("parameter(job_id) is given more than once"));
        // The same value twice is still ambiguous about intent: refused too.
        assert_eq!(code(parse(r#"{"job_id":"j1","job_id":"j1","type":"ranking"}"#)), "res.1006");
    }

    #[test]
    fn a_body_over_64_kib_is_too_long_before_it_is_parsed() {
        let body = format!(r#"{{"job_id":"j1","type":"ranking","x":"{}"}}"#, "a".repeat(70_000));
        let err = parse(&body).unwrap_err();
        assert_eq!(err.code(), "res.1002");
        assert!(err.to_string().contains("parameter(body)"));
    }

    #[test]
    fn job_id_may_come_from_the_query_string_and_must_agree_with_the_body() {
        let query = |ids: &[&str], body: &str| {
            let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            DeleteRequest::from_http(project(PROJECT), &ids, body.as_bytes())
        };
        assert_eq!(query(&["q1"], r#"{"type":"ranking"}"#).unwrap().job_id.as_str(), "q1");
        assert_eq!(
            query(&["j1"], r#"{"job_id":"j1","type":"ranking"}"#).unwrap().job_id.as_str(),
            "j1"
        );
        assert_eq!(code(query(&["q1"], r#"{"job_id":"j1","type":"ranking"}"#)), "res.1001");
        assert_eq!(code(query(&["q1", "q2"], r#"{"type":"ranking"}"#)), "res.1001");
        assert_eq!(code(query(&["../x"], r#"{"type":"ranking"}"#)), "res.1001");
    }

    #[test]
    fn config_load_path_must_be_an_s3_uri_without_tricks() {
        let with_path = |path: &str| {
            let body = serde_json::json!({
                "job_id": "j1", "type": "etl", "offline_platform": {"config_load_path": path}
            });
            parse(&body.to_string())
        };
        let path =
            |p: &str| with_path(p).unwrap().offline_platform.unwrap().config_load_path.unwrap();
        assert_eq!(
            path("s3://cfg-bucket"),
            S3Path { bucket: "cfg-bucket".into(), prefix: "".into() }
        );
        assert_eq!(
            path("s3://cfg-bucket/"),
            S3Path { bucket: "cfg-bucket".into(), prefix: "".into() }
        );
        assert_eq!(
            path("s3://cfg.b/a/b//"),
            S3Path { bucket: "cfg.b".into(), prefix: "a/b".into() }
        );
        for bad in [
            "",
            "cfg/a",
            "http://cfg/a",
            "S3://cfg/a",
            "s3://",
            "s3://Cfg/a",
            "s3://ab/a",
            "s3://-cfg/a",
            "s3://192.168.1.1/a",
            "s3://cfg..x/a",
            "s3://cfg//a",
            "s3://cfg/a//b",
            "s3://cfg/../a",
            "s3://cfg/a/..",
            "s3://cfg/./a",
            "s3://cfg/a\u{0}b",
            "s3://cfg/a\nb",
        ] {
            assert_eq!(code(with_path(bad)), "res.1001", "{bad:?}");
        }
        let long = format!("s3://cfg/{}", "a".repeat(1100));
        assert_eq!(code(with_path(&long)), "res.1002");
    }

    #[test]
    fn event_requests_carry_their_project_and_follow_the_same_rules() {
        let body = br#"{"project_id":"p1","job_id":"j1","type":"recall","offline_platform":{}}"#;
        let request = DeleteRequest::from_event(body).unwrap();
        assert_eq!((request.project_id.as_str(), request.job_id.as_str()), ("p1", "j1"));
        assert_eq!(request.job_type, JobType::Retrieval);
        let missing = DeleteRequest::from_event(br#"{"job_id":"j1","type":"ranking"}"#);
        assert_eq!(missing.unwrap_err(), ApiError::MissingParameter("project_id".into()));
        let bad =
            DeleteRequest::from_event(br#"{"project_id":"../p","job_id":"j1","type":"ranking"}"#);
        assert_eq!(bad.unwrap_err().code(), "res.1001");
        let unknown =
            DeleteRequest::from_event(br#"{"project_id":"p","job_id":"j","type":"ranking","x":1}"#);
        assert_eq!(unknown.unwrap_err().code(), "res.1006");
    }

    #[test]
    fn a_request_survives_its_round_trip_through_an_event_body() {
        for body in [
            r#"{"project_id":"p1","job_id":"j1","type":"ranking"}"#,
            r#"{"project_id":"p1","job_id":"j1","type":"etl","offline_platform":{"platform":"DLI",
                "platform_parameter":{"cluster_name":"c","cluster_id":"i"},"config_load_path":"s3://cfg/a/b"}}"#,
            r#"{"project_id":"p1","job_id":"j1","type":"etl","offline_platform":{"config_load_path":"s3://cfg"}}"#,
        ] {
            let request = DeleteRequest::from_event(body.as_bytes()).unwrap();
            let again =
                DeleteRequest::from_event(request.to_event().to_string().as_bytes()).unwrap();
            assert_eq!(again, request);
        }
    }

    #[test]
    fn echoed_member_names_are_cut_short_and_stripped() {
        let name = format!("a\u{7}{}", "b".repeat(500));
        let body = serde_json::json!({ name: 1 }).to_string();
        let message = parse(&body).unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
        assert!(!message.contains('\u{7}'));
    }
}
