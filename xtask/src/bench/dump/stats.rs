//! Order statistics of timing samples (median, quartiles, min/max).

use serde::{Deserialize, Serialize};

/// Summary of a sample set, in the samples' unit (ns).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub q1: f64,
    pub q3: f64,
    pub min: f64,
    pub max: f64,
}

/// Linear-interpolated quantile of sorted data (`q` in 0..=1).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Summary {
    /// `None` for an empty sample set.
    pub fn of(samples: &[u64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut v: Vec<f64> = samples.iter().map(|&x| x as f64).collect();
        v.sort_by(f64::total_cmp);
        Some(Summary {
            n: v.len(),
            median: quantile(&v, 0.5),
            q1: quantile(&v, 0.25),
            q3: quantile(&v, 0.75),
            min: v[0],
            max: v[v.len() - 1],
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_sets() {
        assert_eq!(Summary::of(&[]), None);
        let s = Summary::of(&[5]).unwrap();
        assert_eq!((s.median, s.min, s.max), (5.0, 5.0, 5.0));
        let s = Summary::of(&[4, 1, 3, 2]).unwrap();
        assert_eq!(s.median, 2.5);
        assert_eq!((s.min, s.max), (1.0, 4.0));
        assert_eq!((s.q1, s.q3), (1.75, 3.25));
    }

    proptest! {
        #[test]
        fn ordered(v in proptest::collection::vec(0u64..1_000_000_000, 1..60)) {
            let s = Summary::of(&v).unwrap();
            prop_assert!(s.min <= s.q1 && s.q1 <= s.median && s.median <= s.q3 && s.q3 <= s.max);
            prop_assert_eq!(s.min, *v.iter().min().unwrap() as f64);
            prop_assert_eq!(s.max, *v.iter().max().unwrap() as f64);
            prop_assert_eq!(s.n, v.len());
        }

        #[test]
        fn order_does_not_matter(mut v in proptest::collection::vec(0u64..1000, 1..40)) {
            let a = Summary::of(&v).unwrap();
            v.reverse();
            prop_assert_eq!(a, Summary::of(&v).unwrap());
        }
    }
}
