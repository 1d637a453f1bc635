//! A test's world: its own buckets and hand-on queue, the function configured for them, proxies
//! in front of the stores, and the handler invoked as Lambda would invoke it.

use crate::events::sqs_event;
use crate::fixture::{self, Bucket};
use del_job::app::App;
use del_job::config::Config;
use del_job::entry;
use del_job::telemetry::Sink;
use lambda_runtime::{Context, LambdaEvent};
use s3_proxy::{Proxy, Settings};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Waits until the records written before it are known to be more than 2 s old (their dates are
/// to the second): a deletion whose record is younger lists the job's root afresh instead of
/// using the page asked for beside the record's read (docs/design.md, the engine), one list
/// request more. For tests that count them.
pub async fn let_records_age() {
    tokio::time::sleep(Duration::from_millis(3_500)).await;
}

/// Held by the tests that seed and delete tens of thousands of objects, or that time
/// invocations, so that they do not share the two cores and the store with one another.
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}

/// A test's world: a bucket for jobs, one for configuration sources, a hand-on queue (on moto),
/// and the function configured for them (plus any variables the test sets).
pub struct World {
    pub jobs: Bucket,
    pub configs: Bucket,
    pub hand_ons: HandOns,
    pub job_prefix: String,
    pub app: App,
    /// The variables the function was configured with, on top of the process environment.
    vars: HashMap<String, String>,
}

impl World {
    pub async fn new(label: &str, job_prefix: &str) -> World {
        World::with_env(label, job_prefix, &[]).await
    }

    pub async fn with_env(label: &str, job_prefix: &str, env: &[(&str, &str)]) -> World {
        let client = fixture::client().await;
        let jobs = Bucket::fresh(&client, label).await;
        World::on(client, jobs, job_prefix, env).await
    }

    /// A world whose function reaches Garage through the project's s3-proxy, set up with
    /// `settings`; the proxy is returned so that the test can change or count what it does.
    pub async fn behind_proxy(
        label: &str,
        settings: Settings,
        env: &[(&str, &str)],
    ) -> (World, Proxy) {
        let proxy = proxy_to_garage(settings).await;
        let url = proxy.url();
        let mut env = env.to_vec();
        env.push(("AWS_ENDPOINT_URL_S3", &url));
        (World::with_env(label, "", &env).await, proxy)
    }

    /// A world on moto, its buckets keeping no versions, whose function reaches moto through the
    /// project's s3-proxy set up with `settings`: for what Garage does not do, such as writes
    /// and deletes conditional on an ETag (`If-Match`).
    pub async fn on_moto_behind_proxy(
        label: &str,
        settings: Settings,
        env: &[(&str, &str)],
    ) -> (World, Proxy) {
        let client = fixture::client_for(&fixture::moto_endpoint()).await;
        let jobs = Bucket::fresh(&client, label).await;
        let proxy = proxy_to_moto(settings).await;
        let url = proxy.url();
        let mut env = env.to_vec();
        env.push(("AWS_ENDPOINT_URL_S3", &url));
        (World::on(client, jobs, "", &env).await, proxy)
    }

    /// A world on moto, whose `jobs` bucket keeps versions and may lock them.
    pub async fn versioned(label: &str, env: &[(&str, &str)]) -> World {
        let endpoint = fixture::moto_endpoint();
        let client = fixture::client_for(&endpoint).await;
        let mut env = env.to_vec();
        env.push(("AWS_ENDPOINT_URL_S3", &endpoint));
        let jobs = Bucket::fresh_lockable(&client, label).await;
        World::on(client, jobs, "", &env).await
    }

    async fn on(
        client: aws_sdk_s3::Client,
        jobs: Bucket,
        job_prefix: &str,
        env: &[(&str, &str)],
    ) -> World {
        let configs = Bucket::fresh(&client, &format!("{}cfg", jobs.name)).await;
        let hand_ons = HandOns::fresh(&jobs.name).await;
        let mut vars: HashMap<String, String> = HashMap::from([
            ("JOB_BUCKET".into(), jobs.name.clone()),
            ("JOB_PREFIX".into(), job_prefix.into()),
            ("CONFIG_BUCKETS".into(), configs.name.clone()),
            ("HAND_ON_QUEUE_URL".into(), hand_ons.url.clone()),
            ("AWS_ENDPOINT_URL_SQS".into(), fixture::moto_endpoint()),
        ]);
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut app = app(&vars).await;
        app.sink = Sink::Memory(Default::default());
        World { jobs, configs, hand_ons, job_prefix: job_prefix.into(), app, vars }
    }

    /// The same world, its function configured again with `env` on top (the lines it wrote
    /// are kept).
    pub async fn reconfigured(mut self, env: &[(&str, &str)]) -> World {
        self.vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let sink = self.app.sink.clone();
        self.app = app(&self.vars).await;
        self.app.sink = sink;
        self
    }

