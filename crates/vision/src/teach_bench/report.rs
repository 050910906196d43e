//! The measurement's results: a recall / false-match table over thresholds, breakdowns at
//! the default threshold, and timing.

use std::fmt;

use serde::Serialize;

use super::accuracy::{PositiveTrial, Trials};
use super::timing::TeachTiming;

/// A found object counts when its box overlaps the pasted one at least this much.
pub const MIN_IOU: f32 = 0.5;

/// The measurement at one threshold.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdRow {
    /// The similarity threshold.
    pub threshold: f32,
    /// Share of pasted objects found at the right place (IoU ≥ 0.5).
    pub recall: f64,
    /// Share of pasted objects "found" at a wrong place (score over the threshold, IoU < 0.5).
    pub wrong_place: f64,
    /// Share of searches in pictures without the object that matched anyway.
    pub false_matches: f64,
    /// How many of them.
    pub false_match_count: usize,
}

/// Recall of one group of trials (an object, a range of scales, …) at the default threshold.
#[derive(Debug, Clone, Serialize)]
pub struct GroupRecall {
    /// What the group is.
    pub group: String,
    /// Trials in it.
    pub trials: usize,
    /// Share found at the right place.
    pub recall: f64,
    /// Mean best score where the object is.
    pub mean_score: f64,
}

/// Everything `switchboard bench teach` prints.
#[derive(Debug, Clone, Serialize)]
pub struct TeachReport {
    /// Photographs used (backgrounds and sources).
    pub photos: Vec<String>,
    /// Objects taught.
    pub objects: Vec<String>,
    /// Pastes of each object on each other photograph.
    pub variations: usize,
    /// The random seed of the pastes.
    pub seed: u64,
    /// Searches with the object present.
    pub positives: usize,
    /// Searches without it.
    pub negatives: usize,
    /// Objects that could not be taught, with the reason.
    pub refused: Vec<String>,
    /// Size of the largest stored template, in bytes.
    pub template_bytes: usize,
    /// Recall and false matches over thresholds.
    pub table: Vec<ThresholdRow>,
    /// The lowest threshold with at most [`SUGGESTION_FALSE_MATCHES`] false matches.
    pub suggested_threshold: Option<f32>,
    /// The threshold the breakdowns are made at (the crate's default).
    pub default_threshold: f32,
    /// Recall per object at the default threshold.
    pub per_object: Vec<GroupRecall>,
    /// Recall per kind and amount of variation at the default threshold.
    pub per_variation: Vec<GroupRecall>,
    /// Per object: the highest score in a picture without it (how close clutter comes),
    /// and where.
    pub worst_negative: Vec<WorstNegative>,
    /// Time per snapshot.
    pub timing: Vec<TeachTiming>,
}

/// How close pictures without an object came to matching it.
#[derive(Debug, Clone, Serialize)]
pub struct WorstNegative {
    /// The object.
    pub object: String,
    /// The highest score in a picture without it.
    pub score: f32,
    /// That picture's photograph, and the object pasted on it if any.
    pub picture: String,
    /// Searches without the object that matched at the default threshold.
    pub false_matches: usize,
}

/// Whether a trial belongs to a group.
type Member = fn(&PositiveTrial) -> bool;

/// The false-match share the suggested threshold keeps under.
pub const SUGGESTION_FALSE_MATCHES: f64 = 0.005;

impl TeachReport {
    /// Builds the tables from the trials.
    pub(crate) fn new(
        photos: Vec<String>,
        objects: Vec<String>,
        variations: usize,
        seed: u64,
        trials: &Trials,
        default_threshold: f32,
    ) -> TeachReport {
        // The suggestion is searched in steps of 0.01; the table shows steps of 0.05, the
        // default and the suggestion.
        let suggested_threshold = (20..=95)
            .map(|i| i as f32 / 100.0)
            .find(|&t| threshold_row(trials, t).false_matches <= SUGGESTION_FALSE_MATCHES);
        let mut thresholds: Vec<f32> = (8..=17).map(|i| i as f32 * 0.05).collect();
        thresholds.push(default_threshold);
        thresholds.extend(suggested_threshold);
        thresholds.sort_by(f32::total_cmp);
        thresholds.dedup_by(|a, b| (*a - *b).abs() < 1e-4);
        let table: Vec<ThresholdRow> = thresholds
            .iter()
            .map(|&t| threshold_row(trials, t))
            .collect();
        let per_object = objects
            .iter()
            .enumerate()
            .map(|(o, name)| group(name.clone(), trials, default_threshold, |p| p.object == o))
            .collect();
        let bands: [(&str, Member); 9] = [
            ("scale 0.7-0.9", |p| p.variation.scale < 0.9),
            ("scale 0.9-1.15", |p| {
                (0.9..1.15).contains(&p.variation.scale)
            }),
            ("scale 1.15-1.4", |p| p.variation.scale >= 1.15),
            ("rotation 0-3°", |p| p.variation.rotation_deg.abs() < 3.0),
            ("rotation 3-7°", |p| {
                (3.0..7.0).contains(&p.variation.rotation_deg.abs())
            }),
            ("rotation 7-10°", |p| p.variation.rotation_deg.abs() >= 7.0),
            ("gain 0.6-0.85", |p| p.variation.gain < 0.85),
            ("gain 0.85-1.15", |p| {
                (0.85..1.15).contains(&p.variation.gain)
            }),
            ("gain 1.15-1.4", |p| p.variation.gain >= 1.15),
        ];
        let per_variation = bands
            .iter()
            .map(|(name, f)| group((*name).to_string(), trials, default_threshold, f))
            .collect();
        let worst_negative = objects
            .iter()
            .enumerate()
            .map(|(o, name)| {
                let mine = || trials.negatives.iter().filter(move |n| n.object == o);
                let worst = mine().max_by(|a, b| a.score.total_cmp(&b.score));
                WorstNegative {
                    object: name.clone(),
                    score: worst.map_or(-1.0, |n| n.score),
                    picture: worst.map_or(String::new(), |n| {
                        let background = photos.get(n.background).cloned().unwrap_or_default();
                        match n.pasted.and_then(|p| objects.get(p)) {
                            Some(pasted) => format!("{background} with {pasted}"),
                            None => background,
                        }
                    }),
                    false_matches: mine().filter(|n| n.score >= default_threshold).count(),
                }
            })
            .collect();
        TeachReport {
            photos,
            objects,
            variations,
            seed,
            positives: trials.positives.len(),
            negatives: trials.negatives.len(),
            refused: Vec::new(),
            template_bytes: 0,
            table,
            suggested_threshold,
            default_threshold,
            per_object,
            per_variation,
            worst_negative,
            timing: Vec::new(),
        }
    }
}

