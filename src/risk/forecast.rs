//! Next-period crime risk surface per grid cell, and its evaluation by PAI and PEI*.
//!
//! Pure module: the only I/O is through the `std::io::Read` / `std::io::Write` arguments
//! of [`read_police_csv`] and [`write_scores_csv`]. Meant to move into lianqin as
//! `src/risk/forecast.rs` unchanged apart from the import block below.
//!
//! # Pipeline
//! 1. [`read_police_csv`] reads a police.uk street-level CSV (plain or gzip, detected by
//!    the magic bytes `1f 8b`) into [`Point`]s; skipped rows are counted by reason in
//!    [`ReadStats`].
//! 2. [`Grid::new`] builds the **study area**: the convex hull of all training points, in
//!    a local equirectangular projection ([`LocalProjection`], metres) about the training
//!    points' centroid (mean lon/lat). The grid origin is the centroid, so cell edges are at
//!    integer multiples of `cell_m` from it. A square cell of `cell_m` metres belongs to the
//!    study area **iff its centre lies inside the hull or on its boundary**. Cells are
//!    indexed row-major from the south-west (row 0 = southernmost row, col 0 = westernmost
//!    column of the hull's bounding box); `cell_id` is `r{row}c{col}`.
//!    An event whose cell is not a study-area cell (outside the hull, or in a boundary cell
//!    whose centre falls outside it) is *outside*: training events outside are not counted
//!    by `naive` (but do contribute kernel mass to `kde` / `eb`); test events outside are
//!    counted in the denominator of the hit rate, i.e. as misses for every model.
//! 3. Models ([`ModelKind`]): `naive`, `kde`, `eb` — see [`fit`].
//! 4. [`evaluate`] gives PAI and PEI* at area fractions f (1 % and 5 %) of the study area.
//!
//! # Ranking and ties
//! Cells are ranked by score, descending; **equal scores are broken by cell index
//! ascending** (row-major from the south-west, a neutral, data-free order). For `naive`
//! that is the only tie-break (honest peer: no smoothed information sneaks in). `kde` and
//! `eb` scores are continuous, so ties are rare; `eb` breaks the many ties of the counts
//! by construction (its smoothed term). The variant [`ModelKind::NaiveKdeTies`] (counts,
//! ties broken by the KDE) is provided to show how much of any gain is tie-breaking alone.
//!
//! # Evaluation
//! With N study-area cells and n = ⌈f·N⌉ top-ranked cells: hits = test events in them;
//! hit rate = hits ÷ all test events with coordinates (outside ones included, as misses);
//! PAI = hit rate ÷ (n/N) (the actual area fraction, ≈ f); PEI* = hits ÷ best, where best
//! = test events in the n cells with the most test events (the best any model could do
//! with the same area).

use flate2::read::MultiGzDecoder;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::fmt;
use std::io::{Cursor, Read, Write};

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// Errors of this module.
#[derive(Debug)]
pub enum ForecastError {
    Io(std::io::Error),
    Csv(String),
    /// A required column is missing from the CSV header.
    MissingColumn(&'static str),
    /// Fewer than three non-collinear training points: no study area.
    DegenerateHull,
    /// Bad parameter (cell size, bandwidth…).
    Param(String),
}

impl fmt::Display for ForecastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForecastError::Io(e) => write!(f, "I/O error: {e}"),
            ForecastError::Csv(e) => write!(f, "CSV error: {e}"),
            ForecastError::MissingColumn(c) => write!(f, "CSV header has no column {c:?}"),
            ForecastError::DegenerateHull => {
                write!(
                    f,
                    "need at least 3 non-collinear training points for a study area"
                )
            }
            ForecastError::Param(e) => write!(f, "bad parameter: {e}"),
        }
    }
}

impl std::error::Error for ForecastError {}

impl From<std::io::Error> for ForecastError {
    fn from(e: std::io::Error) -> Self {
        ForecastError::Io(e)
    }
}

// ---------------------------------------------------------------------------------------
// Reading police.uk CSV
// ---------------------------------------------------------------------------------------

/// One record with coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub lon: f64,
    pub lat: f64,
    /// `YYYY-MM` as in the file.
    pub month: String,
    pub crime_type: String,
}

/// Row counts of a read, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Data rows seen (header excluded).
    pub rows: usize,
    /// Rows turned into points.
    pub used: usize,
    /// Longitude or latitude empty (police.uk leaves them blank when it cannot place a record).
    pub skipped_no_coords: usize,
    /// Coordinates present but not a number, not finite, or out of range.
    pub skipped_bad_coords: usize,
    /// Rows the CSV parser rejected or with too few fields.
    pub skipped_malformed: usize,
}

impl ReadStats {
    pub fn skipped(&self) -> usize {
        self.skipped_no_coords + self.skipped_bad_coords + self.skipped_malformed
    }
    pub fn add(&mut self, o: &ReadStats) {
        self.rows += o.rows;
        self.used += o.used;
        self.skipped_no_coords += o.skipped_no_coords;
        self.skipped_bad_coords += o.skipped_bad_coords;
        self.skipped_malformed += o.skipped_malformed;
    }
}

