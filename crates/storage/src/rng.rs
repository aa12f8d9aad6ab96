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
