use del_job::app::App;
use del_job::config::Config;
use del_job::entry;
use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    map_large_allocations();
    del_job::telemetry::init_logs();
    let config = Config::from_env()?;
    let app = App::new(config).await;
    // Boxed: the handler's future nests the SDK's, which are deep, and inside the runtime's
    // service layers it would pass the depth to which the compiler lays out types.
    lambda_runtime::run(service_fn(|event| Box::pin(entry::handle(&app, event)))).await
}

/// Buffers from 64 KiB up (a page of 1,000 listed keys arrives as ~300 KB) get memory of their
/// own, returned to the system when freed. By default glibc raises that threshold after the
/// first such buffer is freed and serves the next ones from its heap, which it keeps: at 100,000
/// objects that was a quarter of the peak RSS.
#[allow(unsafe_code)] // the crate's one unsafe call, to the C allocator
fn map_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets a parameter of the allocator, under its own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 10);
    }
}
