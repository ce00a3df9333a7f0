//! Splitting a per-image job over several machines: `--shard K/N` keeps the K-th of N contiguous
//! slices of the job's inputs, and a sharded run writes its results with the [`ShardInfo`] that
//! [`crate::merge`] needs to put the slices back together.
//!
//! The order is the command's own: its inputs after folders are expanded (each folder's images
//! sorted by name) and in the order given. Slice K of N over M inputs is `[K·M/N, (K+1)·M/N)`:
//! contiguous, sizes differing by at most one, together every input exactly once, so that
//! concatenating the slices' results in shard order gives the unsharded run's order.

use std::ops::Range;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The most shards a job may be split into.
pub const MAX_SHARDS: usize = 1 << 20;

/// One of N slices of a job's inputs: `--shard K/N`, counting K from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which slice, from 0.
    pub index: usize,
    /// How many slices.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = Error;

    /// `K/N` with 0 <= K < N, e.g. `0/2` and `1/2`; a Slurm array or Kubernetes Indexed Job
    /// passes its task index as K.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: String| Error::InvalidInput(format!("shard `{s}`: {why}"));
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| bad("expected K/N, e.g. 0/4 for the first of four slices".into()))?;
        let number = |v: &str, what: &str| {
            v.trim().parse::<usize>().map_err(|_| {
                bad(format!(
                    "{what} `{v}` is not a whole number >= 0 (expected K/N, e.g. 0/4)"
                ))
            })
        };
        let (index, count) = (number(k, "K")?, number(n, "N")?);
        if count == 0 {
            return Err(bad("N must be at least 1".into()));
        }
        if count > MAX_SHARDS {
            return Err(bad(format!("N must be at most {MAX_SHARDS}")));
        }
        if index >= count {
            return Err(bad(format!(
                "K must be less than N: the shards of {count} are 0/{count} to {}/{count}",
                count - 1
            )));
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The positions of this shard's inputs among `inputs`.
    pub fn range(&self, inputs: usize) -> Range<usize> {
        let at = |k: usize| (k as u128 * inputs as u128 / self.count as u128) as usize;
        at(self.index)..at(self.index + 1)
    }

    /// This shard's inputs of `items` (in their order) and its record; fails on an empty slice
    /// (more shards than inputs), naming how many shards the inputs allow.
    pub fn select<T: Clone>(&self, items: &[T]) -> Result<(Vec<T>, ShardInfo)> {
        let range = self.range(items.len());
        if range.is_empty() {
            return Err(Error::InvalidInput(format!(
                "shard {self} holds no inputs: {} inputs make at most {} non-empty shards",
                items.len(),
                items.len()
            )));
        }
        let info = ShardInfo {
            index: self.index,
            count: self.count,
            inputs: items.len(),
            start: range.start,
            end: range.end,
        };
        Ok((items[range].to_vec(), info))
    }
}

/// Which slice a sharded run processed, as its results record it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShardInfo {
    /// K of `--shard K/N`.
    pub index: usize,
    /// N of `--shard K/N`.
    pub count: usize,
    /// The job's inputs before slicing.
    pub inputs: usize,
    /// The first input of the slice.
    pub start: usize,
    /// One past the last input of the slice.
    pub end: usize,
}

/// What a sharded run writes as its JSON results: the job, the settings that must agree between
/// shards, the slice, and the slice's results in the form the unsharded run writes them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShardOutput {
    /// The command: `classify`, `fool`, …
    pub job: String,
    /// Everything that changes the results besides the inputs (model, weights, method, …).
    pub settings: serde_json::Value,
    /// The slice.
    pub shard: ShardInfo,
    /// The slice's results.
    pub results: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n_and_names_what_is_wrong() {
        assert_eq!(
            "1/2".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 2 }
        );
        assert_eq!("0/1".parse::<Shard>().unwrap().to_string(), "0/1");
        for (bad, why) in [
            ("2/2", "K must be less than N"),
            ("5/3", "K must be less than N"),
            ("0/0", "N must be at least 1"),
            ("1", "expected K/N"),
            ("a/2", "`a` is not a whole number"),
            ("-1/2", "`-1` is not a whole number"),
            ("1/2/3", "`2/3` is not a whole number"),
            ("", "expected K/N"),
        ] {
            let e = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn shards_cover_every_input_once_in_order() {
        for inputs in 0..40 {
            for count in 1..12 {
                let mut next = 0;
                for index in 0..count {
                    let r = Shard { index, count }.range(inputs);
                    assert_eq!(r.start, next, "{index}/{count} of {inputs}");
                    let fair = inputs / count;
                    assert!(r.len() == fair || r.len() == fair + 1, "{r:?}");
                    next = r.end;
                }
                assert_eq!(next, inputs, "{count} shards of {inputs}");
            }
        }
    }

    #[test]
    fn select_returns_the_slice_and_refuses_an_empty_one() {
        let items: Vec<u32> = (0..5).collect();
        let (a, ia) = Shard { index: 0, count: 2 }.select(&items).unwrap();
        let (b, ib) = Shard { index: 1, count: 2 }.select(&items).unwrap();
        assert_eq!((a.clone(), b.clone()), (vec![0, 1], vec![2, 3, 4]));
        assert_eq!([a, b].concat(), items);
        assert_eq!(
            (ia.start, ia.end, ib.start, ib.end, ib.inputs),
            (0, 2, 2, 5, 5)
        );
        let e = Shard { index: 2, count: 8 }
            .select(&items)
            .unwrap_err()
            .to_string();
        assert!(e.contains("shard 2/8 holds no inputs"), "{e}");
    }
}