/// Reads a police.uk street-level CSV, plain or gzip (detected by the magic bytes).
/// Columns are found by header name (`Longitude`, `Latitude`, `Month`, `Crime type`;
/// case-insensitive, BOM tolerated), so column order does not matter.
pub fn read_police_csv<R: Read>(mut reader: R) -> Result<(Vec<Point>, ReadStats), ForecastError> {
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        let k = reader.read(&mut magic[got..])?;
        if k == 0 {
            break;
        }
        got += k;
    }
    let head = Cursor::new(magic[..got].to_vec());
    if got == 2 && magic == [0x1f, 0x8b] {
        read_plain(MultiGzDecoder::new(head.chain(reader)))
    } else {
        read_plain(head.chain(reader))
    }
}

fn read_plain<R: Read>(reader: R) -> Result<(Vec<Point>, ReadStats), ForecastError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(reader);
    let headers = rdr
        .headers()
        .map_err(|e| ForecastError::Csv(e.to_string()))?
        .clone();
    let find = |name: &'static str| -> Result<usize, ForecastError> {
        headers
            .iter()
            .position(|h| {
                h.trim_start_matches('\u{feff}')
                    .trim()
                    .eq_ignore_ascii_case(name)
            })
            .ok_or(ForecastError::MissingColumn(name))
    };
    let (ilon, ilat, imonth, itype) = (
        find("Longitude")?,
        find("Latitude")?,
        find("Month")?,
        find("Crime type")?,
    );
    let need = ilon.max(ilat).max(imonth).max(itype) + 1;
    let mut stats = ReadStats::default();
    let mut pts = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                stats.rows += 1;
                if rec.len() < need {
                    stats.skipped_malformed += 1;
                    continue;
                }
                let (slon, slat) = (rec[ilon].trim(), rec[ilat].trim());
                if slon.is_empty() || slat.is_empty() {
                    stats.skipped_no_coords += 1;
                    continue;
                }
                match (slon.parse::<f64>(), slat.parse::<f64>()) {
                    (Ok(lon), Ok(lat))
                        if lon.is_finite()
                            && lat.is_finite()
                            && (-180.0..=180.0).contains(&lon)
                            && (-90.0..=90.0).contains(&lat) =>
                    {
                        stats.used += 1;
                        pts.push(Point {
                            lon,
                            lat,
                            month: rec[imonth].trim().to_string(),
                            crime_type: rec[itype].trim().to_string(),
                        });
                    }
                    _ => stats.skipped_bad_coords += 1,
                }
            }
            Err(e) => {
                // A broken row (e.g. invalid UTF-8) is skipped; an I/O error aborts.
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(ForecastError::Csv(e.to_string()));
                }
                stats.rows += 1;
                stats.skipped_malformed += 1;
            }
        }
    }
    Ok((pts, stats))
}

// ---------------------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------------------

// Distances and the local projection are lianqin's own (`spatial::geodesy`).
pub use crate::spatial::geodesy::{haversine_m, LocalProjection, EARTH_RADIUS_M};

