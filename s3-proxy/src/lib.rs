//! A small HTTP/1.1 proxy that sits between an S3 client and an S3-compatible server on
//! loopback. Every request waits a set delay before it is forwarded, so that a local store
//! behaves like a remote one.
//!
//! Requests and replies are streamed through unchanged, `Host` header included, so SigV4
//! signatures made for the proxy's address still verify at the server.

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
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
    client: Client<HttpConnector, Incoming>,
}

impl Shared {
    fn settings(&self) -> Settings {
        self.settings.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = shared.clone();
                async move { forward(&shared, request).await }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(
    shared: &Shared,
    request: Request<Incoming>,
) -> Result<Response<Body>, hyper::Error> {
    let settings = shared.settings();
    if !settings.delay.is_zero() {
        tokio::time::sleep(settings.delay).await;
    }
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = format!("http://{}{path}", shared.upstream).parse().expect("a valid upstream URI");
    match shared.client.request(Request::from_parts(parts, body)).await {
        Ok(response) => Ok(response.map(|b| b.boxed())),
        Err(err) => {
            let body = format!("proxy: upstream failed: {err}");
            let empty =
                http_body_util::Full::new(Bytes::from(body)).map_err(|never| match never {});
            Ok(Response::builder().status(502).body(empty.boxed()).expect("a valid response"))
        }
    }
}
