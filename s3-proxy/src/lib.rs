//! A small HTTP/1.1 proxy that sits between an S3 client and an S3-compatible server on
//! loopback. Every request waits a set delay before it is forwarded, so that a local store
//! behaves like a remote one, and [`Fault`] rules inject what real stores do on bad days:
//! throttling, errors inside a 200, per-key errors, dropped connections, stalls.
//!
//! Requests and replies are streamed through unchanged, `Host` header included, so SigV4
//! signatures made for the proxy's address still verify at the server. A DeleteObjects request
//! is read whole (at most 1,000 keys), to count its keys; only a DeleteObjects reply that a
//! [`Action::KeyErrors`] or [`Action::UnnamedKeyErrors`] rule rewrites is read whole.
//!
//! The write limit ([`Proxy::set_write_limit`]) models S3's limit on writes to a prefix: every
//! key deleted draws a token from a [`TokenBucket`], and a deletion that finds too few tokens is
//! answered 503 SlowDown without reaching the store. [`Proxy::counts`] says what went through.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

type Body = BoxBody<Bytes, hyper::Error>;

/// What the proxy does to each request; can be changed while it runs.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Added before every request is forwarded.
    pub delay: Duration,
    /// Tried in order; the first that matches a request and fires acts on it.
    pub faults: Vec<Fault>,
}

/// A rule: which requests, what to do to them, how often.
#[derive(Debug, Clone)]
pub struct Fault {
    pub matches: Match,
    pub action: Action,
    /// Fire on one matching request in `every` (1: all of them).
    pub every: u64,
    /// Stop firing after this many times.
    pub times: Option<u64>,
    seen: Arc<AtomicU64>,
    fired: Arc<AtomicU64>,
    /// Requests the rule is acting on now, and the most at once.
    acting: Arc<AtomicU64>,
    peak: Arc<AtomicU64>,
}

impl Fault {
    pub fn new(matches: Match, action: Action) -> Fault {
        Fault {
            matches,
            action,
            every: 1,
            times: None,
            seen: Arc::default(),
            fired: Arc::default(),
            acting: Arc::default(),
            peak: Arc::default(),
        }
    }

    pub fn every(mut self, n: u64) -> Fault {
        self.every = n.max(1);
        self
    }

    pub fn times(mut self, n: u64) -> Fault {
        self.times = Some(n);
        self
    }

    /// How many times the rule has acted.
    pub fn fired(&self) -> u64 {
        self.fired.load(Ordering::Relaxed)
    }

