//! Live heat: incidents aggregated on H3 cells at resolutions 7–10, overall
//! and per category, with exponential time decay by event time
//! (`reported_at`), updated incrementally — one O(1) update per (resolution,
//! group) for each incident, never a recomputation.
//!
//! Two surfaces share each cell: the **live** overlay (half-life 24 h) and
//! the **risk** surface (half-life 30 days). The intensity of a cell at time
//! t is Σ 2^(−(t − tᵢ)/h) over its incidents. Each cell stores
//! S = Σ 2^((tᵢ − T₀)/h) about a fixed epoch T₀, so adding an incident is one
//! addition whatever its time (late or out-of-order records land exactly
//! where they belong: time is event time, not arrival time), and reading is
//! S · 2^(−(t − T₀)/h). When an exponent would grow large the epoch moves
//! forward and every cell is rescaled once (see [`REBASE_HALF_LIVES`]).
//! Rejected: decaying every cell on a timer (O(cells) per tick, and wrong for
//! late records), and recomputing windows from PostGIS per request.
//!
//! Groups: `None` = all incidents; `Some(category)` = the incident's own
//! category text until the classification issue adds taxonomy groups.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use h3o::{CellIndex, LatLng, Resolution};

use crate::domain::{Bbox, Position};

/// Resolutions kept: 7 (≈ 5 km²) to 10 (≈ 0.015 km²).
pub const RESOLUTIONS: [u8; 4] = [7, 8, 9, 10];
/// Rebase the epoch when (t − T₀) exceeds this many half-lives (2^400 ≪ f64::MAX).
pub const REBASE_HALF_LIVES: f64 = 400.0;

/// Which decayed surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Live,
    Risk,
}

