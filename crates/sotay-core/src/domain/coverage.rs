//! Coverage arithmetic: how far a hamlet or the commune is from the signature target.
//!
//! Coverage is distinct adults with a digital or personal e-signature (the baseline plus
//! people helped successfully, each counted once) over the adult population.

use serde::{Deserialize, Serialize};

/// One hamlet's (or the commune's) position against the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    pub adult_population: u32,
    pub baseline_signed: u32,
    /// Distinct people helped to a signature (by ID hash; one each without a hash).
    pub helped_signed: u32,
    pub target_percent: u32,
}

impl Coverage {
    /// Signed adults, never more than the population.
    pub fn signed(&self) -> u32 {
        (self.baseline_signed + self.helped_signed).min(self.adult_population)
    }

    /// Share of adults signed, in percent (0 for a hamlet with no adults recorded).
    pub fn percent(&self) -> f64 {
        if self.adult_population == 0 {
            return 0.0;
        }
        100.0 * self.signed() as f64 / self.adult_population as f64
    }

    /// The target is *more than* `target_percent`: the smallest count strictly above it.
    pub fn target_count(&self) -> u32 {
        (self.adult_population as u64 * self.target_percent as u64 / 100 + 1).min(self.adult_population as u64) as u32
    }

    /// People still to be helped before the target is passed.
    pub fn still_needed(&self) -> u32 {
        self.target_count().saturating_sub(self.signed())
    }

    pub fn reached(&self) -> bool {
        self.adult_population > 0 && self.still_needed() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cov(pop: u32, base: u32, helped: u32) -> Coverage {
        Coverage { adult_population: pop, baseline_signed: base, helped_signed: helped, target_percent: 50 }
    }

    #[test]
    fn more_than_half_is_needed_to_pass_the_target() {
        assert_eq!(cov(100, 40, 10).still_needed(), 1);
        assert_eq!(cov(100, 40, 11).still_needed(), 0);
        assert!(cov(100, 40, 11).reached());
        assert_eq!(cov(101, 0, 0).target_count(), 51);
    }

    #[test]
    fn coverage_never_exceeds_the_population() {
        let c = cov(10, 8, 9);
        assert_eq!(c.signed(), 10);
        assert_eq!(c.percent(), 100.0);
        assert_eq!(cov(0, 0, 0).percent(), 0.0);
        assert!(!cov(0, 0, 0).reached());
    }
}
