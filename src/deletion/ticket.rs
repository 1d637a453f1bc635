//! The deletion ticket: a deletion's validated request and its progress, written when the
//! deletion cannot finish within its invocation. Writing it is what starts the next invocation:
//! the bucket's Object Created event for `.deletions/` invokes the function, which resumes from
//! the ticket, and rewrites it to hand on again if it too runs short of time.

use crate::error::ApiError;
use crate::request::DeleteRequest;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub request: DeleteRequest,
    /// Objects and bytes deleted by the invocations before.
    pub deleted_objects: u64,
    pub deleted_bytes: u64,
    /// Invocations that have worked on the deletion so far.
    pub hops: u32,
}

impl Ticket {
    pub fn to_bytes(&self) -> Vec<u8> {
        let ticket = json!({
            "request": self.request.to_event(),
            "deleted_objects": self.deleted_objects,
            "deleted_bytes": self.deleted_bytes,
            "hops": self.hops,
        });
        ticket.to_string().into_bytes()
    }

    /// Reads a ticket back, validating its request as any request is validated.
    pub fn parse(key: &str, bytes: &[u8]) -> Result<Ticket, ApiError> {
        let unreadable =
            |reason: String| ApiError::TicketUnreadable { key: key.to_owned(), reason };
        let ticket: Value = serde_json::from_slice(bytes).map_err(|e| unreadable(e.to_string()))?;
        let number = |name: &str| {
            ticket[name].as_u64().ok_or_else(|| unreadable(format!("{name} is not a count")))
        };
        let request = DeleteRequest::from_event(ticket["request"].to_string().as_bytes())
            .map_err(|e| unreadable(e.to_string()))?;
        Ok(Ticket {
            request,
            deleted_objects: number("deleted_objects")?,
            deleted_bytes: number("deleted_bytes")?,
            hops: u32::try_from(number("hops")?).map_err(|e| unreadable(e.to_string()))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_reads_back_as_written() {
        let body = br#"{"project_id":"p1","job_id":"j1","type":"etl","offline_platform":{"config_load_path":"s3://cfg/x"}}"#;
        let ticket = Ticket {
            request: DeleteRequest::from_event(body).unwrap(),
            deleted_objects: 12_000,
            deleted_bytes: 1 << 33,
            hops: 3,
        };
        assert_eq!(Ticket::parse("k", &ticket.to_bytes()).unwrap(), ticket);
    }

    #[test]
    fn a_damaged_ticket_is_refused_with_its_key() {
        for bytes in [&b"{"[..], br#"{"request":{"job_id":"j"},"deleted_objects":0,"deleted_bytes":0,"hops":0}"#,
                      br#"{"request":{"project_id":"p","job_id":"j","type":"ranking"},"deleted_objects":-1,"deleted_bytes":0,"hops":0}"#] {
            let err = Ticket::parse(".deletions/p/j.json", bytes).unwrap_err();
            assert_eq!(err.code(), "res.5001");
            assert!(err.to_string().contains(".deletions/p/j.json"), "{err}");
        }
    }
}