fn cross(o: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/// Convex hull (Andrew's monotone chain), counter-clockwise, no repeated last vertex,
/// collinear boundary points dropped.
pub fn convex_hull(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut p: Vec<[f64; 2]> = points.to_vec();
    p.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let mut h: Vec<[f64; 2]> = Vec::with_capacity(2 * p.len());
    for &q in p.iter() {
        while h.len() >= 2 && cross(h[h.len() - 2], h[h.len() - 1], q) <= 0.0 {
            h.pop();
        }
        h.push(q);
    }
    let lower = h.len() + 1;
    for &q in p.iter().rev().skip(1) {
        while h.len() >= lower && cross(h[h.len() - 2], h[h.len() - 1], q) <= 0.0 {
            h.pop();
        }
        h.push(q);
    }
    h.pop();
    h
}

/// Whether `q` is inside a counter-clockwise convex polygon or on its boundary
/// (tolerance 1 mm for a polygon in metres).
pub fn in_convex(hull: &[[f64; 2]], q: [f64; 2]) -> bool {
    if hull.len() < 3 {
        return false;
    }
    (0..hull.len()).all(|i| {
        let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
        let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        cross(a, b, q) >= -1e-3 * len
    })
}

// ---------------------------------------------------------------------------------------
// Study-area grid
// ---------------------------------------------------------------------------------------

/// The study area: square cells whose centres are inside the training hull.
#[derive(Debug, Clone)]
pub struct Grid {
    pub proj: LocalProjection,
    pub cell_m: f64,
    /// Hull of the training points, metres in `proj`, counter-clockwise.
    pub hull: Vec<[f64; 2]>,
    /// South-west corner of cell (row 0, col 0), metres.
    x0: f64,
    y0: f64,
    pub nrows: usize,
    pub ncols: usize,
    /// (row, col) of each study-area cell, row-major from the south-west.
    cells: Vec<(u32, u32)>,
    /// row*ncols+col → cell index, or `u32::MAX` when the cell is not in the study area.
    lookup: Vec<u32>,
}

impl Grid {
    /// Builds the study area from the training points (see the module doc for the rule).
    pub fn new(train: &[Point], cell_m: f64) -> Result<Grid, ForecastError> {
        if !(cell_m.is_finite() && cell_m > 0.0) {
            return Err(ForecastError::Param(format!("cell size {cell_m} m")));
        }
        if train.is_empty() {
            return Err(ForecastError::DegenerateHull);
        }
        let n = train.len() as f64;
        let lon0 = train.iter().map(|p| p.lon).sum::<f64>() / n;
        let lat0 = train.iter().map(|p| p.lat).sum::<f64>() / n;
        let proj = LocalProjection::new(lon0, lat0);
        let xy: Vec<[f64; 2]> = train.iter().map(|p| proj.project(p.lon, p.lat)).collect();
        let hull = convex_hull(&xy);
        if hull.len() < 3 {
            return Err(ForecastError::DegenerateHull);
        }
        let (mut minx, mut miny, mut maxx, mut maxy) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for v in &hull {
            minx = minx.min(v[0]);
            miny = miny.min(v[1]);
            maxx = maxx.max(v[0]);
            maxy = maxy.max(v[1]);
        }
        let x0 = (minx / cell_m).floor() * cell_m;
        let y0 = (miny / cell_m).floor() * cell_m;
        let ncols = (((maxx - x0) / cell_m).floor() as usize) + 1;
        let nrows = (((maxy - y0) / cell_m).floor() as usize) + 1;
        if (nrows as f64) * (ncols as f64) > 2.0e8 {
            return Err(ForecastError::Param(format!(
                "{nrows}×{ncols} grid is too large for a {cell_m} m cell"
            )));
        }
        let mut cells = Vec::new();
        let mut lookup = vec![u32::MAX; nrows * ncols];
        for r in 0..nrows {
            let cy = y0 + (r as f64 + 0.5) * cell_m;
            for c in 0..ncols {
                let cx = x0 + (c as f64 + 0.5) * cell_m;
                if in_convex(&hull, [cx, cy]) {
                    lookup[r * ncols + c] = cells.len() as u32;
                    cells.push((r as u32, c as u32));
                }
            }
        }
        if cells.is_empty() {
            return Err(ForecastError::Param(format!(
                "no cell centre of {cell_m} m falls inside the hull"
            )));
        }
        Ok(Grid {
            proj,
            cell_m,
            hull,
            x0,
            y0,
            nrows,
            ncols,
            cells,
            lookup,
        })
    }

    /// Number of study-area cells N.
    pub fn len(&self) -> usize {
        self.cells.len()
    }
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
    /// (row, col) of cell `i`.
    pub fn row_col(&self, i: usize) -> (usize, usize) {
        let (r, c) = self.cells[i];
        (r as usize, c as usize)
    }
    /// `r{row}c{col}`; row 0 is the southernmost row, col 0 the westernmost column.
    pub fn cell_id(&self, i: usize) -> String {
        let (r, c) = self.cells[i];
        format!("r{r}c{c}")
    }
    /// Cell centre, metres in the local projection.
    pub fn centre_xy(&self, i: usize) -> [f64; 2] {
        let (r, c) = self.cells[i];
        [
            self.x0 + (c as f64 + 0.5) * self.cell_m,
            self.y0 + (r as f64 + 0.5) * self.cell_m,
        ]
    }
    /// Cell centre, WGS-84 (lon, lat).
    pub fn centre_lonlat(&self, i: usize) -> (f64, f64) {
        self.proj.unproject(self.centre_xy(i))
    }
    /// Study-area cell holding a projected point, if any (cells are half-open
    /// `[x0, x0+cell)` × `[y0, y0+cell)`).
    pub fn cell_of_xy(&self, xy: [f64; 2]) -> Option<usize> {
        let c = ((xy[0] - self.x0) / self.cell_m).floor();
        let r = ((xy[1] - self.y0) / self.cell_m).floor();
        if c < 0.0 || r < 0.0 || c >= self.ncols as f64 || r >= self.nrows as f64 {
            return None;
        }
        let k = self.lookup[r as usize * self.ncols + c as usize];
        (k != u32::MAX).then_some(k as usize)
    }
    pub fn cell_of(&self, lon: f64, lat: f64) -> Option<usize> {
        self.cell_of_xy(self.proj.project(lon, lat))
    }

    /// Events per study-area cell, and the number of events outside the study area.
    pub fn counts(&self, pts: &[Point]) -> (Vec<f64>, usize) {
        let mut n = vec![0.0; self.len()];
        let mut outside = 0;
        for p in pts {
            match self.cell_of(p.lon, p.lat) {
                Some(i) => n[i] += 1.0,
                None => outside += 1,
            }
        }
        (n, outside)
    }

    /// Gaussian KDE (bandwidth `h` metres, isotropic) of the points, **integrated over each
    /// cell**: the expected number of events in the cell if the period's events were drawn
    /// from the kernel density. Each point spreads a mass of 1 (truncated at 4h, < 1e-4
    /// lost); mass falling on cells outside the study area is dropped. As h → 0 it tends to
    /// the naive counts, so small bandwidths are well-defined even below the cell size.
    pub fn kde_mass(&self, pts: &[[f64; 2]], h: f64) -> Vec<f64> {
        let mut m = vec![0.0; self.len()];
        if h.is_nan() || h <= 0.0 {
            return m;
        }
        // Aggregate duplicate locations (police.uk snaps records to fixed points).
        let mut xy: Vec<[f64; 2]> = pts.to_vec();
        xy.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
        let mut uniq: Vec<([f64; 2], f64)> = Vec::new();
        for p in xy {
            match uniq.last_mut() {
                Some((q, w)) if *q == p => *w += 1.0,
                _ => uniq.push((p, 1.0)),
            }
        }
        let cell = self.cell_m;
        let reach = 4.0 * h;
        let mut wx: Vec<f64> = Vec::new();
        let mut wy: Vec<f64> = Vec::new();
        for (p, w) in uniq {
            let c_lo = (((p[0] - reach - self.x0) / cell).floor().max(0.0)) as usize;
            let c_hi = (((p[0] + reach - self.x0) / cell).floor()).min(self.ncols as f64 - 1.0);
            let r_lo = (((p[1] - reach - self.y0) / cell).floor().max(0.0)) as usize;
            let r_hi = (((p[1] + reach - self.y0) / cell).floor()).min(self.nrows as f64 - 1.0);
            if c_hi < 0.0 || r_hi < 0.0 {
                continue;
            }
            let (c_hi, r_hi) = (c_hi as usize, r_hi as usize);
            if c_lo > c_hi || r_lo > r_hi {
                continue;
            }
            wx.clear();
            wy.clear();
            for c in c_lo..=c_hi {
                let a = self.x0 + c as f64 * cell - p[0];
                wx.push(norm_cdf((a + cell) / h) - norm_cdf(a / h));
            }
            for r in r_lo..=r_hi {
                let a = self.y0 + r as f64 * cell - p[1];
                wy.push(w * (norm_cdf((a + cell) / h) - norm_cdf(a / h)));
            }
            for (ri, r) in (r_lo..=r_hi).enumerate() {
                let row = &self.lookup[r * self.ncols..(r + 1) * self.ncols];
                let fy = wy[ri];
                if fy < 1e-12 {
                    continue;
                }
                for (ci, c) in (c_lo..=c_hi).enumerate() {
                    let k = row[c];
                    if k != u32::MAX {
                        m[k as usize] += fy * wx[ci];
                    }
                }
            }
        }
        m
    }

    fn project_all(&self, pts: &[Point]) -> Vec<[f64; 2]> {
        pts.iter()
            .map(|p| self.proj.project(p.lon, p.lat))
            .collect()
    }
}

/// Standard normal CDF, via erfc (Numerical Recipes' Chebyshev fit, |rel. err| < 1.2e-7).
fn norm_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

// ---------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------

/// Which model to fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModelKind {
    /// Training events per cell; ties broken by cell index only.
    Naive,
    /// Training counts, ties broken by the KDE (diagnostic peer, not a deliverable model).
    NaiveKdeTies,
    /// Cell-integrated Gaussian KDE of the training events.
    Kde,
    /// Empirical-Bayes (Poisson–Gamma) shrinkage of counts towards the KDE rate.
    Eb,
}

