//! Log lines in Redis's format (server.c `serverLogRaw`):
//! `<pid>:<role> <DD Mon YYYY HH:MM:SS.mmm> <level> <message>`, e.g.
//! `11296:M 25 May 2020 17:37:14.652 * Ready to accept connections`.
//!
//! The clock is simulated: a run starts at [`EPOCH_UNIX_SECS`] and log times are that plus
//! simulated time. The same epoch gives `ctime` in RDBs and absolute expiry times.

use std::fmt;

use crate::time::SimTime;

/// Unix time of simulated time zero: 2024-01-01 00:00:00 UTC.
pub const EPOCH_UNIX_SECS: u64 = 1_704_067_200;

/// Unix milliseconds at simulated instant `t`.
pub fn unix_ms(t: SimTime) -> u64 {
    EPOCH_UNIX_SECS * 1000 + t.as_millis()
}

/// Unix seconds at simulated instant `t` (Redis's `server.unixtime`).
pub fn unix_secs(t: SimTime) -> u64 {
    EPOCH_UNIX_SECS + t.as_secs()
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Verbose,
    Notice,
    Warning,
}

impl Level {
    pub fn symbol(self) -> char {
        match self {
            Level::Debug => '.',
            Level::Verbose => '-',
            Level::Notice => '*',
            Level::Warning => '#',
        }
    }
}

/// One log line, before formatting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub time: SimTime,
    pub pid: u32,
    /// `M` master, `S` replica, `C` fork child.
    pub role: char,
    pub level: Level,
    pub message: String,
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = unix_ms(self.time);
        let secs = ms / 1000;
        let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
        let sod = secs % 86_400;
        write!(
            f,
            "{}:{} {:02} {} {} {:02}:{:02}:{:02}.{:03} {} {}",
            self.pid,
            self.role,
            d,
            MONTHS[(mo - 1) as usize],
            y,
            sod / 3600,
            (sod / 60) % 60,
            sod % 60,
            ms % 1000,
            self.level.symbol(),
            self.message
        )
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// C's `ctime_r` without its newline, in UTC: `Www Mmm dd hh:mm:ss yyyy`, the day of the month
/// padded with a space (`Mon Jan  1 00:00:00 2024`). Sentinel writes times so in its log.
pub fn ctime(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let days = unix_secs / 86_400;
    let (y, mo, d) = civil_from_days(days as i64);
    let sod = unix_secs % 86_400;
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS[(days % 7) as usize],
        MONTHS[(mo - 1) as usize],
        d,
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        y
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;

    #[test]
    fn formats_like_redis() {
        let line = LogLine {
            time: SimTime::ZERO + SimDuration::from_millis(3_723_456),
            pid: 11296,
            role: 'M',
            level: Level::Notice,
            message: "Ready to accept connections".into(),
        };
        assert_eq!(
            line.to_string(),
            "11296:M 01 Jan 2024 01:02:03.456 * Ready to accept connections"
        );
    }

    #[test]
    fn ctime_is_cs_format_in_utc() {
        // 2026-11-29 23:10:34 UTC, a Sunday, as Sentinel's log wrote it.
        assert_eq!(ctime(1_795_993_834), "Sun Nov 29 23:10:34 2026");
        assert_eq!(ctime(EPOCH_UNIX_SECS), "Mon Jan  1 00:00:00 2024");
    }

    #[test]
    fn civil_dates_cross_months_and_leap_years() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(19_783), (2024, 3, 1));
    }
}
