//! Time as the core sees it: instants in microseconds since the Unix epoch, read from an
//! injected [`Clock`] so that tests drive deadlines instead of sleeping through them.

use std::fmt;

use time::{Date, Month};

/// An instant, in microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

pub const MICROS_PER_SECOND: i64 = 1_000_000;

impl Timestamp {
    pub const fn from_unix_micros(micros: i64) -> Timestamp {
        Timestamp(micros)
    }

    pub const fn from_unix_seconds(seconds: i64) -> Timestamp {
        Timestamp(seconds * MICROS_PER_SECOND)
    }

    pub fn unix_micros(self) -> i64 {
        self.0
    }

    /// Whole seconds, rounded down.
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(MICROS_PER_SECOND)
    }

    pub fn plus_seconds(self, seconds: i64) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(seconds.saturating_mul(MICROS_PER_SECOND)),
        )
    }

    pub fn plus_micros(self, micros: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(micros))
    }

    /// Calendar fields in UTC: (year, month, day, hour, minute, second, microsecond).
    pub fn to_utc_fields(self) -> CivilTime {
        self.to_fields_with_offset(0)
    }

    /// Calendar fields at a fixed offset east of UTC, in seconds.
    pub fn to_fields_with_offset(self, offset_seconds: i32) -> CivilTime {
        let local = self.0 + i64::from(offset_seconds) * MICROS_PER_SECOND;
        let seconds = local.div_euclid(MICROS_PER_SECOND);
        let microsecond = local.rem_euclid(MICROS_PER_SECOND) as u32;
        let days = seconds.div_euclid(86_400);
        let second_of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        CivilTime {
            year,
            month,
            day,
            hour: (second_of_day / 3600) as u32,
            minute: (second_of_day % 3600 / 60) as u32,
            second: (second_of_day % 60) as u32,
            microsecond,
            offset_seconds,
        }
    }

    /// Builds an instant from UTC calendar fields; `None` for impossible dates. The date is
    /// checked by the `time` crate; a second of 60 (a leap second) is accepted and counts as
    /// the first second of the next minute, as it always has here (`time` refuses it).
    pub fn from_utc_fields(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
        microsecond: u32,
    ) -> Option<Timestamp> {
        if hour > 23 || minute > 59 || second > 60 || microsecond >= 1_000_000 {
            return None;
        }
        let days = days_from_civil(year, month, day)?;
        let seconds = days
            .checked_mul(86_400)?
            .checked_add(i64::from(hour * 3600 + minute * 60 + second))?;
        Some(Timestamp(
            seconds
                .checked_mul(MICROS_PER_SECOND)?
                .checked_add(i64::from(microsecond))?,
        ))
    }

    /// Parses RFC 3339 / ISO 8601 date-times with seconds and an offset or `Z`
    /// (`2020-12-13T15:52:00+00:00`, `2020-12-13T15:52:00.5Z`); also the compact offset
    /// `+0300`. `None` for anything else.
    ///
    /// The reading of the text stays ours (the dates are checked by `time` through
    /// [`Timestamp::from_utc_fields`]): `time`'s `Rfc3339` parser refuses what the dialects
    /// have always accepted here and clients send — the compact offset `+0300` (Softline's
    /// test vectors), a space between date and time, more than nine fraction digits — and
    /// treats a leap second differently; switching would change what the wire accepts.
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let bytes = text.as_bytes();
        if bytes.len() < 20
            || bytes.len() > 40
            || bytes[4] != b'-'
            || bytes[7] != b'-'
            || !matches!(bytes[10], b'T' | b't' | b' ')
            || bytes[13] != b':'
            || bytes[16] != b':'
        {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<u32> {
            let part = text.get(range)?;
            if part.bytes().all(|byte| byte.is_ascii_digit()) {
                part.parse().ok()
            } else {
                None
            }
        };
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        let mut position = 19;
        let mut microsecond = 0u32;
        if bytes.get(position) == Some(&b'.') {
            let start = position + 1;
            let mut end = start;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
            if end == start {
                return None;
            }
            let digits = &text[start..end.min(start + 6)];
            microsecond = format!("{digits:0<6}").parse().ok()?;
            position = end;
        }
        let offset_seconds: i64 = match &text[position..] {
            "Z" | "z" => 0,
            rest if rest.len() == 6
                && (rest.starts_with('+') || rest.starts_with('-'))
                && rest.as_bytes()[3] == b':' =>
            {
                let sign = if rest.starts_with('-') { -1 } else { 1 };
                sign * (i64::from(number(position + 1..position + 3)?) * 3600
                    + i64::from(number(position + 4..position + 6)?) * 60)
            }
            rest if rest.len() == 5 && (rest.starts_with('+') || rest.starts_with('-')) => {
                let sign = if rest.starts_with('-') { -1 } else { 1 };
                sign * (i64::from(number(position + 1..position + 3)?) * 3600
                    + i64::from(number(position + 3..position + 5)?) * 60)
            }
            _ => return None,
        };
        let local = Timestamp::from_utc_fields(
            i64::from(year),
            month,
            day,
            hour,
            minute,
            second.min(59),
            microsecond,
        )?;
        Some(local.plus_seconds(-offset_seconds))
    }

    /// RFC 3339 in UTC with milliseconds (`2020-08-26T08:25:37.000Z`).
    ///
    /// The calendar fields come from `time`; the text is written here because no `time`
    /// formatter writes exactly this: its `Rfc3339` writes as many fraction digits as the
    /// instant needs (none for a whole second), and its ISO 8601 and custom formats refuse or
    /// sign years outside 0000–9999, which this has always written as `{:04}` does.
    pub fn to_rfc3339_millis(self) -> String {
        let fields = self.to_utc_fields();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            fields.year,
            fields.month,
            fields.day,
            fields.hour,
            fields.minute,
            fields.second,
            fields.microsecond / 1000
        )
    }
}

