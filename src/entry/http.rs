//! The HTTP entry: API Gateway REST API (payload 1.0), HTTP API (2.0) and Function URL (2.0)
//! events in, the RES envelope out.
//!
//! Every outcome, the caller's mistakes and the store's failures alike, is an answer with a
//! status and an envelope: a Lambda error would reach the caller as a bare 502.
//!
//! Events are read with `lambda_http`'s own event types rather than its `http::Request`
//! conversion, which panics on some malformed paths and base64 bodies.

use super::auth::{Caller, Who};
use super::{Ending, Handled, summarise};
use crate::app::App;
use crate::budget::Budget;
use crate::deletion::{self, Outcome};
use crate::error::ApiError;
use crate::job::Id;
use crate::request::{DeleteRequest, MAX_BODY_BYTES};
use crate::telemetry::{Entry, Meter};
use base64::Engine as _;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Whether an event is an HTTP request this entry serves.
pub(super) fn is_http(event: &Value) -> bool {
    event
        .get("requestContext")
        .is_some_and(|context| context.get("http").is_some() || context.get("httpMethod").is_some())
        || event.get("httpMethod").is_some()
}

/// The parts of an HTTP event this function uses, whichever API Gateway flavour sent it.
#[derive(Debug)]
struct HttpCall {
    method: String,
    /// The path as the client sent it, stage included.
    path: String,
    /// The stage that prefixes `path`, when there is one (`$default` has none).
    stage: Option<String>,
    path_parameters: HashMap<String, String>,
    query_job_ids: Vec<String>,
    body: Option<String>,
    body_is_base64: bool,
    caller: Result<Caller, ApiError>,
    /// Who asked, whether or not they may: for the audit trail.
    who: Who,
}

impl HttpCall {
    fn parse(event: Value, claim: &str) -> Result<HttpCall, ApiError> {
        // serde's message may quote the event: cut short.
        let unreadable = |e: serde_json::Error| {
            let reason: String = e.to_string().chars().take(160).collect();
            ApiError::InvalidContent(format!("the HTTP event cannot be read ({reason})"))
        };
        let is_v2 = event.get("version").and_then(Value::as_str) == Some("2.0");
        if is_v2 {
            let e: ApiGatewayV2httpRequest = serde_json::from_value(event).map_err(unreadable)?;
            let context = e.request_context;
            let query_job_ids = match &e.raw_query_string {
                Some(raw) => form_urlencoded::parse(raw.as_bytes())
                    .filter(|(name, _)| name == "job_id")
                    .map(|(_, value)| value.into_owned())
                    .collect(),
                None => all(e.query_string_parameters.all("job_id")),
            };
            Ok(HttpCall {
                method: context.http.method.to_string(),
                path: e.raw_path.unwrap_or(context.http.path.unwrap_or_default()),
                stage: context.stage.clone(),
                path_parameters: e.path_parameters,
                query_job_ids,
                body: e.body,
                body_is_base64: e.is_base64_encoded,
                caller: Caller::of_http_api(context.authorizer.as_ref(), claim),
                who: Who::of_http_api(context.authorizer.as_ref(), claim),
            })
        } else {
            let e: ApiGatewayProxyRequest = serde_json::from_value(event).map_err(unreadable)?;
            let query_job_ids = all(e
                .multi_value_query_string_parameters
                .all("job_id")
                .or_else(|| e.query_string_parameters.all("job_id")));
            Ok(HttpCall {
                method: e.http_method.to_string(),
                // A REST API's `path` leaves the stage out.
                path: e.path.unwrap_or_default(),
                stage: None,
                path_parameters: e.path_parameters,
                query_job_ids,
                body: e.body,
                body_is_base64: e.is_base64_encoded,
                caller: Caller::of_rest_api(&e.request_context, claim),
                who: Who::of_rest_api(&e.request_context, claim),
            })
        }
    }

    /// The project of `/v1/{project_id}/del-job`: the route's path parameter when API Gateway
    /// matched the route, otherwise read from the path itself (Function URLs have no parameters).
    fn project_in_path(&self) -> Result<&str, ApiError> {
        if let Some(project) = self.path_parameters.get("project_id") {
            return Ok(project);
        }
        let mut path = self.path.as_str();
        if let Some(stage) = self.stage.as_deref().filter(|s| *s != "$default") {
            path = path
                .strip_prefix(&format!("/{stage}"))
                .filter(|p| p.starts_with('/'))
                .unwrap_or(path);
        }
        match path.split('/').collect::<Vec<_>>()[..] {
            ["", "v1", project, "del-job"] => Ok(project),
            _ => Err(ApiError::NotFound(
                "no API at this path; this function serves DELETE /v1/{project_id}/del-job".into(),
            )),
        }
    }

