//! Time slots and the two shapes built from them: sliding [`Windows`] (last 1 min, 5 min, 1 h,
//! 24 h) and the per-minute [`Chart`] (24 h at 1-minute resolution). Both are fixed-size
//! rings: a slot is reused when its time comes round again, so memory never grows with time.
use serde::Serialize;

use super::histogram::Histogram;

/// How one event ended, for the counters of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A client error (4xx) — counted apart from errors.
    ClientError,
    /// A server error (5xx), or a failed query.
    Error,
}

/// Everything recorded during one slot of time.
#[derive(Clone, Debug, Default)]
pub struct Slot {
    /// Which slot of time this is (seconds since the epoch / the slot width); slots of another
    /// epoch found in the ring are stale and reset before use.
    pub epoch: u32,
    pub count: u32,
    pub errors: u32,
    pub client_errors: u32,
    /// Answered from a cache (queries).
    pub cached: u32,
    pub sum_ms: f64,
    pub max_ms: f32,
    pub hist: Histogram,
}

impl Slot {
    pub fn add(&mut self, ms: f64, outcome: Outcome, cached: bool) {
        self.count = self.count.saturating_add(1);
        match outcome {
            Outcome::Ok => {}
            Outcome::ClientError => self.client_errors = self.client_errors.saturating_add(1),
            Outcome::Error => self.errors = self.errors.saturating_add(1),
        }
        if cached {
            self.cached = self.cached.saturating_add(1);
        }
        self.sum_ms += ms;
        self.max_ms = self.max_ms.max(ms as f32);
        self.hist.record(ms);
    }

    pub fn merge(&mut self, o: &Slot) {
        self.count = self.count.saturating_add(o.count);
        self.errors = self.errors.saturating_add(o.errors);
        self.client_errors = self.client_errors.saturating_add(o.client_errors);
        self.cached = self.cached.saturating_add(o.cached);
        self.sum_ms += o.sum_ms;
        self.max_ms = self.max_ms.max(o.max_ms);
        self.hist.merge(&o.hist);
    }

    fn at(&mut self, epoch: u32) -> &mut Self {
        if self.epoch != epoch {
            *self = Slot {
                epoch,
                ..Default::default()
            };
        }
        self
    }

    /// The figures of this slot (or of a merged window).
    pub fn figures(&self, seconds: f64) -> Figures {
        let n = self.count as f64;
        let max = (self.count > 0).then_some(self.max_ms as f64);
        let ratio = |x: u32| if self.count == 0 { 0.0 } else { x as f64 / n };
        Figures {
            count: self.count as u64,
            errors: self.errors as u64,
            client_errors: self.client_errors as u64,
            cached: self.cached as u64,
            rate_per_second: n / seconds,
            error_rate: ratio(self.errors),
            client_error_rate: ratio(self.client_errors),
            cache_hit_rate: ratio(self.cached),
            mean_ms: (self.count > 0).then(|| self.sum_ms / n),
            p50_ms: self.hist.quantile(0.50, max),
            p95_ms: self.hist.quantile(0.95, max),
            p99_ms: self.hist.quantile(0.99, max),
            max_ms: max,
        }
    }
}

/// Counts, rates and latency percentiles over a window.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub count: u64,
    /// Server errors (5xx) or failed queries.
    pub errors: u64,
    /// Client errors (4xx).
    pub client_errors: u64,
    /// Answered from the cache (queries).
    pub cached: u64,
    pub rate_per_second: f64,
    /// errors / count (0 when nothing was recorded).
    pub error_rate: f64,
    pub client_error_rate: f64,
    pub cache_hit_rate: f64,
    pub mean_ms: Option<f64>,
    /// Percentiles from a log-bucketed histogram: the geometric midpoint of the bucket holding
    /// the rank (buckets are a factor 2^(1/3) wide), never above the maximum.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

/// The windows every figure is given over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Window {
    M1,
    M5,
    H1,
    H24,
}

impl Window {
    pub const ALL: [Window; 4] = [Window::M1, Window::M5, Window::H1, Window::H24];

