//! UTC timestamps with nanosecond precision, RFC 3339 parsing and formatting.
//!
//! Written by hand rather than pulled from a date crate because both directions sit on hot
//! paths (ingest parses one per event, export formats one per event) and annal only ever needs
//! the RFC 3339 profile plus bare dates for query bounds.

use std::fmt;

/// Nanoseconds per second.
const NANOS_PER_SEC: i64 = 1_000_000_000;
/// Seconds per day.
const SECS_PER_DAY: i64 = 86_400;
/// Nanoseconds per UTC day.
pub const NANOS_PER_DAY: i64 = SECS_PER_DAY * NANOS_PER_SEC;

/// First instant annal accepts: 1970-01-01T00:00:00Z. Audit events older than the Unix epoch
/// are a producer bug, not history.
pub const TIMESTAMP_MIN: Timestamp = Timestamp(0);
/// Last instant annal accepts: 2262-04-11T23:47:16.854775807Z, the end of `i64` nanoseconds.
pub const TIMESTAMP_MAX: Timestamp = Timestamp(i64::MAX);

/// An instant in UTC, as nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// Why a text could not be read as a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimeError(pub &'static str);

impl From<std::time::SystemTime> for Timestamp {
    /// The instant `t` (before 1970: the epoch; past 2262: the largest timestamp).
    fn from(t: std::time::SystemTime) -> Timestamp {
        let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp(i64::try_from(since.as_nanos()).unwrap_or(i64::MAX))
    }
}

impl Timestamp {
    /// Nanoseconds since the Unix epoch.
    pub fn nanos(self) -> i64 {
        self.0
    }

    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        Timestamp::from(std::time::SystemTime::now())
    }

    /// Index of the UTC day this instant falls in (days since 1970-01-01).
    pub fn utc_day(self) -> i64 {
        self.0.div_euclid(NANOS_PER_DAY)
    }

    /// Nanoseconds since 1970 (UTC) of an RFC 3339 date-time, in or out of range.
    fn rfc3339_nanos(text: &str) -> Result<i128, TimeError> {
        let b = text.as_bytes();
        if b.len() < 20 {
            return Err(TimeError(
                "expected an RFC 3339 date-time such as 2024-05-01T12:00:00Z",
            ));
        }
        let days = parse_date(&b[..10])?;
        if !matches!(b[10], b'T' | b't' | b' ') {
            return Err(TimeError("expected 'T' between date and time"));
        }
        let hour = digits(&b[11..13])?;
        let minute = digits(&b[14..16])?;
        let second = digits(&b[17..19])?;
        if b[13] != b':' || b[16] != b':' {
            return Err(TimeError("expected HH:MM:SS"));
        }
        if hour > 23 || minute > 59 || second > 60 {
            return Err(TimeError("hour, minute or second out of range"));
        }
        // A leap second is folded into the next second, as most systems do.
        let mut rest = &b[19..];
        let mut frac_nanos = 0i64;
        if let Some((&b'.', tail)) = rest.split_first() {
            let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 || n > 9 {
                return Err(TimeError("fraction of a second must have 1 to 9 digits"));
            }
            frac_nanos = digits(&tail[..n])? * 10i64.pow(9 - n as u32);
            rest = &tail[n..];
        }
        let offset_secs = parse_offset(rest)?;
        let secs = days * SECS_PER_DAY + hour * 3600 + minute * 60 + second - offset_secs;
        Ok(i128::from(secs) * i128::from(NANOS_PER_SEC) + i128::from(frac_nanos))
    }

    /// Parses RFC 3339 (`2024-05-01T12:00:00.5Z`, `…+02:00`; `T` or space; any number of
    /// fraction digits up to 9). Offsets are folded into UTC.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimeError> {
        let nanos = Timestamp::rfc3339_nanos(text)?;
        i64::try_from(nanos)
            .ok()
            .filter(|n| *n >= TIMESTAMP_MIN.0)
            .map(Timestamp)
            .ok_or(TimeError(
                "outside the supported range 1970-01-01 to 2262-04-11",
            ))
    }

    /// A query bound: what [`Timestamp::parse_date_or_time`] reads, except that a valid date
    /// or time outside the supported range is the range's nearest end instead of an error (a
    /// bound before 1970 is before every event, one after 2262 after every event: the
    /// query means the same, and every valid RFC 3339 value is accepted).
    pub fn parse_bound(text: &str) -> Result<Timestamp, TimeError> {
        let nanos = if text.len() == 10 {
            i128::from(parse_date(text.as_bytes())?) * i128::from(NANOS_PER_DAY)
        } else {
            Timestamp::rfc3339_nanos(text)?
        };
        let clamped = nanos.clamp(i128::from(TIMESTAMP_MIN.0), i128::from(TIMESTAMP_MAX.0));
        Ok(Timestamp(clamped as i64))
    }

    /// Parses either an RFC 3339 date-time or a bare date (`2024-05-01`, meaning that day's
    /// start in UTC), as query bounds accept.
    pub fn parse_date_or_time(text: &str) -> Result<Timestamp, TimeError> {
        if text.len() == 10 {
            let days = parse_date(text.as_bytes())?;
            if days < 0 {
                return Err(TimeError(
                    "outside the supported range 1970-01-01 to 2262-04-11",
                ));
            }
            return days
                .checked_mul(NANOS_PER_DAY)
                .map(Timestamp)
                .ok_or(TimeError(
                    "outside the supported range 1970-01-01 to 2262-04-11",
                ));
        }
        Timestamp::parse_rfc3339(text)
    }

    /// Appends the RFC 3339 form in UTC with the shortest exact fraction (`Z` suffix).
    pub fn write_rfc3339(self, out: &mut String) {
        // Digit by digit rather than through `format!`: this runs for every time of every
        // event an API response or export writes.
        fn digits(out: &mut String, v: i64, width: u32) {
            for k in (0..width).rev() {
                out.push(char::from(b'0' + (v / 10i64.pow(k) % 10) as u8));
            }
        }
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let nanos = self.0.rem_euclid(NANOS_PER_SEC);
        let (y, m, d) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
        let tod = secs.rem_euclid(SECS_PER_DAY);
        digits(out, y, 4);
        out.push('-');
        digits(out, m, 2);
        out.push('-');
        digits(out, d, 2);
        out.push('T');
        digits(out, tod / 3600, 2);
        out.push(':');
        digits(out, tod / 60 % 60, 2);
        out.push(':');
        digits(out, tod % 60, 2);
        if nanos != 0 {
            out.push('.');
            let (mut frac, mut width) = (nanos, 9);
            while frac % 10 == 0 {
                frac /= 10;
                width -= 1;
            }
            digits(out, frac, width);
        }
        out.push('Z');
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(30);
        self.write_rfc3339(&mut s);
        f.write_str(&s)
    }
}