    /// The most requests the rule acted on at once: with a `Stall`, how many a client sends
    /// side by side.
    pub fn peak_at_once(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Counts a request the rule acts on, until the guard is dropped.
    fn acting(&self) -> Acting {
        let now = self.acting.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Acting(self.acting.clone())
    }

    fn fires(&self, method: &Method, path_and_query: &str) -> bool {
        if !self.matches.accepts(method, path_and_query) {
            return false;
        }
        let seen = self.seen.fetch_add(1, Ordering::Relaxed);
        if !seen.is_multiple_of(self.every) {
            return false;
        }
        let fired = self.fired.fetch_add(1, Ordering::Relaxed);
        if self.times.is_some_and(|times| fired >= times) {
            self.fired.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

struct Acting(Arc<AtomicU64>);

impl Drop for Acting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Which requests a rule is for.
#[derive(Debug, Clone)]
pub enum Match {
    Any,
    /// `POST /{bucket}?delete`
    DeleteObjects,
    /// `GET /{bucket}?list-type=2…`
    ListObjects,
    /// Any request whose path and query contain this text (as sent, URL-encoded).
    Contains(String),
    /// A request of this method (`GET`, `PUT`, `DELETE`…) whose path and query contain this text.
    Request {
        method: &'static str,
        contains: String,
    },
}

impl Match {
    fn accepts(&self, method: &Method, path_and_query: &str) -> bool {
        let query = path_and_query.split_once('?').map_or("", |(_, q)| q);
        match self {
            Match::Any => true,
            Match::DeleteObjects => {
                *method == Method::POST && query.split('&').any(|p| p == "delete" || p == "delete=")
            }
            Match::ListObjects => *method == Method::GET && query.contains("list-type=2"),
            Match::Contains(text) => path_and_query.contains(text.as_str()),
            Match::Request { method: wanted, contains } => {
                method.as_str() == *wanted && path_and_query.contains(contains.as_str())
            }
        }
    }
}

#[derive(Debug, Clone)]
pub enum Action {
    /// Answer with this status and an S3 error document, without forwarding.
    Reply { status: u16, code: String },
    /// Answer 200 with an S3 `<Error>` document, without forwarding: S3 can fail an operation
    /// after it has sent its 200 status.
    ErrorIn200 { code: String },
    /// Forward a DeleteObjects request, then add an `<Error>` with `code` for every key sent
    /// that contains `key_contains`. The store did delete those keys: the rule exercises how a
    /// client treats the reply, not what the store keeps.
    KeyErrors { key_contains: String, code: String },
    /// As `KeyErrors`, but each `<Error>` leaves out its `<Key>`: S3 always names the key, so
    /// this is a reply a client cannot match to an object and must not take for success.
    UnnamedKeyErrors { key_contains: String, code: String },
    /// Close the connection without answering.
    Reset,
    /// Wait this long before forwarding: slower than a client's timeouts.
    Stall(Duration),
    /// Forward unchanged: the rule only counts the requests it matches (`Fault::fired`).
    Forward,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `listen` (port 0 picks a free one) and forwards to `upstream`.
    pub async fn start(
        listen: SocketAddr,
        upstream: SocketAddr,
        settings: Settings,
    ) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            settings: RwLock::new(settings),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            write_limit: Mutex::new(None),
            counters: Counters::default(),
        });
        let task = tokio::spawn(accept(listener, shared.clone()));
        Ok(Proxy { addr, shared, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for a client's endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, settings: Settings) {
        *self.shared.settings.write().unwrap_or_else(|e| e.into_inner()) = settings;
    }

    /// S3's write limit: from now on deletions draw one token a key (DeleteObjects: every `<Key>`
    /// of its body; DeleteObject: one) from a bucket refilled at `keys_per_second`, holding one
    /// second's worth and full at the start. A deletion without enough tokens is answered 503
    /// SlowDown and not forwarded. `None` lifts the limit.
    pub fn set_write_limit(&self, keys_per_second: Option<u64>) {
        let limit = keys_per_second.map(|rate| (Instant::now(), TokenBucket::new(rate)));
        *self.shared.write_limit.lock().unwrap_or_else(|e| e.into_inner()) = limit;
    }

    /// What has gone through the proxy since it started.
    pub fn counts(&self) -> Counts {
        self.shared.counters.snapshot()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    upstream: SocketAddr,
    settings: RwLock<Settings>,
    client: Client<HttpConnector, Body>,
    /// The write limit's bucket and the instant its clock starts from.
    write_limit: Mutex<Option<(Instant, TokenBucket)>>,
    counters: Counters,
}

impl Shared {
    fn settings(&self) -> Settings {
        self.settings.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether a deletion of `keys` keys may go to the store now (always, without a write limit).
    fn admits(&self, keys: u64) -> bool {
        let mut limit = self.write_limit.lock().unwrap_or_else(|e| e.into_inner());
        match limit.as_mut() {
            None => true,
            Some((origin, bucket)) => bucket.take(origin.elapsed(), keys),
        }
    }
}

/// A token bucket of keys, as a pure function of time: `now` is the time since the bucket's
/// origin, and nothing else moves it. It holds `rate` tokens (one second's worth, the burst), is
/// full at the origin and refills at `rate` tokens a second; tokens are counted in billionths, so
/// that refills of a nanosecond add up exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    rate: u64,
    /// Billionths of a token; below zero only after a request larger than the burst.
    level: i128,
    last: Duration,
}

const PARTS: i128 = 1_000_000_000;

impl TokenBucket {
    /// A full bucket of `rate` tokens refilled at `rate` tokens a second (at least 1).
    pub fn new(rate: u64) -> TokenBucket {
        let rate = rate.max(1);
        TokenBucket { rate, level: rate as i128 * PARTS, last: Duration::ZERO }
    }

    /// The most tokens the bucket holds: one second's worth.
    pub fn burst(&self) -> u64 {
        self.rate
    }

    /// Whole tokens available at `now`.
    pub fn available(&self, now: Duration) -> u64 {
        let mut bucket = *self;
        bucket.refill(now);
        (bucket.level.max(0) / PARTS) as u64
    }

    /// Takes `keys` tokens at `now` if the bucket holds them, and says whether it did. A request
    /// of more keys than the burst could never be served: it is served when the bucket is full,
    /// and the bucket goes below empty, so that the rate over time still holds. A `now` earlier
    /// than the last call's counts as the same instant.
    pub fn take(&mut self, now: Duration, keys: u64) -> bool {
        self.refill(now);
        let cost = keys as i128 * PARTS;
        let full = self.rate as i128 * PARTS;
        if cost <= self.level || (cost > full && self.level == full) {
            self.level -= cost;
            true
        } else {
            false
        }
    }

    fn refill(&mut self, now: Duration) {
        if now > self.last {
            let elapsed = (now - self.last).as_nanos() as i128;
            let full = self.rate as i128 * PARTS;
            self.level = (self.level + elapsed * self.rate as i128).min(full);
            self.last = now;
        }
    }
}

/// What has gone through a proxy: every request, and the deletions by kind. A throttled request
/// was answered SlowDown by the write limit and never reached the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    /// Listings, which S3 bills as LIST requests: ListObjects (v1 and v2), ListObjectVersions,
    /// ListMultipartUploads (a `GET` of a bucket, path style, with listing parameters only).
    pub list_objects: u64,
    /// DeleteObjects requests (`POST ?delete`), throttled ones included.
    pub delete_objects: u64,
    pub delete_objects_throttled: u64,
    /// DeleteObject requests (`DELETE` of a key), throttled ones included.
    pub delete_object: u64,
    pub delete_object_throttled: u64,
    /// Keys of the deletions that went to the store.
    pub keys_admitted: u64,
}

impl Counts {
    /// Requests answered SlowDown by the write limit.
    pub fn throttled(&self) -> u64 {
        self.delete_objects_throttled + self.delete_object_throttled
    }
}

/// One JSON object on one line, for scripts.
impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{{\"requests\":{},\"list_objects\":{},\"delete_objects\":{},\
             \"delete_objects_throttled\":{},\"delete_object\":{},\
             \"delete_object_throttled\":{},\"throttled\":{},\"keys_admitted\":{}}}",
            self.requests,
            self.list_objects,
            self.delete_objects,
            self.delete_objects_throttled,
            self.delete_object,
            self.delete_object_throttled,
            self.throttled(),
            self.keys_admitted
        )
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    list_objects: AtomicU64,
    delete_objects: AtomicU64,
    delete_objects_throttled: AtomicU64,
    delete_object: AtomicU64,
    delete_object_throttled: AtomicU64,
    keys_admitted: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> Counts {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counts {
            requests: get(&self.requests),
            list_objects: get(&self.list_objects),
            delete_objects: get(&self.delete_objects),
            delete_objects_throttled: get(&self.delete_objects_throttled),
            delete_object: get(&self.delete_object),
            delete_object_throttled: get(&self.delete_object_throttled),
            keys_admitted: get(&self.keys_admitted),
        }
    }
}

/// The query parameters of the listings of a bucket. A `GET` of a bucket with any other (such as
/// `versioning` or `location`) reads a setting, not a listing.
const LIST_PARAMETERS: &[&str] = &[
    "list-type",
    "prefix",
    "delimiter",
    "marker",
    "max-keys",
    "encoding-type",
    "continuation-token",
    "start-after",
    "fetch-owner",
    "versions",
    "key-marker",
    "version-id-marker",
    "uploads",
    "upload-id-marker",
    "max-uploads",
    "x-id",
];

/// The kinds of request the proxy counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    DeleteObjects,
    DeleteObject,
    ListObjects,
    Other,
}

impl Kind {
    fn of(method: &Method, path_and_query: &str) -> Kind {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        if Match::DeleteObjects.accepts(method, path_and_query) {
            Kind::DeleteObjects
        } else if *method == Method::GET
            && !path.trim_matches('/').is_empty()
            && !path.trim_start_matches('/').trim_end_matches('/').contains('/')
            && query
                .split('&')
                .filter(|p| !p.is_empty())
                .all(|p| LIST_PARAMETERS.contains(&p.split_once('=').map_or(p, |(name, _)| name)))
        {
            Kind::ListObjects
        } else if *method == Method::DELETE
            // A key: /bucket/key (path style); not a bucket, nor a multipart upload's abort.
            && path.trim_start_matches('/').contains('/')
            && !query.split('&').any(|p| p.starts_with("uploadId"))
        {
            Kind::DeleteObject
        } else {
            Kind::Other
        }
    }
}

/// Why a connection is dropped instead of answered.
#[derive(Debug)]
enum Dropped {
    /// A fault rule said so.
    Reset,
    /// A body could not be read.
    Body(hyper::Error),
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dropped::Reset => f.write_str("connection reset by a fault rule"),
            Dropped::Body(err) => write!(f, "body: {err}"),
        }
    }
}

