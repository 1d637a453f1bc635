//! The job record: written by the services that create jobs, read before anything is deleted,
//! marked `deleting` by a hand-on, and deleted last.

use crate::error::ApiError;
use crate::job::{Id, JobType};
use crate::request::DeleteRequest;
use crate::request::strict_json::Json;
use crate::s3_names::S3Path;
use serde_json::{Map, Value};

const DELETING: &str = "deleting";
const CONFIG_PATH: &str = "offline_platform.config_load_path";

/// The job record written by the services that create jobs; other fields are tolerated.
#[derive(Debug)]
pub(super) struct JobRecord {
    job_type: String,
    pub(super) status: String,
    /// Where the job's configuration sources are, when the record says.
    pub(super) config_load_path: Option<S3Path>,
    /// The chain of hand-ons now carrying the deletion: the one its last hand-on started.
    pub(super) chain: Option<String>,
}

/// The record's field that names the chain of hand-ons carrying its deletion.
const CHAIN: &str = "deletion_chain";

impl JobRecord {
    /// A record is a JSON object with `type` and `status` strings, `config_load_path` absent,
    /// `null`, empty or an `s3://` path, and none of these given twice; anything else is
    /// unreadable.
    pub(super) fn parse(bytes: &[u8], job_id: &Id) -> Result<JobRecord, ApiError> {
        let unreadable =
            |reason: String| ApiError::RecordUnreadable { job_id: job_id.to_string(), reason };
        let json = Json::parse(bytes).map_err(|e| unreadable(format!("not JSON: {e}")))?;
        let Json::Object(members) = json else {
            return Err(unreadable(format!("not a JSON object but {}", json.kind())));
        };
        let read = |name: &str| -> Result<Option<Json>, ApiError> {
            let mut values = members.iter().filter(|(n, _)| n == name).map(|(_, v)| v.clone());
            let first = values.next();
            match values.next() {
                Some(_) => Err(unreadable(format!("its {name} is given twice"))),
                None => Ok(first.filter(|v| *v != Json::Null)),
            }
        };
        let text = |name: &str| match read(name)? {
            Some(Json::String(s)) => Ok(Some(s)),
            None => Ok(None),
            Some(_) => Err(unreadable(format!("its {name} is not a string"))),
        };
        let required = |value: Option<String>, name: &str| {
            value.ok_or_else(|| unreadable(format!("its {name} is not a string")))
        };
        let job_type = required(text("type")?, "type")?;
        let status = required(text("status")?, "status")?;
        let config_load_path = match text("config_load_path")? {
            None => None,
            Some(path) if path.is_empty() => None,
            Some(path) => Some(
                S3Path::parse(&path)
                    .map_err(|e| unreadable(format!("its config_load_path: {e}")))?,
            ),
        };
        let chain = text(CHAIN)?;
        Ok(JobRecord { job_type, status, config_load_path, chain })
    }

    pub(super) fn is_deleting(&self) -> bool {
        self.status == DELETING
    }

    /// Whether the request may delete the job this record describes.
    pub(super) fn admit(&self, request: &DeleteRequest) -> Result<(), ApiError> {
        if JobType::parse(&self.job_type) != Some(request.job_type) {
            return Err(ApiError::invalid(
                "type",
                format!(
                    "job {} is of type {}, not {}",
                    request.job_id,
                    printable(&self.job_type),
                    request.job_type.as_str()
                ),
            ));
        }
        match self.status.as_str() {
            "succeeded" | "failed" | DELETING => Ok(()),
            // Starting and running jobs are refused; so is a status this function does not know,
            // since it cannot tell whether the job is still writing.
            other => Err(ApiError::JobBusy {
                job_id: request.job_id.to_string(),
                status: printable(other),
            }),
        }
    }

    /// Where the configuration sources are: the record's path when it names one (a request
    /// naming another is refused), otherwise the request's, which is then the caller's to answer
    /// for.
    pub(super) fn config_path<'a>(
        &'a self,
        request: &'a DeleteRequest,
    ) -> Result<Option<&'a S3Path>, ApiError> {
        match (&self.config_load_path, request.config_load_path()) {
            (Some(recorded), Some(asked)) if recorded != asked => Err(ApiError::invalid(
                CONFIG_PATH,
                format!(
                    "job {} keeps its configuration sources at {recorded}, not {asked}",
                    request.job_id
                ),
            )),
            (Some(recorded), _) => Ok(Some(recorded)),
            (None, asked) => Ok(asked),
        }
    }

    /// The record's bytes with its status set to `deleting`, its `config_load_path` to the
    /// configuration path being deleted, if there is one (a record that names another path never
    /// gets this far: [`JobRecord::config_path`] refuses it), and the chain of hand-ons that now
    /// carries the deletion; every other field kept.
    pub(super) fn marked_deleting(
        bytes: &[u8],
        config_path: Option<&S3Path>,
        chain: &str,
    ) -> Option<Vec<u8>> {
        let mut record: Map<String, Value> = serde_json::from_slice(bytes).ok()?;
        record.insert("status".into(), DELETING.into());
        if let Some(path) = config_path {
            record.insert("config_load_path".into(), path.to_string().into());
        }
        record.insert(CHAIN.into(), chain.into());
        serde_json::to_vec(&record).ok()
    }
}

