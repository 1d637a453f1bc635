//! The test kit of del-job: one fixture shared by the integration tests (`tests/`), the demo's
//! seeder (`examples/seed.rs`) and the benchmark's tools (`bench/`).
//!
//! - [`fixture`]: buckets on the local S3 servers (Garage, moto), jobs laid out as the function
//!   expects them, the demo's ids, and the exact set of keys left afterwards;
//! - [`world`]: a test's own buckets and hand-on queue, the function configured for them, the
//!   project's `s3-proxy` in front of the stores, and the handler invoked as Lambda invokes it;
//! - [`events`]: the events Lambda hands the function, as its services build them;
//! - [`reliability`]: what a test proves, counted for RELIABILITY.md;
//! - [`watch`]: `cargo lambda watch`, the function as a developer runs it locally.
//!
//! Everything here talks to servers on loopback that the project's scripts start; the fixture
//! refuses any other endpoint, since it creates and empties buckets.

pub mod events;
pub mod fixture;
pub mod reliability;
pub mod rng;
pub mod watch;
pub mod world;

pub use events::{body, delete_job_event, http_api_event, object_created_event, sqs_event};
pub use reliability::{record, settle, tally};
pub use rng::Rng;
pub use world::*;
