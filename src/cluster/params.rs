//! Clustering parameters per category family (`[cluster]` in the settings).
//!
//! A family is a set of taxonomy leaves that repeat alike: how far apart two
//! calls about one event may be (metres), how long the event stays "live"
//! between two calls (the quiet period after which the cluster closes), and
//! how far a shared caller or a shared entity (company, address) stretches
//! that. Calls of different families never join one cluster: a fight and a
//! noise complaint at the same door in the same hour stay apart.

use serde::Deserialize;

/// One family's rule. Times are hours, distances metres.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Family {
    /// Stable name (`noise`, `traffic`, …); also what the API shows.
    pub name: String,
    /// Leaves (`02.08`) or whole groups (`08`) of the taxonomy; the longest
    /// matching prefix over all families decides a leaf's family.
    pub leaves: Vec<String>,
    /// Two calls at most this far apart (haversine) can be one event.
    pub radius_m: f64,
    /// … and at most this far apart in event time. A cluster whose newest
    /// call is older than this is closed (nothing can join it any more).
    pub gap_hours: f64,
    /// Different leaves of the family join on place and time only when their
    /// texts are this similar (Jaccard over character bigrams); `> 1` means
    /// "same leaf only" (chronic nuisances of different kinds stay apart).
    #[serde(default = "default_text_similarity")]
    pub min_text_similarity: f32,
    /// The same caller (keyed phone hash) links calls up to this far apart …
    #[serde(default = "default_caller_radius")]
    pub caller_radius_m: f64,
    /// … and this far apart in time (default: `gap_hours`).
    #[serde(default)]
    pub caller_gap_hours: Option<f64>,
    /// A shared entity (the same company or address, hashed) links calls at
    /// any distance this far apart in time; absent: entities do not link.
    #[serde(default)]
    pub entity_gap_hours: Option<f64>,
    /// A channel rather than a kind (petitions, reports): its calls also link
    /// by a shared entity, within this family's entity gap, to calls of any
    /// family that links by entities itself (a 信访 letter about company X's
    /// unpaid wages joins the wage dispute about X).
    #[serde(default)]
    pub entity_links_any_family: bool,
}

fn default_text_similarity() -> f32 {
    0.25
}
fn default_caller_radius() -> f64 {
    3_000.0
}

impl Family {
    pub fn gap_us(&self) -> i64 {
        hours_us(self.gap_hours)
    }
    pub fn caller_gap_us(&self) -> i64 {
        hours_us(self.caller_gap_hours.unwrap_or(self.gap_hours))
    }
    pub fn entity_gap_us(&self) -> Option<i64> {
        self.entity_gap_hours.map(hours_us)
    }
    /// The longest time this family links over.
    pub fn max_gap_us(&self) -> i64 {
        self.gap_us()
            .max(self.caller_gap_us())
            .max(self.entity_gap_us().unwrap_or(0))
    }

    fn check(&self) -> Result<(), String> {
        let ok = |v: f64| v.is_finite() && v > 0.0;
        if self.name.trim().is_empty() {
            return Err("name: empty".into());
        }
        if !ok(self.radius_m) || self.radius_m > 50_000.0 {
            return Err(format!("{}.radius_m: must be in (0, 50000]", self.name));
        }
        if !ok(self.gap_hours) || self.gap_hours > 24.0 * 120.0 {
            return Err(format!("{}.gap_hours: must be in (0, 2880]", self.name));
        }
        if !ok(self.caller_radius_m) {
            return Err(format!("{}.caller_radius_m: must be > 0", self.name));
        }
        for (k, v) in [
            ("caller_gap_hours", self.caller_gap_hours),
            ("entity_gap_hours", self.entity_gap_hours),
        ] {
            if let Some(v) = v {
                if !ok(v) || v > 24.0 * 120.0 {
                    return Err(format!("{}.{k}: must be in (0, 2880]", self.name));
                }
            }
        }
        if self.min_text_similarity.is_nan() || self.min_text_similarity < 0.0 {
            return Err(format!("{}.min_text_similarity: must be ≥ 0", self.name));
        }
        Ok(())
    }
}

