//! How runs and comparisons read on a terminal: the parameters that vary, metrics with a
//! sparkline over the listed runs, and base-versus-this rows.

use std::collections::{BTreeMap, BTreeSet};

use super::RunRow;

/// The parameters whose value is not the same in every run.
pub fn varying_params(runs: &[RunRow]) -> Vec<String> {
    let names: BTreeSet<&String> = runs.iter().flat_map(|r| r.params.keys()).collect();
    names
        .into_iter()
        .filter(|name| {
            let values: BTreeSet<Option<&String>> =
                runs.iter().map(|r| r.params.get(*name)).collect();
            values.len() > 1
        })
        .cloned()
        .collect()
}

/// Every metric any run has.
pub fn metric_names(runs: &[RunRow]) -> Vec<String> {
    let names: BTreeSet<&String> = runs.iter().flat_map(|r| r.metrics.keys()).collect();
    names.into_iter().cloned().collect()
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A one-line sparkline of `values`, oldest first; a run without the metric is a space.
pub fn sparkline(values: &[Option<f64>]) -> String {
    let known: Vec<f64> = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let (lo, hi) = known
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    values
        .iter()
        .map(|v| match v {
            Some(v) if v.is_finite() => {
                if hi > lo {
                    let at = ((v - lo) / (hi - lo) * 7.0).round() as usize;
                    BARS[at.min(7)]
                } else {
                    BARS[3]
                }
            }
            _ => ' ',
        })
        .collect()
}

/// Aligned text rows (the first is the header).
pub fn align(rows: &[Vec<String>]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i] - c.chars().count())))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect()
}

/// A metric compared: base, this, the difference and its percentage of the base.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MetricChange {
    pub metric: String,
    pub base: Option<f64>,
    pub this: Option<f64>,
    pub difference: Option<f64>,
    pub percent: Option<f64>,
}

/// Every metric of either run, compared.
pub fn compare_metrics(
    base: &BTreeMap<String, f64>,
    this: &BTreeMap<String, f64>,
) -> Vec<MetricChange> {
    let names: BTreeSet<&String> = base.keys().chain(this.keys()).collect();
    names
        .into_iter()
        .map(|name| {
            let (b, t) = (base.get(name).copied(), this.get(name).copied());
            let difference = b.zip(t).map(|(b, t)| t - b);
            let percent = b
                .zip(difference)
                .filter(|(b, _)| *b != 0.0)
                .map(|(b, d)| d / b.abs() * 100.0);
            MetricChange {
                metric: name.clone(),
                base: b,
                this: t,
                difference,
                percent,
            }
        })
        .collect()
}

/// A parameter whose value differs.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ParamChange {
    pub param: String,
    pub base: Option<String>,
    pub this: Option<String>,
}

pub fn compare_params(
    base: &BTreeMap<String, String>,
    this: &BTreeMap<String, String>,
) -> Vec<ParamChange> {
    let names: BTreeSet<&String> = base.keys().chain(this.keys()).collect();
    names
        .into_iter()
        .filter(|n| base.get(*n) != this.get(*n))
        .map(|n| ParamChange {
            param: n.clone(),
            base: base.get(n).cloned(),
            this: this.get(n).cloned(),
        })
        .collect()
}

/// A number as people compare them: up to 6 significant digits.
pub fn number(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) => {
            let text = format!("{v:.6}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            if text == "-0" {
                "0".into()
            } else {
                text.to_string()
            }
        }
    }
}

/// A signed difference and percentage: `+0.031 (+3.4%)`.
pub fn change(m: &MetricChange) -> String {
    match (m.difference, m.percent) {
        (Some(d), Some(p)) => format!(
            "{}{} ({:+.1}%)",
            if d >= 0.0 { "+" } else { "" },
            number(Some(d)),
            p
        ),
        (Some(d), None) => format!("{}{}", if d >= 0.0 { "+" } else { "" }, number(Some(d))),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_span_the_range_and_leave_gaps() {
        assert_eq!(sparkline(&[Some(0.0), Some(0.5), Some(1.0), None]), "▁▅█ ");
        assert_eq!(sparkline(&[Some(2.0), Some(2.0)]), "▄▄");
    }

    #[test]
    fn metrics_compare_with_difference_and_percent() {
        let base: BTreeMap<String, f64> =
            [("acc".to_string(), 0.8), ("loss".to_string(), 0.5)].into();
        let this: BTreeMap<String, f64> =
            [("acc".to_string(), 0.88), ("new".to_string(), 1.0)].into();
        let rows = compare_metrics(&base, &this);
        assert_eq!(rows.len(), 3);
        assert_eq!(change(&rows[0]), "+0.08 (+10.0%)");
        assert_eq!(rows[1].this, None);
        assert_eq!(change(&rows[1]), "-");
        assert_eq!(number(Some(0.123_456_789)), "0.123457");
    }

    #[test]
    fn only_varying_parameters_are_columns() {
        let run = |alpha: &str| RunRow {
            run_id: "r".into(),
            start_ms: Some(0),
            target: None,
            status: "FINISHED".into(),
            entry: None,
            commit: None,
            params: [
                ("alpha".to_string(), alpha.to_string()),
                ("seed".to_string(), "1".to_string()),
            ]
            .into(),
            metrics: BTreeMap::new(),
            tags: BTreeMap::new(),
        };
        assert_eq!(varying_params(&[run("0.1"), run("0.2")]), ["alpha"]);
    }
}
