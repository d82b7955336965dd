//! Marzullo's algorithm: the interval agreed by the most sources.

/// The best agreement among a set of closed intervals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// Lower bound of the agreed interval.
    pub lo: i128,
    /// Upper bound of the agreed interval.
    pub hi: i128,
    /// Indexes (into the input) of the intervals that contain `[lo, hi]`.
    pub members: Vec<usize>,
}

impl Agreement {
    /// How many sources agree.
    pub fn count(&self) -> usize {
        self.members.len()
    }
}

/// The interval contained in the largest number of the given closed intervals
/// `(lo, hi)`, with the indexes of those intervals; `None` for no input.
/// Intervals that merely touch agree on the single point. Among equally good
/// agreements the lowest is returned. Malformed intervals (`lo > hi`) agree
/// with nothing.
///
/// ```
/// use spanlite_truetime::marzullo;
/// let a = marzullo(&[(8, 12), (11, 13), (10, 12)]).unwrap();
/// assert_eq!((a.lo, a.hi, a.count()), (11, 12, 3));
/// ```
pub fn marzullo(intervals: &[(i128, i128)]) -> Option<Agreement> {
    // Edges: (offset, kind) with starts (−1) sorted before ends (+1) at the same
    // offset, so closed intervals that touch are counted as overlapping.
    let mut edges: Vec<(i128, i8)> = Vec::with_capacity(intervals.len() * 2);
    for &(lo, hi) in intervals.iter().filter(|(lo, hi)| lo <= hi) {
        edges.push((lo, -1));
        edges.push((hi, 1));
    }
    edges.sort_unstable();
    let (mut best, mut count) = (0usize, 0usize);
    let (mut best_lo, mut best_hi) = (0i128, 0i128);
    for (i, &(offset, kind)) in edges.iter().enumerate() {
        if kind < 0 {
            count += 1;
            if count > best {
                best = count;
                best_lo = offset;
                // The next edge exists: every start is followed by its end.
                best_hi = edges.get(i + 1).map_or(offset, |e| e.0);
            }
        } else {
            count -= 1;
        }
    }
    if best == 0 {
        return None;
    }
    let members = intervals
        .iter()
        .enumerate()
        .filter(|(_, (lo, hi))| *lo <= best_lo && best_hi <= *hi)
        .map(|(i, _)| i)
        .collect();
    Some(Agreement {
        lo: best_lo,
        hi: best_hi,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn marzullo_agreement_of_overlapping_sources() {
        let a = marzullo(&[(8, 12), (11, 13), (10, 12)]).unwrap();
        assert_eq!((a.lo, a.hi), (11, 12));
        assert_eq!(a.members, vec![0, 1, 2]);
    }

    #[test]
    fn marzullo_lying_master_rejected() {
        // Two honest masters around offset 0, one claiming +1 s.
        let a = marzullo(&[(-100, 100), (1_000_000_000, 1_000_000_200), (-50, 150)]).unwrap();
        assert_eq!((a.lo, a.hi), (-50, 100));
        assert_eq!(a.members, vec![0, 2]);
    }

    #[test]
    fn marzullo_no_majority_when_all_disagree() {
        let a = marzullo(&[(0, 1), (10, 11), (20, 21)]).unwrap();
        assert_eq!(
            a.count(),
            1,
            "three disjoint sources: nobody agrees with anybody"
        );
    }

    #[test]
    fn marzullo_touching_intervals_agree_on_a_point() {
        let a = marzullo(&[(0, 5), (5, 9)]).unwrap();
        assert_eq!((a.lo, a.hi, a.count()), (5, 5, 2));
    }

    #[test]
    fn marzullo_ignores_malformed_and_empty_input() {
        assert_eq!(marzullo(&[]), None);
        assert_eq!(marzullo(&[(5, 1)]), None);
        let a = marzullo(&[(5, 1), (2, 3)]).unwrap();
        assert_eq!(a.members, vec![1]);
    }

    proptest! {
        #[test]
        fn marzullo_result_is_inside_every_member_and_no_point_does_better(
            raw in proptest::collection::vec((-1000i128..1000, 0i128..300), 1..12),
        ) {
            let intervals: Vec<(i128, i128)> = raw.iter().map(|&(lo, w)| (lo, lo + w)).collect();
            let a = marzullo(&intervals).unwrap();
            prop_assert!(a.lo <= a.hi);
            for &m in &a.members {
                prop_assert!(intervals[m].0 <= a.lo && a.hi <= intervals[m].1);
            }
            // Brute force: no edge point is covered by more intervals.
            for &(lo, hi) in &intervals {
                for p in [lo, hi] {
                    let covering = intervals.iter().filter(|(l, h)| *l <= p && p <= *h).count();
                    prop_assert!(covering <= a.count());
                }
            }
        }
    }
}