fn hours_us(h: f64) -> i64 {
    (h * 3_600_000_000.0) as i64
}

/// `[cluster]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// How late (event time behind the newest call seen) a record may arrive
    /// and still cluster exactly as if it had come live. Later records still
    /// join what is in memory, but calls older than this plus their family's
    /// gap have been let go.
    pub lateness_hours: f64,
    /// Calls kept in memory at most (oldest let go first).
    pub max_calls: usize,
    /// The families; a leaf no family names falls into the last family
    /// named `other` (which must exist).
    pub families: Vec<Family>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        let f = |name: &str,
                 leaves: &[&str],
                 radius_m: f64,
                 gap_hours: f64,
                 min_text_similarity: f32,
                 caller: (f64, Option<f64>),
                 entity_gap_hours: Option<f64>| Family {
            entity_links_any_family: false,
            name: name.into(),
            leaves: leaves.iter().map(|s| s.to_string()).collect(),
            radius_m,
            gap_hours,
            min_text_similarity,
            caller_radius_m: caller.0,
            caller_gap_hours: caller.1,
            entity_gap_hours,
        };
        let same_leaf = 2.0;
        Self {
            lateness_hours: 48.0,
            max_calls: 1_000_000,
            families: vec![
                // neighbours call about the same party / construction site / KTV.
                // Any noise call within 200 m and 3 h links: callers name one
                // source in unrelated words ("楼下KTV唱歌" / "半夜放音乐") and
                // the classifier splits it over the three leaves.
                f(
                    "noise",
                    &["02.08", "10.03", "10.04"],
                    200.0,
                    3.0,
                    0.0,
                    (1_000.0, Some(12.0)),
                    None,
                ),
                // several drivers report the same crash within the hour
                f(
                    "traffic",
                    &["03"],
                    300.0,
                    1.0,
                    0.25,
                    (2_000.0, Some(3.0)),
                    None,
                ),
                // wage and debt disputes about one company: days and kilometres
                // (the same company links by its entity; nearby only within
                // 100 m and a day: an industrial park holds many companies
                // whose workers all say "拖欠工资")
                f(
                    "wage_debt",
                    &["08", "06.05", "07.06"],
                    100.0,
                    24.0,
                    0.2,
                    (20_000.0, Some(24.0 * 14.0)),
                    Some(24.0 * 30.0),
                ),
                // neighbour, family, property disputes: the same parties again
                // (one home: 100 m; the parties again link by caller/address)
                f(
                    "dispute",
                    &["07", "02.02", "02.05"],
                    100.0,
                    72.0,
                    0.25,
                    (5_000.0, Some(24.0 * 14.0)),
                    Some(24.0 * 14.0),
                ),
                // chronic nuisances at one address, weeks apart; kinds apart
                // (one address, not the block: 60 m)
                f(
                    "nuisance",
                    &["09", "10", "11.04", "11.05"],
                    60.0,
                    24.0 * 21.0,
                    same_leaf,
                    (1_000.0, None),
                    Some(24.0 * 30.0),
                ),
                // a fire or flood is seen (and called in) from far away
                f(
                    "fire_disaster",
                    &["04"],
                    600.0,
                    2.0,
                    0.2,
                    (3_000.0, None),
                    None,
                ),
                f(
                    "crime_order",
                    &["01", "02"],
                    150.0,
                    2.0,
                    0.3,
                    (3_000.0, Some(24.0)),
                    None,
                ),
                // the family of a missing person calls again from where it
                // searches, kilometres apart; such reports are few a day
                f(
                    "missing",
                    &["05.01"],
                    3_000.0,
                    12.0,
                    same_leaf,
                    (5_000.0, Some(24.0)),
                    None,
                ),
                f(
                    "help",
                    &["05"],
                    300.0,
                    2.0,
                    0.3,
                    (3_000.0, Some(12.0)),
                    None,
                ),
                f(
                    "group",
                    &["06"],
                    1_000.0,
                    12.0,
                    0.2,
                    (5_000.0, None),
                    Some(24.0 * 7.0),
                ),
                // petitions and reports: the same petitioner, the same matter;
                // a channel, so its entities reach other families' clusters
                Family {
                    entity_links_any_family: true,
                    ..f(
                        "petition",
                        &["12", "13"],
                        500.0,
                        24.0 * 7.0,
                        0.25,
                        (50_000.0, Some(24.0 * 60.0)),
                        Some(24.0 * 60.0),
                    )
                },
                f("other", &[], 250.0, 2.0, same_leaf, (1_000.0, None), None),
            ],
        }
    }
}

