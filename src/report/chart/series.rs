//! Series as the charts draw them, as pure functions of numbers: gaps, pixel columns, steps,
//! rates and the units an axis is read in. Nothing here draws.

/// Segments of consecutive present points, so gaps (no master, node down) are not bridged.
pub fn segments(t: &[f64], ys: &[Option<f64>]) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for (x, y) in t.iter().zip(ys) {
        match y {
            Some(y) => cur.push((*x, *y)),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The points of one pixel column: their least, greatest and mean value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Column {
    /// The column's middle, in data units.
    pub x: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
}

/// A segment as the plot can show it: the points themselves where there are few enough for
/// each to have its own pixel, or else one `Column` per pixel column, so that a peak survives as
/// the column's maximum however many points share it, and noise becomes an envelope.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Points(Vec<(f64, f64)>),
    Columns(Vec<Column>),
}

/// Reduces `seg` (points in time order) to what `columns` pixel columns across `x0..x1` can
/// show. Points are kept as they are while there are at most two per column the segment
/// spans; a denser segment becomes columns.
pub fn shape(seg: &[(f64, f64)], x0: f64, x1: f64, columns: usize) -> Shape {
    let (Some(first), Some(last)) = (seg.first(), seg.last()) else {
        return Shape::Points(Vec::new());
    };
    let width = (x1 - x0) / columns.max(1) as f64;
    let col = |x: f64| (((x - x0) / width).floor().max(0.0) as usize).min(columns.max(1) - 1);
    let spanned = col(last.0) - col(first.0) + 1;
    if seg.len() <= 2 * spanned {
        return Shape::Points(seg.to_vec());
    }
    let mut out: Vec<Column> = Vec::with_capacity(spanned);
    let mut current = usize::MAX;
    let (mut sum, mut n) = (0.0, 0usize);
    for &(x, y) in seg {
        let c = col(x);
        if c != current {
            if let Some(last) = out.last_mut() {
                last.mean = sum / n as f64;
            }
            out.push(Column {
                x: x0 + (c as f64 + 0.5) * width,
                min: y,
                max: y,
                mean: y,
            });
            current = c;
            (sum, n) = (0.0, 0);
        }
        let last = out.last_mut().expect("a column was just pushed");
        last.min = last.min.min(y);
        last.max = last.max.max(y);
        sum += y;
        n += 1;
    }
    if let Some(last) = out.last_mut() {
        last.mean = sum / n as f64;
    }
    Shape::Columns(out)
}

/// A step series: one `(start, end, value)` run per stretch of equal present values, each
/// ending where the next sample begins (or at the last sample).
pub fn steps(t: &[f64], ys: &[Option<f64>]) -> Vec<(f64, f64, f64)> {
    let mut out: Vec<(f64, f64, f64)> = Vec::new();
    let mut open: Option<(f64, f64)> = None;
    for (k, (&x, y)) in t.iter().zip(ys).enumerate() {
        match (open, y) {
            (Some((_, v)), Some(y)) if *y == v => {}
            (Some((start, v)), _) => {
                out.push((start, x, v));
                open = y.map(|y| (x, y));
            }
            (None, Some(y)) => open = Some((x, *y)),
            (None, None) => {}
        }
        if k + 1 == t.len() {
            if let Some((start, v)) = open {
                out.push((start, x, v));
            }
        }
    }
    out
}

/// Per-second rates from cumulative counters, each over the trailing second (or sample
/// interval, if longer), so sampling granularity does not show as noise.
pub fn rates(t: &[f64], cum: &[f64]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(t.len());
    let mut j = 0;
    for i in 1..t.len().min(cum.len()) {
        while j + 1 < i && t[i] - t[j + 1] >= 1.0 {
            j += 1;
        }
        if t[i] > t[j] {
            out.push((t[i], (cum[i] - cum[j]) / (t[i] - t[j])));
        }
    }
    out
}

/// 1536 → "1.5 KB".
pub fn human_bytes(v: f64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut x = v;
    let mut u = 0;
    while x.abs() >= 1024.0 && u < units.len() - 1 {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 || x.abs() >= 100.0 {
        format!("{x:.0} {}", units[u])
    } else {
        format!("{x:.1} {}", units[u])
    }
}

/// The binary unit a byte axis reading up to `max` is drawn in, so its ticks are round numbers.
pub fn byte_unit(max: f64) -> (f64, &'static str) {
    let units = [
        (1.0, "B"),
        (1024.0, "KB"),
        (1048576.0, "MB"),
        (1073741824.0, "GB"),
    ];
    units
        .iter()
        .rev()
        .find(|(d, _)| max / d >= 2.0)
        .copied()
        .unwrap_or((1.0, "B"))
}

/// The unit a time axis reading up to `max_s` seconds is drawn in: microseconds below a
/// millisecond, milliseconds below a second, else seconds. Returns the divisor in seconds.
pub fn time_unit(max_s: f64) -> (f64, &'static str) {
    if max_s <= 0.0 {
        (1e-3, "ms")
    } else if max_s < 1e-3 {
        (1e-6, "µs")
    } else if max_s < 1.0 {
        (1e-3, "ms")
    } else {
        (1.0, "s")
    }
}

/// A duration in seconds as text in the unit that suits it: "850 µs", "12.5 ms", "3.20 s".
pub fn human_seconds(s: f64) -> String {
    let (d, unit) = time_unit(s);
    let v = s / d;
    if v >= 100.0 || v == v.trunc() {
        format!("{v:.0} {unit}")
    } else if v >= 10.0 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.2} {unit}")
    }
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A tick label with as many decimals as the axis span needs to tell ticks apart.
pub fn tick(v: f64, span: f64) -> String {
    if span >= 20.0 {
        format!("{v:.0}")
    } else if span >= 2.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_segments_keep_their_points_and_dense_ones_become_columns() {
        let few: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, i as f64)).collect();
        assert_eq!(shape(&few, 0.0, 10.0, 100), Shape::Points(few.clone()));
        // 1,000 points over 10 columns: each column keeps the extremes and the mean of its own.
        let noisy: Vec<(f64, f64)> = (0..1000)
            .map(|i| {
                (
                    i as f64 / 100.0,
                    if i == 537 { 99.0 } else { (i % 2) as f64 },
                )
            })
            .collect();
        let Shape::Columns(cols) = shape(&noisy, 0.0, 10.0, 10) else {
            panic!("dense data becomes columns")
        };
        assert_eq!(cols.len(), 10);
        assert!(cols.iter().all(|c| c.min == 0.0), "{cols:?}");
        let peaks: Vec<f64> = cols.iter().map(|c| c.max).collect();
        assert_eq!(peaks, [1.0, 1.0, 1.0, 1.0, 1.0, 99.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(cols[0].mean, 0.5);
        assert_eq!(cols[5].x, 5.5);
        assert!(cols.windows(2).all(|w| w[0].x < w[1].x));
    }

    #[test]
    fn steps_run_between_changes_and_stop_at_gaps() {
        let t = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let ys = [Some(5.0), Some(5.0), Some(7.0), None, Some(7.0), Some(7.0)];
        assert_eq!(
            steps(&t, &ys),
            [(0.0, 2.0, 5.0), (2.0, 3.0, 7.0), (4.0, 5.0, 7.0)]
        );
        assert_eq!(steps(&[0.0], &[Some(1.0)]), [(0.0, 0.0, 1.0)]);
        assert!(steps(&t, &[None; 6]).is_empty());
    }

    #[test]
    fn gaps_split_segments() {
        let t = [0.0, 1.0, 2.0, 3.0];
        let s = segments(&t, &[Some(1.0), None, Some(2.0), Some(3.0)]);
        assert_eq!(s, vec![vec![(0.0, 1.0)], vec![(2.0, 2.0), (3.0, 3.0)]]);
    }

    #[test]
    fn axes_pick_round_units() {
        assert_eq!(byte_unit(200.0 * 1048576.0), (1048576.0, "MB"));
        assert_eq!(byte_unit(1500.0), (1.0, "B"));
        assert_eq!(human_bytes(1536.0), "1.5 KB");
        assert_eq!(human_bytes(256.0 * 1048576.0), "256 MB");
        assert_eq!(time_unit(0.000_4).1, "µs");
        assert_eq!(time_unit(0.05).1, "ms");
        assert_eq!(time_unit(20.0).1, "s");
        assert_eq!(human_seconds(0.0125), "12.5 ms");
        assert_eq!(human_seconds(0.000_85), "850 µs");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn rates_are_per_second_over_the_trailing_second() {
        let t: Vec<f64> = (0..=20).map(|i| i as f64 * 0.1).collect();
        let cum: Vec<f64> = t.iter().map(|x| x * 500.0).collect();
        let r = rates(&t, &cum);
        assert_eq!(r.len(), 20);
        assert!(r.iter().all(|&(_, v)| (v - 500.0).abs() < 1e-6), "{r:?}");
    }
}
