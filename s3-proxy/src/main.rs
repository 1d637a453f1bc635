//! `s3-proxy --upstream 127.0.0.1:3900 [--listen 127.0.0.1:0] [--delay-ms 30]
//! [--write-limit KEYS_PER_SECOND]`
//!
//! Prints the address it listens on, then proxies until it is stopped. With `--write-limit`,
//! deletions draw one token a key from a bucket refilled at that rate (one second's worth of
//! burst) and are answered 503 SlowDown without enough tokens, as S3 does past its write limit.
//!
//! What went through (requests, lists, deletions, throttled ones, keys admitted) is printed as
//! one JSON line on stdout on SIGUSR1, and once more on SIGTERM or SIGINT before it exits:
//! `{"requests":…,"list_objects":…,"delete_objects":…,"delete_objects_throttled":…,…}`.

use s3_proxy::{Proxy, Settings};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() {
    let mut upstream: Option<SocketAddr> = None;
    let mut listen: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    let mut delay_ms = 0u64;
    let mut write_limit: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--upstream" => {
                upstream = Some(value.parse().unwrap_or_else(|_| usage("bad --upstream")))
            }
            "--listen" => listen = value.parse().unwrap_or_else(|_| usage("bad --listen")),
            "--delay-ms" => delay_ms = value.parse().unwrap_or_else(|_| usage("bad --delay-ms")),
            "--write-limit" => match value.parse::<u64>() {
                Ok(rate) if rate > 0 => write_limit = Some(rate),
                _ => usage("bad --write-limit: keys a second, at least 1"),
            },
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let upstream = upstream.unwrap_or_else(|| usage("--upstream is required"));
    let settings = Settings { delay: Duration::from_millis(delay_ms), faults: Vec::new() };
    let mut on_request = signal(SignalKind::user_defined1()).expect("a SIGUSR1 handler");
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("a SIGINT handler");
    let proxy = Proxy::start(listen, upstream, settings).await.expect("bind the proxy");
    proxy.set_write_limit(write_limit);
    println!("{}", proxy.addr());
    loop {
        tokio::select! {
            _ = on_request.recv() => println!("{}", proxy.counts()),
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    println!("{}", proxy.counts());
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "s3-proxy: {problem}\nusage: s3-proxy --upstream HOST:PORT [--listen HOST:PORT] \
         [--delay-ms N] [--write-limit KEYS_PER_SECOND]"
    );
    std::process::exit(2);
}
