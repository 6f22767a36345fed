//! ISO-8601 UTC timestamps as JavaScript's `Date.toISOString()` writes them
//! (`2026-10-04T11:48:00.000Z`), converted to and from Unix milliseconds.
//! Hand-written (a few lines of civil-calendar arithmetic) so the core
//! needs no date crate and no clock.

use super::ModelError;

const MS_PER_DAY: i64 = 86_400_000;

/// Milliseconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
pub fn parse_ms(field: &str, s: &str) -> Result<i64, ModelError> {
    parse_inner(s).ok_or_else(|| ModelError::BadTimestamp {
        field: field.into(),
        value: s.chars().take(40).collect(),
    })
}

fn parse_inner(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > 24 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = s.get(from..to)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let millis = match b.len() {
        20 => 0,
        24 if b[19] == b'.' => num(20, 23)?,
        _ => return None,
    };
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then(|| {
        days_from_civil(year, month, day) * MS_PER_DAY
            + ((hour * 60 + minute) * 60 + second) * 1000
            + millis
    })
}

/// `YYYY-MM-DDTHH:MM:SS.fffZ` for Unix milliseconds (years 0..=9999).
pub fn format_ms(ms: i64) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let rest = ms.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (secs, millis) = (rest / 1000, rest % 1000);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `YYYY-MM` of a valid timestamp: the month shard of a game session.
pub fn month_of(field: &str, s: &str) -> Result<String, ModelError> {
    parse_ms(field, s)?;
    Ok(s[..7].to_string())
}

/// Adds whole days to a timestamp in milliseconds.
pub fn add_days(ms: i64, days: i64) -> i64 {
    ms.saturating_add(days.saturating_mul(MS_PER_DAY))
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

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
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
    fn known_instants() {
        assert_eq!(parse_ms("t", "1970-01-01T00:00:00.000Z"), Ok(0));
        assert_eq!(parse_ms("t", "2000-03-01T00:00:00Z"), Ok(951_868_800_000));
        let s = "2026-10-04T11:48:00.123Z";
        assert_eq!(format_ms(parse_ms("t", s).unwrap()), s);
        assert_eq!(
            format_ms(add_days(
                parse_ms("t", "2024-02-28T10:00:00.000Z").unwrap(),
                1
            )),
            "2024-02-29T10:00:00.000Z"
        );
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-10-04 11:48:00Z",
            "2026-10-04T11:48:00.1Z",
            "2026-10-04T11:48:00+01:00",
            "२०२६-10-04T11:48:00Z",
        ] {
            assert!(parse_ms("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn month_shard() {
        assert_eq!(
            month_of("t", "2026-10-28T21:15:00.000Z").unwrap(),
            "2026-10"
        );
        assert!(month_of("t", "2026-10").is_err());
    }
}
