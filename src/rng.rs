//! A small seeded random number generator (SplitMix64): reproducible on every platform,
//! so the same seed gives the same weights, samples and dropout masks natively and in wasm.

/// SplitMix64 (Steele, Lea, Flood 2014): one u64 of state, passes BigCrush, trivially seekable.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// A generator for one of many independent streams, e.g. (seed, step, sequence): lets
    /// training resume exactly from a step number and gives thread-count-independent dropout.
    pub fn for_stream(seed: u64, stream: &[u64]) -> Rng {
        let mut r = Rng::new(seed);
        for &s in stream {
            r.state ^= s.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            r.next_u64();
        }
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Advances the stream by `n` draws of [`Rng::next_u64`] without computing them
    /// (SplitMix64's state is a counter), e.g. to skip dropout multipliers that are never used.
    pub fn skip(&mut self, n: u64) {
        self.state = self
            .state
            .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform integer in [0, n) (n > 0), by multiply-shift.
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Standard normal by Box-Muller.
    pub fn normal(&mut self) -> f32 {
        let u1 = ((self.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64);
        let u2 = (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_and_ranges() {
        let mut r = Rng::new(42);
        let n = 100_000;
        let xs: Vec<f32> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f32>() / n as f32;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n as f32;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
        for _ in 0..1000 {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(7) < 7);
        }
        let (mut a, mut b) = (Rng::new(9), Rng::new(9));
        for _ in 0..37 {
            a.next_u64();
        }
        b.skip(37);
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(
            Rng::for_stream(1, &[0, 1]).next_u64(),
            Rng::for_stream(1, &[1, 0]).next_u64()
        );
    }
}
