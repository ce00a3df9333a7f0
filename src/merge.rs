//! Putting the results of a sharded job back together: the shards' [`ShardOutput`]s, checked to
//! come from one job with one set of settings and to cover its inputs once each, combined into
//! the results the unsharded run writes.
//!
//! Combining depends on the job ([`JobKind`]): `classify` and `fool` results are one record per
//! input (per image and target for `fool`), concatenated in shard order. A job whose results
//! carry a summary over the records (pooled counts, say) adds a variant whose
//! `combine` concatenates the records and recomputes the summary from them.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::shard::{Shard, ShardOutput};

/// A job whose sharded results can be merged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// `netlens classify --json`: an array of `{"file", "top5" | "error"}`.
    Classify,
    /// `netlens fool`'s `FIG_results.json`: an array of outcome records.
    Fool,
    /// `netlens robustness`'s `OUT.json`: per-image records and their summary, which is
    /// recomputed from all the records (accuracies pooled by counts).
    Robustness,
}

impl JobKind {
    /// Every job [`merge`] knows.
    pub const ALL: [JobKind; 3] = [JobKind::Classify, JobKind::Fool, JobKind::Robustness];

    /// The job's name, as its sharded results record it.
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Classify => "classify",
            JobKind::Fool => "fool",
            JobKind::Robustness => "robustness",
        }
    }

    /// The job named `name`.
    pub fn from_name(name: &str) -> Result<JobKind> {
        Self::ALL
            .into_iter()
            .find(|j| j.name() == name)
            .ok_or_else(|| {
                let known: Vec<_> = Self::ALL.iter().map(|j| j.name()).collect();
                Error::InvalidInput(format!(
                    "cannot merge results of `{name}`: merge knows {}",
                    known.join(", ")
                ))
            })
    }

    /// The unsharded results from the shards' results, in shard order; `labels` name the shards'
    /// files for errors.
    fn combine(self, labels: &[&str], results: Vec<Value>) -> Result<Value> {
        match self {
            JobKind::Classify | JobKind::Fool => {
                let mut all = Vec::new();
                for (label, r) in labels.iter().zip(results) {
                    match r {
                        Value::Array(records) => all.extend(records),
                        _ => {
                            return Err(Error::InvalidInput(format!(
                                "{label}: the results of `{}` are not an array of records",
                                self.name()
                            )));
                        }
                    }
                }
                Ok(Value::Array(all))
            }
            JobKind::Robustness => combine_robustness(labels, results),
        }
    }
}

/// Robustness reports joined: the per-image records in shard order, the summary recomputed
/// from them, the other fields (settings, where labels came from) as the shards agree on them.
fn combine_robustness(labels: &[&str], results: Vec<Value>) -> Result<Value> {
    use crate::fooling::robustness::{ImageRecord, summarize};
    let mut records: Vec<ImageRecord> = Vec::new();
    let mut rest: Option<serde_json::Map<String, Value>> = None;
    for (label, result) in labels.iter().zip(results) {
        let bad = |why: String| Error::InvalidInput(format!("{label}: {why}"));
        let Value::Object(mut fields) = result else {
            return Err(bad("the results of `robustness` are not an object".into()));
        };
        let per_image = fields
            .remove("per_image")
            .ok_or_else(|| bad("no `per_image` records".into()))?;
        let shard_records: Vec<ImageRecord> = serde_json::from_value(per_image)
            .map_err(|e| bad(format!("per-image records unreadable: {e}")))?;
        records.extend(shard_records);
        let others: serde_json::Map<String, Value> = fields
            .into_iter()
            .filter(|(k, _)| k == "labels" || k == "settings")
            .collect();
        match &rest {
            None => rest = Some(others),
            Some(first) if *first != others => {
                return Err(bad(format!(
                    "its labels or settings differ from {}'s",
                    labels[0]
                )));
            }
            Some(_) => {}
        }
    }
    let json = |e: serde_json::Error| Error::InvalidInput(format!("merged robustness: {e}"));
    let mut out = match serde_json::to_value(summarize(&records)?).map_err(json)? {
        Value::Object(summary) => summary,
        _ => unreachable!("a summary serializes as an object"),
    };
    out.extend(rest.unwrap_or_default());
    out.insert(
        "per_image".into(),
        serde_json::to_value(&records).map_err(json)?,
    );
    Ok(Value::Object(out))
}

/// The key of the first difference between two settings objects ("" when they are not objects).
fn first_difference(a: &Value, b: &Value) -> String {
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        return String::new();
    };
    a.keys()
        .chain(b.keys())
        .find(|k| a.get(*k) != b.get(*k))
        .map_or(String::new(), |k| format!(" (`{k}` differs)"))
}