impl ClusterConfig {
    /// Checks the settings; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.lateness_hours.is_finite() && self.lateness_hours >= 0.0) {
            return Err("cluster.lateness_hours: must be ≥ 0".into());
        }
        if self.max_calls < 1_000 {
            return Err("cluster.max_calls: must be ≥ 1000".into());
        }
        if self.families.len() > 250 {
            return Err("cluster.families: at most 250".into());
        }
        if !self.families.iter().any(|f| f.name == "other") {
            return Err("cluster.families: a family named `other` is required".into());
        }
        let mut seen = std::collections::HashSet::new();
        for f in &self.families {
            f.check().map_err(|e| format!("cluster.families.{e}"))?;
            if !seen.insert(f.name.as_str()) {
                return Err(format!("cluster.families.{}: named twice", f.name));
            }
        }
        Ok(())
    }

    /// The family index of a leaf (`None`: unclassified → `other`).
    pub fn family_of(&self, leaf: Option<&str>) -> usize {
        let other = self
            .families
            .iter()
            .position(|f| f.name == "other")
            .unwrap_or(self.families.len().saturating_sub(1));
        let Some(leaf) = leaf else { return other };
        let mut best: Option<(usize, usize)> = None;
        for (i, f) in self.families.iter().enumerate() {
            for p in &f.leaves {
                let hit =
                    leaf == p || (leaf.starts_with(p.as_str()) && leaf[p.len()..].starts_with('.'));
                if hit && best.is_none_or(|(len, _)| p.len() > len) {
                    best = Some((p.len(), i));
                }
            }
        }
        best.map(|(_, i)| i).unwrap_or(other)
    }

    pub fn lateness_us(&self) -> i64 {
        hours_us(self.lateness_hours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_families_resolve_by_longest_prefix() {
        let c = ClusterConfig::default();
        c.validate().unwrap();
        let name = |leaf: Option<&str>| c.families[c.family_of(leaf)].name.as_str();
        assert_eq!(name(Some("02.08")), "noise");
        assert_eq!(name(Some("02.01")), "crime_order");
        assert_eq!(name(Some("02.02")), "dispute");
        assert_eq!(name(Some("07.06")), "wage_debt");
        assert_eq!(name(Some("07.02")), "dispute");
        assert_eq!(name(Some("08.01")), "wage_debt");
        assert_eq!(name(Some("03.01")), "traffic");
        assert_eq!(name(Some("10.05")), "nuisance");
        assert_eq!(name(Some("14.02")), "other");
        assert_eq!(name(None), "other");
        // "1" is not a prefix of "10.05" in the taxonomy's sense
        let mut odd = c.clone();
        odd.families[0].leaves = vec!["1".into()];
        assert_eq!(odd.families[odd.family_of(Some("10.05"))].name, "nuisance");
    }

    #[test]
    fn bad_settings_name_the_key() {
        let mut c = ClusterConfig::default();
        c.families[1].radius_m = -3.0;
        assert!(c.validate().unwrap_err().contains("traffic.radius_m"));
        let mut c = ClusterConfig::default();
        c.families.retain(|f| f.name != "other");
        assert!(c.validate().unwrap_err().contains("other"));
        let mut c = ClusterConfig::default();
        c.families[2].entity_gap_hours = Some(f64::NAN);
        assert!(c
            .validate()
            .unwrap_err()
            .contains("wage_debt.entity_gap_hours"));
    }
}
