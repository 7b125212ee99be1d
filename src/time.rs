//! Simulated time: [`SimTime`] (an instant) and [`SimDuration`] (a span), both whole nanoseconds.
//!
//! This is a leaf module of plain value types. Every layer uses it, including the sans-IO node,
//! which otherwise depends on nothing else in the crate. It owns no clock: nothing here can read
//! the wall clock, and nothing but the engine ever advances time.
//!
//! Nanoseconds rather than microseconds because serialisation delays are small: 100 bytes at
//! 1 Gbit/s take 800 ns, and rounding each write to a whole microsecond would drift. A `u64` of
//! nanoseconds covers 584 years, and arithmetic saturates rather than wraps.

use std::fmt;
use std::ops::{Add, AddAssign, Mul, Sub};

/// An instant of simulated time, in nanoseconds since the start of the run.
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(u64);

/// A span of simulated time, in nanoseconds.
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(u64);

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);

    pub const fn from_nanos(ns: u64) -> SimTime {
        SimTime(ns)
    }
    pub const fn from_micros(us: u64) -> SimTime {
        SimTime(us.saturating_mul(NANOS_PER_MICRO))
    }
    pub const fn from_millis(ms: u64) -> SimTime {
        SimTime(ms.saturating_mul(NANOS_PER_MILLI))
    }
    pub const fn from_secs(s: u64) -> SimTime {
        SimTime(s.saturating_mul(NANOS_PER_SEC))
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    pub const fn as_micros(self) -> u64 {
        self.0 / NANOS_PER_MICRO
    }
    pub const fn as_millis(self) -> u64 {
        self.0 / NANOS_PER_MILLI
    }
    /// Whole seconds, rounded down. Redis compares times in whole seconds (`unixtime`), and the
    /// node uses this for those comparisons.
    pub const fn as_secs(self) -> u64 {
        self.0 / NANOS_PER_SEC
    }
    /// The span from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    pub const fn from_nanos(ns: u64) -> SimDuration {
        SimDuration(ns)
    }
    pub const fn from_micros(us: u64) -> SimDuration {
        SimDuration(us.saturating_mul(NANOS_PER_MICRO))
    }
    pub const fn from_millis(ms: u64) -> SimDuration {
        SimDuration(ms.saturating_mul(NANOS_PER_MILLI))
    }
    pub const fn from_secs(s: u64) -> SimDuration {
        SimDuration(s.saturating_mul(NANOS_PER_SEC))
    }
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    pub const fn as_micros(self) -> u64 {
        self.0 / NANOS_PER_MICRO
    }
    pub const fn as_millis(self) -> u64 {
        self.0 / NANOS_PER_MILLI
    }
    pub const fn as_secs(self) -> u64 {
        self.0 / NANOS_PER_SEC
    }
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The time `bytes` take to serialise onto a link of `bits_per_sec`, rounded up to a whole
    /// nanosecond. A bandwidth of 0 means unlimited (no serialisation delay).
    #[inline]
    pub fn transmit(bytes: u64, bits_per_sec: u64) -> SimDuration {
        Self::transmit_at(bytes, bits_per_sec, femtos_per_byte(bits_per_sec))
    }

    /// [`transmit`](Self::transmit) with `femtos_per_byte(bits_per_sec)` computed ahead, so a
    /// link that times every write pays no division for it.
    #[inline]
    pub fn transmit_at(bytes: u64, bits_per_sec: u64, femtos_per_byte: Option<u64>) -> SimDuration {
        if bits_per_sec == 0 {
            return SimDuration::ZERO;
        }
        // Fast path, exact: the product fits a u64 for any single write below a few gigabytes.
        if let Some(fs) = femtos_per_byte.and_then(|f| bytes.checked_mul(f)) {
            return SimDuration(fs.div_ceil(1_000_000));
        }
        let bits = bytes as u128 * 8 * NANOS_PER_SEC as u128;
        let ns = bits.div_ceil(bits_per_sec as u128);
        SimDuration(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

/// The femtoseconds one byte takes at `bits_per_sec`, when that is a whole number (any bandwidth
/// that divides 8·10^15 b/s, which covers every round figure from 1 bit/s to 8 Pbit/s).
pub fn femtos_per_byte(bits_per_sec: u64) -> Option<u64> {
    const FEMTOS_PER_BYTE_AT_1BPS: u64 = 8 * 1_000_000 * NANOS_PER_SEC;
    (bits_per_sec != 0 && FEMTOS_PER_BYTE_AT_1BPS % bits_per_sec == 0)
        .then(|| FEMTOS_PER_BYTE_AT_1BPS / bits_per_sec)
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}

impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    fn sub(self, earlier: SimTime) -> SimDuration {
        self.since(earlier)
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, d: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(d.0))
    }
}