    pub fn name(self) -> &'static str {
        match self {
            Window::M1 => "1m",
            Window::M5 => "5m",
            Window::H1 => "1h",
            Window::H24 => "24h",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.name() == s)
    }

    pub fn seconds(self) -> u64 {
        match self {
            Window::M1 => 60,
            Window::M5 => 300,
            Window::H1 => 3_600,
            Window::H24 => 86_400,
        }
    }

    pub fn minutes(self) -> u64 {
        self.seconds() / 60
    }
}

const TENS: usize = 30; // 10-second slots: 1 min and 5 min
const FIVES: usize = 12; // 5-minute slots: 1 h
const HOURS: usize = 24; // 1-hour slots: 24 h

/// Sliding windows over the last 1 min, 5 min, 1 h and 24 h: 30 ten-second, 12 five-minute
/// and 24 one-hour slots (66 slots, about 19 KB). A window is its last N slots, the current
/// (partial) one included, so "1 min" spans between 50 and 60 seconds, "1 h" between 55 and
/// 60 minutes, "24 h" between 23 and 24 hours.
#[derive(Clone, Debug)]
pub struct Windows {
    tens: Box<[Slot]>,
    fives: Box<[Slot]>,
    hours: Box<[Slot]>,
}

impl Default for Windows {
    fn default() -> Self {
        Self {
            tens: vec![Slot::default(); TENS].into_boxed_slice(),
            fives: vec![Slot::default(); FIVES].into_boxed_slice(),
            hours: vec![Slot::default(); HOURS].into_boxed_slice(),
        }
    }
}

impl Windows {
    pub fn record(&mut self, now_s: u64, ms: f64, outcome: Outcome, cached: bool) {
        for (ring, width) in [
            (&mut self.tens, 10),
            (&mut self.fives, 300),
            (&mut self.hours, 3_600),
        ] {
            let epoch = (now_s / width) as u32;
            let len = ring.len();
            ring[epoch as usize % len]
                .at(epoch)
                .add(ms, outcome, cached);
        }
    }

    /// Everything recorded in `w` as of `now_s`.
    pub fn window(&self, now_s: u64, w: Window) -> Slot {
        let (ring, width, n) = match w {
            Window::M1 => (&self.tens, 10, 6),
            Window::M5 => (&self.tens, 10, TENS as u64),
            Window::H1 => (&self.fives, 300, FIVES as u64),
            Window::H24 => (&self.hours, 3_600, HOURS as u64),
        };
        let now = now_s / width;
        let mut out = Slot::default();
        for s in ring.iter() {
            let e = s.epoch as u64;
            if s.count > 0 && e <= now && e + n > now {
                out.merge(s);
            }
        }
        out
    }

    /// Whether anything was recorded in the last 24 h.
    pub fn is_idle(&self, now_s: u64) -> bool {
        self.window(now_s, Window::H24).count == 0
    }
}

/// One minute of a chart.
#[derive(Clone, Copy, Debug, Default)]
pub struct Point {
    /// Minutes since the epoch.
    pub minute: u32,
    pub count: u32,
    pub errors: u32,
    pub client_errors: u32,
    pub cached: u32,
    pub sum_ms: f32,
    pub p50_ms: f32,
    pub p95_ms: f32,
    pub p99_ms: f32,
    pub max_ms: f32,
}

impl Point {
    fn of(s: &Slot) -> Self {
        let max = Some(s.max_ms as f64);
        let q = |q| s.hist.quantile(q, max).unwrap_or(0.0) as f32;
        Point {
            minute: s.epoch,
            count: s.count,
            errors: s.errors,
            client_errors: s.client_errors,
            cached: s.cached,
            sum_ms: s.sum_ms as f32,
            p50_ms: q(0.5),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            max_ms: s.max_ms,
        }
    }
}

/// Minutes kept by a chart: 24 h.
pub const CHART_MINUTES: usize = 1_440;

/// 24 hours at 1-minute resolution: the minute in progress keeps its histogram; when the next
/// minute starts it is reduced to a [`Point`] (counts and percentiles, 40 bytes) in a ring of
/// 1,440 (about 56 KB in all).
#[derive(Clone, Debug)]
pub struct Chart {
    current: Slot,
    points: Box<[Point]>,
}

