//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

pub mod server;

use annal_storage::XorShift64;

/// A whole-number setting from the environment (cycle counts), else `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The generator of a seeded test: from `$seed_var` when set (to replay a failure), else
/// from the clock. The seed is printed under `label` so any run can be replayed.
pub fn seeded(label: &str, seed_var: &str) -> (u64, XorShift64) {
    let seed = std::env::var(seed_var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            now.as_nanos() as u64 | 1
        });
    println!("{label}: {seed_var}={seed}");
    (seed, XorShift64::new(seed))
}