impl ModelKind {
    pub fn name(&self) -> &'static str {
        match self {
            ModelKind::Naive => "naive",
            ModelKind::NaiveKdeTies => "naive+kde-ties",
            ModelKind::Kde => "kde",
            ModelKind::Eb => "eb",
        }
    }
    pub fn parse(s: &str) -> Option<ModelKind> {
        match s {
            "naive" => Some(ModelKind::Naive),
            "naive-kde-ties" | "naive+kde-ties" => Some(ModelKind::NaiveKdeTies),
            "kde" => Some(ModelKind::Kde),
            "eb" => Some(ModelKind::Eb),
            _ => None,
        }
    }
}

/// Fitting options. `None` parameters are chosen by half-split validation inside the
/// training data (see [`fit`]).
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// KDE bandwidth, metres (for `kde`, and the prior of `eb`).
    pub bandwidth_m: Option<f64>,
    /// EB prior strength k (in periods' worth of pseudo-events).
    pub prior_k: Option<f64>,
    /// Candidate bandwidths for validation, metres.
    pub bandwidth_grid: Vec<f64>,
    /// Candidate prior strengths for validation.
    pub k_grid: Vec<f64>,
    /// Number of random half-splits.
    pub reps: usize,
    pub seed: u64,
    /// Area fractions the validation objective averages PEI* over.
    pub fractions: Vec<f64>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            bandwidth_m: None,
            prior_k: None,
            bandwidth_grid: vec![50.0, 100.0, 150.0, 250.0, 400.0, 600.0, 1000.0, 1600.0],
            k_grid: vec![0.01, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0],
            reps: 5,
            seed: 2016,
            fractions: vec![0.01, 0.05],
        }
    }
}

/// A fitted risk surface: one score per study-area cell (same index as the [`Grid`]).
#[derive(Debug, Clone)]
pub struct Fitted {
    pub kind: ModelKind,
    /// Expected events per cell next period (naive: last period's count).
    pub scores: Vec<f64>,
    pub bandwidth_m: Option<f64>,
    pub prior_k: Option<f64>,
    /// Validation objective (mean PEI* over reps and fractions) of the chosen parameters.
    pub validation: Option<f64>,
}