    /// The summary lines the function has written, oldest first.
    pub fn summaries(&self) -> Vec<Value> {
        let lines = self.app.sink.lines().into_iter();
        lines.filter(|line| line["message"] == "deletion summary").collect()
    }

    /// The last summary line, of the deletion request handled last.
    pub fn last_summary(&self) -> Value {
        self.summaries().pop().unwrap_or_default()
    }
}

/// The function's hand-on queue, on moto, as the event source mapping would read it: messages are
/// received, handed to the function as an SQS event from the queue, and deleted unless the
/// function reported them failed (then they are visible again at once, as a shortened visibility
/// timeout would make them).
pub struct HandOns {
    client: aws_sdk_sqs::Client,
    /// The queue's URL as the function knows it (it names the region; the endpoint is moto).
    pub url: String,
    /// The queue's URL on moto.
    local_url: String,
    pub arn: String,
}

/// A hand-on message taken from the queue and handed to the function.
pub struct Delivery {
    pub body: Value,
    /// What the function answered: the SQS batch response, or its error.
    pub result: Result<Value, entry::EventError>,
    /// Whether the function reported the message failed (it stays in the queue).
    pub failed: bool,
}

impl HandOns {
    /// The region the queue's URL names: moto's SQS knows only real regions, while the tests'
    /// S3 clients sign for Garage's.
    const REGION: &str = "eu-west-1";

    /// A new queue on moto, named after `label` (a bucket name: unique to the test).
    pub async fn fresh(label: &str) -> HandOns {
        let client = HandOns::client().await;
        let name: String =
            label.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        let name = format!("{}-h", &name[..name.len().min(70)]);
        let created = client.create_queue().queue_name(&name).send().await.expect("create queue");
        let local_url = created.queue_url().expect("queue url").to_owned();
        let account =
            local_url.trim_end_matches('/').rsplit('/').nth(1).expect("account").to_owned();
        let url = format!("https://sqs.{}.amazonaws.com/{account}/{name}", HandOns::REGION);
        let arn = format!("arn:aws:sqs:{}:{account}:{name}", HandOns::REGION);
        HandOns { client, url, local_url, arn }
    }

    async fn client() -> aws_sdk_sqs::Client {
        let settings = del_job::config::S3Settings {
            max_attempts: 3,
            attempt_timeout: Duration::from_secs(60),
            endpoint: None,
        };
        let shared = del_job::store::aws_config(&settings).await;
        let config = aws_sdk_sqs::config::Builder::from(&shared)
            .region(aws_config::Region::new(HandOns::REGION))
            .endpoint_url(fixture::moto_endpoint());
        aws_sdk_sqs::Client::from_conf(config.build())
    }

    /// Messages in the queue, visible or being handled.
    pub async fn pending(&self) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let reply = self
            .client
            .get_queue_attributes()
            .queue_url(&self.local_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes");
        let attributes = reply.attributes().cloned().unwrap_or_default();
        [A::ApproximateNumberOfMessages, A::ApproximateNumberOfMessagesNotVisible]
            .iter()
            .map(|name| attributes.get(name).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0))
            .sum()
    }

    /// The bodies of the messages visible now, left in the queue.
    pub async fn peek(&self) -> Vec<Value> {
        let mut bodies = Vec::new();
        for message in self.receive(10).await {
            bodies.push(serde_json::from_str(message.body().unwrap_or("null")).expect("JSON"));
            self.release(message.receipt_handle().unwrap_or_default()).await;
        }
        bodies
    }

    async fn receive(&self, max: i32) -> Vec<aws_sdk_sqs::types::Message> {
        let reply = self
            .client
            .receive_message()
            .queue_url(&self.local_url)
            .max_number_of_messages(max)
            .visibility_timeout(300)
            .send()
            .await
            .expect("receive");
        reply.messages().to_vec()
    }

    async fn release(&self, receipt: &str) {
        let visible = self.client.change_message_visibility().queue_url(&self.local_url);
        visible.receipt_handle(receipt).visibility_timeout(0).send().await.expect("release");
    }

    async fn delete(&self, receipt: &str) {
        let delete = self.client.delete_message().queue_url(&self.local_url);
        delete.receipt_handle(receipt).send().await.expect("delete message");
    }

    /// An SQS event of `(message id, body)` from this queue.
    pub fn event(&self, messages: &[(&str, String)]) -> Value {
        let mut event = sqs_event(messages);
        for record in event["Records"].as_array_mut().unwrap() {
            record["eventSourceARN"] = json!(self.arn);
        }
        event
    }

    /// Takes the next message, if there is one, and hands it to `app` with `left` before its
    /// deadline.
    pub async fn deliver(&self, app: &App, left: Duration) -> Option<Delivery> {
        let message = self.receive(1).await.into_iter().next()?;
        let (id, receipt) = (message.message_id().unwrap_or("m"), message.receipt_handle()?);
        let body = message.body().unwrap_or_default().to_owned();
        let result = invoke_event(app, self.event(&[(id, body.clone())]), left).await;
        let failed = match &result {
            Ok(answer) => answer["batchItemFailures"].as_array().is_none_or(|f| !f.is_empty()),
            Err(_) => true,
        };
        if failed {
            self.release(receipt).await
        } else {
            self.delete(receipt).await
        }
        let body = serde_json::from_str(&body).expect("a hand-on is JSON");
        Some(Delivery { body, result, failed })
    }

    /// Takes the next message away, as SQS moves a message that failed every receive to the
    /// dead-letter queue; returns its body.
    pub async fn dead_letter(&self) -> Option<Value> {
        let message = self.receive(1).await.into_iter().next()?;
        self.delete(message.receipt_handle()?).await;
        serde_json::from_str(message.body()?).ok()
    }

    /// Takes the next message and hands it to `app`, whose invocation is killed after `after`,
    /// as a crashed or timed-out process would be: the message stays in the queue.
    pub async fn deliver_and_kill(&self, app: &App, after: Duration) -> Option<Value> {
        let message = self.receive(1).await.into_iter().next()?;
        let (id, body) = (message.message_id().unwrap_or("m"), message.body().unwrap_or_default());
        let event = self.event(&[(id, body.to_owned())]);
        let app = app.clone();
        let invocation =
            tokio::spawn(async move { invoke_event(&app, event, Duration::from_secs(60)).await });
        tokio::time::sleep(after).await;
        invocation.abort();
        let _ = invocation.await;
        self.release(message.receipt_handle()?).await;
        serde_json::from_str(body).ok()
    }
}