impl Surface {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(Surface::Live),
            "risk" => Some(Surface::Risk),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Surface::Live => "live",
            Surface::Risk => "risk",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct HeatConfig {
    pub live_half_life: Duration,
    pub risk_half_life: Duration,
}

impl Default for HeatConfig {
    fn default() -> Self {
        Self {
            live_half_life: Duration::hours(24),
            risk_half_life: Duration::days(30),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sums {
    live: f64,
    risk: f64,
    count: u64,
    /// The cell's centre, kept so a viewport query is a plain filter.
    lon: f64,
    lat: f64,
}

/// Key of one aggregate: resolution, group id (0 = all), cell.
type Key = (u8, u32, u64);
/// One layer of aggregates: a resolution and a group.
type LayerKey = (u8, u32);

/// One cell's value as read at an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellValue {
    pub cell: CellIndex,
    pub intensity: f64,
    pub count: u64,
    /// The cell's centre.
    pub lon: f64,
    pub lat: f64,
}

#[derive(Debug)]
pub struct Heat {
    cfg: HeatConfig,
    epoch_ms: i64,
    /// Per (resolution, group), its cells: a viewport query touches one
    /// layer only (rejected: one flat map over every layer, which made a
    /// query walk ~700k aggregates at 1M incidents, BENCHMARKS.md).
    layers: HashMap<LayerKey, HashMap<u64, Sums>>,
    groups: HashMap<String, u32>,
    /// Keys changed since the last [`Heat::take_changed`].
    changed: HashSet<Key>,
    incidents: u64,
}

fn res_of(r: u8) -> Resolution {
    Resolution::try_from(r).unwrap_or(Resolution::Ten)
}

/// The resolution-10 cell of a position.
pub fn cell_r10(p: Position) -> Option<CellIndex> {
    LatLng::new(p.lat(), p.lon())
        .ok()
        .map(|ll| ll.to_cell(Resolution::Ten))
}

impl Heat {
    pub fn new(cfg: HeatConfig, epoch: DateTime<Utc>) -> Self {
        Self {
            cfg,
            epoch_ms: epoch.timestamp_millis(),
            layers: HashMap::new(),
            groups: HashMap::new(),
            changed: HashSet::new(),
            incidents: 0,
        }
    }

    pub fn config(&self) -> HeatConfig {
        self.cfg
    }

    pub fn half_life(&self, s: Surface) -> Duration {
        match s {
            Surface::Live => self.cfg.live_half_life,
            Surface::Risk => self.cfg.risk_half_life,
        }
    }

    pub fn incidents(&self) -> u64 {
        self.incidents
    }

    /// Aggregates kept, over all resolutions and groups.
    pub fn len(&self) -> usize {
        self.layers.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.values().all(HashMap::is_empty)
    }

    fn exponent(&self, t_ms: i64, h: Duration) -> f64 {
        (t_ms - self.epoch_ms) as f64 / h.num_milliseconds().max(1) as f64
    }

    fn group_id(&mut self, category: Option<&str>) -> Option<u32> {
        let c = category?;
        let next = self.groups.len() as u32 + 1;
        Some(*self.groups.entry(c.to_string()).or_insert(next))
    }

    /// The group id of a category, if any incident had it.
    fn find_group(&self, category: Option<&str>) -> Option<u32> {
        match category {
            None => Some(0),
            Some(c) => self.groups.get(c).copied(),
        }
    }

    /// Adds one incident (its resolution-10 cell, event time, category).
    pub fn add(&mut self, r10: CellIndex, at: DateTime<Utc>, category: Option<&str>) {
        let t = at.timestamp_millis();
        let shortest = self.cfg.live_half_life.min(self.cfg.risk_half_life);
        if self.exponent(t, shortest) > REBASE_HALF_LIVES {
            self.rebase(at);
        }
        let wl = self.exponent(t, self.cfg.live_half_life).exp2();
        let wr = self.exponent(t, self.cfg.risk_half_life).exp2();
        let group = self.group_id(category);
        for r in RESOLUTIONS {
            let Some(c) = r10.parent(res_of(r)) else {
                continue;
            };
            let cell = u64::from(c);
            for g in std::iter::once(0).chain(group) {
                let s = self
                    .layers
                    .entry((r, g))
                    .or_default()
                    .entry(cell)
                    .or_insert_with(|| {
                        let ll = LatLng::from(c);
                        Sums {
                            lon: ll.lng(),
                            lat: ll.lat(),
                            ..Default::default()
                        }
                    });
                s.live += wl;
                s.risk += wr;
                s.count += 1;
                self.changed.insert((r, g, cell));
            }
        }
        self.incidents += 1;
    }

    /// Moves the epoch to `to` and rescales every cell (rare: after
    /// [`REBASE_HALF_LIVES`] half-lives of the shorter surface).
    fn rebase(&mut self, to: DateTime<Utc>) {
        let new_epoch = to.timestamp_millis();
        let dl = self.exponent(new_epoch, self.cfg.live_half_life);
        let dr = self.exponent(new_epoch, self.cfg.risk_half_life);
        for s in self.layers.values_mut().flat_map(HashMap::values_mut) {
            s.live *= (-dl).exp2();
            s.risk *= (-dr).exp2();
        }
        self.epoch_ms = new_epoch;
    }

    fn value(&self, s: &Sums, surface: Surface, at_ms: i64) -> f64 {
        let (sum, h) = match surface {
            Surface::Live => (s.live, self.cfg.live_half_life),
            Surface::Risk => (s.risk, self.cfg.risk_half_life),
        };
        sum * (-self.exponent(at_ms, h)).exp2()
    }

    /// One cell's value at `at` (0 when it has no incident).
    pub fn get(
        &self,
        cell: CellIndex,
        category: Option<&str>,
        surface: Surface,
        at: DateTime<Utc>,
    ) -> CellValue {
        let r = u8::from(cell.resolution());
        let s = self
            .find_group(category)
            .and_then(|g| self.layers.get(&(r, g))?.get(&u64::from(cell)))
            .copied()
            .unwrap_or_default();
        let ll = LatLng::from(cell);
        CellValue {
            cell,
            intensity: self.value(&s, surface, at.timestamp_millis()),
            count: s.count,
            lon: ll.lng(),
            lat: ll.lat(),
        }
    }

    /// Cells of resolution `res` whose centre is inside `bbox`, at `at`,
    /// by cell index. O(cells of that one layer), a float compare each.
    pub fn cells_in(
        &self,
        bbox: Bbox,
        res: u8,
        category: Option<&str>,
        surface: Surface,
        at: DateTime<Utc>,
    ) -> Vec<CellValue> {
        let Some(layer) = self
            .find_group(category)
            .and_then(|g| self.layers.get(&(res, g)))
        else {
            return Vec::new();
        };
        let at_ms = at.timestamp_millis();
        let mut out: Vec<CellValue> = layer
            .iter()
            .filter(|(_, s)| {
                s.lon >= bbox.west
                    && s.lon <= bbox.east
                    && s.lat >= bbox.south
                    && s.lat <= bbox.north
            })
            .filter_map(|(c, s)| {
                Some(CellValue {
                    cell: CellIndex::try_from(*c).ok()?,
                    intensity: self.value(s, surface, at_ms),
                    count: s.count,
                    lon: s.lon,
                    lat: s.lat,
                })
            })
            .collect();
        out.sort_by_key(|v| u64::from(v.cell));
        out
    }

    /// Keys changed since the last call, as (res, category, cell).
    pub fn take_changed(&mut self) -> Vec<(u8, Option<String>, CellIndex)> {
        let names: HashMap<u32, &String> = self.groups.iter().map(|(n, g)| (*g, n)).collect();
        let out = self
            .changed
            .drain()
            .filter_map(|(r, g, c)| {
                let cat = if g == 0 {
                    None
                } else {
                    Some(names.get(&g)?.to_string())
                };
                Some((r, cat, CellIndex::try_from(c).ok()?))
            })
            .collect();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::hours(h)
    }

    fn cell() -> CellIndex {
        cell_r10(Position::new(121.26, 28.64).unwrap()).unwrap()
    }

    #[test]
    fn decay_halves_per_half_life_and_order_does_not_matter() {
        let mut a = Heat::new(HeatConfig::default(), t(0));
        a.add(cell(), t(0), Some("治安"));
        let at = |h| a.get(cell(), None, Surface::Live, t(h)).intensity;
        assert!((at(0) - 1.0).abs() < 1e-12);
        assert!((at(24) - 0.5).abs() < 1e-12, "{}", at(24));
        assert!((at(48) - 0.25).abs() < 1e-12);
        let risk = a.get(cell(), None, Surface::Risk, t(30 * 24)).intensity;
        assert!((risk - 0.5).abs() < 1e-12, "{risk}");
        // three incidents, inserted in two orders (a late record): same surface
        let times = [t(-5), t(10), t(3)];
        let mut b = Heat::new(HeatConfig::default(), t(0));
        let mut c = Heat::new(HeatConfig::default(), t(0));
        for x in times {
            b.add(cell(), x, None);
        }
        for x in times.iter().rev() {
            c.add(cell(), *x, None);
        }
        let vb = b.get(cell(), None, Surface::Live, t(12));
        let vc = c.get(cell(), None, Surface::Live, t(12));
        assert!((vb.intensity - vc.intensity).abs() < 1e-12);
        let want: f64 = [17.0f64, 2.0, 9.0].iter().map(|d| (-d / 24.0).exp2()).sum();
        assert!(
            (vb.intensity - want).abs() < 1e-12,
            "{} vs {want}",
            vb.intensity
        );
        assert_eq!(vb.count, 3);
    }

    #[test]
    fn parents_and_groups_are_aggregated() {
        let mut h = Heat::new(HeatConfig::default(), t(0));
        h.add(cell(), t(0), Some("盗窃"));
        h.add(cell(), t(0), Some("治安"));
        for r in RESOLUTIONS {
            let parent = cell().parent(res_of(r)).unwrap();
            assert_eq!(h.get(parent, None, Surface::Live, t(0)).count, 2);
            assert_eq!(h.get(parent, Some("盗窃"), Surface::Live, t(0)).count, 1);
            assert_eq!(h.get(parent, Some("交通"), Surface::Live, t(0)).count, 0);
        }
        let bbox = Bbox::new(121.2, 28.6, 121.3, 28.7).unwrap();
        assert_eq!(h.cells_in(bbox, 9, None, Surface::Live, t(0)).len(), 1);
        let far = Bbox::new(120.0, 28.0, 120.1, 28.1).unwrap();
        assert!(h.cells_in(far, 9, None, Surface::Live, t(0)).is_empty());
        // 4 resolutions × (all + 2 categories) keys changed
        assert_eq!(h.take_changed().len(), 12);
        assert!(h.take_changed().is_empty());
    }

    #[test]
    fn rebase_keeps_values() {
        let mut h = Heat::new(HeatConfig::default(), t(0));
        h.add(cell(), t(0), None);
        let before = h.get(cell(), None, Surface::Risk, t(24 * 500)).intensity;
        // 500 days later: 500 live half-lives > REBASE_HALF_LIVES → rebase
        h.add(cell(), t(24 * 500), None);
        let after = h.get(cell(), None, Surface::Risk, t(24 * 500)).intensity;
        assert!((after - (before + 1.0)).abs() < 1e-9, "{before} {after}");
        let live = h.get(cell(), None, Surface::Live, t(24 * 500)).intensity;
        assert!((live - 1.0).abs() < 1e-9, "{live}");
    }
}
