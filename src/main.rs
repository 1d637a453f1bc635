use del_job::config::Config;
use del_job::entry::{self, App};
use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let app = App::new(config).await;
    lambda_runtime::run(service_fn(|event| entry::handle(&app, event))).await
}
