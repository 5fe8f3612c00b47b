//! The comparisons of a correlation condition, and when they can be decided.

use tocsin_sigma::ast::{Comparison, CorrelationType};

/// Whether `value` satisfies every comparison (a range is several comparisons).
pub(crate) fn holds(comparisons: &[(Comparison, f64)], value: f64) -> bool {
    comparisons.iter().all(|&(op, limit)| match op {
        Comparison::Gt => value > limit,
        Comparison::Gte => value >= limit,
        Comparison::Lt => value < limit,
        Comparison::Lte => value <= limit,
        Comparison::Eq => value == limit,
        Comparison::Neq => value != limit,
    })
}

/// When a correlation's condition is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// At every match, over the sliding window of one timespan ending at that match.
    Sliding,
    /// Once per window, when the window (opened by a group's first match) has closed.
    Closing,
}

/// Chooses the mode. Counts (and sums) only grow as matches arrive in a window, so a
/// condition made only of lower bounds (`gt`, `gte`) stays true once true: it is checked
/// at every match and fires as early as possible. An upper bound (`lt`, `lte`), `eq` or
/// `neq` on such an aggregate can still turn false until the window is complete, so it is
/// checked when the window closes. Averages and percentiles move both ways; they are
/// checked on the sliding window at every match.
pub(crate) fn mode(kind: CorrelationType, comparisons: &[(Comparison, f64)]) -> Mode {
    let growing = matches!(
        kind,
        CorrelationType::EventCount
            | CorrelationType::ValueCount
            | CorrelationType::Temporal
            | CorrelationType::TemporalOrdered
            | CorrelationType::ValueSum
    );
    let lower_bounds_only = comparisons
        .iter()
        .all(|(op, _)| matches!(op, Comparison::Gt | Comparison::Gte));
    if growing && !lower_bounds_only {
        Mode::Closing
    } else {
        Mode::Sliding
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Comparison::*;

    #[test]
    fn each_operator() {
        assert!(holds(&[(Gt, 5.0)], 6.0));
        assert!(!holds(&[(Gt, 5.0)], 5.0));
        assert!(holds(&[(Gte, 5.0)], 5.0));
        assert!(!holds(&[(Gte, 5.0)], 4.0));
        assert!(holds(&[(Lt, 5.0)], 4.0));
        assert!(!holds(&[(Lt, 5.0)], 5.0));
        assert!(holds(&[(Lte, 5.0)], 5.0));
        assert!(!holds(&[(Lte, 5.0)], 6.0));
        assert!(holds(&[(Eq, 5.0)], 5.0));
        assert!(!holds(&[(Eq, 5.0)], 4.0));
        assert!(holds(&[(Neq, 5.0)], 4.0));
        assert!(!holds(&[(Neq, 5.0)], 5.0));
    }

    #[test]
    fn range_needs_every_bound() {
        let range = [(Gt, 100.0), (Lte, 200.0)];
        assert!(!holds(&range, 100.0));
        assert!(holds(&range, 101.0));
        assert!(holds(&range, 200.0));
        assert!(!holds(&range, 201.0));
    }

    #[test]
    fn modes() {
        use CorrelationType::*;
        assert_eq!(mode(EventCount, &[(Gte, 3.0)]), Mode::Sliding);
        assert_eq!(mode(EventCount, &[(Gt, 3.0), (Lte, 9.0)]), Mode::Closing);
        assert_eq!(mode(ValueCount, &[(Lt, 3.0)]), Mode::Closing);
        assert_eq!(mode(ValueSum, &[(Neq, 3.0)]), Mode::Closing);
        assert_eq!(mode(Temporal, &[(Eq, 2.0)]), Mode::Closing);
        assert_eq!(mode(ValueAvg, &[(Lt, 3.0)]), Mode::Sliding);
        assert_eq!(mode(ValuePercentile, &[(Lte, 1.0)]), Mode::Sliding);
    }
}