/// The project's s3-proxy in front of the tests' Garage, on a port of its own.
pub async fn proxy_to_garage(settings: Settings) -> Proxy {
    let garage = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL names Garage");
    proxy_to(&garage, settings).await
}

/// The project's s3-proxy in front of the tests' moto (its SQS, for the hand-on queue).
pub async fn proxy_to_moto(settings: Settings) -> Proxy {
    proxy_to(&fixture::moto_endpoint(), settings).await
}

async fn proxy_to(endpoint: &str, settings: Settings) -> Proxy {
    let upstream = endpoint.trim_start_matches("http://").parse().expect("a loopback address");
    Proxy::start("127.0.0.1:0".parse().unwrap(), upstream, settings).await.expect("s3-proxy")
}

/// The function as configured by `vars` on top of the process environment (endpoint, keys).
pub async fn app(vars: &HashMap<String, String>) -> App {
    let config =
        Config::from_lookup(|name| vars.get(name).cloned().or_else(|| std::env::var(name).ok()))
            .expect("test configuration");
    App::new(config).await
}

/// The function's ARN in the contexts the tests invoke it with: its account is the one the
/// sample events come from.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:del-job";

/// A Lambda context whose deadline is `left` from now.
pub fn context_with(left: Duration) -> Context {
    let mut context = Context::default();
    context.invoked_function_arn = FUNCTION_ARN.into();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    context.deadline = (now + left).as_millis() as u64;
    context
}

/// The event as the runtime hands it to the handler: its text.
fn raw(event: &Value) -> Box<serde_json::value::RawValue> {
    serde_json::value::to_raw_value(event).expect("an event is JSON")
}

/// Invokes the handler with an event that is not an HTTP request, `left` before its deadline.
pub async fn invoke_event(
    app: &App,
    event: Value,
    left: Duration,
) -> Result<Value, entry::EventError> {
    entry::handle(app, LambdaEvent::new(raw(&event), context_with(left))).await
}

/// Invokes the handler with an event given as its text (which may hold what a JSON value cannot,
/// such as a member twice), `left` before its deadline.
pub async fn invoke_text(
    app: &App,
    event: &str,
    left: Duration,
) -> Result<Value, entry::EventError> {
    let raw = serde_json::value::RawValue::from_string(event.to_owned()).expect("JSON text");
    entry::handle(app, LambdaEvent::new(raw, context_with(left))).await
}

/// Invokes the handler with a raw event; returns the HTTP status and the envelope.
pub async fn invoke(app: &App, event: Value) -> (u16, Value) {
    let answer = entry::handle(app, LambdaEvent::new(raw(&event), Context::default()))
        .await
        .expect("an HTTP event always gets an answer");
    let status = answer["statusCode"].as_u64().expect("statusCode") as u16;
    assert_eq!(answer["headers"]["content-type"], "application/json");
    let body: Value =
        serde_json::from_str(answer["body"].as_str().expect("body")).expect("JSON body");
    (status, body)
}

/// Asserts an envelope is a refusal with `code`, and returns its message.
pub fn refused(answer: &(u16, Value), status: u16, code: &str) -> String {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["is_success"], false, "{}", answer.1);
    assert_eq!(answer.1["error_code"], code, "{}", answer.1);
    answer.1["error_msg"].as_str().expect("error_msg").to_owned()
}
