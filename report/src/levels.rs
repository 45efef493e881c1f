//! Which levels (an experiment's x: concurrent cold starts, warm sandboxes, clients, in-flight
//! invocations) a chart, a table or a headline shows, chosen in one place: the levels a series
//! measured, their lowest and highest, the levels two series share, the paper's range.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

use wow_records::SummaryRow;

use crate::data::measured;

/// The levels at which `rows` hold a successful measurement.
pub fn measured_levels<'a>(rows: impl IntoIterator<Item = &'a SummaryRow>) -> BTreeSet<u32> {
    rows.into_iter()
        .filter(|r| measured(r))
        .map(|r| r.concurrency)
        .collect()
}

/// The lowest and the highest of `levels` (one level when they coincide, none when empty).
pub fn ends(levels: &BTreeSet<u32>) -> BTreeSet<u32> {
    levels
        .first()
        .into_iter()
        .chain(levels.last())
        .copied()
        .collect()
}

/// The measured rows of one series and measure, by level.
pub fn by_level<'a>(
    rows: impl IntoIterator<Item = &'a SummaryRow>,
) -> BTreeMap<u32, &'a SummaryRow> {
    rows.into_iter()
        .filter(|r| measured(r))
        .map(|r| (r.concurrency, r))
        .collect()
}

/// The measured row at the highest level.
pub fn highest<'a>(rows: impl IntoIterator<Item = &'a SummaryRow>) -> Option<&'a SummaryRow> {
    rows.into_iter()
        .filter(|r| measured(r))
        .max_by_key(|r| r.concurrency)
}

/// The levels both series measured, ascending, with each series' row.
pub fn common<'a>(
    a: &BTreeMap<u32, &'a SummaryRow>,
    b: &BTreeMap<u32, &'a SummaryRow>,
) -> Vec<(u32, &'a SummaryRow, &'a SummaryRow)> {
    a.iter()
        .filter_map(|(l, ra)| b.get(l).map(|rb| (*l, *ra, *rb)))
        .collect()
}

/// The entries whose level lies within `range` when any does; all of them otherwise.
pub fn prefer_within<T>(
    mut items: Vec<T>,
    range: &RangeInclusive<u32>,
    level: impl Fn(&T) -> u32,
) -> Vec<T> {
    if items.iter().any(|x| range.contains(&level(x))) {
        items.retain(|x| range.contains(&level(x)));
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_and_the_preferred_range() {
        let l: BTreeSet<u32> = [1, 2, 8, 64].into();
        assert_eq!(ends(&l), [1, 64].into());
        assert_eq!(ends(&[5].into()), [5].into());
        assert!(ends(&BTreeSet::new()).is_empty());
        assert_eq!(prefer_within(vec![1, 2, 8, 64], &(2..=10), |x| *x), [2, 8]);
        assert_eq!(prefer_within(vec![1, 64], &(2..=10), |x| *x), [1, 64]);
    }
}