impl std::error::Error for Dropped {}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = shared.clone();
                async move { handle(&shared, request).await }
            });
            // A fault's reset ends here, with the connection dropped unanswered.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let settings = shared.settings();
    if !settings.delay.is_zero() {
        tokio::time::sleep(settings.delay).await;
    }
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let kind = Kind::of(request.method(), &path);
    let counters = &shared.counters;
    counters.requests.fetch_add(1, Ordering::Relaxed);
    match kind {
        Kind::DeleteObjects => counters.delete_objects.fetch_add(1, Ordering::Relaxed),
        Kind::DeleteObject => counters.delete_object.fetch_add(1, Ordering::Relaxed),
        Kind::ListObjects => counters.list_objects.fetch_add(1, Ordering::Relaxed),
        Kind::Other => 0,
    };
    let fault = settings.faults.iter().find(|f| f.fires(request.method(), &path));
    let _acting = fault.map(Fault::acting);
    let action = fault.map(|f| f.action.clone());
    // What a rule answers itself never reaches the store: no tokens, no keys.
    match action {
        Some(Action::Reply { status, code }) => return Ok(s3_error(status, &code, INJECTED)),
        Some(Action::ErrorIn200 { code }) => return Ok(s3_error(200, &code, INJECTED)),
        Some(Action::Reset) => return Err(Dropped::Reset),
        Some(Action::Stall(pause)) => tokio::time::sleep(pause).await,
        _ => {}
    }
    let (request, sent) = match admit(shared, kind, request).await? {
        Admitted::Yes { request, sent } => (*request, sent),
        Admitted::SlowDown => {
            return Ok(s3_error(503, "SlowDown", "Please reduce your request rate."));
        }
    };
    match action {
        Some(Action::KeyErrors { key_contains, code }) => {
            add_key_errors(shared, request, sent, &path, &key_contains, &code, true).await
        }
        Some(Action::UnnamedKeyErrors { key_contains, code }) => {
            add_key_errors(shared, request, sent, &path, &key_contains, &code, false).await
        }
        _ => Ok(forward(shared, request, &path).await),
    }
}