impl AddAssign for SimDuration {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}

impl Mul<u64> for SimDuration {
    type Output = SimDuration;
    fn mul(self, k: u64) -> SimDuration {
        SimDuration(self.0.saturating_mul(k))
    }
}

/// Prints seconds with millisecond precision, e.g. `12.345s`.
impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:03}s",
            self.0 / NANOS_PER_SEC,
            (self.0 % NANOS_PER_SEC) / NANOS_PER_MILLI
        )
    }
}

impl fmt::Debug for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SimTime({}ns)", self.0)
    }
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns % NANOS_PER_SEC == 0 {
            write!(f, "{}s", ns / NANOS_PER_SEC)
        } else if ns % NANOS_PER_MILLI == 0 {
            write!(f, "{}ms", ns / NANOS_PER_MILLI)
        } else if ns % NANOS_PER_MICRO == 0 {
            write!(f, "{}us", ns / NANOS_PER_MICRO)
        } else {
            write!(f, "{}ns", ns)
        }
    }
}

impl fmt::Debug for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SimDuration({})", self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_megabyte_over_one_gigabit_takes_8_ms_and_a_bit() {
        // 1 MB = 1,048,576 bytes = 8,388,608 bits; at 10^9 bit/s that is 8,388,608 ns.
        assert_eq!(
            SimDuration::transmit(1 << 20, 1_000_000_000).as_nanos(),
            8_388_608
        );
    }

    #[test]
    fn transmit_rounds_up_and_zero_bandwidth_is_unlimited() {
        assert_eq!(SimDuration::transmit(1, 3_000_000_000).as_nanos(), 3);
        assert_eq!(SimDuration::transmit(3, 3_000_000_000).as_nanos(), 8);
        assert_eq!(SimDuration::transmit(1, 100_000_000).as_nanos(), 80);
        assert_eq!(SimDuration::transmit(5, 7_000_000).as_nanos(), 5_715);
        assert_eq!(SimDuration::transmit(1 << 30, 0), SimDuration::ZERO);
    }

    #[test]
    fn precomputed_femtos_per_byte_give_the_exact_delay() {
        assert_eq!(femtos_per_byte(1_000_000_000), Some(8_000_000));
        assert_eq!(femtos_per_byte(3_000_000_000), None);
        assert_eq!(femtos_per_byte(0), None);
        for (bytes, bps) in [
            (1, 1_000_000_000),
            (1 << 20, 1_000_000_000),
            (7, 100_000_000),
            (u64::MAX / 2, 1_000_000_000),
            (5, 7_000_000),
        ] {
            let exact = (bytes as u128 * 8 * 1_000_000_000).div_ceil(bps as u128);
            let got = SimDuration::transmit_at(bytes, bps, femtos_per_byte(bps)).as_nanos();
            assert_eq!(
                u128::from(got),
                exact.min(u128::from(u64::MAX)),
                "{bytes} bytes at {bps} b/s"
            );
        }
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(SimTime::MAX + SimDuration::from_secs(1), SimTime::MAX);
        assert_eq!(SimTime::ZERO - SimTime::from_secs(1), SimDuration::ZERO);
    }

    #[test]
    fn display_is_readable() {
        assert_eq!(SimTime::from_millis(12_345).to_string(), "12.345s");
        assert_eq!(SimDuration::from_millis(500).to_string(), "500ms");
        assert_eq!(SimDuration::from_secs(60).to_string(), "60s");
    }
}
