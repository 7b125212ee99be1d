//! `replsim advise`: the smallest (or largest) value of a directive for which an expectation
//! holds on every one of K seeds, found by bisection over the values of a `--vary` range.
//!
//! Bisection assumes the expectation holds from some value on (or, with `--largest`, up to some
//! value) and fails on the other side: more backlog never brings a second full sync back. It
//! first tries the far end of the range, where the answer must hold, then the near end, then
//! halves the gap between a value that fails and one that holds until they are neighbours. So a
//! range of N values costs about log2(N) + 2 trials of K runs each, and the answer's neighbour on
//! the failing side has always been tried and failed: the answer is exact to one step.

use serde_json::Value;

use crate::report::{self, Report};
use crate::scenario::Expectation;

/// Values a range takes without `:N` in `advise`: 1mb..1gb in steps of 11.6%.
pub const STEPS_DEFAULT: usize = 64;

/// Whether `expect` holds in `report`, and what its path found there.
pub fn holds(expect: &Expectation, report: &Report) -> (bool, Value) {
    let json = serde_json::to_value(report).expect("a report is plain data");
    let r = report::evaluate(std::slice::from_ref(expect), &json)
        .pop()
        .expect("one expectation, one result");
    (r.ok, r.actual)
}

/// What a bisection found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advice {
    /// The index of the answer, `None` when even the far end of the range fails.
    pub answer: Option<usize>,
    /// The answer is the range's near end, which holds: a value beyond the range may hold too.
    pub at_edge: bool,
    /// Every value tried, by index, in the order tried.
    pub tried: Vec<usize>,
}

/// Bisects the `n` values of a range: `holds(i)` says whether value `i` holds (on every seed).
/// Values hold from the answer upwards, or with `largest` from the answer downwards. `holds`
/// is asked about each value at most once, and may fail, which ends the search.
pub fn bisect<E>(
    n: usize,
    largest: bool,
    holds: &mut dyn FnMut(usize) -> Result<bool, E>,
) -> Result<Advice, E> {
    assert!(n > 0, "a range has values");
    // Position j counts from the failing side: value j for the smallest, value n-1-j for the
    // largest. Along it, values fail and then hold.
    let at = |j: usize| if largest { n - 1 - j } else { j };
    let mut tried = Vec::new();
    let mut ask = |j: usize, tried: &mut Vec<usize>| {
        tried.push(at(j));
        holds(at(j))
    };
    if !ask(n - 1, &mut tried)? {
        return Ok(Advice {
            answer: None,
            at_edge: false,
            tried,
        });
    }
    if n == 1 || ask(0, &mut tried)? {
        return Ok(Advice {
            answer: Some(at(0)),
            at_edge: true,
            tried,
        });
    }
    let (mut fails, mut passes) = (0, n - 1);
    while passes - fails > 1 {
        let mid = fails + (passes - fails) / 2;
        if ask(mid, &mut tried)? {
            passes = mid;
        } else {
            fails = mid;
        }
    }
    Ok(Advice {
        answer: Some(at(passes)),
        at_edge: false,
        tried,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bisects `n` values of which those from `first` on hold (or up to `first`, largest).
    fn check(n: usize, first: Option<usize>, largest: bool) -> Advice {
        let mut asked = Vec::new();
        let advice = bisect::<()>(n, largest, &mut |i| {
            assert!(!asked.contains(&i), "value {i} asked twice");
            asked.push(i);
            Ok(first.is_some_and(|f| if largest { i <= f } else { i >= f }))
        })
        .unwrap();
        assert_eq!(advice.tried, asked);
        advice
    }

    #[test]
    fn it_finds_the_first_value_that_holds_with_its_failing_neighbour_tried() {
        for n in 1..40 {
            for f in 0..n {
                let a = check(n, Some(f), false);
                assert_eq!(a.answer, Some(f), "n {n} first {f}");
                assert_eq!(a.at_edge, f == 0);
                if f > 0 {
                    assert!(a.tried.contains(&(f - 1)), "n {n} first {f}: {:?}", a.tried);
                }
                assert!(a.tried.len() <= 2 + (n as f64).log2().ceil() as usize);
            }
        }
    }

    #[test]
    fn with_largest_it_finds_the_last_value_that_holds() {
        for n in 1..20 {
            for f in 0..n {
                let a = check(n, Some(f), true);
                assert_eq!(a.answer, Some(f), "n {n} last {f}");
                assert_eq!(a.at_edge, f == n - 1);
                if f + 1 < n {
                    assert!(a.tried.contains(&(f + 1)));
                }
            }
        }
    }

    #[test]
    fn a_range_where_nothing_holds_has_no_answer_after_one_trial() {
        let a = check(64, None, false);
        assert_eq!((a.answer, a.tried), (None, vec![63]));
        let b = check(64, None, true);
        assert_eq!((b.answer, b.tried), (None, vec![0]));
    }
}
