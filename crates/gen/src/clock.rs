//! The timeline: where the i-th of `count` events falls in `[start, start + days)`.
//!
//! Event density follows a weekly rhythm (busy weekday working hours, quiet nights and
//! weekends, in UTC). Event `i` is put at the quantile `(i + u) / count` of that density, with
//! `u` uniform in `[0, 1)`: the count fills the whole span, the spacing is jittered, and the
//! times can never go backwards, because `i + u < i + 1 <= (i + 1) + u'`.

use annal_model::civil_from_days;
use rand::rngs::SmallRng;
use rand::Rng;

const NANOS_PER_MS: i64 = 1_000_000;
const MS_PER_DAY: i64 = 86_400_000;
const HOUR_NS: i64 = 3_600 * 1_000_000_000;
const HOURS_PER_WEEK: u64 = 168;

/// Relative activity per UTC hour of a weekday.
const HOURLY: [f64; 24] = [
    0.20, 0.15, 0.15, 0.15, 0.20, 0.30, 0.55, 0.95, 1.50, 1.85, 1.95, 1.90, //
    1.60, 1.75, 1.90, 1.85, 1.60, 1.25, 0.90, 0.65, 0.50, 0.40, 0.30, 0.25,
];
/// Saturday and Sunday see this fraction of a weekday's activity.
const WEEKEND: f64 = 0.3;

pub(crate) struct Clock {
    start_ns: i64,
    /// First and last millisecond (since the epoch) an event may carry.
    min_ms: i64,
    max_ms: i64,
    /// Number of hour buckets in the span (the last one may be partial).
    buckets: u64,
    /// Hour-of-week (0 = Monday 00h UTC) of bucket 0.
    phase: u64,
    week: [f64; HOURS_PER_WEEK as usize],
    week_sum: f64,
    total: f64,
    /// Cursor: current bucket and the weight of all buckets before it.
    bucket: u64,
    before: f64,
    last_ms: i64,
    /// Formatting cache: the day of `date` and its `YYYY-MM-DDT` text.
    day: i64,
    date: [u8; 11],
}

impl Clock {
    /// `start_ns` must be >= 0 and `span_ns` >= 1 ms; the caller ensures both.
    pub(crate) fn new(start_ns: i64, span_ns: i64) -> Clock {
        let end_ns = start_ns.saturating_add(span_ns);
        let min_ms =
            start_ns.div_euclid(NANOS_PER_MS) + i64::from(start_ns.rem_euclid(NANOS_PER_MS) != 0);
        let max_ms = (end_ns - 1).div_euclid(NANOS_PER_MS).max(min_ms);
        let span = end_ns - start_ns;
        let buckets = (span / HOUR_NS + i64::from(span % HOUR_NS != 0)).max(1) as u64;
        // 1970-01-01 was a Thursday: hour 0 of the epoch is hour 72 of its week.
        let phase = (start_ns.div_euclid(HOUR_NS) + 72).rem_euclid(HOURS_PER_WEEK as i64) as u64;
        let mut week = [0.0; HOURS_PER_WEEK as usize];
        for (h, w) in week.iter_mut().enumerate() {
            let day_factor = if h / 24 >= 5 { WEEKEND } else { 1.0 };
            *w = HOURLY[h % 24] * day_factor;
        }
        let week_sum: f64 = week.iter().sum();
        let rem: f64 = (0..buckets % HOURS_PER_WEEK)
            .map(|j| week[((phase + j) % HOURS_PER_WEEK) as usize])
            .sum();
        let total = (buckets / HOURS_PER_WEEK) as f64 * week_sum + rem;
        Clock {
            start_ns,
            min_ms,
            max_ms,
            buckets,
            phase,
            week,
            week_sum,
            total,
            bucket: 0,
            before: 0.0,
            last_ms: min_ms,
            day: i64::MIN,
            date: *b"0000-00-00T",
        }
    }

    fn weight(&self, bucket: u64) -> f64 {
        self.week[((self.phase + bucket) % HOURS_PER_WEEK) as usize]
    }

