//! A fixed-size, log-bucketed latency histogram.
//!
//! Hand-rolled rather than `hdrhistogram`: an HDR histogram with 2 significant digits over
//! 1 µs–100 s holds a few thousand counters (tens of KB), and the monitoring store keeps one
//! histogram per time slot per route and per query fingerprint — thousands of them. Here a
//! histogram is 64 `u32` counters (256 bytes), recording is one `log2`, merging is 64
//! additions, and the relative error of a percentile is bounded by the bucket width (a factor
//! 2^(1/3) ≈ 1.26, so ±12 % around the reported geometric midpoint).

/// Number of buckets.
pub const BUCKETS: usize = 64;
/// Upper bound of the first bucket, in milliseconds.
const BASE_MS: f64 = 0.05;
/// Buckets per doubling.
const PER_OCTAVE: f64 = 3.0;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    counts: [u32; BUCKETS],
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: [0; BUCKETS],
        }
    }
}

/// The bucket `ms` falls into: bucket `i` holds (upper(i-1), upper(i)]; the first also holds
/// everything below, the last everything above (about 83 s).
pub fn bucket_of(ms: f64) -> usize {
    if ms.is_nan() || ms <= BASE_MS {
        return 0;
    }
    let i = ((ms / BASE_MS).log2() * PER_OCTAVE).ceil();
    (i as usize).min(BUCKETS - 1)
}

/// Upper bound of bucket `i` in ms (infinite for the last).
pub fn upper_ms(i: usize) -> f64 {
    if i >= BUCKETS - 1 {
        f64::INFINITY
    } else {
        BASE_MS * (i as f64 / PER_OCTAVE).exp2()
    }
}

/// Lower bound of bucket `i` in ms (exclusive; 0 for the first).
pub fn lower_ms(i: usize) -> f64 {
    if i == 0 {
        0.0
    } else {
        upper_ms(i - 1)
    }
}

impl Histogram {
    pub fn record(&mut self, ms: f64) {
        let b = &mut self.counts[bucket_of(ms)];
        *b = b.saturating_add(1);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().map(|&c| c as u64).sum()
    }

    /// The bucket holding the `q`-quantile (nearest rank), or `None` when empty.
    pub fn quantile_bucket(&self, q: f64) -> Option<usize> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c as u64;
            if seen >= rank {
                return Some(i);
            }
        }
        Some(BUCKETS - 1)
    }

    /// The `q`-quantile in ms: the geometric midpoint of its bucket, never above `max_ms` (the
    /// largest value recorded, when known) — so a single observation reports itself exactly
    /// when it is the maximum.
    pub fn quantile(&self, q: f64, max_ms: Option<f64>) -> Option<f64> {
        let i = self.quantile_bucket(q)?;
        let est = if i == 0 {
            upper_ms(0)
        } else if i == BUCKETS - 1 {
            lower_ms(i)
        } else {
            (lower_ms(i) * upper_ms(i)).sqrt()
        };
        Some(match max_ms {
            Some(m) if m > 0.0 => est.min(m),
            _ => est,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_their_bounds() {
        for ms in [
            0.001, 0.05, 0.051, 1.0, 3.7, 100.0, 250.0, 1_000.0, 29_999.0,
        ] {
            let i = bucket_of(ms);
            assert!(lower_ms(i) < ms || i == 0, "{ms} above lower of {i}");
            assert!(ms <= upper_ms(i), "{ms} below upper of {i}");
        }
        assert_eq!(bucket_of(1e9), BUCKETS - 1);
        assert_eq!(bucket_of(f64::NAN), 0);
        // Width of a bucket: a factor 2^(1/3).
        let r = upper_ms(10) / upper_ms(9);
        assert!((r - 2f64.powf(1.0 / 3.0)).abs() < 1e-9);
        assert!(upper_ms(BUCKETS - 2) > 80_000.0, "covers 80 s");
    }

    #[test]
    fn quantiles_fall_in_the_right_bucket() {
        let mut h = Histogram::default();
        // 1..=100 ms: p50 is 50, p95 95, p99 99.
        for ms in 1..=100 {
            h.record(ms as f64);
        }
        assert_eq!(h.total(), 100);
        for (q, want) in [(0.5, 50.0), (0.95, 95.0), (0.99, 99.0)] {
            let got = h.quantile(q, Some(100.0)).unwrap();
            let b = bucket_of(want);
            assert!(
                lower_ms(b) <= got && got <= upper_ms(b),
                "q{q}: {got} not in bucket of {want}"
            );
        }
        assert_eq!(Histogram::default().quantile(0.5, None), None);
        // One observation at the maximum reports itself.
        let mut one = Histogram::default();
        one.record(42.0);
        assert_eq!(one.quantile(0.99, Some(42.0)), Some(42.0));
    }

    #[test]
    fn merging_adds_counts() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        for _ in 0..10 {
            a.record(1.0);
        }
        for _ in 0..30 {
            b.record(1000.0);
        }
        a.merge(&b);
        assert_eq!(a.total(), 40);
        // p25 is among the fast ones, p50 among the slow ones.
        assert_eq!(a.quantile_bucket(0.25), Some(bucket_of(1.0)));
        assert_eq!(a.quantile_bucket(0.5), Some(bucket_of(1000.0)));
    }
}