/// A record's field, echoed to the caller: short and printable.
pub(super) fn printable(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(job_type: &str) -> DeleteRequest {
        request_with(job_type, None)
    }

    fn request_with(job_type: &str, path: Option<&str>) -> DeleteRequest {
        let mut platform = serde_json::json!({});
        if let Some(path) = path {
            platform["config_load_path"] = path.into();
        }
        let body =
            serde_json::json!({"job_id": "j1", "type": job_type, "offline_platform": platform});
        let project = Id::parse("p1").unwrap();
        DeleteRequest::from_http(project, &[], body.to_string().as_bytes()).unwrap()
    }

    fn record(json: &str) -> Result<JobRecord, ApiError> {
        JobRecord::parse(json.as_bytes(), &Id::parse("j1").unwrap())
    }

    #[test]
    fn records_tolerate_extra_fields() {
        let r = record(r#"{"job_id":"j1","type":"etl","status":"succeeded","owner":"x","n":1}"#);
        assert!(r.unwrap().admit(&request("etl")).is_ok());
    }

    #[test]
    fn the_type_must_match_the_records_and_recall_is_retrieval() {
        let r = record(r#"{"type":"retrieval","status":"failed"}"#).unwrap();
        assert!(r.admit(&request("recall")).is_ok());
        assert!(r.admit(&request("retrieval")).is_ok());
        let err = r.admit(&request("etl")).unwrap_err();
        assert_eq!(err.code(), "res.1001");
        assert!(err.to_string().contains("parameter(type)"));
        let r = record(r#"{"type":"recall","status":"failed"}"#).unwrap();
        assert!(r.admit(&request("retrieval")).is_ok());
    }

    #[test]
    fn starting_running_and_unknown_statuses_are_refused() {
        for status in ["starting", "running", "paused"] {
            let r = record(&format!(r#"{{"type":"etl","status":"{status}"}}"#)).unwrap();
            let err = r.admit(&request("etl")).unwrap_err();
            assert_eq!((err.status(), err.code()), (400, "res.1024"), "{status}");
            assert!(err.to_string().contains(status));
        }
        for status in ["succeeded", "failed", "deleting"] {
            let r = record(&format!(r#"{{"type":"etl","status":"{status}"}}"#)).unwrap();
            assert!(r.admit(&request("etl")).is_ok(), "{status}");
        }
    }

    #[test]
    fn a_record_that_names_its_configuration_path_decides_it() {
        let r =
            record(r#"{"type":"etl","status":"failed","config_load_path":"s3://cfg/a/"}"#).unwrap();
        let recorded = S3Path { bucket: "cfg".into(), prefix: "a".into() };
        // None named, or the same one: the record's.
        assert_eq!(r.config_path(&request("etl")).unwrap(), Some(&recorded));
        let same = request_with("etl", Some("s3://cfg/a"));
        assert_eq!(r.config_path(&same).unwrap(), Some(&recorded));
        // Another one is refused, naming the parameter.
        let other = request_with("etl", Some("s3://cfg/b"));
        let err = r.config_path(&other).unwrap_err();
        assert_eq!((err.status(), err.code()), (400, "res.1001"));
        assert!(err.to_string().contains("parameter(offline_platform.config_load_path)"), "{err}");
        // A record without one leaves it to the request; an empty one is none.
        for json in [
            r#"{"type":"etl","status":"failed"}"#,
            r#"{"type":"etl","status":"failed","config_load_path":""}"#,
            r#"{"type":"etl","status":"failed","config_load_path":null}"#,
        ] {
            let r = record(json).unwrap();
            assert_eq!(r.config_path(&other).unwrap(), other.config_load_path());
            assert_eq!(r.config_path(&request("etl")).unwrap(), None);
        }
    }

    #[test]
    fn marking_a_record_deleting_keeps_its_other_fields_and_binds_the_path() {
        let bytes = br#"{"job_id":"j1","type":"etl","status":"failed","n":[1]}"#;
        let marked: serde_json::Value =
            serde_json::from_slice(&JobRecord::marked_deleting(bytes, None, "c1").unwrap())
                .unwrap();
        assert_eq!(
            marked,
            serde_json::json!({"job_id":"j1","type":"etl","status":"deleting","n":[1],"deletion_chain":"c1"})
        );
        let path = S3Path { bucket: "cfg".into(), prefix: "a".into() };
        let marked: serde_json::Value =
            serde_json::from_slice(&JobRecord::marked_deleting(bytes, Some(&path), "c1").unwrap())
                .unwrap();
        assert_eq!(marked["config_load_path"], "s3://cfg/a");
        assert_eq!(record(&marked.to_string()).unwrap().config_load_path, Some(path.clone()));
        // A record whose path is empty or null gets the path being deleted.
        for empty in [r#""""#, "null"] {
            let bytes = format!(r#"{{"type":"etl","status":"failed","config_load_path":{empty}}}"#);
            let marked = JobRecord::marked_deleting(bytes.as_bytes(), Some(&path), "c2").unwrap();
            let marked = record(std::str::from_utf8(&marked).unwrap()).unwrap();
            assert_eq!(marked.config_load_path.as_ref(), Some(&path), "{empty}");
            assert!(marked.is_deleting());
            assert_eq!(marked.chain.as_deref(), Some("c2"));
        }
    }

    #[test]
    fn an_unreadable_record_is_a_server_error() {
        for json in [
            "",
            "[]",
            r#"["etl","succeeded"]"#,
            r#""etl""#,
            r#"{"type":"etl"}"#,
            r#"{"type":"etl","status":null}"#,
            r#"{"type":"etl","status":"failed","status":"running"}"#,
            r#"{"type":"etl","status":"failed","config_load_path":"s3://a/b","config_load_path":"s3://c/d"}"#,
            r#"{"type":1,"status":"failed"}"#,
            r#"{"type":"etl","status":"failed","config_load_path":"/not/s3"}"#,
            r#"{"type":"etl","status":"failed","config_load_path":7}"#,
        ] {
            let err = record(json).unwrap_err();
            assert_eq!((err.status(), err.code()), (500, "res.5001"), "{json}");
        }
    }
}
