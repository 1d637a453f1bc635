//! `s3-proxy --upstream 127.0.0.1:3900 [--listen 127.0.0.1:0] [--delay-ms 30]`
//!
//! Prints the address it listens on, then proxies until it is stopped.

use s3_proxy::{Proxy, Settings};
use std::net::SocketAddr;
use std::time::Duration;

#[tokio::main]
async fn main() {
    let mut upstream: Option<SocketAddr> = None;
    let mut listen: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    let mut delay_ms = 0u64;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--upstream" => {
                upstream = Some(value.parse().unwrap_or_else(|_| usage("bad --upstream")))
            }
            "--listen" => listen = value.parse().unwrap_or_else(|_| usage("bad --listen")),
            "--delay-ms" => delay_ms = value.parse().unwrap_or_else(|_| usage("bad --delay-ms")),
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let upstream = upstream.unwrap_or_else(|| usage("--upstream is required"));
    let settings = Settings { delay: Duration::from_millis(delay_ms), faults: Vec::new() };
    let proxy = Proxy::start(listen, upstream, settings).await.expect("bind the proxy");
    println!("{}", proxy.addr());
    std::future::pending::<()>().await;
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "s3-proxy: {problem}\nusage: s3-proxy --upstream HOST:PORT [--listen HOST:PORT] [--delay-ms N]"
    );
    std::process::exit(2);
}