enum Admitted {
    /// On to the store, with the body of a DeleteObjects request as read.
    Yes { request: Box<Request<Body>>, sent: Option<Bytes> },
    /// Refused by the write limit.
    SlowDown,
}

/// Counts a deletion's keys and asks the write limit whether it may go to the store.
async fn admit(
    shared: &Shared,
    kind: Kind,
    request: Request<Incoming>,
) -> Result<Admitted, Dropped> {
    let counters = &shared.counters;
    let (request, sent, keys) = match kind {
        Kind::DeleteObjects => {
            let (parts, body) = request.into_parts();
            let sent = body.collect().await.map_err(Dropped::Body)?.to_bytes();
            let keys = keys_in(&sent).count() as u64;
            (Request::from_parts(parts, full(sent.clone())), Some(sent), keys)
        }
        Kind::DeleteObject => (request.map(|b| b.boxed()), None, 1),
        _ => {
            let request = Box::new(request.map(|b| b.boxed()));
            return Ok(Admitted::Yes { request, sent: None });
        }
    };
    if !shared.admits(keys) {
        let throttled = match kind {
            Kind::DeleteObjects => &counters.delete_objects_throttled,
            _ => &counters.delete_object_throttled,
        };
        throttled.fetch_add(1, Ordering::Relaxed);
        return Ok(Admitted::SlowDown);
    }
    counters.keys_admitted.fetch_add(keys, Ordering::Relaxed);
    Ok(Admitted::Yes { request: Box::new(request), sent })
}

