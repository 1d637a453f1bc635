//! A JSON object of the request, walked member by member: unknown and repeated names are refused
//! up front by name, absent and `null` read the same, and every value read names its parameter
//! when it is of the wrong JSON type.

use super::MAX_BODY_BYTES;
use super::strict_json::Json;
use crate::error::ApiError;
use crate::job::Id;

/// The members of one JSON object being validated, known by their dotted path for messages.
pub(super) struct Members {
    path: &'static str,
    members: Vec<(String, Json)>,
}

impl Members {
    pub(super) fn of_body(body: &[u8], known: &[&str]) -> Result<Members, ApiError> {
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
    pub(super) fn of_object(
        path: &'static str,
        value: Json,
        known: &[&str],
    ) -> Result<Members, ApiError> {
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
    pub(super) fn optional(&mut self, name: &str) -> Option<Json> {
        let at = self.members.iter().position(|(n, _)| n == name)?;
        Some(self.members.swap_remove(at).1).filter(|v| *v != Json::Null)
    }

    pub(super) fn required(&mut self, name: &str) -> Result<Json, ApiError> {
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

pub(super) fn string(param: &str, value: Json) -> Result<String, ApiError> {
    match value {
        Json::String(s) => Ok(s),
        other => {
            Err(ApiError::invalid(param, format!("expected a string, found {}", other.kind())))
        }
    }
}

pub(super) fn id_value(param: &str, value: Json) -> Result<Id, ApiError> {
    Id::parse(&string(param, value)?).map_err(|err| ApiError::bad_id(param, err))
}