/// Calendar fields of an instant at some offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub microsecond: u32,
    pub offset_seconds: i32,
}

/// The Julian day number of 1970-01-01, the Unix epoch.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// Days since the Unix epoch of a proleptic Gregorian date; `None` for an impossible date or a
/// year beyond `time`'s ±999,999 (far outside any instant a `Timestamp` can hold).
fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    Some(i64::from(date.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY)
}

/// The proleptic Gregorian date `days` after the Unix epoch.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Every microsecond instant an i64 holds lies within ±292,278 years of 1970, inside the
    // ±999,999 years `time` covers with `large-dates`, so the conversion cannot fail; the
    // clamp keeps this function total without a panic path.
    let date = days
        .checked_add(UNIX_EPOCH_JULIAN_DAY)
        .and_then(|julian| i32::try_from(julian).ok())
        .and_then(|julian| Date::from_julian_day(julian).ok())
        .unwrap_or(if days < 0 { Date::MIN } else { Date::MAX });
    let (year, month, day) = date.to_calendar_date();
    (i64::from(year), u32::from(u8::from(month)), u32::from(day))
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_rfc3339_millis())
    }
}

/// Where the current time comes from. The server uses the system clock; tests use a clock
/// they move by hand.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            Timestamp::from_unix_seconds(0).to_rfc3339_millis(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_seconds(1_598_430_337).to_rfc3339_millis(),
            "2020-08-26T08:25:37.000Z"
        );
        let fields =
            Timestamp::from_unix_micros(1_572_571_847_797_788).to_fields_with_offset(3 * 3600);
        assert_eq!(
            (
                fields.year,
                fields.month,
                fields.day,
                fields.hour,
                fields.minute
            ),
            (2019, 11, 1, 4, 30)
        );
        assert_eq!(fields.microsecond, 797_788);
    }

    #[test]
    fn parses_rfc3339() {
        assert_eq!(
            Timestamp::parse_rfc3339("2020-12-13T15:52:00+00:00"),
            Some(Timestamp::from_unix_seconds(1_607_874_720))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2020-12-13T18:52:00+03:00"),
            Some(Timestamp::from_unix_seconds(1_607_874_720))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2020-12-13T15:52:00Z"),
            Some(Timestamp::from_unix_seconds(1_607_874_720))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2019-11-01T04:30:47.797788+0300"),
            Some(Timestamp::from_unix_micros(1_572_571_847_797_788))
        );
        for bad in [
            "2020-12-13",
            "2020-13-13T15:52:00Z",
            "2020-12-13T15:52:00",
            "x",
            "2020-12-13T15:52:00+0",
            "2020-12-13T15:52:00+0é00",
            "2020-12-13T15:52:0é+00:00",
            "2020-12-13T15:52:00.é+00:00",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn refuses_impossible_dates() {
        assert!(Timestamp::from_utc_fields(2023, 2, 29, 0, 0, 0, 0).is_none());
        assert!(Timestamp::from_utc_fields(2024, 2, 29, 0, 0, 0, 0).is_some());
        assert!(Timestamp::from_utc_fields(2024, 13, 1, 0, 0, 0, 0).is_none());
    }

    /// Howard Hinnant's algorithms, which `time` replaced, kept to prove the fields unchanged.
    mod former {
        pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
            let year = if month <= 2 { year - 1 } else { year };
            let era = year.div_euclid(400);
            let year_of_era = year - era * 400;
            let month = i64::from(month);
            let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5
                + i64::from(day)
                - 1;
            let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
            era * 146_097 + day_of_era - 719_468
        }

        pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
            let days = days + 719_468;
            let era = days.div_euclid(146_097);
            let day_of_era = days - era * 146_097;
            let year_of_era =
                (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
            let day_of_year =
                day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
            let month_index = (5 * day_of_year + 2) / 153;
            let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
            let month = if month_index < 10 {
                month_index + 3
            } else {
                month_index - 9
            } as u32;
            let year = year_of_era + era * 400 + i64::from(month <= 2);
            (year, month, day)
        }
    }

    #[test]
    fn extremes_keep_their_former_text() {
        for micros in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
            let days = micros.div_euclid(MICROS_PER_SECOND).div_euclid(86_400);
            assert_eq!(
                civil_from_days(days),
                former::civil_from_days(days),
                "{micros}"
            );
        }
        assert_eq!(
            Timestamp::from_unix_micros(i64::MAX).to_rfc3339_millis(),
            "294247-01-10T04:00:54.775Z"
        );
        assert_eq!(
            Timestamp::from_unix_micros(i64::MIN).to_rfc3339_millis(),
            "-290308-12-21T19:59:05.224Z"
        );
        assert_eq!(
            Timestamp::from_unix_seconds(-62_167_219_200 - 86_400).to_rfc3339_millis(),
            "-001-12-31T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_seconds(253_402_300_800).to_rfc3339_millis(),
            "10000-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn leap_seconds_count_as_the_next_minute() {
        assert_eq!(
            Timestamp::from_utc_fields(2016, 12, 31, 23, 59, 60, 0),
            Timestamp::from_utc_fields(2017, 1, 1, 0, 0, 0, 0)
        );
        assert_eq!(
            Timestamp::from_utc_fields(2016, 12, 31, 23, 59, 61, 0),
            None
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2016-12-31T23:59:60Z"),
            Timestamp::from_utc_fields(2016, 12, 31, 23, 59, 59, 0)
        );
        for (year, month, day) in [(2023, 0, 1), (2023, 1, 0), (2023, 4, 31), (1900, 2, 29)] {
            assert_eq!(
                Timestamp::from_utc_fields(year, month, day, 0, 0, 0, 0),
                None,
                "{year}-{month}-{day}"
            );
        }
        assert_eq!(
            Timestamp::from_utc_fields(i64::MAX, 1, 1, 0, 0, 0, 0),
            None,
            "a year no instant reaches"
        );
        assert_eq!(Timestamp::from_utc_fields(300_000, 1, 1, 0, 0, 0, 0), None);
    }

    proptest! {
        #[test]
        fn calendar_agrees_with_the_former_algorithms(days in -106_751_991i64..106_751_991) {
            let (year, month, day) = civil_from_days(days);
            prop_assert_eq!((year, month, day), former::civil_from_days(days));
            prop_assert_eq!(days_from_civil(year, month, day), Some(former::days_from_civil(year, month, day)));
        }

        #[test]
        fn civil_fields_round_trip(micros in -10_000_000_000_000_000i64..10_000_000_000_000_000) {
            let instant = Timestamp::from_unix_micros(micros);
            let fields = instant.to_utc_fields();
            let back = Timestamp::from_utc_fields(fields.year, fields.month, fields.day, fields.hour, fields.minute, fields.second, fields.microsecond).unwrap();
            prop_assert_eq!(back, instant);
        }
    }
}
