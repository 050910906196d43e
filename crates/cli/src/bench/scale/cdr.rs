//! Whether every ended session has exactly one CDR, both where billing pipelines read them
//! (the JSON Lines files under `<data_dir>/cdr/`) and in the database, which holds the
//! authoritative copy. A restart must neither lose a session's record nor write it twice.

use anyhow::Context;
use std::collections::HashMap;
use std::path::Path;
use switchboard_core::Suid;

/// How the records of the expected sessions were found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CdrCount {
    /// Expected sessions with exactly one record.
    pub once: usize,
    /// Expected sessions with none.
    pub missing: usize,
    /// Expected sessions with more than one.
    pub repeated: usize,
}

impl CdrCount {
    /// Tallies `expected` against how often each session was recorded.
    fn of(expected: &[Suid], seen: &HashMap<Suid, usize>) -> CdrCount {
        let mut count = CdrCount::default();
        for suid in expected {
            match seen.get(suid).copied().unwrap_or(0) {
                0 => count.missing += 1,
                1 => count.once += 1,
                _ => count.repeated += 1,
            }
        }
        count
    }
}

/// Counts the records of `expected` in the CDR files of `data_dir`.
pub fn in_files(data_dir: &Path, expected: &[Suid]) -> anyhow::Result<CdrCount> {
    let dir = data_dir.join("cdr");
    let mut seen = HashMap::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(CdrCount::of(expected, &seen));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let suid = suid_of(line)
                .with_context(|| format!("a line of {} is not a CDR", path.display()))?;
            *seen.entry(suid).or_insert(0) += 1;
        }
    }
    Ok(CdrCount::of(expected, &seen))
}

/// Counts the records of `expected` in the database at `url`.
pub async fn in_database(url: &str, expected: &[Suid]) -> anyhow::Result<CdrCount> {
    let store = switchboard_store::connect(url)
        .await
        .with_context(|| format!("cannot open the database at {url}"))?;
    let from = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    let to = chrono::Utc::now() + chrono::Duration::days(1);
    let mut seen = HashMap::new();
    for cdr in store.cdrs(from, to).await.context("cannot read CDRs")? {
        *seen.entry(cdr.suid).or_insert(0) += 1;
    }
    Ok(CdrCount::of(expected, &seen))
}

/// Adds the figure "CDRs written once (`place`)" judged against `expected` sessions, and a
/// note naming what is missing or repeated.
pub fn push_count(
    report: &mut super::report::StageReport,
    place: &str,
    count: CdrCount,
    expected: usize,
) {
    use super::report::{Figure, Goal};
    report.push(Figure::judged(
        format!("CDRs written once ({place})"),
        count.once as f64,
        "",
        Goal::Exactly(expected as f64),
    ));
    if count.missing + count.repeated > 0 {
        report.note(format!(
            "CDRs in {place}: {} missing, {} written more than once",
            count.missing, count.repeated
        ));
    }
}

/// The session a CDR line is about.
fn suid_of(line: &str) -> anyhow::Result<Suid> {
    let value: serde_json::Value = serde_json::from_str(line)?;
    let suid = value.get("suid").cloned().context("no suid")?;
    Ok(serde_json::from_value(suid)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_session_once_missing_or_repeated() {
        let dir = tempfile::tempdir().unwrap();
        let suids: Vec<Suid> = (0..3).map(|_| Suid::new()).collect();
        std::fs::create_dir(dir.path().join("cdr")).unwrap();
        let line = |s: &Suid| format!("{{\"suid\":\"{s}\",\"frames\":0}}\n");
        let text = [line(&suids[0]), line(&suids[1]), line(&suids[1])].concat();
        std::fs::write(dir.path().join("cdr/2026-01-01.jsonl"), text).unwrap();
        let count = in_files(dir.path(), &suids).unwrap();
        assert_eq!(
            count,
            CdrCount {
                once: 1,
                missing: 1,
                repeated: 1
            }
        );
    }
}
