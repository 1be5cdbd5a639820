//! What an `ackor node` process runs, shared with the tests that drive such processes
//! from outside and with the examples: its services, and its Prometheus endpoint.

pub mod metrics_endpoint;
pub mod services;