fn digits(b: &[u8]) -> Result<i64, TimeError> {
    let mut v = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return Err(TimeError("expected a digit"));
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Ok(v)
}

fn parse_date(b: &[u8]) -> Result<i64, TimeError> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(TimeError("expected a date as YYYY-MM-DD"));
    }
    let (y, m, d) = (digits(&b[..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(TimeError("month or day out of range"));
    }
    Ok(days_from_civil(y, m, d))
}

fn parse_offset(b: &[u8]) -> Result<i64, TimeError> {
    match b {
        [b'Z' | b'z'] => Ok(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return Err(TimeError("UTC offset out of range"));
            }
            let secs = hours * 3600 + minutes * 60;
            Ok(if *sign == b'-' { -secs } else { secs })
        }
        _ => Err(TimeError("expected a UTC offset: 'Z' or ±HH:MM")),
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a count of days since 1970-01-01, proleptic Gregorian (Howard
/// Hinnant's algorithm; the inverse of `days_from_civil`).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_outside_the_range_is_its_nearest_end() {
        assert_eq!(Timestamp::parse_bound("0001-01-01").unwrap(), TIMESTAMP_MIN);
        assert_eq!(
            Timestamp::parse_bound("0086-08-27T02:16:48+11:56").unwrap(),
            TIMESTAMP_MIN
        );
        assert_eq!(
            Timestamp::parse_bound("9999-12-31T00:00:00Z").unwrap(),
            TIMESTAMP_MAX
        );
        for inside in ["2026-03-01", "2026-03-01T12:00:00.5+02:00"] {
            assert_eq!(
                Timestamp::parse_bound(inside).unwrap(),
                Timestamp::parse_date_or_time(inside).unwrap(),
                "{inside}"
            );
        }
        // Only valid dates and times are bounds: a day that does not exist is still refused.
        assert!(Timestamp::parse_bound("2026-02-30").is_err());
        assert!(Timestamp::parse_bound("yesterday").is_err());
        assert!(Timestamp::parse_rfc3339("1969-12-31T23:59:59Z").is_err());
    }

    #[test]
    fn parses_and_formats_known_instants() {
        let t = Timestamp::parse_rfc3339("2024-02-29T23:59:59.123456789Z").unwrap();
        assert_eq!(t.0, 1_709_251_199_123_456_789);
        assert_eq!(t.to_string(), "2024-02-29T23:59:59.123456789Z");
        let t = Timestamp::parse_rfc3339("2024-03-01T01:30:00+02:00").unwrap();
        assert_eq!(t.to_string(), "2024-02-29T23:30:00Z");
        let t = Timestamp::parse_rfc3339("1970-01-01T00:00:00.5z").unwrap();
        assert_eq!(t.0, 500_000_000);
        assert_eq!(t.to_string(), "1970-01-01T00:00:00.5Z");
    }

    #[test]
    fn bare_dates_mean_start_of_day() {
        let t = Timestamp::parse_date_or_time("2024-05-01").unwrap();
        assert_eq!(t.to_string(), "2024-05-01T00:00:00Z");
        assert_eq!(t.utc_day() * NANOS_PER_DAY, t.0);
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "2024-05-01",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T00:00:00",
            "2024-05-01T00:00:00.Z",
            "2024-05-01T00:00:00.1234567891Z",
            "2024-05-01T00:00:00+0200",
            "1969-12-31T23:59:59Z",
            "2262-04-12T00:00:00Z",
            "2024-05-01X00:00:00Z",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "accepted {bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn format_then_parse_is_identity(n in 0i64..i64::MAX) {
            let t = Timestamp(n);
            proptest::prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_string()).unwrap(), t);
        }
    }
}
