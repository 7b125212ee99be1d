//! "Did you mean …?": the known name nearest to a misspelt one.
//!
//! Distance is the optimal string alignment distance (insertions, deletions, substitutions and
//! swaps of two neighbouring characters each cost one), compared without regard to case. A
//! candidate is suggested only when it is close enough to be a slip of the keyboard: at most a
//! third of the longer name's length, and never a whole replacement of a short name (`"x"` is
//! not taken for `"m"`).

/// The candidate nearest to `word`, if one is near enough to be what was meant. Ties go to the
/// earliest candidate, so the suggestion is the same on every run.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let w: Vec<char> = word.to_lowercase().chars().collect();
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let cc: Vec<char> = c.to_lowercase().chars().collect();
        let d = distance(&w, &cc);
        let longest = w.len().max(cc.len());
        let near = d <= (longest / 3).max(1) && d < w.len().min(cc.len());
        if near && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// ` (did you mean "x"?)` for the nearest candidate, or nothing.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    nearest(word, candidates).map_or_else(String::new, |c| format!(" (did you mean \"{c}\"?)"))
}

/// Optimal string alignment distance between `a` and `b`.
fn distance(a: &[char], b: &[char]) -> usize {
    // Three rows of the dynamic programme: two back for a swap, one back, and the current one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_only_near_names() {
        let nodes = ["master", "replica-1", "replica-2"];
        // (misspelt, suggestion)
        let cases: &[(&str, Option<&str>)] = &[
            ("replica1", Some("replica-1")),
            ("Replica-2", Some("replica-2")),
            ("mastre", Some("master")),
            ("mastr", Some("master")),
            ("primary", None),
            ("x", None),
            ("", None),
        ];
        for &(word, want) in cases {
            assert_eq!(nearest(word, nodes), want, "{word}");
        }
        assert_eq!(nearest("r", ["m", "r2"]), None, "one letter is no slip");
        assert_eq!(
            nearest("sync_ful", ["sync_full", "sync_partial_ok"]),
            Some("sync_full")
        );
        assert_eq!(
            did_you_mean("repl-backlog-sise", ["repl-backlog-size", "repl-timeout"]),
            " (did you mean \"repl-backlog-size\"?)"
        );
        assert_eq!(did_you_mean("zzz", ["repl-timeout"]), "");
    }

    #[test]
    fn distance_counts_edits_and_swaps() {
        let d = |a: &str, b: &str| {
            let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            distance(&a, &b)
        };
        assert_eq!(d("", "abc"), 3);
        assert_eq!(d("abc", "abc"), 0);
        assert_eq!(d("abc", "acb"), 1);
        assert_eq!(d("kitten", "sitting"), 3);
        assert_eq!(d("abc", ""), 3);
    }
}
