//! Hostile and odd input: property tests of the whole request path, from the raw event to the
//! answer, and the known ways to try to escape a job, against Garage.

use proptest::prelude::*;
use proptest::test_runner::{Config as Cases, TestRunner};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use testkit::fixture::JobSpec;
use testkit::{World, app, body, http_api_event, invoke, settle};

/// The status each RES code must come with.
fn status_of(code: &str) -> Option<u16> {
    Some(match code {
        "res.1001" | "res.1002" | "res.1003" | "res.1006" => 400,
        "res.1019" | "res.2301" => 401,
        "res.1012" => 403,
        "res.3301" => 404,
        "res.1007" => 405,
        "res.1024" => 400,
        "res.5001" => 500,
        "res.5003" => 503,
        _ => return None,
    })
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,80}".prop_map(Value::from),
        prop_oneof![
            Just("etl"),
            Just("recall"),
            Just("ranking"),
            Just("s3://cfg/x"),
            Just("../..")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec((member_name(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

fn member_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("job_id".to_string()),
        Just("type".to_string()),
        Just("offline_platform".to_string()),
        Just("platform".to_string()),
        Just("platform_parameter".to_string()),
        Just("cluster_name".to_string()),
        Just("config_load_path".to_string()),
        Just("project_id".to_string()),
        ".{0,20}",
    ]
}

/// An id as a caller might send one: valid, empty, long, escaping, encoded, or look-alike.
fn any_id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{1,64}",
        Just(String::new()),
        "[a-z]{65,90}",
        Just("..".to_string()),
        Just("a/b".to_string()),
        Just("a%2Fb".to_string()),
        Just("аbc".to_string()),
        Just("ａｂｃ".to_string()),
        ".{0,70}",
    ]
}

/// A body: structured JSON, a JSON text cut anywhere, or raw text.
fn any_body() -> impl Strategy<Value = String> {
    prop_oneof![
        any_json().prop_map(|v| v.to_string()),
        (any_id(), any_json()).prop_map(|(job, platform)| {
            json!({"job_id": job, "type": "etl", "offline_platform": platform}).to_string()
        }),
        (any_json(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let text = v.to_string();
            let at = cut.index(text.len() + 1);
            text.get(..at).unwrap_or(&text).to_string()
        }),
        ".{0,200}",
    ]
}

/// An HTTP API event, every caller-controlled part of it arbitrary.
fn any_event() -> impl Strategy<Value = Value> {
    let method =
        prop_oneof![Just("DELETE"), Just("GET"), Just("POST"), Just("PUT"), Just("OPTIONS")];
    let path = prop_oneof![
        any_id().prop_map(|p| format!("/v1/{p}/del-job")),
        ".{0,60}",
        Just("/v1//del-job".to_string()),
        Just("/prod/v1/p1/del-job".to_string()),
    ];
    (
        method,
        path,
        prop::option::of(any_id()),
        any_body(),
        any::<bool>(),
        ".{0,40}",
        prop::option::of(any_id()),
    )
        .prop_map(|(method, path, path_param, body, base64, query, claim)| {
            let mut event = http_api_event("p1", "p1", &json!({}));
            event["requestContext"]["http"]["method"] = json!(method);
            event["rawPath"] = json!(path);
            event["rawQueryString"] = json!(query);
            event["pathParameters"] = match path_param {
                Some(p) => json!({"project_id": p}),
                None => json!({}),
            };
            event["body"] = json!(body);
            event["isBase64Encoded"] = json!(base64);
            event["requestContext"]["authorizer"] = match claim {
                Some(c) => json!({"jwt": {"claims": {"project_id": c}}}),
                None => Value::Null,
            };
            event
        })
}

#[test]
fn no_request_panics_and_every_answer_is_a_well_formed_refusal() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // A store that cannot be reached: requests that pass every check end in a 503.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let vars = HashMap::from([
        ("JOB_BUCKET".to_string(), "jobs".to_string()),
        ("AWS_ENDPOINT_URL_S3".to_string(), format!("http://{closed}")),
        ("S3_MAX_ATTEMPTS".to_string(), "1".to_string()),
    ]);
    let app = runtime.block_on(app(&vars));
    let mut runner = TestRunner::new(Cases { cases: 1_000, ..Cases::default() });
    runner
        .run(&any_event(), |event| {
            let (status, envelope) = runtime.block_on(invoke(&app, event));
            prop_assert_eq!(&envelope["is_success"], &json!(false));
            let code = envelope["error_code"].as_str().unwrap_or_default();
            prop_assert_eq!(status_of(code), Some(status), "{}", envelope);
            prop_assert!(status < 500 || status == 503, "{}", envelope);
            let message = envelope["error_msg"].as_str().unwrap_or_default();
            prop_assert!(!message.is_empty() && message.len() < 600, "{}", message);
            prop_assert!(!message.contains(&closed.to_string()), "leaks the endpoint: {}", message);
            Ok(())
        })
        .unwrap();
    testkit::record(
        "input",
        "arbitrary HTTP events (property test)",
        1_000,
        0,
        0,
        "no panic; a 4xx envelope, or 503 from the unreachable store",
    );
}