    /// The time, in milliseconds since the epoch, of event `i` of `count`.
    pub(crate) fn next_ms(&mut self, i: u64, count: u64, rng: &mut SmallRng) -> i64 {
        let q = ((i as f64 + rng.gen::<f64>()) / count.max(1) as f64).min(1.0);
        let target = q * self.total;
        // Whole weeks first, so that sparse events over a long span cost O(1).
        let weeks_left = (self.buckets - self.bucket) / HOURS_PER_WEEK;
        if weeks_left > 0 && self.week_sum > 0.0 {
            let skip = (((target - self.before) / self.week_sum).floor().max(0.0) as u64)
                .min(weeks_left.saturating_sub(1));
            self.bucket += skip * HOURS_PER_WEEK;
            self.before += skip as f64 * self.week_sum;
        }
        loop {
            let w = self.weight(self.bucket);
            if self.bucket + 1 < self.buckets && self.before + w <= target {
                self.before += w;
                self.bucket += 1;
            } else {
                break;
            }
        }
        let w = self.weight(self.bucket);
        let frac = if w > 0.0 {
            ((target - self.before) / w).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let offset = (self.bucket as f64 + frac) * HOUR_NS as f64;
        let ns = self.start_ns.saturating_add(offset as i64);
        let ms = ns
            .div_euclid(NANOS_PER_MS)
            .clamp(self.min_ms, self.max_ms)
            .max(self.last_ms);
        self.last_ms = ms;
        ms
    }

    /// `YYYYMMDD` of the day last written by [`Clock::write`].
    pub(crate) fn ymd(&self) -> [u8; 8] {
        let d = &self.date;
        [d[0], d[1], d[2], d[3], d[5], d[6], d[8], d[9]]
    }

    /// Appends `ms` as RFC 3339 UTC with milliseconds, e.g. `2026-01-01T09:15:02.117Z`
    /// (no quotes).
    pub(crate) fn write(&mut self, ms: i64, out: &mut Vec<u8>) {
        let day = ms.div_euclid(MS_PER_DAY);
        if day != self.day {
            self.day = day;
            let (y, m, d) = civil_from_days(day);
            let mut date = Vec::with_capacity(11);
            crate::json::uint_padded(&mut date, y.max(0) as u64, 4);
            date.push(b'-');
            crate::json::uint_padded(&mut date, m as u64, 2);
            date.push(b'-');
            crate::json::uint_padded(&mut date, d as u64, 2);
            date.push(b'T');
            if let Ok(fixed) = <[u8; 11]>::try_from(date.as_slice()) {
                self.date = fixed;
            }
        }
        out.extend_from_slice(&self.date);
        let t = ms.rem_euclid(MS_PER_DAY);
        let (h, mi, s, milli) = (t / 3_600_000, t / 60_000 % 60, t / 1000 % 60, t % 1000);
        let two = |out: &mut Vec<u8>, v: i64| {
            out.push(b'0' + (v / 10) as u8);
            out.push(b'0' + (v % 10) as u8);
        };
        two(out, h);
        out.push(b':');
        two(out, mi);
        out.push(b':');
        two(out, s);
        out.push(b'.');
        out.push(b'0' + (milli / 100) as u8);
        two(out, milli % 100);
        out.push(b'Z');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_model::Timestamp;
    use rand::SeedableRng;

    #[test]
    fn formats_like_the_model_parses() {
        let mut c = Clock::new(0, HOUR_NS);
        for ms in [
            0i64,
            1,
            999,
            86_399_999,
            951_782_400_123,
            1_767_225_600_000,
            4_102_444_799_999,
        ] {
            let mut out = Vec::new();
            c.write(ms, &mut out);
            let text = String::from_utf8_lossy(&out).into_owned();
            let t = Timestamp::parse_rfc3339(&text).unwrap();
            assert_eq!(t.0, ms * NANOS_PER_MS, "{text}");
        }
        let mut out = Vec::new();
        c.write(951_782_400_123, &mut out); // leap day 2000
        assert_eq!(out, b"2000-02-29T00:00:00.123Z");
    }

    #[test]
    fn working_hours_are_busier_than_nights() {
        // 2026-01-05 is a Monday.
        let start = 1_767_571_200 * 1_000_000_000;
        let mut c = Clock::new(start, 7 * 24 * HOUR_NS);
        let mut rng = SmallRng::seed_from_u64(3);
        let n = 70_000;
        let mut by_hour = [0u32; 24];
        let mut weekend = 0;
        for i in 0..n {
            let ms = c.next_ms(i, n, &mut rng);
            let t = ms - start / NANOS_PER_MS;
            by_hour[(t / 3_600_000 % 24) as usize] += 1;
            if t / MS_PER_DAY >= 5 {
                weekend += 1;
            }
        }
        assert!(by_hour[10] > 5 * by_hour[2], "{by_hour:?}");
        assert!(weekend < n / 7, "weekend {weekend}");
    }

    #[test]
    fn sparse_events_over_a_long_span_stay_in_range() {
        let span = i64::MAX; // ~292 years
        let mut c = Clock::new(0, span);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut last = 0;
        for i in 0..10 {
            let ms = c.next_ms(i, 10, &mut rng);
            assert!(ms >= last && ms >= 0);
            last = ms;
        }
    }
}
