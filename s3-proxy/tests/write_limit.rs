//! The write limit through the library API: SlowDown replies, what reaches the store, counts.
//! The store is a bare HTTP server that answers 200 to anything and counts what it gets.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use s3_proxy::{Counts, Proxy, Settings};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;

/// A server answering every request `200` with an empty body; returns its address and how many
/// requests reached it.
async fn store() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let counter = counter.clone();
            let service = service_fn(move |request: Request<Incoming>| {
                let counter = counter.clone();
                async move {
                    request.into_body().collect().await?;
                    counter.fetch_add(1, Ordering::Relaxed);
                    Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::new())))
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    (addr, seen)
}

fn delete_objects(keys: usize) -> Bytes {
    let objects: String = (0..keys).map(|i| format!("<Object><Key>k{i}</Key></Object>")).collect();
    format!("<Delete><Quiet>true</Quiet>{objects}</Delete>").into()
}

async fn send(proxy: &Proxy, method: Method, path: &str, body: Bytes) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::builder()
        .method(method)
        .uri(format!("{}{path}", proxy.url()))
        .body(Full::new(body))
        .unwrap();
    let reply = client.request(request).await.unwrap();
    let status = reply.status().as_u16();
    let body = reply.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn deletions_past_the_limit_get_slowdown_and_never_reach_the_store() {
    let (upstream, reached) = store().await;
    let settings = Settings::default();
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), upstream, settings).await.unwrap();
    // One key a second, one of burst: a refused request is refused for a second.
    proxy.set_write_limit(Some(1));

    let (status, _) = send(&proxy, Method::DELETE, "/b/k", Bytes::new()).await;
    assert_eq!(status, 200);
    let (status, body) = send(&proxy, Method::POST, "/b?delete", delete_objects(1)).await;
    assert_eq!(status, 503);
    assert!(body.contains("<Code>SlowDown</Code>"), "{body}");
    let (status, _) = send(&proxy, Method::DELETE, "/b/k", Bytes::new()).await;
    assert_eq!(status, 503);
    // Reads and listings are not writes.
    let (status, _) = send(&proxy, Method::GET, "/b?list-type=2&prefix=p", Bytes::new()).await;
    assert_eq!(status, 200);
    let (status, _) = send(&proxy, Method::GET, "/b/k", Bytes::new()).await;
    assert_eq!(status, 200);
    // A new limit starts full.
    proxy.set_write_limit(Some(5));
    let (status, _) = send(&proxy, Method::POST, "/b?delete", delete_objects(5)).await;
    assert_eq!(status, 200);

    assert_eq!(
        proxy.counts(),
        Counts {
            requests: 6,
            list_objects: 1,
            delete_objects: 2,
            delete_objects_throttled: 1,
            delete_object: 2,
            delete_object_throttled: 1,
            keys_admitted: 6,
        }
    );
    assert_eq!(proxy.counts().throttled(), 2);
    assert_eq!(reached.load(Ordering::Relaxed), 4);

    // Lifted: everything goes through, and is counted.
    proxy.set_write_limit(None);
    let (status, _) = send(&proxy, Method::POST, "/b?delete", delete_objects(1_000)).await;
    assert_eq!(status, 200);
    assert_eq!(
        proxy.counts().to_string(),
        "{\"requests\":7,\"list_objects\":1,\"delete_objects\":3,\"delete_objects_throttled\":1,\
         \"delete_object\":2,\"delete_object_throttled\":1,\"throttled\":2,\"keys_admitted\":1006}"
    );
}