/// Merges the shards (each with a label, its file, for messages) into the unsharded results.
///
/// Fails, naming the files, when the shards are of different jobs, settings, shard counts or
/// input counts, when two are the same shard, when a shard is missing, or when a shard's slice
/// is not the one its index gives.
pub fn merge(shards: &[(String, ShardOutput)]) -> Result<Value> {
    let invalid = |m: String| Err(Error::InvalidInput(m));
    let Some((first_label, first)) = shards.first() else {
        return invalid("nothing to merge: no results given".into());
    };
    let job = JobKind::from_name(&first.job)
        .map_err(|e| Error::InvalidInput(format!("{first_label}: {e}")))?;
    let mut by_index: BTreeMap<usize, (&str, &ShardOutput)> = BTreeMap::new();
    for (label, s) in shards {
        let against = |what: &str, a: String, b: String| {
            invalid(format!(
                "{label} and {first_label} are not shards of one run: {what} {b} and {a}"
            ))
        };
        if s.job != first.job {
            return against("jobs", first.job.clone(), s.job.clone());
        }
        if s.settings != first.settings {
            return invalid(format!(
                "{label} and {first_label} are not shards of one run: their settings \
                 differ{}",
                first_difference(&first.settings, &s.settings)
            ));
        }
        if s.shard.count != first.shard.count {
            let n = |s: &ShardOutput| format!("{}", s.shard.count);
            return against("shard counts", n(first), n(s));
        }
        if s.shard.inputs != first.shard.inputs {
            let n = |s: &ShardOutput| format!("{} inputs", s.shard.inputs);
            return against("input counts", n(first), n(s));
        }
        let info = s.shard;
        let expected = Shard {
            index: info.index,
            count: info.count,
        };
        if info.index >= info.count || expected.range(info.inputs) != (info.start..info.end) {
            return invalid(format!(
                "{label}: shard {}/{} of {} inputs should hold inputs {:?}, not {:?}",
                info.index,
                info.count,
                info.inputs,
                expected.range(info.inputs),
                info.start..info.end
            ));
        }
        if let Some((other, _)) = by_index.insert(info.index, (label, s)) {
            return invalid(format!(
                "{label} and {other} are both shard {expected}: give each shard once"
            ));
        }
    }
    let count = first.shard.count;
    let missing: Vec<String> = (0..count)
        .filter(|k| !by_index.contains_key(k))
        .map(|k| format!("{k}/{count}"))
        .collect();
    if !missing.is_empty() {
        return invalid(format!(
            "shards missing: {} (of {count}; {} given)",
            missing.join(", "),
            shards.len()
        ));
    }
    let labels: Vec<&str> = by_index.values().map(|(l, _)| *l).collect();
    let results = by_index.values().map(|(_, s)| s.results.clone()).collect();
    job.combine(&labels, results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::ShardInfo;
    use serde_json::json;

    fn shard(job: &str, index: usize, count: usize, inputs: usize) -> (String, ShardOutput) {
        let r = Shard { index, count }.range(inputs);
        let records: Vec<Value> = r.clone().map(|i| json!({ "file": i })).collect();
        (
            format!("s{index}.json"),
            ShardOutput {
                job: job.into(),
                settings: json!({ "model": "squeezenet", "size": 224 }),
                shard: ShardInfo {
                    index,
                    count,
                    inputs,
                    start: r.start,
                    end: r.end,
                },
                results: Value::Array(records),
            },
        )
    }

    fn error(shards: &[(String, ShardOutput)]) -> String {
        merge(shards).unwrap_err().to_string()
    }

    #[test]
    fn concatenates_in_shard_order_whatever_the_file_order() {
        let parts = [
            shard("classify", 2, 3, 7),
            shard("classify", 0, 3, 7),
            shard("classify", 1, 3, 7),
        ];
        let all = merge(&parts).unwrap();
        let files: Vec<u64> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["file"].as_u64().unwrap())
            .collect();
        assert_eq!(files, (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn refuses_duplicates_gaps_and_foreign_shards() {
        let a = shard("fool", 0, 2, 5);
        let b = shard("fool", 1, 2, 5);
        let e = error(&[a.clone(), a.clone()]);
        assert!(e.contains("both shard 0/2"), "{e}");
        let e = error(std::slice::from_ref(&a));
        assert!(e.contains("shards missing: 1/2"), "{e}");
        let e = error(&[a.clone(), shard("classify", 1, 2, 5)]);
        assert!(e.contains("jobs classify and fool"), "{e}");
        let mut other = b.clone();
        other.1.settings["size"] = json!(112);
        let e = error(&[a.clone(), other]);
        assert!(e.contains("settings differ (`size` differs)"), "{e}");
        let e = error(&[a.clone(), shard("fool", 1, 3, 5)]);
        assert!(e.contains("shard counts 3 and 2"), "{e}");
        let e = error(&[a.clone(), shard("fool", 1, 2, 6)]);
        assert!(e.contains("input counts 6 inputs and 5 inputs"), "{e}");
        let mut shifted = b.clone();
        shifted.1.shard.start = 1;
        let e = error(&[a.clone(), shifted]);
        assert!(e.contains("should hold inputs 2..5, not 1..5"), "{e}");
        let e = error(&[shard("dream", 0, 1, 1)]);
        assert!(e.contains("cannot merge results of `dream`"), "{e}");
        assert!(error(&[]).contains("nothing to merge"));
        assert!(merge(&[a, b]).is_ok());
    }
}
