//! Stage `growth`: the `sessions` and `connections` stages run again at several sizes, each
//! on a fresh server, and their figures set side by side, so it is plain whether memory and
//! CPU grow in proportion to what the server holds and where they stop doing so.

use super::budget::Budget;
use super::report::{StageReport, Table};
use super::{ScaleArgs, connections, sessions};

/// The figures of the `sessions` stage shown per size, with their column headings.
const SESSION_COLUMNS: [(&str, &str); 6] = [
    ("sessions held", "sessions"),
    ("server RSS, with live", "RSS MiB"),
    ("per waiting session", "KiB/waiting"),
    ("per live session (frame aside)", "KiB/live"),
    ("server CPU, idle", "idle CPU %"),
    ("timer lateness max", "timer late max ms"),
];

/// The figures of the `connections` stage shown per size.
const CONNECTION_COLUMNS: [(&str, &str); 6] = [
    ("connections held", "connections"),
    ("server RSS, all open", "RSS MiB"),
    ("RSS per connection", "KiB/connection"),
    ("server CPU, idle", "idle CPU %"),
    ("event to every listener p99", "event p99 ms"),
    ("new connection accepted p99", "accept p99 ms"),
];

/// Runs the stage.
pub async fn run(args: &ScaleArgs, budget: &Budget) -> anyhow::Result<StageReport> {
    let mut report = StageReport {
        stage: "growth",
        setting: format!(
            "sessions at {}; connections at {}",
            list(&args.growth_sessions),
            list(&args.growth_connections)
        ),
        ..StageReport::default()
    };
    let mut table = new_table("sessions stage by size", &SESSION_COLUMNS);
    for &size in &args.growth_sessions {
        eprintln!("growth: {size} sessions …");
        let sized = ScaleArgs {
            sessions: size,
            timer_sessions: args.timer_sessions.min(size),
            ..args.clone()
        };
        let run = sessions::run(&sized, budget).await?;
        absorb(&mut report, &mut table, &run, &SESSION_COLUMNS, size);
    }
    report.tables.push(table);
    let mut table = new_table("connections stage by size", &CONNECTION_COLUMNS);
    for &size in &args.growth_connections {
        eprintln!("growth: {size} connections …");
        let sized = ScaleArgs {
            connections: size,
            ..args.clone()
        };
        let run = connections::run(&sized, budget).await?;
        absorb(&mut report, &mut table, &run, &CONNECTION_COLUMNS, size);
    }
    report.tables.push(table);
    Ok(report)
}

fn new_table(title: &str, columns: &[(&str, &str)]) -> Table {
    Table {
        title: title.to_owned(),
        columns: columns.iter().map(|(_, c)| (*c).to_owned()).collect(),
        rows: Vec::new(),
    }
}

/// Adds one run's row to `table`, and its figures (named after the size asked for), notes
/// and verdicts to `report`.
fn absorb(
    report: &mut StageReport,
    table: &mut Table,
    run: &StageReport,
    columns: &[(&str, &str)],
    size: u32,
) {
    let value = |name: &str| {
        run.figures
            .iter()
            .find(|f| f.name == name)
            .map_or(f64::NAN, |f| f.value)
    };
    table
        .rows
        .push(columns.iter().map(|(name, _)| value(name)).collect());
    let label = format!("{} {size}", run.stage);
    for figure in &run.figures {
        let mut figure = figure.clone();
        figure.name = format!("{label}: {}", figure.name);
        report.push(figure);
    }
    for note in &run.notes {
        report.note(format!("{label}: {note}"));
    }
}

fn list(sizes: &[u32]) -> String {
    sizes
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::scale::report::Figure;

    #[test]
    fn a_run_becomes_a_row_and_named_figures() {
        let run = StageReport {
            stage: "sessions",
            figures: vec![
                Figure::info("sessions held", 100.0, ""),
                Figure::info("per waiting session", 6.0, "KiB"),
            ],
            notes: vec!["capped".into()],
            ..StageReport::default()
        };
        let mut report = StageReport::default();
        let mut t = new_table("t", &SESSION_COLUMNS);
        absorb(&mut report, &mut t, &run, &SESSION_COLUMNS, 100);
        assert_eq!(t.rows[0][0], 100.0);
        assert_eq!(t.rows[0][2], 6.0);
        assert!(t.rows[0][1].is_nan());
        assert_eq!(report.figures[1].name, "sessions 100: per waiting session");
        assert_eq!(report.notes, ["sessions 100: capped"]);
    }
}
