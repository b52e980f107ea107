//! Just enough of the Prometheus text format to read the daemon's `/metrics`: plain samples by
//! name and one label, and histograms (cumulative buckets) with their differences and
//! bucket-resolution quantiles.

/// One scrape of `/metrics`.
pub(crate) struct Scrape {
    samples: Vec<(String, String, f64)>,
}

impl Scrape {
    pub(crate) fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let value = value.parse().ok()?;
                let (name, labels) = match series.split_once('{') {
                    Some((name, labels)) => (name, labels.trim_end_matches('}')),
                    None => (series, ""),
                };
                Some((name.to_owned(), labels.to_owned(), value))
            })
            .collect();
        Scrape { samples }
    }

    /// The sample `name` whose labels include `label` (e.g. `outcome="ok"`), or 0.
    pub(crate) fn value(&self, name: &str, label: &str) -> f64 {
        self.samples
            .iter()
            .find(|(n, labels, _)| n == name && labels.contains(label))
            .map_or(0.0, |(_, _, value)| *value)
    }

    pub(crate) fn histogram(&self, name: &str) -> Histogram {
        let bucket_name = format!("{name}_bucket");
        let mut buckets: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter(|(n, _, _)| *n == bucket_name)
            .filter_map(|(_, labels, count)| {
                let bound = labels.strip_prefix("le=\"")?.trim_end_matches('"');
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse().ok()?
                };
                Some((bound, *count))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Histogram {
            buckets,
            count: self.value(&format!("{name}_count"), ""),
            sum: self.value(&format!("{name}_sum"), ""),
        }
    }
}

/// A histogram: `(upper bound, cumulative count)` per bucket, ascending, `+Inf` last.
#[derive(Debug, Clone, Default)]
pub(crate) struct Histogram {
    buckets: Vec<(f64, f64)>,
    pub count: f64,
    pub sum: f64,
}

impl Histogram {
    /// The observations made after `earlier` was scraped.
    pub(crate) fn since(&self, earlier: &Histogram) -> Histogram {
        let buckets = self
            .buckets
            .iter()
            .map(|&(bound, count)| {
                let before = earlier
                    .buckets
                    .iter()
                    .find(|(b, _)| *b == bound)
                    .map_or(0.0, |(_, c)| *c);
                (bound, count - before)
            })
            .collect();
        Histogram {
            buckets,
            count: self.count - earlier.count,
            sum: self.sum - earlier.sum,
        }
    }

    /// The upper bound of the bucket holding quantile `q` (1.0: the largest observation).
    pub(crate) fn quantile_bound(&self, q: f64) -> f64 {
        let rank = (q * self.count).ceil().max(1.0);
        self.buckets
            .iter()
            .find(|(_, cumulative)| *cumulative >= rank)
            .map_or(f64::INFINITY, |(bound, _)| *bound)
    }

    /// Fraction of observations at most `bound` (which should be a bucket bound).
    pub(crate) fn fraction_within(&self, bound: f64) -> f64 {
        if self.count == 0.0 {
            return 1.0;
        }
        let within = self
            .buckets
            .iter()
            .filter(|(b, _)| *b <= bound)
            .map(|(_, c)| *c)
            .fold(0.0, f64::max);
        within / self.count
    }

    pub(crate) fn mean(&self) -> f64 {
        if self.count == 0.0 {
            0.0
        } else {
            self.sum / self.count
        }
    }

    /// `≤ 0.01 s` or `> 30 s` for the bucket of quantile `q`.
    pub(crate) fn show_quantile(&self, q: f64) -> String {
        let bound = self.quantile_bound(q);
        if bound.is_finite() {
            format!("≤ {bound} s")
        } else {
            let last = self
                .buckets
                .iter()
                .rev()
                .find(|(b, _)| b.is_finite())
                .map_or(0.0, |(b, _)| *b);
            format!("> {last} s")
        }
    }
}
