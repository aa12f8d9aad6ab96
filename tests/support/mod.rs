//! Helpers shared by the integration tests.
#![allow(dead_code, unused_imports)] // each test binary uses its own subset

pub mod server;

pub use annal_storage::{env_u64, seeded};
