//! Reader for the `.ts` text format of the UCR/UEA time-series archive (sktime's format):
//! `#` comments, `@` header lines (`@dimensions`, `@classLabel true L1 L2 ...`, ...), then
//! after `@data` one series per line: each dimension's values separated by commas, the
//! dimensions and the class label separated by colons. Every dimension of a series must have
//! the same length (series may differ in length); time stamps and missing values (`?`) are
//! refused.

/// Most bytes a `.ts` file may hold (JapaneseVowels' test file has 649,132).
pub const MAX_TS_BYTES: u64 = 1 << 28;

/// An error in a `.ts` file: the file and the line.
#[derive(Debug, thiserror::Error)]
#[error("{file} line {line}: {message}")]
pub struct TsError {
    pub file: String,
    /// 1-based line number (0: the file as a whole).
    pub line: usize,
    pub message: String,
}

/// A parsed `.ts` file.
#[derive(Clone, Debug, PartialEq)]
pub struct TsData {
    /// Channels per step.
    pub dimensions: usize,
    /// The class labels as the header lists them; a series' label is an index into it.
    pub class_labels: Vec<String>,
    pub series: Vec<Series>,
}

/// One labelled series.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Values, [step][channel].
    pub values: Vec<Vec<f32>>,
    /// Index into [`TsData::class_labels`].
    pub label: usize,
    /// Line of the file it was read from.
    pub line: usize,
}

impl Series {
    /// Number of steps.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True for a series without steps (never returned by [`parse_ts`]).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Parses the text of a `.ts` file; `file` names it in errors.
pub fn parse_ts(text: &str, file: &str) -> Result<TsData, TsError> {
    let err = |line: usize, message: String| TsError {
        file: file.to_string(),
        line,
        message,
    };
    let mut dimensions = None;
    let mut labels: Option<Vec<String>> = None;
    let mut in_data = false;
    let mut series = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !in_data {
            let Some(header) = line.strip_prefix('@') else {
                return Err(err(n, "a value line before @data".into()));
            };
            let mut words = header.split_whitespace();
            let key = words.next().unwrap_or("").to_ascii_lowercase();
            let rest: Vec<&str> = words.collect();
            match key.as_str() {
                "dimensions" => {
                    let d = rest
                        .first()
                        .and_then(|w| w.parse::<usize>().ok())
                        .filter(|&d| d > 0)
                        .ok_or_else(|| err(n, "@dimensions must be a positive integer".into()))?;
                    dimensions = Some(d);
                }
                "timestamps" if rest.first() == Some(&"true") => {
                    return Err(err(n, "time stamps are not supported".into()));
                }
                "classlabel" => {
                    if rest.first() != Some(&"true") || rest.len() < 2 {
                        return Err(err(
                            n,
                            "@classLabel must be `true` followed by the labels".into(),
                        ));
                    }
                    labels = Some(rest[1..].iter().map(|s| s.to_string()).collect());
                }
                "data" => in_data = true,
                _ => {}
            }
            continue;
        }
        let (Some(d), Some(labels)) = (dimensions, labels.as_ref()) else {
            return Err(err(n, "@data before @dimensions and @classLabel".into()));
        };
        let parts: Vec<&str> = line.split(':').collect();
        if parts.len() != d + 1 {
            return Err(err(
                n,
                format!(
                    "{} dimensions and a label, expected {d} dimensions and a label (ragged row)",
                    parts.len().saturating_sub(1)
                ),
            ));
        }
        let label_text = parts[d].trim();
        let label = labels.iter().position(|l| l == label_text).ok_or_else(|| {
            err(
                n,
                format!(
                    "class label '{label_text}' is not one of @classLabel's ({})",
                    labels.join(" ")
                ),
            )
        })?;
        let mut channels: Vec<Vec<f32>> = Vec::with_capacity(d);
        for (c, part) in parts[..d].iter().enumerate() {
            let values = part
                .split(',')
                .enumerate()
                .map(|(t, v)| {
                    let v = v.trim();
                    v.parse::<f32>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| {
                            err(
                                n,
                                format!("dimension {c}, step {t}: '{v}' is not a finite number"),
                            )
                        })
                })
                .collect::<Result<Vec<f32>, TsError>>()?;
            if let Some(first) = channels.first()
                && first.len() != values.len()
            {
                return Err(err(
                    n,
                    format!(
                        "dimension {c} has {} values, dimension 0 has {} (ragged row)",
                        values.len(),
                        first.len()
                    ),
                ));
            }
            channels.push(values);
        }
        let steps = channels[0].len();
        let values = (0..steps)
            .map(|t| channels.iter().map(|ch| ch[t]).collect())
            .collect();
        series.push(Series {
            values,
            label,
            line: n,
        });
    }
    if !in_data {
        return Err(err(0, "no @data section".into()));
    }
    if series.is_empty() {
        return Err(err(0, "no series after @data".into()));
    }
    Ok(TsData {
        dimensions: dimensions.unwrap_or(0),
        class_labels: labels.unwrap_or_default(),
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "# c\n@problemName X\n@dimensions 2\n@classLabel true a b\n@data\n";

    #[test]
    fn parses_series_of_different_lengths() {
        let d = parse_ts(&format!("{HEAD}1,2,3:4,5,6:b\n7:8:a\n"), "x.ts").unwrap();
        assert_eq!(d.dimensions, 2);
        assert_eq!(d.series.len(), 2);
        assert_eq!(
            d.series[0].values,
            [vec![1.0, 4.0], vec![2.0, 5.0], vec![3.0, 6.0]]
        );
        assert_eq!((d.series[0].label, d.series[1].label), (1, 0));
        assert_eq!(d.series[1].line, 7);
    }

    #[test]
    fn bad_rows_are_refused_with_file_and_line() {
        for (row, says) in [
            ("1,2:3:a", "ragged"),
            ("1:2:3:a", "ragged"),
            ("1,x:3,4:a", "'x' is not a finite number"),
            ("1,?:3,4:a", "'?'"),
            ("1,2:3,4:c", "class label 'c'"),
        ] {
            let e = parse_ts(&format!("{HEAD}{row}\n"), "x.ts")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("x.ts line 6: ") && e.contains(says), "{e}");
        }
    }
}
