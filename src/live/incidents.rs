//! The recent-incident set: an R-tree for bbox queries plus a time order for
//! newest-first answers and eviction. Owned by the writer only.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rstar::{primitives::GeomWithData, Envelope, RTree, AABB};

use super::Retention;
use crate::domain::{Bbox, Incident};

type Entry = GeomWithData<[f64; 2], i64>;

pub struct RecentIncidents {
    tree: RTree<Entry>,
    by_id: HashMap<i64, Arc<Incident>>,
    /// Each incident's Feature, serialised once at insert: snapshots (and
    /// resyncs, which come in storms when screens fall behind) splice text
    /// instead of re-serialising up to 2,000 features each.
    features: HashMap<i64, Arc<str>>,
    by_time: BTreeSet<(DateTime<Utc>, i64)>,
    retention: Retention,
}

impl RecentIncidents {
    pub fn new(retention: Retention) -> Self {
        Self {
            tree: RTree::new(),
            by_id: HashMap::new(),
            features: HashMap::new(),
            by_time: BTreeSet::new(),
            retention,
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Whether an incident reported at `reported_at` is within the retention age.
    pub fn retains(&self, reported_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        reported_at >= now - self.retention.max_age
    }

    /// Adds an incident; answers its Feature text (serialised once here).
    pub fn insert(&mut self, i: Arc<Incident>) -> Arc<str> {
        if let Some(f) = self.features.get(&i.id) {
            return f.clone();
        }
        let feature: Arc<str> = Arc::from(i.to_feature().to_string());
        self.features.insert(i.id, feature.clone());
        // unlocated incidents are kept in time order only (no box holds them)
        if let Some(p) = i.position {
            self.tree
                .insert(GeomWithData::new([p.lon(), p.lat()], i.id));
        }
        self.by_time.insert((i.reported_at, i.id));
        self.by_id.insert(i.id, i);
        feature
    }

    /// After a merge (`moved`: every member of `from` now in `to`) or a split
    /// (`reassigned`: one incident to a cluster): the incidents' cluster ids
    /// and their pre-serialised Features follow.
    pub fn recluster(&mut self, moved: &[(i64, i64)], reassigned: &[(i64, i64)]) {
        let mut changes: HashMap<i64, i64> = reassigned.iter().copied().collect();
        if !moved.is_empty() {
            for (id, i) in &self.by_id {
                let mut c = i.cluster_id;
                for (from, to) in moved {
                    if c == Some(*from) {
                        c = Some(*to);
                    }
                }
                if c != i.cluster_id {
                    if let Some(c) = c {
                        changes.entry(*id).or_insert(c);
                    }
                }
            }
        }
        for (id, cluster) in changes {
            if let Some(i) = self.by_id.get_mut(&id) {
                let mut copy = (**i).clone();
                copy.cluster_id = Some(cluster);
                let feature: Arc<str> = Arc::from(copy.to_feature().to_string());
                *i = Arc::new(copy);
                self.features.insert(id, feature);
            }
        }
    }

    /// A held incident's position and pre-serialised Feature.
    pub fn held(&self, id: i64) -> Option<(Option<crate::domain::Position>, Arc<str>)> {
        let i = self.by_id.get(&id)?;
        Some((i.position, self.features.get(&id)?.clone()))
    }

    /// Drops incidents older than the retention age, then the oldest beyond the count.
    pub fn evict(&mut self, now: DateTime<Utc>) {
        let cutoff = now - self.retention.max_age;
        while let Some(&(t, id)) = self.by_time.first() {
            if t >= cutoff && self.by_id.len() <= self.retention.max_count {
                break;
            }
            self.by_time.pop_first();
            self.features.remove(&id);
            if let Some(p) = self.by_id.remove(&id).and_then(|i| i.position) {
                self.tree.remove(&GeomWithData::new([p.lon(), p.lat()], id));
            }
        }
    }

    /// Up to `limit` incidents inside `bbox`, newest first.
    ///
    /// Two plans, chosen by how many hits the box is expected to hold (the
    /// share of the data envelope it covers): a small box asks the R-tree and
    /// sorts its few hits; a large one walks the time order from the newest
    /// and stops at `limit`, so a district-wide subscribe costs O(limit), not
    /// a sort of every recent incident on the writer.
    pub fn newest_in(&self, bbox: Bbox, limit: usize) -> Vec<Arc<Incident>> {
        self.newest_ids_in(bbox, limit)
            .into_iter()
            .filter_map(|id| self.by_id.get(&id).cloned())
            .collect()
    }

    /// [`RecentIncidents::newest_in`] as pre-serialised Feature texts.
    pub fn newest_features_in(&self, bbox: Bbox, limit: usize) -> Vec<Arc<str>> {
        self.newest_ids_in(bbox, limit)
            .into_iter()
            .filter_map(|id| self.features.get(&id).cloned())
            .collect()
    }

    fn newest_ids_in(&self, bbox: Bbox, limit: usize) -> Vec<i64> {
        if self.tree.size() == 0 || limit == 0 {
            return Vec::new();
        }
        let env = AABB::from_corners([bbox.west, bbox.south], [bbox.east, bbox.north]);
        let data = self.tree.root().envelope();
        let share = env.intersection_area(&data) / data.area().max(f64::MIN_POSITIVE);
        let expected = share * self.by_id.len() as f64;
        if expected > 4.0 * limit as f64 {
            return self
                .by_time
                .iter()
                .rev()
                .filter_map(|(_, id)| self.by_id.get(id))
                .filter(|i| i.position.is_some_and(|p| bbox.contains(p)))
                .take(limit)
                .map(|i| i.id)
                .collect();
        }
        let mut hits: Vec<&Arc<Incident>> = self
            .tree
            .locate_in_envelope(&env)
            .filter_map(|e| self.by_id.get(&e.data))
            .collect();
        hits.sort_unstable_by_key(|i| std::cmp::Reverse((i.reported_at, i.id)));
        hits.into_iter().take(limit).map(|i| i.id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Position, Source};
    use chrono::Duration;

    fn inc(id: i64, lon: f64, minutes_ago: i64, now: DateTime<Utc>) -> Arc<Incident> {
        Arc::new(Incident {
            id,
            source: Source::Police110,
            source_id: id.to_string(),
            reported_at: now - Duration::minutes(minutes_ago),
            received_at: now,
            position: Some(Position::new(lon, 28.6).unwrap()),
            category: None,
            description: None,
            address: None,
            priority: None,
            demo: false,
            jurisdiction: Default::default(),
            detail: Default::default(),
            cluster_id: None,
        })
    }

    #[test]
    fn newest_first_inside_bbox_and_eviction() {
        let now = Utc::now();
        let mut set = RecentIncidents::new(Retention {
            max_age: Duration::hours(1),
            max_count: 3,
        });
        set.insert(inc(1, 121.10, 50, now));
        set.insert(inc(2, 121.20, 10, now));
        set.insert(inc(3, 121.21, 5, now));
        set.insert(inc(4, 125.00, 1, now)); // outside the box
        set.insert(inc(5, 121.22, 90, now)); // too old
        let b = Bbox::new(121.0, 28.5, 121.3, 28.7).unwrap();
        let ids: Vec<i64> = set.newest_in(b, 10).iter().map(|i| i.id).collect();
        assert_eq!(ids, vec![3, 2, 1, 5]);
        assert_eq!(set.newest_in(b, 2).len(), 2);
        set.evict(now);
        // 5 is past max_age; then the oldest beyond max_count (1) goes
        let ids: Vec<i64> = set
            .newest_in(Bbox::world(), 10)
            .iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(ids, vec![4, 3, 2]);
        assert_eq!(set.len(), 3);
    }

    /// Both plans give the same answer: a box small enough for the R-tree
    /// and a world box that takes the time-order walk.
    #[test]
    fn both_plans_agree() {
        let now = Utc::now();
        let mut set = RecentIncidents::new(Retention {
            max_age: Duration::hours(100),
            max_count: 10_000,
        });
        for id in 0..1_000 {
            let lon = 121.0 + (id % 100) as f64 * 0.003;
            set.insert(inc(id, lon, id % 500, now));
        }
        let world: Vec<i64> = set
            .newest_in(Bbox::world(), 10)
            .iter()
            .map(|i| i.id)
            .collect();
        let mut all: Vec<_> = set.by_id.values().collect();
        all.sort_by_key(|i| std::cmp::Reverse((i.reported_at, i.id)));
        let want: Vec<i64> = all.iter().take(10).map(|i| i.id).collect();
        assert_eq!(world, want);
        // a narrow box: only lon < 121.0295 (ids with id % 100 < 10)
        let narrow = Bbox::new(120.99, 28.5, 121.0295, 28.7).unwrap();
        let got: Vec<i64> = set.newest_in(narrow, 5).iter().map(|i| i.id).collect();
        let want: Vec<i64> = all
            .iter()
            .filter(|i| i.id % 100 < 10)
            .take(5)
            .map(|i| i.id)
            .collect();
        assert_eq!(got, want);
    }
}
