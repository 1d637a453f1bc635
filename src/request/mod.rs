//! The deletion request, parsed from the caller's JSON and validated to the letter of the API
//! (RES "Deleting Jobs", summarised in the README's "The API"): every refusal names the parameter, with the RES code for its kind. The
//! JSON is read into a tree that keeps duplicate members ([`strict_json`]) and walked one object
//! at a time by [`members`], which refuses unknown and repeated names.

mod members;
pub mod strict_json;

use crate::error::ApiError;
use crate::job::{Id, JobType};
use crate::s3_names::{S3Path, S3PathError};
use members::{Members, id_value, string};
use strict_json::Json;

/// The largest body read; anything longer is refused before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// `platform`, `cluster_name` and `cluster_id` (RES documents 64 for `platform`).
const MAX_NAME_CHARS: usize = 64;

/// The members of a request carried by an event.
const EVENT_MEMBERS: [&str; 4] = ["project_id", "job_id", "type", "offline_platform"];

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
            let id = Id::parse(value).map_err(|err| ApiError::bad_id("job_id", err))?;
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
    /// hand-on): the same rules, with `project_id` part of the body.
    pub fn from_event(body: &[u8]) -> Result<DeleteRequest, ApiError> {
        DeleteRequest::from_event_members(Members::of_body(body, &EVENT_MEMBERS)?)
    }

    /// As [`DeleteRequest::from_event`], from a request already parsed into a tree that kept its
    /// duplicate members.
    pub fn from_event_json(body: Json) -> Result<DeleteRequest, ApiError> {
        if !matches!(body, Json::Object(_)) {
            let kind = body.kind();
            return Err(ApiError::InvalidContent(format!(
                "the body must be a JSON object, not {kind}"
            )));
        }
        DeleteRequest::from_event_members(Members::of_object("", body, &EVENT_MEMBERS)?)
    }

    fn from_event_members(mut body: Members) -> Result<DeleteRequest, ApiError> {
        let project_id = id_value("project_id", body.required("project_id")?)?;
        let job_id = id_value("job_id", body.required("job_id")?)?;
        let (job_type, offline_platform) = job_type_and_platform(&mut body)?;
        Ok(DeleteRequest { project_id, job_id, job_type, offline_platform })
    }

    /// Where the request says the job's configuration sources are.
    pub fn config_load_path(&self) -> Option<&S3Path> {
        self.offline_platform.as_ref()?.config_load_path.as_ref()
    }

    /// The same request, naming `path` as its configuration path (or none).
    pub fn with_config_load_path(&self, path: Option<&S3Path>) -> DeleteRequest {
        let mut request = self.clone();
        match (&mut request.offline_platform, path) {
            (Some(platform), _) => platform.config_load_path = path.cloned(),
            (None, None) => {}
            (None, Some(path)) => {
                request.offline_platform = Some(OfflinePlatform {
                    platform: None,
                    platform_parameter: None,
                    config_load_path: Some(path.clone()),
                });
            }
        }
        request
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
        .map(|v| config_load_path(&string(CONFIG_LOAD_PATH, v)?))
        .transpose()?;
    Ok(OfflinePlatform { platform, platform_parameter, config_load_path })
}

const CONFIG_LOAD_PATH: &str = "offline_platform.config_load_path";

fn config_load_path(value: &str) -> Result<S3Path, ApiError> {
    S3Path::parse(value).map_err(|why| match why {
        S3PathError::TooLong => ApiError::too_long(CONFIG_LOAD_PATH, why.to_string()),
        _ => ApiError::invalid(CONFIG_LOAD_PATH, why.to_string()),
    })
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
        Id::parse(id).unwrap()
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