    fn body(&self) -> Result<Vec<u8>, ApiError> {
        let Some(body) = &self.body else { return Ok(Vec::new()) };
        let too_long = |size: usize| {
            ApiError::too_long("body", format!("at most {MAX_BODY_BYTES} bytes, it has {size}"))
        };
        if !self.body_is_base64 {
            return if body.len() > MAX_BODY_BYTES {
                Err(too_long(body.len()))
            } else {
                Ok(body.clone().into_bytes())
            };
        }
        // Refuse before decoding: base64 is 4 bytes for every 3.
        if body.len() / 4 * 3 > MAX_BODY_BYTES + 3 {
            return Err(too_long(body.len() / 4 * 3));
        }
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| ApiError::InvalidContent("the body is marked base64 but is not".into()))
    }
}

fn all(values: Option<Vec<&str>>) -> Vec<String> {
    values.unwrap_or_default().into_iter().map(str::to_owned).collect()
}

pub(super) async fn handle(app: &App, event: Value, context: &lambda_runtime::Context) -> Value {
    let config = &app.config;
    let budget = Budget::for_invocation(
        context.deadline,
        config.time.deadline_margin,
        Some(config.time.http_budget),
    );
    let meter = Meter::new(Entry::Http, &context.request_id);
    let (served, who) = match HttpCall::parse(event, &config.trust.project_claim) {
        Ok(call) => {
            let who = call.who.clone();
            (serve(app, call, budget, &meter).await, Some(who))
        }
        Err(err) => (Served { result: Err(err), request: None }, None),
    };
    let answer = Answer::of(&served.result);
    let handled = match &served.request {
        Some(request) => Handled::about(request, Ending::of(served.result)),
        None => Handled::new(Ending::of(served.result)),
    };
    let handled = match who {
        Some(who) => handled.asked_by(who.kind, who.id),
        None => handled,
    };
    summarise(app, &meter, &handled, |end| end.status = Some(answer.status));
    answer.into_event()
}

/// What an HTTP request came to, and the request once it was found valid.
struct Served {
    result: Result<Outcome, ApiError>,
    request: Option<DeleteRequest>,
}

async fn serve(app: &App, call: HttpCall, budget: Budget, meter: &Meter) -> Served {
    let (request, caller) = match validate(app, &call) {
        Ok(valid) => valid,
        Err(err) => return Served { result: Err(err), request: None },
    };
    tracing::info!(project_id = %request.project_id, job_id = %request.job_id, caller = ?caller,
        "deleting job");
    let result = deletion::delete_job(app, &request, budget, meter).await;
    Served { result, request: Some(request) }
}

/// The checks in the order a caller expects: the route, the method, who is asking, then what.
fn validate(app: &App, call: &HttpCall) -> Result<(DeleteRequest, Caller), ApiError> {
    let project_in_path = call.project_in_path()?;
    if call.method != "DELETE" {
        return Err(ApiError::MethodNotAllowed(call.method.clone()));
    }
    let caller = call.caller.clone()?;
    let project_id =
        Id::parse(project_in_path).map_err(|err| ApiError::bad_id("project_id", err))?;
    caller.authorize(&project_id, &app.config.trust.principals)?;
    let request = DeleteRequest::from_http(project_id, &call.query_job_ids, &call.body()?)?;
    Ok((request, caller))
}

/// The answer: a status and the RES envelope.
struct Answer {
    status: u16,
    envelope: Value,
    /// A method other than DELETE was used: say which one is allowed.
    allow_delete: bool,
}

impl Answer {
    fn of(result: &Result<Outcome, ApiError>) -> Answer {
        let (status, envelope) = match result {
            Ok(Outcome::Deleted(done)) => (
                200,
                json!({
                    "is_success": true,
                    "message": format!("Succeed to delete job {}.", done.job_id),
                    "job_id": done.job_id.as_str(),
                    "deleted_objects": done.objects,
                    "deleted_bytes": done.bytes,
                }),
            ),
            // The rest goes on without the caller, carried by a hand-on already sent.
            Ok(Outcome::InProgress(so_far)) => (
                202,
                json!({
                    "is_success": true,
                    "message": format!("Deletion of job {} is in progress.", so_far.job_id),
                    "job_id": so_far.job_id.as_str(),
                    "deleted_objects": so_far.objects,
                }),
            ),
            Err(err) => (
                err.status(),
                json!({"is_success": false, "error_code": err.code(), "error_msg": err.to_string()}),
            ),
        };
        let allow_delete = matches!(result, Err(ApiError::MethodNotAllowed(_)));
        Answer { status, envelope, allow_delete }
    }

    /// The response shape that both payload formats accept.
    fn into_event(self) -> Value {
        let mut headers = json!({"content-type": "application/json"});
        if self.allow_delete {
            headers["allow"] = json!("DELETE");
        }
        json!({
            "statusCode": self.status,
            "headers": headers,
            "body": self.envelope.to_string(),
            "isBase64Encoded": false,
        })
    }
}