/// Forwards a DeleteObjects request (whose body was `sent`), then adds an `<Error>` with `code`
/// to a 200 reply for every key sent that contains `key_contains`, naming the key or not.
async fn add_key_errors(
    shared: &Shared,
    request: Request<Body>,
    sent: Option<Bytes>,
    path: &str,
    key_contains: &str,
    code: &str,
    name_key: bool,
) -> Result<Response<Body>, Dropped> {
    let sent = sent.unwrap_or_default();
    let failing: Vec<String> = keys_in(&sent).filter(|k| k.contains(key_contains)).collect();
    let reply = forward(shared, request, path).await;
    if reply.status() != 200 {
        return Ok(reply);
    }
    let (parts, body) = reply.into_parts();
    let body = body.collect().await.map_err(Dropped::Body)?.to_bytes();
    let body = String::from_utf8_lossy(&body).into_owned();
    let errors: String = failing
        .iter()
        .map(|key| {
            let key = if name_key { format!("<Key>{key}</Key>") } else { String::new() };
            format!("<Error>{key}<Code>{code}</Code><Message>injected</Message></Error>")
        })
        .collect();
    let body = match body.rfind("</DeleteResult>") {
        Some(end) => format!("{}{errors}{}", &body[..end], &body[end..]),
        None => body,
    };
    let mut reply = Response::from_parts(parts, full(body.into()));
    reply.headers_mut().remove(hyper::header::CONTENT_LENGTH);
    Ok(reply)
}

/// The `<Key>` elements of a DeleteObjects request, still XML-escaped as the reply needs them.
fn keys_in(body: &[u8]) -> impl Iterator<Item = String> + '_ {
    let text = std::str::from_utf8(body).unwrap_or("");
    text.split("<Key>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</Key>").map(|(key, _)| key.to_owned()))
}