#[tokio::test]
async fn attempts_to_leave_the_job_are_refused_or_confined_and_delete_nothing_else() {
    // GIVEN a job `ab`, and neighbours whose ids it prefixes or that sit above it
    let world = World::new("escapes", "").await;
    let doomed = world.jobs.seed_job("", &JobSpec::new("p1", "ab")).await;
    let mut survivors = BTreeSet::new();
    for (project, job) in [("p1", "abc"), ("p1", "a"), ("p10", "ab"), ("p2", "ab")] {
        survivors.extend(world.jobs.seed_job("", &JobSpec::new(project, job)).await);
    }
    let raw = |project: &str, text: &str| {
        let mut event = http_api_event(project, project, &json!({}));
        event["body"] = json!(text);
        event
    };
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge = format!(r#"{{"job_id":"ab","type":"etl","x":"{}"}}"#, "x".repeat(200_000));
    let refusals: Vec<(Value, u16, &str)> = vec![
        (http_api_event("p1", "p1", &body("..", "etl", None)), 400, "res.1001"),
        (http_api_event("p1", "p1", &body("ab/../abc", "etl", None)), 400, "res.1001"),
        (http_api_event("p1", "p1", &body("ab%2F..%2Fabc", "etl", None)), 400, "res.1001"),
        (http_api_event("p1", "p1", &body("аb", "etl", None)), 400, "res.1001"),
        (http_api_event("p1", "p1", &body("", "etl", None)), 400, "res.1002"),
        (http_api_event("p1", "p1", &body(&"a".repeat(65), "etl", None)), 400, "res.1002"),
        (http_api_event("..", "..", &body("ab", "etl", None)), 400, "res.1001"),
        (http_api_event("p1%2F..", "p1%2F..", &body("ab", "etl", None)), 400, "res.1001"),
        (
            raw("p1", r#"{"job_id":"ab","job_id":"abc","type":"etl","offline_platform":{}}"#),
            400,
            "res.1006",
        ),
        (raw("p1", &deep), 400, "res.1006"),
        (raw("p1", &huge), 400, "res.1002"),
        (http_api_event("p1", "p1", &body("abcd", "etl", None)), 404, "res.3301"),
        (http_api_event("p1", "p2", &body("ab", "etl", None)), 403, "res.1012"),
    ];
    let before = world.jobs.keys().await;
    for (event, status, code) in &refusals {
        let answer = invoke(&world.app, event.clone()).await;
        testkit::refused(&answer, *status, code);
        assert_eq!(world.jobs.keys().await, before, "{code} deleted something");
    }
    // A job whose id is a prefix of others deletes only itself.
    let (status, envelope) =
        invoke(&world.app, http_api_event("p1", "p1", &body("ab", "etl", None))).await;
    assert_eq!(status, 200, "{envelope}");
    let now = world.jobs.keys().await;
    let runs = refusals.len() as u64 + 1;
    settle(
        "input",
        "ids that try to escape, duplicated keys, deep nesting, huge bodies",
        runs,
        &doomed,
        &survivors,
        &now,
        "refused with the right code; prefix ids confined",
    );
}

#[test]
fn a_token_for_one_project_never_deletes_in_another() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let world = runtime.block_on(World::new("tenants", ""));
    let mut everything = BTreeSet::new();
    for project in ["pa", "pb", "pab", "p"] {
        for job in ["j", "j1"] {
            everything
                .extend(runtime.block_on(world.jobs.seed_job("", &JobSpec::new(project, job))));
        }
    }
    let projects = prop_oneof![Just("pa"), Just("pb"), Just("pab"), Just("p")];
    let strategy = (projects.clone(), projects, prop_oneof![Just("j"), Just("j1")], any::<bool>());
    let mut runner = TestRunner::new(Cases { cases: 64, ..Cases::default() });
    runner
        .run(&strategy, |(token, path, job, body_names_project)| {
            prop_assume!(token != path);
            let mut request = body(job, "etl", None);
            if body_names_project {
                request["project_id"] = json!(token);
            }
            let (status, envelope) =
                runtime.block_on(invoke(&world.app, http_api_event(path, token, &request)));
            prop_assert_eq!(status, 403, "{}", envelope);
            prop_assert_eq!(runtime.block_on(world.jobs.keys()), everything.clone());
            Ok(())
        })
        .unwrap();
    testkit::record(
        "isolation",
        "tokens of project A against every other project (property test)",
        64,
        0,
        0,
        "403, nothing deleted",
    );
}
