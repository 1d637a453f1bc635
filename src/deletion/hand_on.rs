//! The hand-on: what a deletion that cannot finish within its invocation sends to the function's
//! own queue, whose message invokes the function again: the validated request (naming the
//! configuration path being deleted, whichever side named it), the progress so far and the hops.
//!
//! Only the function's role may send to that queue (its policy), so a hand-on is trusted as the
//! function's own; it still resumes only a job whose record says `deleting`.

use crate::error::ApiError;
use crate::request::DeleteRequest;
use crate::request::strict_json::Json;
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandOn {
    /// The request, with the configuration path being deleted.
    pub request: DeleteRequest,
    /// The chain this hand-on belongs to, as the job's record names it when it was sent: a
    /// hand-on whose chain the record no longer names has been superseded.
    pub chain: String,
    /// Objects and bytes deleted by the invocations before.
    pub deleted_objects: u64,
    pub deleted_bytes: u64,
    /// Invocations that have worked on the deletion so far.
    pub hops: u32,
}

/// A new chain's id: 128 random bits in hex. The standard library's hasher keys are random per
/// process and per call, which is randomness enough to tell concurrent chains apart.
pub(super) fn new_chain() -> String {
    use std::hash::{BuildHasher, RandomState};
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let seed = nanos.map_or(0, |d| d.as_nanos());
    let [a, b] = [RandomState::new().hash_one(seed), RandomState::new().hash_one(!seed)];
    format!("{a:016x}{b:016x}")
}

impl HandOn {
    pub fn to_body(&self) -> String {
        json!({
            "request": self.request.to_event(),
            "chain": self.chain,
            "deleted_objects": self.deleted_objects,
            "deleted_bytes": self.deleted_bytes,
            "hops": self.hops,
        })
        .to_string()
    }

    /// Reads a hand-on back, validating its request as any request is validated; a member
    /// given twice or not known makes it unreadable.
    pub fn parse(body: &[u8]) -> Result<HandOn, ApiError> {
        let unreadable = |reason: String| ApiError::HandOnUnreadable(reason);
        let json = Json::parse(body).map_err(|e| unreadable(e.to_string()))?;
        let Json::Object(members) = json else {
            return Err(unreadable(format!("expected an object, found {}", json.kind())));
        };
        let mut fields: [Option<Json>; 5] = Default::default();
        const NAMES: [&str; 5] = ["request", "chain", "deleted_objects", "deleted_bytes", "hops"];
        for (name, value) in members {
            let slot = NAMES.iter().position(|n| *n == name).map(|at| &mut fields[at]);
            match slot {
                Some(slot @ None) => *slot = Some(value),
                Some(Some(_)) => return Err(unreadable(format!("{name} is given twice"))),
                None => return Err(unreadable(format!("{name} is not part of a hand-on"))),
            }
        }
        let [request, chain, objects, bytes, hops] = fields;
        let count = |name: &str, value: Option<Json>| match value {
            Some(Json::Number(n)) => {
                n.as_u64().ok_or_else(|| unreadable(format!("{name} is not a count")))
            }
            _ => Err(unreadable(format!("{name} is not a count"))),
        };
        let request = request.ok_or_else(|| unreadable("it carries no request".into()))?;
        let Some(Json::String(chain)) = chain else {
            return Err(unreadable("its chain is not a string".into()));
        };
        Ok(HandOn {
            chain,
            request: DeleteRequest::from_event_json(request)
                .map_err(|e| unreadable(e.to_string()))?,
            deleted_objects: count("deleted_objects", objects)?,
            deleted_bytes: count("deleted_bytes", bytes)?,
            hops: u32::try_from(count("hops", hops)?).map_err(|e| unreadable(e.to_string()))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_on_reads_back_as_written() {
        let body = br#"{"project_id":"p1","job_id":"j1","type":"etl","offline_platform":{"config_load_path":"s3://cfg/x"}}"#;
        let hand_on = HandOn {
            request: DeleteRequest::from_event(body).unwrap(),
            chain: "c0ffee".into(),
            deleted_objects: 12_000,
            deleted_bytes: 1 << 33,
            hops: 3,
        };
        assert_eq!(HandOn::parse(hand_on.to_body().as_bytes()).unwrap(), hand_on);
    }

    #[test]
    fn chains_are_told_apart() {
        let chains: std::collections::HashSet<String> = (0..1000).map(|_| new_chain()).collect();
        assert_eq!(chains.len(), 1000);
        assert!(chains.iter().all(|c| c.len() == 32));
    }

    #[test]
    fn a_damaged_hand_on_is_unreadable() {
        let request = r#"{"project_id":"p","job_id":"j","type":"ranking"}"#;
        for body in [
            "{".to_owned(),
            "[]".to_owned(),
            r#"{"request":{"job_id":"j"},"deleted_objects":0,"deleted_bytes":0,"hops":0}"#.into(),
            format!(r#"{{"request":{request},"chain":"c","deleted_objects":-1,"deleted_bytes":0,"hops":0}}"#),
            format!(r#"{{"request":{request},"chain":"c","deleted_objects":0,"deleted_bytes":0}}"#),
            format!(r#"{{"request":{request},"deleted_objects":0,"deleted_bytes":0,"hops":0}}"#),
            format!(r#"{{"request":{request},"chain":7,"deleted_objects":0,"deleted_bytes":0,"hops":0}}"#),
            format!(r#"{{"request":{request},"chain":"c","deleted_objects":0,"deleted_bytes":0,"hops":0,"hops":9}}"#),
            format!(r#"{{"request":{request},"chain":"c","deleted_objects":0,"deleted_bytes":0,"hops":0,"x":1}}"#),
            r#"{"request":{"project_id":"p","project_id":"q","job_id":"j","type":"ranking"},"chain":"c","deleted_objects":0,"deleted_bytes":0,"hops":0}"#.into(),
        ] {
            let err = HandOn::parse(body.as_bytes()).unwrap_err();
            assert_eq!(err.code(), "res.5001", "{body}");
        }
    }
}
