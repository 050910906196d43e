//! One histogram read from a node's `/metrics` (Prometheus text): cumulative bucket counts,
//! so two readings give the histogram of what happened between them.

use anyhow::Context;
use reqwest::Url;

#[derive(Debug, Clone, Default)]
pub struct Histogram {
    /// (upper bound in seconds, cumulative count), ascending; the last bound is +Inf.
    buckets: Vec<(f64, f64)>,
}

impl Histogram {
    /// Parses `name`'s buckets out of `text`.
    pub fn parse(text: &str, name: &str) -> Histogram {
        let prefix = format!("{name}_bucket{{");
        let mut buckets: Vec<(f64, f64)> = text
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| {
                let le = l.split("le=\"").nth(1)?.split('"').next()?;
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                let count = l.rsplit_once(' ')?.1.parse().ok()?;
                Some((bound, count))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Histogram { buckets }
    }

    /// What was counted after `earlier`.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let buckets = self
            .buckets
            .iter()
            .map(|(bound, count)| {
                let before = earlier
                    .buckets
                    .iter()
                    .find(|(b, _)| b == bound)
                    .map_or(0.0, |(_, c)| *c);
                (*bound, count - before)
            })
            .collect();
        Histogram { buckets }
    }

    /// The upper bound of the bucket holding quantile `q` (`None` with no observations).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.buckets.last()?.1;
        if total <= 0.0 {
            return None;
        }
        self.buckets
            .iter()
            .find(|(_, count)| *count >= q * total)
            .map(|(bound, _)| *bound)
    }
}

/// Reads `name` from the node's `/metrics` at `url`.
pub async fn histogram(http: &reqwest::Client, url: &Url, name: &str) -> anyhow::Result<Histogram> {
    let text = http
        .get(url.clone())
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("cannot read {url}"))?
        .text()
        .await?;
    Ok(Histogram::parse(&text, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_buckets_between_two_readings() {
        let before = Histogram::parse(
            "x_bucket{le=\"0.001\"} 5\nx_bucket{le=\"0.005\"} 5\nx_bucket{le=\"+Inf\"} 5\n",
            "x",
        );
        let after = Histogram::parse(
            "x_bucket{le=\"0.001\"} 95\nx_bucket{le=\"0.005\"} 104\nx_bucket{le=\"+Inf\"} 105\n",
            "x",
        );
        let window = after.since(&before);
        assert_eq!(window.quantile(0.5), Some(0.001));
        assert_eq!(window.quantile(0.99), Some(0.005));
        assert_eq!(before.since(&before).quantile(0.5), None);
    }
}