impl Default for Chart {
    fn default() -> Self {
        Self {
            current: Slot::default(),
            points: vec![Point::default(); CHART_MINUTES].into_boxed_slice(),
        }
    }
}

impl Chart {
    pub fn record(&mut self, now_s: u64, ms: f64, outcome: Outcome, cached: bool) {
        let minute = (now_s / 60) as u32;
        if self.current.epoch != minute {
            self.flush();
            self.current = Slot {
                epoch: minute,
                ..Default::default()
            };
        }
        self.current.add(ms, outcome, cached);
    }

    fn flush(&mut self) {
        if self.current.count > 0 {
            let i = self.current.epoch as usize % CHART_MINUTES;
            self.points[i] = Point::of(&self.current);
        }
    }

    /// The point of one minute (a zero point when nothing was recorded then, or when it is
    /// older than the ring).
    pub fn minute(&self, minute: u32) -> Point {
        if self.current.epoch == minute && self.current.count > 0 {
            return Point::of(&self.current);
        }
        let p = self.points[minute as usize % CHART_MINUTES];
        if p.minute == minute && p.count > 0 {
            p
        } else {
            Point {
                minute,
                ..Default::default()
            }
        }
    }

    /// The last `n` minutes up to the one holding `now_s`, oldest first.
    pub fn last(&self, now_s: u64, n: usize) -> Vec<Point> {
        let now = (now_s / 60) as u32;
        let n = n.min(CHART_MINUTES) as u32;
        (0..n).rev().map(|back| self.minute(now - back)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_slide() {
        let mut w = Windows::default();
        let t0 = 1_000_000_000; // a multiple of 10 s and 5 min... not of an hour; fine
        for i in 0..20 {
            let outcome = if i < 5 { Outcome::Error } else { Outcome::Ok };
            w.record(t0, 10.0, outcome, false);
        }
        let f = w.window(t0 + 5, Window::M1).figures(60.0);
        assert_eq!((f.count, f.errors), (20, 5));
        assert_eq!(f.error_rate, 0.25);
        // 70 s later the minute window no longer holds them; 5 min, 1 h and 24 h do.
        assert_eq!(w.window(t0 + 70, Window::M1).count, 0);
        assert_eq!(w.window(t0 + 70, Window::M5).count, 20);
        assert_eq!(w.window(t0 + 3_000, Window::H1).count, 20);
        assert_eq!(w.window(t0 + 3_000, Window::M5).count, 0);
        assert_eq!(w.window(t0 + 80_000, Window::H24).count, 20);
        assert_eq!(w.window(t0 + 90_000, Window::H24).count, 0);
        // Reusing a slot a ring later resets it.
        w.record(t0 + 300, 1.0, Outcome::Ok, false);
        assert_eq!(w.window(t0 + 300, Window::M1).count, 1);
        assert_eq!(w.window(t0 + 300, Window::M5).count, 1);
    }

    #[test]
    fn chart_rolls_over_after_a_day() {
        let mut c = Chart::default();
        let t0 = 60 * 10_000_000; // minute 10,000,000
        c.record(t0, 5.0, Outcome::Ok, false);
        c.record(t0 + 1, 7.0, Outcome::Error, false);
        c.record(t0 + 60, 9.0, Outcome::Ok, true);
        let pts = c.last(t0 + 60, 3);
        assert_eq!(pts.len(), 3);
        assert_eq!(
            pts.iter().map(|p| p.count).collect::<Vec<_>>(),
            vec![0, 2, 1]
        );
        assert_eq!(pts[1].errors, 1);
        assert_eq!(pts[2].cached, 1);
        assert_eq!(pts[1].max_ms, 7.0);
        // 24 h later the same ring position holds the new minute, the old one is gone.
        let day = 60 * CHART_MINUTES as u64;
        c.record(t0 + day, 1.0, Outcome::Ok, false);
        c.record(t0 + day + 60, 1.0, Outcome::Ok, false);
        assert_eq!(c.minute((t0 / 60) as u32).count, 0);
        assert_eq!(c.minute(((t0 + day) / 60) as u32).count, 1);
        assert_eq!(c.last(t0 + day + 60, 5_000).len(), CHART_MINUTES);
    }
}