/// Fits a model on the training points.
///
/// * `naive`: score = training events in the cell.
/// * `kde`: score = cell-integrated Gaussian KDE mass (expected events), bandwidth h chosen
///   from `bandwidth_grid` by half-split validation unless given.
/// * `eb` — **the proposed model**. Cell counts are noisy Poisson draws of a cell's rate,
///   and police.uk's snapping makes them lumpy: a cell with 3 events last month is not
///   reliably riskier than a neighbour with 2 in a busy street, and the ~90 % of cells with
///   0 or 1 events are a giant tie. Empirical Bayes handles both: with
///   n_i | λ_i ~ Poisson(λ_i) and a Gamma prior λ_i ~ Γ(shape k·m_i, rate k) centred on the
///   smoothed neighbourhood rate m_i (the KDE mass) with variance m_i/k, the posterior
///   mean is **score_i = (n_i + k·m_i) / (1 + k)**. k is the prior's weight in periods:
///   small k trusts the cell's own history (repeat locations are strong in this data), large
///   k trusts the neighbourhood; in every case the smoothed term separates tied counts by
///   their surroundings. (h, k) are chosen jointly by half-split validation unless given.
///
/// **Validation (never uses the test period):** the training events are split at random
/// into halves A and B (`reps` times, seeded); each candidate is fitted on A and scored by
/// PEI* on B at each of `fractions`, averaged; the best candidate wins (ties: first in grid
/// order, i.e. smaller h, smaller k). Random halves of one month share that month's exact
/// hot spots, so this tends to favour the cell's own counts (small k, small h) more than a
/// year-ahead forecast would: a conservative choice relative to naive.
pub fn fit(
    kind: ModelKind,
    grid: &Grid,
    train: &[Point],
    opt: &FitOptions,
) -> Result<Fitted, ForecastError> {
    for &h in opt.bandwidth_m.iter().chain(opt.bandwidth_grid.iter()) {
        if !(h.is_finite() && h > 0.0) {
            return Err(ForecastError::Param(format!("bandwidth {h} m")));
        }
    }
    let xy = grid.project_all(train);
    let (n, _) = grid.counts(train);
    match kind {
        ModelKind::Naive => Ok(Fitted {
            kind,
            scores: n,
            bandwidth_m: None,
            prior_k: None,
            validation: None,
        }),
        ModelKind::Kde | ModelKind::NaiveKdeTies => {
            let (h, v) = match opt.bandwidth_m {
                Some(h) => (h, None),
                None => {
                    let (h, _, v) = validate(grid, &xy, opt, false)?;
                    (h, Some(v))
                }
            };
            let m = grid.kde_mass(&xy, h);
            let scores = if kind == ModelKind::Kde {
                m
            } else {
                // lexicographic (count, kde): kde mass is < N, scale it below 1 event.
                let mmax = m.iter().cloned().fold(0.0, f64::max).max(1e-300);
                n.iter().zip(&m).map(|(a, b)| a + 0.5 * b / mmax).collect()
            };
            Ok(Fitted {
                kind,
                scores,
                bandwidth_m: Some(h),
                prior_k: None,
                validation: v,
            })
        }
        ModelKind::Eb => {
            let (h, k, v) = match (opt.bandwidth_m, opt.prior_k) {
                (Some(h), Some(k)) => (h, k, None),
                _ => {
                    let (h, k, v) = validate(grid, &xy, opt, true)?;
                    (
                        opt.bandwidth_m.unwrap_or(h),
                        opt.prior_k.unwrap_or(k),
                        Some(v),
                    )
                }
            };
            if !(k.is_finite() && k >= 0.0) {
                return Err(ForecastError::Param(format!("prior strength k = {k}")));
            }
            let m = grid.kde_mass(&xy, h);
            Ok(Fitted {
                kind,
                scores: eb_scores(&n, &m, k),
                bandwidth_m: Some(h),
                prior_k: Some(k),
                validation: v,
            })
        }
    }
}

/// Poisson–Gamma posterior mean (n + k·m)/(1 + k).
pub fn eb_scores(n: &[f64], m: &[f64], k: f64) -> Vec<f64> {
    n.iter()
        .zip(m)
        .map(|(a, b)| (a + k * b) / (1.0 + k))
        .collect()
}

/// Half-split validation. Returns (h, k, objective). With `eb == false` only h is searched
/// (k is returned as NaN).
fn validate(
    grid: &Grid,
    xy: &[[f64; 2]],
    opt: &FitOptions,
    eb: bool,
) -> Result<(f64, f64, f64), ForecastError> {
    let hs: Vec<f64> = match opt.bandwidth_m {
        Some(h) => vec![h],
        None => opt.bandwidth_grid.clone(),
    };
    let ks: Vec<f64> = if !eb {
        vec![f64::NAN]
    } else {
        match opt.prior_k {
            Some(k) => vec![k],
            None => opt.k_grid.clone(),
        }
    };
    if hs.is_empty() || ks.is_empty() || opt.reps == 0 || opt.fractions.is_empty() {
        return Err(ForecastError::Param("empty validation grid".into()));
    }
    let mut total = vec![0.0; hs.len() * ks.len()];
    let mut rng = SmallRng::seed_from_u64(opt.seed);
    for _ in 0..opt.reps {
        let mut a = Vec::with_capacity(xy.len() / 2 + 1);
        let mut bcount = vec![0.0; grid.len()];
        let mut ncount = vec![0.0; grid.len()];
        let mut b_outside = 0usize;
        for &p in xy {
            if rng.gen_bool(0.5) {
                a.push(p);
                if let Some(i) = grid.cell_of_xy(p) {
                    ncount[i] += 1.0;
                }
            } else {
                match grid.cell_of_xy(p) {
                    Some(i) => bcount[i] += 1.0,
                    None => b_outside += 1,
                }
            }
        }
        for (hi, &h) in hs.iter().enumerate() {
            let m = grid.kde_mass(&a, h);
            for (ki, &k) in ks.iter().enumerate() {
                let s = if eb {
                    eb_scores(&ncount, &m, k)
                } else {
                    m.clone()
                };
                let ev = evaluate_counts(&s, &bcount, b_outside, &opt.fractions);
                let obj: f64 = ev.iter().map(|e| e.pei).sum::<f64>() / ev.len() as f64;
                total[hi * ks.len() + ki] += obj / opt.reps as f64;
            }
        }
    }
    let mut best = 0;
    for i in 1..total.len() {
        if total[i] > total[best] + 1e-12 {
            best = i;
        }
    }
    Ok((hs[best / ks.len()], ks[best % ks.len()], total[best]))
}

