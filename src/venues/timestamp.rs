//! RFC 3339 / ISO 8601 timestamps as venues write them (`2026-08-09T21:05:48.228568804Z`,
//! `2016-04-08T17:52:31.000+0000`) to integer nanoseconds since the Unix epoch, without
//! allocation. Times before 1970 or past what i64 nanoseconds hold (2262-04-11) are
//! refused, never wrapped.

/// Days from 1970-01-01 to the given civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(s: &[u8]) -> Option<u32> {
    s.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` → ns. `None` for anything else (offsets other than Z
/// are not used by the venues we parse).
pub fn rfc3339_ns(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, minute, second) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let rest = &b[19..];
    let (fraction, tail) = match rest.first() {
        Some(b'.') => {
            let end = rest[1..]
                .iter()
                .position(|c| !c.is_ascii_digit())
                .map_or(rest.len(), |p| p + 1);
            (&rest[1..end], &rest[end..])
        }
        _ => (&rest[..0], rest),
    };
    if fraction.len() > 9 {
        return None;
    }
    let offset_s = offset_seconds(tail)?;
    let mut nanos = i64::from(digits(fraction)?);
    for _ in fraction.len()..9 {
        nanos *= 10;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second) - offset_s;
    secs.checked_mul(1_000_000_000)?
        .checked_add(nanos)
        .filter(|ns| *ns >= 0)
}

/// `Z`, `+HH:MM`, `-HH:MM`, `+HHMM` or `+HH` (Bitso writes `+0000`) as seconds east of UTC.
fn offset_seconds(tail: &[u8]) -> Option<i64> {
    let sign = match tail.first()? {
        b'Z' if tail.len() == 1 => return Some(0),
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = match &tail[1..] {
        [h1, h2] => ([*h1, *h2], [b'0', b'0']),
        [h1, h2, m1, m2] | [h1, h2, b':', m1, m2] => ([*h1, *h2], [*m1, *m2]),
        _ => return None,
    };
    let (h, m) = (digits(&h)?, digits(&m)?);
    (h <= 23 && m <= 59).then(|| sign * (i64::from(h) * 3600 + i64::from(m) * 60))
}

#[cfg(test)]
mod tests {
    use super::rfc3339_ns;

    #[test]
    fn venue_timestamps() {
        // Reference values from `date -u -d '…' +%s%N`.
        for (text, ns) in [
            ("1970-01-01T00:00:00Z", 0),
            ("2026-08-09T21:05:48.228568804Z", 1_786_309_548_228_568_804),
            ("2026-08-09T21:05:42.514318Z", 1_786_309_542_514_318_000),
            ("2024-02-29T23:59:59.5Z", 1_709_251_199_500_000_000),
            ("2000-03-01T00:00:00.000000001Z", 951_868_800_000_000_001),
            ("2262-04-11T23:47:16.854775807Z", i64::MAX),
            ("2026-08-09T22:05:48.228568804+01:00", 1_786_309_548_228_568_804),
            ("2016-04-08T17:52:31.000+0000", 1_460_137_951_000_000_000),
            ("2026-08-09T16:35:42.514318-04:30", 1_786_309_542_514_318_000),
        ] {
            assert_eq!(rfc3339_ns(text), Some(ns), "{text}");
        }
        for bad in [
            "2026-08-09T21:05:48+1:00",
            "2026-08-09T21:05:48+01:60",
            "2026-08-09T21:05:48Z+01",
            "2026-13-09T21:05:48Z",
            "yesterday",
            "2026-08-09T21:05:48.1234567891Z",
            "2300-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(rfc3339_ns(bad), None, "{bad}");
        }
    }
}