fn ratio(count: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

fn threshold_row(trials: &Trials, t: f32) -> ThresholdRow {
    let found = trials
        .positives
        .iter()
        .filter(|p| p.score >= t && p.iou >= MIN_IOU)
        .count();
    let wrong = trials
        .positives
        .iter()
        .filter(|p| p.score >= t && p.iou < MIN_IOU)
        .count();
    let false_match_count = trials.negatives.iter().filter(|n| n.score >= t).count();
    ThresholdRow {
        threshold: t,
        recall: ratio(found, trials.positives.len()),
        wrong_place: ratio(wrong, trials.positives.len()),
        false_matches: ratio(false_match_count, trials.negatives.len()),
        false_match_count,
    }
}

fn group(
    name: String,
    trials: &Trials,
    t: f32,
    member: impl Fn(&PositiveTrial) -> bool,
) -> GroupRecall {
    let members: Vec<&PositiveTrial> = trials.positives.iter().filter(|p| member(p)).collect();
    let found = members
        .iter()
        .filter(|p| p.score >= t && p.iou >= MIN_IOU)
        .count();
    let mean_score = if members.is_empty() {
        0.0
    } else {
        members.iter().map(|p| f64::from(p.score)).sum::<f64>() / members.len() as f64
    };
    GroupRecall {
        group: name,
        trials: members.len(),
        recall: ratio(found, members.len()),
        mean_score,
    }
}

impl fmt::Display for TeachReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} objects on {} photographs, {} paste(s) per pair (seed {}): {} searches with the object, {} without; templates up to {} bytes",
            self.objects.len(),
            self.photos.len(),
            self.variations,
            self.seed,
            self.positives,
            self.negatives,
            self.template_bytes
        )?;
        for r in &self.refused {
            writeln!(f, "not taught: {r}")?;
        }
        writeln!(
            f,
            "\n{:>9} {:>8} {:>12} {:>14}",
            "threshold", "recall", "wrong place", "false matches"
        )?;
        for r in &self.table {
            writeln!(
                f,
                "{:>9.2} {:>7.1}% {:>11.1}% {:>8.2}% ({:>4}){}",
                r.threshold,
                100.0 * r.recall,
                100.0 * r.wrong_place,
                100.0 * r.false_matches,
                r.false_match_count,
                if (r.threshold - self.default_threshold).abs() < 1e-4 {
                    "  <- default"
                } else if self
                    .suggested_threshold
                    .is_some_and(|t| (r.threshold - t).abs() < 1e-4)
                {
                    "  <- suggested"
                } else {
                    ""
                }
            )?;
        }
        match self.suggested_threshold {
            Some(t) => writeln!(
                f,
                "lowest threshold with at most {:.1}% false matches: {t:.2}",
                100.0 * SUGGESTION_FALSE_MATCHES
            )?,
            None => writeln!(
                f,
                "no threshold keeps false matches under {:.1}%",
                100.0 * SUGGESTION_FALSE_MATCHES
            )?,
        }
        writeln!(
            f,
            "\nat threshold {:.2}: {:<18} {:>6} {:>8} {:>10}",
            self.default_threshold, "", "trials", "recall", "mean score"
        )?;
        for g in self.per_variation.iter().chain(&self.per_object) {
            writeln!(
                f,
                "  {:<34} {:>6} {:>7.1}% {:>10.2}",
                g.group,
                g.trials,
                100.0 * g.recall,
                g.mean_score
            )?;
        }
        writeln!(
            f,
            "\nwithout the object: false matches at {:.2}, and the highest score:",
            self.default_threshold
        )?;
        for w in &self.worst_negative {
            writeln!(
                f,
                "  {:<20} {:>4}  {:>5.2} on {}",
                w.object, w.false_matches, w.score, w.picture
            )?;
        }
        for t in &self.timing {
            writeln!(
                f,
                "\n{} pictures of {}: scene {:.1} ms, one template {:.1} ms, scene + 3 templates {:.1} ms",
                t.pictures, t.size, t.scene_ms, t.find_ms, t.three_templates_ms
            )?;
            for d in &t.detection {
                match &d.unavailable {
                    Some(reason) => writeln!(f, "  {:<24} unavailable: {reason}", d.backend)?,
                    None => writeln!(
                        f,
                        "  {:<24} detection {:>7.1} ms; with 3 templates +{:.0}% ({:.2}x the detection time)",
                        d.backend,
                        d.detect_ms,
                        100.0 * d.ratio,
                        1.0 + d.ratio
                    )?,
                }
            }
        }
        Ok(())
    }
}