async fn forward(shared: &Shared, request: Request<Body>, path: &str) -> Response<Body> {
    let (mut parts, body) = request.into_parts();
    parts.uri = format!("http://{}{path}", shared.upstream).parse().expect("a valid upstream URI");
    match shared.client.request(Request::from_parts(parts, body)).await {
        Ok(response) => response.map(|b| b.boxed()),
        Err(err) => {
            let mut reply = Response::new(full(format!("proxy: upstream failed: {err}").into()));
            *reply.status_mut() = hyper::StatusCode::BAD_GATEWAY;
            reply
        }
    }
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

const INJECTED: &str = "injected by s3-proxy";

fn s3_error(status: u16, code: &str, message: &str) -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>{message}</Message><RequestId>s3-proxy</RequestId></Error>"
    );
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(full(body.into()))
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_bucket_starts_full_with_one_seconds_worth() {
        let mut bucket = TokenBucket::new(1_000);
        assert_eq!(bucket.burst(), 1_000);
        assert_eq!(bucket.available(Duration::ZERO), 1_000);
        assert!(bucket.take(Duration::ZERO, 1_000));
        assert!(!bucket.take(Duration::ZERO, 1));
        assert_eq!(bucket.available(Duration::ZERO), 0);
    }

    #[test]
    fn tokens_come_back_at_the_rate_and_never_past_the_burst() {
        let mut bucket = TokenBucket::new(1_000);
        assert!(bucket.take(Duration::ZERO, 1_000));
        // One token a millisecond.
        assert_eq!(bucket.available(Duration::from_micros(999)), 0);
        assert_eq!(bucket.available(ms(1)), 1);
        assert_eq!(bucket.available(ms(250)), 250);
        assert!(!bucket.take(ms(250), 251));
        assert!(bucket.take(ms(250), 250));
        assert_eq!(bucket.available(ms(250)), 0);
        // Idle for ten seconds: full again, not ten seconds' worth.
        assert_eq!(bucket.available(Duration::from_secs(10)), 1_000);
        assert!(bucket.take(Duration::from_secs(10), 1_000));
        assert!(!bucket.take(Duration::from_secs(10), 1));
    }

    #[test]
    fn a_refused_request_takes_nothing() {
        let mut bucket = TokenBucket::new(100);
        assert!(bucket.take(Duration::ZERO, 60));
        assert!(!bucket.take(Duration::ZERO, 50));
        assert!(bucket.take(Duration::ZERO, 40));
    }

    #[test]
    fn sustained_demand_is_served_at_the_rate_after_the_burst() {
        // 100 keys every millisecond (100,000 a second) for ten seconds against 3,500 a second.
        let mut bucket = TokenBucket::new(3_500);
        let admitted: u64 = (0..10_000).filter(|&t| bucket.take(ms(t), 100)).map(|_| 100).sum();
        let ideal = 3_500 + 3_500 * 9_999 / 1_000;
        assert!(admitted <= ideal && admitted > ideal - 100, "{admitted} against {ideal}");
    }

    #[test]
    fn fractions_of_a_token_add_up() {
        // 3 tokens a second, asked every 100 ms: one token every 333.3 ms, none lost to rounding.
        let mut bucket = TokenBucket::new(3);
        assert!(bucket.take(Duration::ZERO, 3));
        let times: Vec<u64> =
            (1..=30).map(|i| i * 100).filter(|&t| bucket.take(ms(t), 1)).collect();
        assert_eq!(times, [400, 700, 1000, 1400, 1700, 2000, 2400, 2700, 3000]);
    }

    #[test]
    fn a_request_larger_than_the_burst_waits_for_a_full_bucket_and_leaves_a_debt() {
        let mut bucket = TokenBucket::new(500);
        assert!(bucket.take(Duration::ZERO, 1));
        assert!(!bucket.take(ms(1), 1_000), "the bucket is not full");
        assert!(bucket.take(ms(2), 1_000));
        // 500 tokens below empty: a second to climb back to zero, another to hold 500.
        assert_eq!(bucket.available(ms(1_002)), 0);
        assert!(!bucket.take(ms(1_002), 1));
        assert!(bucket.take(ms(2_002), 500));
    }

    #[test]
    fn time_that_runs_backwards_counts_as_standing_still() {
        let mut bucket = TokenBucket::new(10);
        assert!(bucket.take(ms(1_000), 10));
        assert!(!bucket.take(ms(500), 1));
        assert_eq!(bucket.available(ms(1_100)), 1);
    }

    #[test]
    fn deletions_are_told_from_other_requests() {
        let kind = |method: Method, path: &str| Kind::of(&method, path);
        assert_eq!(kind(Method::POST, "/res-jobs?delete"), Kind::DeleteObjects);
        assert_eq!(kind(Method::POST, "/res-jobs?delete=&x-id=DeleteObjects"), Kind::DeleteObjects);
        assert_eq!(kind(Method::DELETE, "/res-jobs/p/jobs/j/job.json"), Kind::DeleteObject);
        assert_eq!(kind(Method::DELETE, "/res-jobs/a%2Fb?x-id=DeleteObject"), Kind::DeleteObject);
        assert_eq!(kind(Method::DELETE, "/res-jobs/key?uploadId=abc"), Kind::Other);
        assert_eq!(kind(Method::DELETE, "/res-jobs"), Kind::Other);
        assert_eq!(kind(Method::GET, "/res-jobs?list-type=2&prefix=p%2F"), Kind::ListObjects);
        // boto3's resource API lists with ListObjects v1.
        assert_eq!(kind(Method::GET, "/res-jobs?prefix=p%2F&encoding-type=url"), Kind::ListObjects);
        assert_eq!(kind(Method::GET, "/res-jobs/"), Kind::ListObjects);
        assert_eq!(kind(Method::GET, "/res-jobs?versions&prefix=p%2F"), Kind::ListObjects);
        assert_eq!(kind(Method::GET, "/res-jobs?versioning"), Kind::Other);
        assert_eq!(kind(Method::GET, "/res-jobs?location="), Kind::Other);
        assert_eq!(kind(Method::GET, "/"), Kind::Other);
        assert_eq!(kind(Method::GET, "/res-jobs/p/jobs/j/job.json"), Kind::Other);
    }
}
