//! A small HTTP/1.1 proxy that sits between an S3 client and an S3-compatible server on
//! loopback. Every request waits a set delay before it is forwarded, so that a local store
//! behaves like a remote one, and [`Fault`] rules inject what real stores do on bad days:
//! throttling, errors inside a 200, per-key errors, dropped connections, stalls.
//!
//! Requests and replies are streamed through unchanged, `Host` header included, so SigV4
//! signatures made for the proxy's address still verify at the server. Only a DeleteObjects
//! reply that a [`Action::KeyErrors`] or [`Action::UnnamedKeyErrors`] rule rewrites is read whole.

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
use std::sync::{Arc, RwLock};
use std::time::Duration;
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
    settings: Arc<RwLock<Settings>>,
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
        let settings = Arc::new(RwLock::new(settings));
        let shared = Arc::new(Shared {
            upstream,
            settings: settings.clone(),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        });
        let task = tokio::spawn(accept(listener, shared));
        Ok(Proxy { addr, settings, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for a client's endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, settings: Settings) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = settings;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    upstream: SocketAddr,
    settings: Arc<RwLock<Settings>>,
    client: Client<HttpConnector, Body>,
}

impl Shared {
    fn settings(&self) -> Settings {
        self.settings.read().unwrap_or_else(|e| e.into_inner()).clone()
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
    let fault = settings.faults.iter().find(|f| f.fires(request.method(), &path));
    let _acting = fault.map(Fault::acting);
    match fault.map(|f| f.action.clone()) {
        None | Some(Action::Forward) => {
            Ok(forward(shared, request.map(|b| b.boxed()), &path).await)
        }
        Some(Action::Reply { status, code }) => Ok(s3_error(status, &code)),
        Some(Action::ErrorIn200 { code }) => Ok(s3_error(200, &code)),
        Some(Action::Reset) => Err(Dropped::Reset),
        Some(Action::Stall(pause)) => {
            tokio::time::sleep(pause).await;
            Ok(forward(shared, request.map(|b| b.boxed()), &path).await)
        }
        Some(Action::KeyErrors { key_contains, code }) => {
            add_key_errors(shared, request, &path, &key_contains, &code, true).await
        }
        Some(Action::UnnamedKeyErrors { key_contains, code }) => {
            add_key_errors(shared, request, &path, &key_contains, &code, false).await
        }
    }
}

/// Forwards a DeleteObjects request, then adds an `<Error>` with `code` to a 200 reply for every
/// key sent that contains `key_contains`, naming the key or not.
async fn add_key_errors(
    shared: &Shared,
    request: Request<Incoming>,
    path: &str,
    key_contains: &str,
    code: &str,
    name_key: bool,
) -> Result<Response<Body>, Dropped> {
    let (parts, body) = request.into_parts();
    let sent = body.collect().await.map_err(Dropped::Body)?.to_bytes();
    let failing: Vec<String> = keys_in(&sent).filter(|k| k.contains(key_contains)).collect();
    let request = Request::from_parts(parts, full(sent));
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

fn s3_error(status: u16, code: &str) -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>injected by s3-proxy</Message><RequestId>s3-proxy</RequestId></Error>"
    );
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(full(body.into()))
        .expect("a valid response")
}
