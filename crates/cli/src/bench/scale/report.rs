//! Figures of a stage, with the goal each is judged by, printed as a table or as JSON.

use serde_json::{Value, json};

/// What a figure must stay within to pass.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// At most this value, in the figure's unit.
    AtMost(f64),
    /// Exactly this value (counts of things that must all be there).
    Exactly(f64),
}

impl Goal {
    fn met(self, value: f64) -> bool {
        match self {
            Goal::AtMost(limit) => value <= limit,
            Goal::Exactly(wanted) => value == wanted,
        }
    }

    fn describe(self, unit: &str) -> String {
        match self {
            Goal::AtMost(limit) => format!("≤ {} {unit}", number(limit)).trim_end().to_owned(),
            Goal::Exactly(wanted) => format!("= {} {unit}", number(wanted)).trim_end().to_owned(),
        }
    }
}

/// One measured value.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub goal: Option<Goal>,
}

impl Figure {
    /// A figure shown for information, judged by nothing.
    pub fn info(name: impl Into<String>, value: f64, unit: &'static str) -> Figure {
        Figure {
            name: name.into(),
            value,
            unit,
            goal: None,
        }
    }

    /// A figure judged by `goal`.
    pub fn judged(name: impl Into<String>, value: f64, unit: &'static str, goal: Goal) -> Figure {
        Figure {
            name: name.into(),
            value,
            unit,
            goal: Some(goal),
        }
    }

    /// `Some(true)` if the goal is met, `None` without a goal.
    pub fn passed(&self) -> Option<bool> {
        self.goal.map(|g| g.met(self.value))
    }
}

/// Figures of several runs side by side: a row per run, a column per figure (the first
/// column names the run's size).
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub title: String,
    /// Each column's heading, unit included.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Table {
    fn print(&self) {
        println!("  {}", self.title);
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let values = self
                    .rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|v| number(*v).len());
                values.chain([c.chars().count()]).max().unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<String>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:>width$}"))
                .collect();
            println!("    {}", padded.join("  "));
        };
        line(self.columns.clone());
        for row in &self.rows {
            line(row.iter().map(|v| number(*v)).collect());
        }
    }

    fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let cells: serde_json::Map<String, Value> = self
                    .columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| (c.clone(), json!(v)))
                    .collect();
                Value::Object(cells)
            })
            .collect();
        json!({ "title": self.title, "rows": rows })
    }
}

/// What one stage measured.
#[derive(Debug, Clone, Default)]
pub struct StageReport {
    pub stage: &'static str,
    /// The stage's size and settings in a few words, shown above its figures.
    pub setting: String,
    pub figures: Vec<Figure>,
    /// Runs side by side; when there are tables, the text form shows them and only the
    /// figures that missed their goal.
    pub tables: Vec<Table>,
    /// Anything the reader should know to trust the figures (caps, errors, warnings).
    pub notes: Vec<String>,
}

impl StageReport {
    /// Adds a figure.
    pub fn push(&mut self, figure: Figure) {
        self.figures.push(figure);
    }

    /// Adds the server's log complaints as notes, each distinct message once (without its
    /// time stamp) and at most `limit` of them.
    pub fn note_complaints(&mut self, complaints: &[String], limit: usize) {
        let mut seen = Vec::new();
        for line in complaints {
            // A log line starts with its time stamp; the rest is the message.
            let message = line
                .split_once(' ')
                .map_or(line.as_str(), |(_, m)| m)
                .trim();
            if !seen.iter().any(|m: &String| m == message) {
                seen.push(message.to_owned());
            }
        }
        for message in seen.iter().take(limit) {
            self.note(format!("server log: {message}"));
        }
    }

    /// Adds a note.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Prints the stage as a table: name, value, goal, verdict.
    pub fn print_table(&self) {
        println!();
        println!("== {}: {}", self.stage, self.setting);
        let width = self
            .figures
            .iter()
            .map(|f| f.name.chars().count())
            .max()
            .unwrap_or(0);
        for table in &self.tables {
            table.print();
        }
        let shown = self
            .figures
            .iter()
            .filter(|f| self.tables.is_empty() || f.passed() == Some(false));
        for f in shown {
            let value = format!("{} {}", number(f.value), f.unit);
            let verdict = match (f.goal, f.passed()) {
                (Some(goal), Some(true)) => format!("PASS  {}", goal.describe(f.unit)),
                (Some(goal), _) => format!("FAIL  {}", goal.describe(f.unit)),
                _ => String::new(),
            };
            println!("  {:<width$}  {value:>16}  {verdict}", f.name);
        }
        for note in &self.notes {
            println!("  note: {note}");
        }
    }

    /// The stage as JSON: every figure with its unit, goal and verdict.
    pub fn to_json(&self) -> Value {
        let figures: Vec<Value> = self
            .figures
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "value": f.value,
                    "unit": f.unit,
                    "goal": f.goal.map(|g| g.describe(f.unit)),
                    "passed": f.passed(),
                })
            })
            .collect();
        json!({
            "stage": self.stage,
            "setting": self.setting,
            "figures": figures,
            "tables": self.tables.iter().map(Table::to_json).collect::<Vec<_>>(),
            "notes": self.notes,
        })
    }
}

/// A number with as many decimals as its size deserves.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_and_serializes_figures() {
        let mut report = StageReport {
            stage: "sessions",
            setting: "2 sessions".into(),
            ..StageReport::default()
        };
        report.push(Figure::judged(
            "per waiting session",
            6.5,
            "KiB",
            Goal::AtMost(8.0),
        ));
        report.push(Figure::judged("sessions back", 1.0, "", Goal::Exactly(2.0)));
        report.push(Figure::info("idle CPU", 0.25, "%"));
        assert_eq!(report.figures[0].passed(), Some(true));
        assert_eq!(report.figures[1].passed(), Some(false));
        assert_eq!(report.figures[2].passed(), None);
        let json = report.to_json();
        assert_eq!(json["figures"][0]["goal"], "≤ 8 KiB");
        assert_eq!(json["figures"][1]["passed"], false);
        assert_eq!(number(0.1234), "0.123");
        report.note_complaints(
            &[
                "2026-01-01T00:00:00Z  WARN a".to_owned(),
                "2026-01-01T00:00:01Z  WARN a".to_owned(),
            ],
            5,
        );
        assert_eq!(report.notes, ["server log: WARN a"]);
        assert_eq!(number(12.0), "12");
        report.tables.push(Table {
            title: "growth".into(),
            columns: vec!["sessions".into(), "KiB each".into()],
            rows: vec![vec![100.0, 7.5]],
        });
        let json = report.to_json();
        assert_eq!(json["tables"][0]["rows"][0]["KiB each"], 7.5);
        assert_eq!(json["tables"][0]["rows"][0]["sessions"], 100.0);
    }
}
