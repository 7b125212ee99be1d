//! Durations, sizes, rates and bandwidths in the notations a scenario file uses.
//!
//! Durations: a number with `ns`, `us`, `ms`, `s`, `m` or `h` (`500ms`, `1.5s`, `2m`), decimals
//! exact to the nanosecond. Sizes use
//! redis.conf's memory notation (`1mb` = 1048576, `1m` = 1000000, `64kb`, `2gb`, a bare number of
//! bytes). Bandwidths are bits per second with `kbit`, `mbit`, `gbit` (powers of 1000), or `0` for
//! unlimited. Percentages are given as `"0.1%"` and kept as parts per million.

use crate::redis::config::{parse_memory, split_unit};
use crate::time::SimDuration;

/// Parses a duration. Returns an explanation on failure. Unlike a redis.conf value, a scenario
/// duration must name its unit. Decimals are exact: `"1.5s"` is 1,500,000,000 ns, computed on
/// the digits as written with no floating point, and a value finer than a nanosecond
/// (`"1.5ns"`) is refused rather than rounded.
pub fn duration(s: &str) -> Result<SimDuration, String> {
    let t = s.trim();
    if t.is_empty() || !t.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "expected a duration such as \"500ms\", \"1.5s\" or \"2m\", found \"{s}\""
        ));
    }
    let number_end = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(number_end);
    let ns_per_unit: u128 = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => {
            return Err(format!(
                "duration \"{s}\" needs a unit: ns, us, ms, s, m or h"
            ))
        }
        _ => {
            return Err(format!(
                "unknown duration unit \"{unit}\" in \"{s}\" (use ns, us, ms, s, m or h)"
            ))
        }
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.contains('.') || number.ends_with('.') {
        return Err(format!(
            "expected a duration such as \"500ms\" or \"1.5s\", found \"{s}\""
        ));
    }
    let too_large = || format!("duration \"{s}\" is too large");
    // At most 18 decimals keep 10^decimals inside a u64; no unit needs more to reach 1 ns.
    if whole.len() > 20 || fraction.len() > 18 {
        return Err(if whole.len() > 20 {
            too_large()
        } else {
            format!("duration \"{s}\" has more decimals than a nanosecond needs")
        });
    }
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| too_large())?
    };
    let fraction_ns = fraction * ns_per_unit;
    if fraction_ns % scale != 0 {
        return Err(format!(
            "duration \"{s}\" is finer than a nanosecond, the simulator's resolution"
        ));
    }
    let ns = whole * ns_per_unit + fraction_ns / scale;
    u64::try_from(ns)
        .map(SimDuration::from_nanos)
        .map_err(|_| too_large())
}

/// Parses a size in redis.conf notation.
pub fn size(s: &str) -> Result<u64, String> {
    parse_memory(s).ok_or_else(|| {
        format!("expected a size such as \"64kb\", \"1mb\" or \"2gb\", found \"{s}\"")
    })
}

/// Parses a bandwidth into bits per second.
pub fn bandwidth(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    if t == "0" || t == "unlimited" {
        return Ok(0);
    }
    const UNITS: &[(&str, u64)] = &[
        ("gbit", 1_000_000_000),
        ("mbit", 1_000_000),
        ("kbit", 1_000),
        ("bit", 1),
    ];
    let Some((digits, mul)) = split_unit(&t, UNITS) else {
        return Err(format!("expected a bandwidth such as \"1gbit\", \"100mbit\" or \"0\" (unlimited), found \"{s}\""));
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("expected a bandwidth such as \"1gbit\", found \"{s}\""))?;
    n.checked_mul(mul)
        .ok_or_else(|| format!("bandwidth \"{s}\" is too large"))
}

/// Parses a percentage (`"0.5%"`, `"2%"`) into parts per million.
pub fn percent_ppm(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let body = t
        .strip_suffix('%')
        .ok_or_else(|| format!("expected a percentage such as \"0.1%\", found \"{s}\""))?;
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 4
    {
        return Err(format!(
            "expected a percentage such as \"0.1%\" (at most 4 decimals), found \"{s}\""
        ));
    }
    let whole: u64 = int
        .parse()
        .map_err(|_| format!("percentage \"{s}\" is too large"))?;
    let mut f = frac.to_string();
    while f.len() < 4 {
        f.push('0');
    }
    let ppm = whole * 10_000 + f.parse::<u64>().unwrap_or(0);
    if ppm > 1_000_000 {
        return Err(format!("percentage \"{s}\" is over 100%"));
    }
    Ok(ppm as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_and_explain() {
        assert_eq!(duration("500ms").unwrap(), SimDuration::from_millis(500));
        assert_eq!(duration("2m").unwrap(), SimDuration::from_secs(120));
        assert!(duration("-1s").unwrap_err().contains("expected a duration"));
        assert!(duration("10").unwrap_err().contains("needs a unit"));
        assert!(duration("10 parsecs")
            .unwrap_err()
            .contains("unknown duration unit"));
        // (written, nanoseconds, or a fragment of the error)
        let decimals: &[(&str, Result<u64, &str>)] = &[
            ("1.5s", Ok(1_500_000_000)),
            ("0.25ms", Ok(250_000)),
            ("2.5m", Ok(150_000_000_000)),
            ("0.001us", Ok(1)),
            ("1.000000001s", Ok(1_000_000_001)),
            ("1.0000000001s", Err("finer than a nanosecond")),
            ("1.5ns", Err("finer than a nanosecond")),
            ("1.s", Err("expected a duration")),
            ("1..5s", Err("expected a duration")),
            ("1.2.3s", Err("expected a duration")),
            (".5s", Err("expected a duration")),
            ("0.0000000000000000001h", Err("more decimals")),
            ("5124095.576030431h", Ok(18_446_744_073_709_551_600)),
            ("5124096h", Err("too large")),
            ("99999999999999999999999h", Err("too large")),
        ];
        for (text, want) in decimals {
            let got = duration(text).map(SimDuration::as_nanos);
            match (want, &got) {
                (Ok(ns), Ok(g)) => assert_eq!(g, ns, "{text}"),
                (Err(fragment), Err(e)) => assert!(e.contains(fragment), "{text}: {e}"),
                _ => panic!("{text}: expected {want:?}, got {got:?}"),
            }
        }
        assert_eq!(size("1mb").unwrap(), 1 << 20);
        assert!(size("1.5mb").is_err());
        assert_eq!(bandwidth("1gbit").unwrap(), 1_000_000_000);
        assert_eq!(bandwidth("0").unwrap(), 0);
        assert!(bandwidth("1gb").is_err());
        assert_eq!(percent_ppm("0.1%").unwrap(), 1000);
        assert_eq!(percent_ppm("100%").unwrap(), 1_000_000);
        assert!(percent_ppm("101%").is_err());
        assert!(percent_ppm("5").is_err());
    }
}