// ---------------------------------------------------------------------------------------
// Ranking and evaluation
// ---------------------------------------------------------------------------------------

/// Cell indices by score descending; equal scores by cell index ascending.
pub fn rank(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    idx
}

/// PAI / PEI* at one area fraction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Requested area fraction f.
    pub fraction: f64,
    /// n = ⌈f·N⌉ cells flagged.
    pub n_cells: usize,
    /// N study-area cells.
    pub total_cells: usize,
    /// Test events in the flagged cells.
    pub hits: f64,
    /// All test events with coordinates (outside the study area included).
    pub events: f64,
    /// Test events outside the study area (misses for every model).
    pub outside: usize,
    /// Test events in the n cells with the most test events.
    pub best_hits: f64,
    /// hits ÷ events.
    pub hit_rate: f64,
    /// hit_rate ÷ (n/N).
    pub pai: f64,
    /// hits ÷ best_hits.
    pub pei: f64,
}

/// Evaluates scores against test points (see the module doc for the definitions).
pub fn evaluate(grid: &Grid, scores: &[f64], test: &[Point], fractions: &[f64]) -> Vec<Evaluation> {
    let (counts, outside) = grid.counts(test);
    evaluate_counts(scores, &counts, outside, fractions)
}

/// Same as [`evaluate`] on test counts already per cell, plus `outside` events in no cell.
pub fn evaluate_counts(
    scores: &[f64],
    test_counts: &[f64],
    outside: usize,
    fractions: &[f64],
) -> Vec<Evaluation> {
    assert_eq!(
        scores.len(),
        test_counts.len(),
        "one score and one test count per cell"
    );
    let big_n = scores.len();
    let order = rank(scores);
    let mut best: Vec<f64> = test_counts.to_vec();
    best.sort_by(|a, b| b.total_cmp(a));
    let events = test_counts.iter().sum::<f64>() + outside as f64;
    fractions
        .iter()
        .map(|&f| {
            let n = ((f * big_n as f64 - 1e-9).ceil().max(0.0) as usize).min(big_n);
            let hits: f64 = order[..n].iter().map(|&i| test_counts[i]).sum();
            let best_hits: f64 = best[..n].iter().sum();
            let hit_rate = if events > 0.0 { hits / events } else { 0.0 };
            let area = n as f64 / big_n.max(1) as f64;
            Evaluation {
                fraction: f,
                n_cells: n,
                total_cells: big_n,
                hits,
                events,
                outside,
                best_hits,
                hit_rate,
                pai: if area > 0.0 { hit_rate / area } else { 0.0 },
                pei: if best_hits > 0.0 {
                    hits / best_hits
                } else {
                    0.0
                },
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------

/// Writes `cell_id,lon,lat,score`, a header row then one row per study-area cell in cell
/// index order (row-major from the south-west); lon/lat = cell centre, WGS-84, 6 decimals
/// (≈ 0.1 m); score with 6 significant digits.
pub fn write_scores_csv<W: Write>(mut w: W, grid: &Grid, scores: &[f64]) -> std::io::Result<()> {
    assert_eq!(scores.len(), grid.len(), "one score per study-area cell");
    writeln!(w, "cell_id,lon,lat,score")?;
    for (i, s) in scores.iter().enumerate() {
        let (lon, lat) = grid.centre_lonlat(i);
        let (r, c) = grid.row_col(i);
        writeln!(w, "r{r}c{c},{lon:.6},{lat:.6},{}", fmt_score(*s))?;
    }
    w.flush()
}

fn fmt_score(s: f64) -> String {
    if s == 0.0 {
        "0".to_string()
    } else if s == s.round() && s.abs() < 1e15 {
        format!("{}", s as i64)
    } else {
        let digits = (5 - s.abs().log10().floor() as i32).clamp(0, 17) as usize;
        format!("{s:.digits$}")
    }
}

/// Scott's rule-of-thumb bandwidth for a 2-D Gaussian KDE: σ̄ · n^(-1/6), σ̄ the mean of
/// the two coordinate standard deviations (metres). A county-scale "smooth hot-spot map"
/// bandwidth; reported as a second KDE peer next to the validated one.
pub fn scott_bandwidth(grid: &Grid, pts: &[Point]) -> f64 {
    let xy = grid.project_all(pts);
    let n = xy.len().max(2) as f64;
    let sd = |k: usize| {
        let mean = xy.iter().map(|p| p[k]).sum::<f64>() / n;
        (xy.iter().map(|p| (p[k] - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    0.5 * (sd(0) + sd(1)) * n.powf(-1.0 / 6.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;

    const HEADER: &str = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,Last outcome category,Context\n";

    fn row(lon: f64, lat: f64) -> String {
        format!(",2016-07,WYP,WYP,{lon:.6},{lat:.6},On or near X,E0,L,Burglary,,\n")
    }

    /// A ~4 km triangle around (-1.55, 53.80) plus: 5 events at A, 2 at B, 1 at C, a
    /// row without coordinates and a row with bad ones.
    fn small_csv() -> String {
        let mut s = HEADER.to_string();
        for (lon, lat) in [(-1.58, 53.78), (-1.52, 53.78), (-1.55, 53.82)] {
            s += &row(lon, lat);
        }
        for _ in 0..5 {
            s += &row(-1.551, 53.7952); // A
        }
        for _ in 0..2 {
            s += &row(-1.545, 53.800); // B
        }
        s += &row(-1.560, 53.790); // C
        s += ",2016-07,WYP,WYP,,,No location,,,Burglary,,\n";
        s += ",2016-07,WYP,WYP,abc,53.8,On or near Y,E0,L,Burglary,,\n";
        s
    }

    #[test]
    fn hand_computed_pai_pei() {
        // 10 cells; ranking: 1 (3, tie with 3 broken by index), 3 (3), 5 (2), 2 (1), 0, 4, …
        let s = [0.0, 3.0, 1.0, 3.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0];
        let t = [4.0, 1.0, 0.0, 2.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(rank(&s)[..5], [1, 3, 5, 2, 0]);
        // 10 events in cells + 2 outside the study area = 12.
        let ev = evaluate_counts(&s, &t, 2, &[0.1, 0.3, 0.25]);
        // f = 0.1: n = 1 → cell 1: 1 hit; best = 4. hit rate 1/12, PAI = (1/12)/0.1.
        assert_eq!(
            (ev[0].n_cells, ev[0].hits, ev[0].best_hits, ev[0].events),
            (1, 1.0, 4.0, 12.0)
        );
        assert!((ev[0].pai - 10.0 / 12.0).abs() < 1e-12);
        assert!((ev[0].pei - 0.25).abs() < 1e-12);
        // f = 0.3: n = 3 → cells 1,3,5: 1+2+3 = 6 hits; best 4+3+2 = 9.
        assert_eq!((ev[1].n_cells, ev[1].hits, ev[1].best_hits), (3, 6.0, 9.0));
        assert!((ev[1].pai - 0.5 / 0.3).abs() < 1e-12);
        assert!((ev[1].pei - 6.0 / 9.0).abs() < 1e-12);
        // f = 0.25: n = ⌈2.5⌉ = 3, PAI uses the actual area fraction 3/10.
        assert_eq!(ev[2].n_cells, 3);
        assert!((ev[2].pai - 0.5 / 0.3).abs() < 1e-12);
        // A perfect forecast has PEI* = 1.
        let ev = evaluate_counts(&t, &t, 0, &[0.1, 0.3]);
        assert!(ev.iter().all(|e| (e.pei - 1.0).abs() < 1e-12));
    }

    #[test]
    fn reads_plain_and_gzip_and_counts_skips() {
        let text = small_csv();
        let (p, st) = read_police_csv(text.as_bytes()).unwrap();
        assert_eq!(p.len(), 11);
        assert_eq!(
            st,
            ReadStats {
                rows: 13,
                used: 11,
                skipped_no_coords: 1,
                skipped_bad_coords: 1,
                skipped_malformed: 0
            }
        );
        assert_eq!(p[3].month, "2016-07");
        assert_eq!(p[3].crime_type, "Burglary");
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(text.as_bytes()).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gz[..2], [0x1f, 0x8b]);
        let (q, st2) = read_police_csv(&gz[..]).unwrap();
        assert_eq!((q, st2), (p, st));
        assert!(matches!(
            read_police_csv("a,b\n1,2\n".as_bytes()),
            Err(ForecastError::MissingColumn("Longitude"))
        ));
    }

    #[test]
    fn small_file_ranking_is_known() {
        let (p, _) = read_police_csv(small_csv().as_bytes()).unwrap();
        let grid = Grid::new(&p, 250.0).unwrap();
        let a = grid.cell_of(-1.551, 53.7952).unwrap();
        let b = grid.cell_of(-1.545, 53.800).unwrap();
        let c = grid.cell_of(-1.560, 53.790).unwrap();
        assert!(a != b && b != c && a != c);
        let opt = FitOptions {
            reps: 2,
            ..FitOptions::default()
        };
        // Smoothed models put C (1 event, next to A and B) above the lone corner events.
        for kind in [ModelKind::NaiveKdeTies, ModelKind::Eb] {
            let f = fit(kind, &grid, &p, &opt).unwrap();
            assert_eq!(rank(&f.scores)[..3], [a, b, c], "{kind:?}");
        }
        // Naive: C ties with the corner cells at 1 event; the neutral tie-break (cell
        // index) puts the lowest-index count-1 cell third.
        let f = fit(ModelKind::Naive, &grid, &p, &opt).unwrap();
        assert_eq!((f.scores[a], f.scores[b], f.scores[c]), (5.0, 2.0, 1.0));
        let first_one = (0..grid.len()).find(|&i| f.scores[i] == 1.0).unwrap();
        assert_eq!(rank(&f.scores)[..3], [a, b, first_one]);
        // EB with a fixed prior: posterior mean between the count and the KDE mass.
        let o2 = FitOptions {
            bandwidth_m: Some(300.0),
            prior_k: Some(1.0),
            ..opt.clone()
        };
        let f = fit(ModelKind::Eb, &grid, &p, &o2).unwrap();
        let m = grid.kde_mass(&grid.project_all(&p), 300.0);
        assert!((f.scores[a] - (5.0 + m[a]) / 2.0).abs() < 1e-12);
        // The test period hitting A and B: EB's top-2 cells catch both.
        let test: Vec<Point> = p[3..10].to_vec();
        let ev = evaluate(&grid, &f.scores, &test, &[2.0 / grid.len() as f64]);
        assert_eq!((ev[0].n_cells, ev[0].hits, ev[0].pei), (2, 7.0, 1.0));
        // A test event far outside the hull is a miss for everyone.
        let mut t2 = test.clone();
        t2.push(Point {
            lon: 0.0,
            lat: 51.5,
            month: "x".into(),
            crime_type: "y".into(),
        });
        let ev = evaluate(&grid, &f.scores, &t2, &[2.0 / grid.len() as f64]);
        assert_eq!((ev[0].outside, ev[0].events, ev[0].hits), (1, 8.0, 7.0));
    }

    #[test]
    fn study_area_keeps_cells_with_centre_in_hull() {
        let (p, _) = read_police_csv(small_csv().as_bytes()).unwrap();
        let grid = Grid::new(&p, 250.0).unwrap();
        for i in 0..grid.len() {
            assert!(in_convex(&grid.hull, grid.centre_xy(i)));
            let (lon, lat) = grid.centre_lonlat(i);
            assert_eq!(grid.cell_of(lon, lat), Some(i));
        }
        // Triangle ≈ 4.0 km × 4.45 km / 2 ≈ 8.9 km² ≈ 142 cells of 250 m.
        let area = grid.len() as f64 * 0.0625;
        assert!((area - 8.9).abs() < 1.0, "{area} km²");
        let hull = convex_hull(&[
            [0.0, 0.0],
            [2.0, 0.0],
            [1.0, 1.0],
            [1.0, 0.2],
            [0.0, 2.0],
            [2.0, 2.0],
        ]);
        assert_eq!(hull.len(), 4);
        assert!(in_convex(&hull, [1.0, 2.0]) && !in_convex(&hull, [1.0, 2.01]));
        assert!(matches!(
            Grid::new(&p[..2], 250.0),
            Err(ForecastError::DegenerateHull)
        ));
    }

    #[test]
    fn kde_mass_is_cell_integrated() {
        let (p, _) = read_police_csv(small_csv().as_bytes()).unwrap();
        let grid = Grid::new(&p, 250.0).unwrap();
        let xy = grid.project_all(&p[3..]); // the interior events A, B, C
                                            // Small bandwidth → the counts.
        let m = grid.kde_mass(&xy, 1.0);
        let (n, _) = grid.counts(&p[3..]);
        for i in 0..grid.len() {
            assert!((m[i] - n[i]).abs() < 1e-6, "{i}: {} vs {}", m[i], n[i]);
        }
        // Mass is conserved while the kernel stays inside the study area.
        let total: f64 = grid.kde_mass(&xy, 150.0).iter().sum();
        assert!((total - 8.0).abs() < 0.01, "{total}");
        assert!((norm_cdf(0.0) - 0.5).abs() < 1e-7 && (norm_cdf(1.96) - 0.975).abs() < 1e-4);
    }

    #[test]
    fn scores_csv_format() {
        let (p, _) = read_police_csv(small_csv().as_bytes()).unwrap();
        let grid = Grid::new(&p, 250.0).unwrap();
        let f = fit(ModelKind::Naive, &grid, &p, &FitOptions::default()).unwrap();
        let mut out = Vec::new();
        write_scores_csv(&mut out, &grid, &f.scores).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "cell_id,lon,lat,score");
        assert_eq!(lines.len(), grid.len() + 1);
        for (i, l) in lines[1..].iter().enumerate() {
            let v: Vec<&str> = l.split(',').collect();
            assert_eq!(v.len(), 4);
            assert_eq!(v[0], grid.cell_id(i));
            let (r, c) = grid.row_col(i);
            assert_eq!(v[0], format!("r{r}c{c}"));
            let (lon, lat): (f64, f64) = (v[1].parse().unwrap(), v[2].parse().unwrap());
            assert_eq!(grid.cell_of(lon, lat), Some(i));
            assert_eq!(v[3].parse::<f64>().unwrap(), f.scores[i]);
        }
        let a = grid.cell_of(-1.551, 53.7952).unwrap();
        assert!(lines[a + 1].ends_with(",5"));
        assert_eq!(fmt_score(0.123456789), "0.123457");
        assert_eq!(fmt_score(12.3456789), "12.3457");
    }

    #[test]
    fn projection_agrees_with_haversine() {
        let pr = LocalProjection::new(-1.6, 53.7);
        let [x1, y1] = pr.project(-1.9, 53.5);
        let [x2, y2] = pr.project(-1.3, 53.9);
        let h = haversine_m(-1.9, 53.5, -1.3, 53.9);
        let e = ((x1 - x2).powi(2) + (y1 - y2).powi(2)).sqrt();
        assert!((h - e).abs() / h < 2e-3, "{h} vs {e}");
    }
}
