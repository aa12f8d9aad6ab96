//! Seeded randomness for tests and benchmarks that must replay from a printed seed.

/// Marsaglia's xorshift64: the seeded, replayable randomness of fault tests and benchmarks
/// (a failure replays from its printed seed). Not for anything that needs real randomness.
#[derive(Clone, Debug)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator from `seed` (its lowest bit is set: the all-zero state never moves).
    pub fn new(seed: u64) -> XorShift64 {
        XorShift64(seed | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The generator of a seeded test run: from the environment variable `seed_var` when it is
/// set (to replay a failure), else from the clock. The seed is printed under `label`, so any
/// run can be replayed; it is returned beside the generator for failure messages.
pub fn seeded(label: &str, seed_var: &str) -> (u64, XorShift64) {
    let seed = std::env::var(seed_var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            now.as_nanos() as u64 | 1
        });
    println!("{label}: {seed_var}={seed}");
    (seed, XorShift64::new(seed))
}

/// A whole-number setting of a test run from the environment (cycle counts), else `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
