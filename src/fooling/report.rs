//! Attack results as records with class names, for JSON, and as CSV rows.

use crate::classes::ClassNames;
use crate::fooling::kernels::Goal;
use crate::fooling::run::AttackOutcome;

/// One attacked image's outcome with its label and the classes named.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OutcomeRecord<'a> {
    /// The image (its file, say).
    pub image: &'a str,
    /// The goal's class name.
    pub goal_name: &'a str,
    /// The name of the network's top class on the original.
    pub clean_name: &'a str,
    /// The name of its top class on the final image.
    pub prediction_name: &'a str,
    /// The name of its top class on the final image rounded to 8 bits.
    pub rounded_name: &'a str,
    /// The numbers.
    #[serde(flatten)]
    pub outcome: &'a AttackOutcome,
}

/// Records of `outcomes`, labelled with `labels`.
pub fn records<'a>(
    labels: &'a [String],
    outcomes: &'a [AttackOutcome],
    classes: &'a ClassNames,
) -> Vec<OutcomeRecord<'a>> {
    labels
        .iter()
        .zip(outcomes)
        .map(|(image, o)| OutcomeRecord {
            image,
            goal_name: classes.name(o.goal.class()),
            clean_name: classes.name(o.clean.index),
            prediction_name: classes.name(o.prediction.index),
            rounded_name: classes.name(o.rounded.prediction.index),
            outcome: o,
        })
        .collect()
}

/// A CSV field, quoted when it holds a comma, quote or line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Joins fields into one CSV line (with its line break).
pub fn csv_line<S: AsRef<str>>(fields: impl IntoIterator<Item = S>) -> String {
    let fields: Vec<String> = fields.into_iter().map(|f| csv_field(f.as_ref())).collect();
    format!("{}\n", fields.join(","))
}

/// The columns of [`outcomes_csv`].
pub const OUTCOME_COLUMNS: [&str; 21] = [
    "image",
    "goal",
    "goal_class",
    "goal_name",
    "clean_class",
    "clean_name",
    "clean_prob",
    "reached",
    "first_reached",
    "iterations",
    "prediction_class",
    "prediction_name",
    "goal_prob",
    "l2_px",
    "linf_px",
    "rounded_class",
    "rounded_goal_prob",
    "rounded_reached",
    "rounded_l2_px",
    "rounded_linf_px",
    "verdict",
];

/// One CSV row per outcome under a header of [`OUTCOME_COLUMNS`].
pub fn outcomes_csv(labels: &[String], outcomes: &[AttackOutcome], classes: &ClassNames) -> String {
    let mut out = csv_line(OUTCOME_COLUMNS);
    for (label, o) in labels.iter().zip(outcomes) {
        let kind = match o.goal {
            Goal::Target(_) => "target",
            Goal::Away(_) => "away",
        };
        out += &csv_line([
            label.clone(),
            kind.to_string(),
            o.goal.class().to_string(),
            classes.name(o.goal.class()).to_string(),
            o.clean.index.to_string(),
            classes.name(o.clean.index).to_string(),
            format!("{:.6}", o.clean.prob),
            o.reached.to_string(),
            o.first_reached.map_or(String::new(), |s| s.to_string()),
            o.iterations.to_string(),
            o.prediction.index.to_string(),
            classes.name(o.prediction.index).to_string(),
            format!("{:.6}", o.goal_prob),
            format!("{:.4}", o.l2_px),
            format!("{:.4}", o.linf_px),
            o.rounded.prediction.index.to_string(),
            format!("{:.6}", o.rounded.goal_prob),
            o.rounded.reached.to_string(),
            format!("{:.4}", o.rounded.l2_px),
            format!("{:.4}", o.rounded.linf_px),
            o.verdict.name().to_string(),
        ]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("hay"), "hay");
        assert_eq!(csv_field("tench, Tinca"), "\"tench, Tinca\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_line(["a", "b,c"]), "a,\"b,c\"\n");
    }
}
