//! Hot-spot statistics over H3 cells: Getis–Ord Gi*, Benjamini–Hochberg FDR,
//! hot/cold confidence bins, the Mann–Kendall trend test, and the
//! emerging-hot-spot classes of space-time cube analysis.
//!
//! Pure computation: no I/O, no clock, no global state. Input is the full
//! set of study cells of an area for one period (zeros included — the caller
//! passes every cell of the area), with one non-negative value (a count) per
//! cell.
//!
//! # Gi* (Getis & Ord 1992/1995, the "star" variant)
//!
//! For study cell `i`, with values `x_j` over the `n` study cells,
//! `x̄ = Σx/n` and `S = sqrt(Σx²/n − x̄²)` (population standard deviation),
//!
//! ```text
//!          Σ_j w_ij x_j − x̄ · W_i
//! z_i = ─────────────────────────────────────,   W_i = Σ_j w_ij,  V_i = Σ_j w_ij²
//!        S · sqrt((n · V_i − W_i²) / (n − 1))
//! ```
//!
//! where the sums run over the neighbourhood of `i`, which **includes `i`
//! itself** (that is what makes it Gi* rather than Gi). The neighbourhood is
//! `grid_disk(i, k)` ∩ study cells: cells outside the study set do not exist
//! for the statistic (they are neither neighbours nor part of `n`, `x̄`, `S`).
//!
//! The weights ([`Weighting`]):
//! * [`Weighting::Binary`]: `w_ij = 1` for every study cell within `k` rings
//!   of `i` (grid distance `d ≤ k`), self included (`w_ii = 1`), 0 elsewhere.
//!   Here `V_i = W_i = |N_i|`, and `z_i` is *identical* to PySAL esda
//!   `G_Local(y, w, transform='B', star=True).Zs`, with `w` the same
//!   k-ring neighbour lists (self weight 1 — esda's own star convention for
//!   binary weights). This is the default and the recommended choice.
//! * [`Weighting::InverseRing`]: `w_ij = 1 / (1 + d(i, j))` for `d ≤ k`:
//!   self 1, first ring 1/2, second ring 1/3, … Uses the general
//!   Getis–Ord (1995) variance above (with `V_i ≠ W_i`). esda has no
//!   counterpart (its analytical moments assume binary or row-standardised
//!   weights), so this variant is checked against a direct NumPy evaluation of
//!   the same formula, not against esda.
//! * [`Weighting::RowStandardized`]: PySAL esda's *default* convention,
//!   `G_Local(..., transform='R', star=True)`: binary k-ring weights with self
//!   weight 1, then each row divided by its sum, so `w_ij = 1/|N_i|`. esda's
//!   moments then use the row sum `W_i = 1` in the binary-weights variance
//!   `W_i(n − W_i)/(n − 1)`, which reduces to
//!   `z_i = (mean of x over N_i − x̄) / S`. This is reproduced exactly for
//!   compatibility, but it is **not** the Getis–Ord variance for those weights
//!   (that one is invariant to scaling a row and gives back the binary `z`):
//!   it ignores how many cells a neighbourhood has, so edge cells with fewer
//!   neighbours are not penalised. Prefer `Binary`.
//!
//! Degenerate cases (esda returns NaN for these; we return a neutral result):
//! `S = 0` (e.g. all counts equal, in particular all zero), `n < 2`, or a
//! neighbourhood covering every study cell (zero variance) give `z = 0`,
//! `p = 1`, bin 0. Values are expected to be finite and non-negative (counts);
//! for a negative mean esda's `Zs` flip sign, ours do not.
//!
//! # p-values, FDR, bins
//!
//! `p` is the **two-sided** normal p-value `2·(1 − Φ(|z|)) = erfc(|z|/√2)`.
//! (esda's `p_norm` is one-sided, `1 − Φ(|z|)`; `p = 2 · p_norm`.)
//! `p_fdr` is the Benjamini–Hochberg adjusted p-value over all study cells of
//! the call (`m = n` tests): `p_fdr(i) = min_{j: p_j ≥ p_i} min(1, p_j·m/rank_j)`
//! (monotone step-up). Bins use the **FDR-adjusted** p: `±3` if
//! `p_fdr < 0.01`, `±2` if `< 0.05`, `±1` if `< 0.10`, sign of `z`, else 0.
//!
//! # Mann–Kendall
//!
//! `S = Σ_{i<j} sign(x_j − x_i)`,
//! `Var S = [n(n−1)(2n+5) − Σ_t t(t−1)(2t+5)] / 18` (t = size of each group of
//! tied values), `z = (S − 1)/√Var` if `S > 0`, `(S + 1)/√Var` if `S < 0`,
//! 0 otherwise (continuity correction), two-sided normal p.
//!
//! # Emerging hot spots
//!
//! See [`classify_emerging`] for the rules (ArcGIS Pro "Emerging Hot Spot
//! Analysis" definitions, made precise where the prose leaves a choice).

use std::collections::HashMap;
use std::fmt;

use h3o::CellIndex;

// ---------------------------------------------------------------------------
// Gi*
// ---------------------------------------------------------------------------

/// How neighbours within `k` rings are weighted. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weighting {
    /// `w_ij = 1` for grid distance `d ≤ k`, self included. = esda `transform='B'`.
    #[default]
    Binary,
    /// `w_ij = 1/(1 + d)` for `d ≤ k` (self 1, ring 1 → 1/2, ring 2 → 1/3, …),
    /// general Getis–Ord (1995) variance.
    InverseRing,
    /// esda's default `transform='R'`: `w_ij = 1/|N_i|`, with esda's moments
    /// (compatibility only — see module docs).
    RowStandardized,
}

/// Gi* result for one study cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GiStar {
    pub cell: CellIndex,
    /// The input value (count) of the cell.
    pub value: f64,
    /// Gi* z-score.
    pub z: f64,
    /// Two-sided normal p-value of `z`.
    pub p: f64,
    /// Benjamini–Hochberg adjusted `p` over all cells of the call.
    pub p_fdr: f64,
    /// Hot (+) / cold (−) confidence bin from `p_fdr`: ±3 (99 %), ±2 (95 %),
    /// ±1 (90 %), 0 not significant.
    pub bin: i8,
}

/// Invalid input to the hot-spot functions.
#[derive(Debug, Clone, PartialEq)]
pub enum HotspotError {
    /// The same cell was given twice.
    DuplicateCell(CellIndex),
    /// A value is NaN or infinite.
    NonFiniteValue(CellIndex),
    /// Series of different lengths were given where equal lengths are needed.
    LengthMismatch { expected: usize, got: usize },
}

impl fmt::Display for HotspotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateCell(c) => write!(f, "cell {c} given more than once"),
            Self::NonFiniteValue(c) => write!(f, "non-finite value for cell {c}"),
            Self::LengthMismatch { expected, got } => {
                write!(f, "length mismatch: expected {expected}, got {got}")
            }
        }
    }
}

impl std::error::Error for HotspotError {}

/// Neighbour lists: for each study cell (by position), `(position, ring distance)`
/// of every study cell within `k` rings, itself included (distance 0).
pub fn kring_neighbours(
    cells: &[CellIndex],
    k: u32,
) -> Result<Vec<Vec<(usize, u32)>>, HotspotError> {
    let mut pos: HashMap<CellIndex, usize> = HashMap::with_capacity(cells.len());
    for (i, &c) in cells.iter().enumerate() {
        if pos.insert(c, i).is_some() {
            return Err(HotspotError::DuplicateCell(c));
        }
    }
    let mut out = Vec::with_capacity(cells.len());
    let mut disk: Vec<(CellIndex, u32)> = Vec::new();
    for &c in cells {
        disk.clear();
        disk.extend(c.grid_disk_distances::<Vec<_>>(k));
        let mut nb: Vec<(usize, u32)> = disk
            .iter()
            .filter_map(|&(cj, d)| pos.get(&cj).map(|&j| (j, d)))
            .collect();
        nb.sort_unstable();
        out.push(nb);
    }
    Ok(out)
}

/// Getis–Ord Gi* over the given study cells with `k`-ring neighbourhoods
/// (self included) and the given weighting; results in input order.
///
/// `cells` must be every cell of the study area (zeros included), each once.
pub fn gi_star(
    cells: &[(CellIndex, f64)],
    k: u32,
    weights: Weighting,
) -> Result<Vec<GiStar>, HotspotError> {
    for &(c, v) in cells {
        if !v.is_finite() {
            return Err(HotspotError::NonFiniteValue(c));
        }
    }
    let ids: Vec<CellIndex> = cells.iter().map(|&(c, _)| c).collect();
    let nbs = kring_neighbours(&ids, k)?;
    let x: Vec<f64> = cells.iter().map(|&(_, v)| v).collect();
    let z = gi_star_z(&x, &nbs, weights);
    let p: Vec<f64> = z.iter().map(|&z| two_sided_p(z)).collect();
    let p_fdr = benjamini_hochberg(&p);
    Ok(cells
        .iter()
        .enumerate()
        .map(|(i, &(cell, value))| GiStar {
            cell,
            value,
            z: z[i],
            p: p[i],
            p_fdr: p_fdr[i],
            bin: confidence_bin(z[i], p_fdr[i]),
        })
        .collect())
}

/// Gi* z-scores for values `x` over explicit neighbour lists
/// (`(position, ring distance)`, self included as distance 0), as built by
/// [`kring_neighbours`]. Exposed so that callers can reuse the neighbour lists
/// across periods.
pub fn gi_star_z(x: &[f64], nbs: &[Vec<(usize, u32)>], weights: Weighting) -> Vec<f64> {
    let n = x.len();
    assert_eq!(n, nbs.len(), "one neighbour list per value");
    if n < 2 {
        return vec![0.0; n];
    }
    let nf = n as f64;
    // Two-pass mean and variance (more accurate than E[x²] − E[x]²).
    let mean = x.iter().sum::<f64>() / nf;
    let var = x.iter().map(|&v| (v - mean) * (v - mean)).sum::<f64>() / nf;
    let s = var.sqrt();
    // Relative tolerance for "no variation at all".
    let scale = x.iter().fold(0.0_f64, |a, &v| a.max(v.abs()));
    if s.is_nan() || s <= 1e-12 * scale.max(f64::MIN_POSITIVE) {
        return vec![0.0; n];
    }
    nbs.iter()
        .map(|nb| {
            let (mut sum_wx, mut w_sum, mut w_sq) = (0.0, 0.0, 0.0);
            let card = nb.len() as f64;
            for &(j, d) in nb {
                let w = match weights {
                    Weighting::Binary => 1.0,
                    Weighting::InverseRing => 1.0 / (1.0 + d as f64),
                    Weighting::RowStandardized => 1.0 / card,
                };
                sum_wx += w * x[j];
                w_sum += w;
                w_sq += w * w;
            }
            let var_factor = match weights {
                Weighting::Binary | Weighting::InverseRing => {
                    (nf * w_sq - w_sum * w_sum) / (nf - 1.0)
                }
                // esda: cardinality·(N − cardinality)/(N − 1) with cardinality = row sum = 1.
                Weighting::RowStandardized => w_sum * (nf - w_sum) / (nf - 1.0),
            };
            if var_factor.is_nan() || var_factor <= 1e-12 {
                return 0.0;
            }
            (sum_wx - mean * w_sum) / (s * var_factor.sqrt())
        })
        .collect()
}

/// Confidence bin from a z-score and its (FDR-adjusted) two-sided p-value.
pub fn confidence_bin(z: f64, p: f64) -> i8 {
    let level = if p < 0.01 {
        3
    } else if p < 0.05 {
        2
    } else if p < 0.10 {
        1
    } else {
        0
    };
    if z > 0.0 {
        level
    } else if z < 0.0 {
        -level
    } else {
        0
    }
}

/// Benjamini–Hochberg adjusted p-values (monotone step-up), same order as input.
/// NaN p-values are treated as 1.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let clean = |v: f64| if v.is_nan() { 1.0 } else { v.clamp(0.0, 1.0) };
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| clean(p[a]).total_cmp(&clean(p[b])));
    let mut out = vec![1.0; m];
    let mut running = 1.0_f64;
    for rank in (1..=m).rev() {
        let i = order[rank - 1];
        let adj = (clean(p[i]) * m as f64 / rank as f64).min(1.0);
        running = running.min(adj);
        out[i] = running;
    }
    out
}

// ---------------------------------------------------------------------------
// Normal distribution
// ---------------------------------------------------------------------------

/// Two-sided normal p-value `P(|Z| ≥ |z|) = erfc(|z|/√2)`.
pub fn two_sided_p(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    erfc(z.abs() / std::f64::consts::SQRT_2).min(1.0)
}

/// Standard normal CDF Φ(x).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Standard normal upper tail `1 − Φ(x)`, accurate in the far tail.
pub fn normal_sf(x: f64) -> f64 {
    0.5 * erfc(x / std::f64::consts::SQRT_2)
}

/// Complementary error function, W. J. Cody's rational Chebyshev
/// approximations (Math. Comp. 23, 1969; SPECFUN `CALERF`), relative error
/// ≲ 1e-15 in double precision over the whole real line.
#[allow(clippy::excessive_precision)]
pub fn erfc(x: f64) -> f64 {
    const A: [f64; 5] = [
        3.16112374387056560e00,
        1.13864154151050156e02,
        3.77485237685302021e02,
        3.20937758913846947e03,
        1.85777706184603153e-1,
    ];
    const B: [f64; 4] = [
        2.36012909523441209e01,
        2.44024637934444173e02,
        1.28261652607737228e03,
        2.84423683343917062e03,
    ];
    const C: [f64; 9] = [
        5.64188496988670089e-1,
        8.88314979438837594e00,
        6.61191906371416295e01,
        2.98635138197400131e02,
        8.81952221241769090e02,
        1.71204761263407058e03,
        2.05107837782607147e03,
        1.23033935479799725e03,
        2.15311535474403846e-8,
    ];
    const D: [f64; 8] = [
        1.57449261107098347e01,
        1.17693950891312499e02,
        5.37181101862009858e02,
        1.62138957456669019e03,
        3.29079923573345963e03,
        4.36261909014324716e03,
        3.43936767414372164e03,
        1.23033935480374942e03,
    ];
    const P: [f64; 6] = [
        3.05326634961232344e-1,
        3.60344899949804439e-1,
        1.25781726111229246e-1,
        1.60837851487422766e-2,
        6.58749161529837803e-4,
        1.63153871373020978e-2,
    ];
    const Q: [f64; 5] = [
        2.56852019228982242e00,
        1.87295284992346047e00,
        5.27905102951428412e-1,
        6.05183413124413191e-2,
        2.33520497626869185e-3,
    ];
    const SQRPI: f64 = 5.6418958354775628695e-1; // 1/sqrt(pi)
    const XBIG: f64 = 26.543;

    if x.is_nan() {
        return f64::NAN;
    }
    let y = x.abs();
    let r = if y <= 0.46875 {
        let ysq = if y > 1.11e-16 { y * y } else { 0.0 };
        let mut num = A[4] * ysq;
        let mut den = ysq;
        for i in 0..3 {
            num = (num + A[i]) * ysq;
            den = (den + B[i]) * ysq;
        }
        // erf(x) for small |x|; erfc = 1 − erf (sign handled here directly).
        return 1.0 - x * (num + A[3]) / (den + B[3]);
    } else if y <= 4.0 {
        let mut num = C[8] * y;
        let mut den = y;
        for i in 0..7 {
            num = (num + C[i]) * y;
            den = (den + D[i]) * y;
        }
        let r = (num + C[7]) / (den + D[7]);
        let ysq = (y * 16.0).trunc() / 16.0;
        let del = (y - ysq) * (y + ysq);
        (-ysq * ysq).exp() * (-del).exp() * r
    } else if y < XBIG {
        let ysq = 1.0 / (y * y);
        let mut num = P[5] * ysq;
        let mut den = ysq;
        for i in 0..4 {
            num = (num + P[i]) * ysq;
            den = (den + Q[i]) * ysq;
        }
        let r = ysq * (num + P[4]) / (den + Q[4]);
        let r = (SQRPI - r) / y;
        let ysq = (y * 16.0).trunc() / 16.0;
        let del = (y - ysq) * (y + ysq);
        (-ysq * ysq).exp() * (-del).exp() * r
    } else {
        0.0
    };
    if x < 0.0 {
        2.0 - r
    } else {
        r
    }
}

// ---------------------------------------------------------------------------
// Mann–Kendall
// ---------------------------------------------------------------------------

/// Significance level used by [`mann_kendall`] for `trend`.
pub const MK_ALPHA: f64 = 0.05;

/// Mann–Kendall trend test result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannKendall {
    /// Kendall's S statistic.
    pub s: i64,
    /// Variance of S with the tie correction.
    pub var_s: f64,
    /// Continuity-corrected z.
    pub z: f64,
    /// Two-sided normal p-value.
    pub p: f64,
    /// +1 significant upward, −1 significant downward, 0 none (at the α used).
    pub trend: i8,
}

/// Mann–Kendall test with `trend` at α = [`MK_ALPHA`] (0.05, two-sided).
pub fn mann_kendall(series: &[f64]) -> MannKendall {
    mann_kendall_alpha(series, MK_ALPHA)
}

/// Mann–Kendall test with `trend` decided at the given two-sided α.
/// NaN entries are not allowed (they compare as ties here); series of
/// length < 3 never show a trend (S's variance is too small to matter).
pub fn mann_kendall_alpha(series: &[f64], alpha: f64) -> MannKendall {
    let n = series.len();
    let mut s: i64 = 0;
    for i in 0..n {
        for j in (i + 1)..n {
            let d = series[j] - series[i];
            if d > 0.0 {
                s += 1;
            } else if d < 0.0 {
                s -= 1;
            }
        }
    }
    // Tie groups.
    let mut sorted: Vec<f64> = series.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && sorted[j] == sorted[i] {
            j += 1;
        }
        let t = (j - i) as f64;
        if t > 1.0 {
            tie_term += t * (t - 1.0) * (2.0 * t + 5.0);
        }
        i = j;
    }
    let nf = n as f64;
    let var_s = ((nf * (nf - 1.0) * (2.0 * nf + 5.0)) - tie_term) / 18.0;
    let z = if var_s <= 0.0 {
        0.0
    } else if s > 0 {
        (s - 1) as f64 / var_s.sqrt()
    } else if s < 0 {
        (s + 1) as f64 / var_s.sqrt()
    } else {
        0.0
    };
    let p = two_sided_p(z);
    let trend = if p < alpha && z > 0.0 {
        1
    } else if p < alpha && z < 0.0 {
        -1
    } else {
        0
    };
    MannKendall {
        s,
        var_s,
        z,
        p,
        trend,
    }
}

// ---------------------------------------------------------------------------
// Emerging hot spots
// ---------------------------------------------------------------------------

/// Emerging-hot-spot pattern of one cell over a series of periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmergingClass {
    NoPattern,
    NewHot,
    ConsecutiveHot,
    IntensifyingHot,
    PersistentHot,
    DiminishingHot,
    SporadicHot,
    OscillatingHot,
    HistoricalHot,
    NewCold,
    ConsecutiveCold,
    IntensifyingCold,
    PersistentCold,
    DiminishingCold,
    SporadicCold,
    OscillatingCold,
    HistoricalCold,
}

impl EmergingClass {
    /// Stable snake_case name (for JSON / APIs).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoPattern => "no_pattern",
            Self::NewHot => "new_hot",
            Self::ConsecutiveHot => "consecutive_hot",
            Self::IntensifyingHot => "intensifying_hot",
            Self::PersistentHot => "persistent_hot",
            Self::DiminishingHot => "diminishing_hot",
            Self::SporadicHot => "sporadic_hot",
            Self::OscillatingHot => "oscillating_hot",
            Self::HistoricalHot => "historical_hot",
            Self::NewCold => "new_cold",
            Self::ConsecutiveCold => "consecutive_cold",
            Self::IntensifyingCold => "intensifying_cold",
            Self::PersistentCold => "persistent_cold",
            Self::DiminishingCold => "diminishing_cold",
            Self::SporadicCold => "sporadic_cold",
            Self::OscillatingCold => "oscillating_cold",
            Self::HistoricalCold => "historical_cold",
        }
    }
}

/// Parameters of the emerging-hot-spot classification.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmergingParams {
    /// Share of periods that makes a location "mostly" hot/cold (ArcGIS: 0.9).
    pub share: f64,
    /// Minimum |bin| that counts as a significant hot/cold spot (1 = 90 %).
    pub min_bin: i8,
    /// Two-sided α of the Mann–Kendall trend of the intensity series.
    pub trend_alpha: f64,
}

impl Default for EmergingParams {
    fn default() -> Self {
        Self {
            share: 0.9,
            min_bin: 1,
            trend_alpha: 0.05,
        }
    }
}

/// Classify one cell from its per-period Gi* bins (oldest first) and its
/// per-period clustering intensity (oldest first; ArcGIS uses the Gi*
/// z-scores — pass those — but a count series is accepted too), with the
/// default parameters ([`EmergingParams::default`]).
pub fn classify_emerging(bins: &[i8], intensity: &[f64]) -> EmergingClass {
    classify_emerging_with(bins, intensity, &EmergingParams::default()).0
}

/// Classify one cell; also returns the Mann–Kendall test of `intensity`.
///
/// Let `n` = number of periods, a period is *hot* if `bin ≥ min_bin`, *cold*
/// if `bin ≤ −min_bin`, `H`/`C` the numbers of hot/cold periods, and "mostly
/// hot" = `H ≥ share·n` (ArcGIS: 90 %). The trend is the Mann–Kendall test of
/// `intensity` at `trend_alpha`. Rules, checked in this order (hot side;
/// the cold side is the mirror image with hot↔cold and the trend sign
/// flipped — an *intensifying* cold spot gets significantly colder, i.e. a
/// downward trend of the Gi* z):
///
/// 1. final period hot and mostly hot:
///    * **intensifying**: significant upward trend;
///    * **diminishing**: significant downward trend;
///    * **persistent**: no significant trend.
/// 2. final period hot, not mostly hot:
///    * **new**: no earlier period significant (neither hot nor cold);
///    * **consecutive**: the final run of hot periods has length ≥ 2 and no
///      period before that run is significant (neither hot nor cold);
///    * **oscillating**: some earlier period was a significant cold spot;
///    * **sporadic**: otherwise (earlier hot periods, interrupted, never cold).
/// 3. final period not significant and mostly hot: **historical** hot
///    (mirror: mostly cold → historical cold).
/// 4. otherwise **no pattern**.
///
/// Choices where ArcGIS's prose is open (documented here, mirrored in tests):
/// * "new" and "consecutive" require no earlier *cold* spot either (as R's
///   sfdep does); a cold history before the final hot run makes it
///   *oscillating*, which the ArcGIS definition of oscillating covers.
/// * Rule 1 takes precedence over oscillating: a mostly-hot location with a
///   single cold period is persistent/intensifying/diminishing.
/// * A final cold period is classified on the cold side even if the location
///   was mostly hot before (it becomes oscillating cold), since ArcGIS's
///   historical hot requires the most recent period "not hot" and its cold
///   classes only look at the final period being cold.
/// * ArcGIS requires ≥ 10 periods; shorter series are classified by the same
///   rules (with fewer than 10 periods, "mostly" means every period).
///
/// `bins` and `intensity` must have the same length (else the MK test runs on
/// the common prefix — callers should use [`emerging_hotspots`], which checks).
pub fn classify_emerging_with(
    bins: &[i8],
    intensity: &[f64],
    params: &EmergingParams,
) -> (EmergingClass, MannKendall) {
    let m = bins.len().min(intensity.len());
    let (bins, intensity) = (&bins[..m], &intensity[..m]);
    let mk = mann_kendall_alpha(intensity, params.trend_alpha);
    if m == 0 {
        return (EmergingClass::NoPattern, mk);
    }
    let mb = params.min_bin.max(1);
    let is_hot = |b: i8| b >= mb;
    let is_cold = |b: i8| b <= -mb;
    let n = m as f64;
    let hot = bins.iter().filter(|&&b| is_hot(b)).count() as f64;
    let cold = bins.iter().filter(|&&b| is_cold(b)).count() as f64;
    let last = bins[m - 1];
    // Small epsilon so that e.g. 9 of 10 counts as 90 % despite rounding.
    let mostly = |c: f64| c + 1e-9 >= params.share * n;

    // Hot side with `hot`/`cold` predicates; the cold side reuses it mirrored.
    let side = |same: &dyn Fn(i8) -> bool,
                other: &dyn Fn(i8) -> bool,
                count_same: f64,
                up: i8,
                classes: [EmergingClass; 7]| {
        let [new, consecutive, intensifying, persistent, diminishing, sporadic, oscillating] =
            classes;
        if mostly(count_same) {
            return if mk.trend == up {
                intensifying
            } else if mk.trend == -up {
                diminishing
            } else {
                persistent
            };
        }
        let run = bins.iter().rev().take_while(|&&b| same(b)).count();
        let before = &bins[..m - run];
        let any_sig_before = before.iter().any(|&b| same(b) || other(b));
        let any_other = bins[..m - 1].iter().any(|&b| other(b));
        if run == 1 && !any_sig_before {
            new
        } else if run >= 2 && !any_sig_before {
            consecutive
        } else if any_other {
            oscillating
        } else {
            sporadic
        }
    };
    let class = if is_hot(last) {
        side(
            &is_hot,
            &is_cold,
            hot,
            1,
            [
                EmergingClass::NewHot,
                EmergingClass::ConsecutiveHot,
                EmergingClass::IntensifyingHot,
                EmergingClass::PersistentHot,
                EmergingClass::DiminishingHot,
                EmergingClass::SporadicHot,
                EmergingClass::OscillatingHot,
            ],
        )
    } else if is_cold(last) {
        side(
            &is_cold,
            &is_hot,
            cold,
            -1,
            [
                EmergingClass::NewCold,
                EmergingClass::ConsecutiveCold,
                EmergingClass::IntensifyingCold,
                EmergingClass::PersistentCold,
                EmergingClass::DiminishingCold,
                EmergingClass::SporadicCold,
                EmergingClass::OscillatingCold,
            ],
        )
    } else if mostly(hot) {
        EmergingClass::HistoricalHot
    } else if mostly(cold) {
        EmergingClass::HistoricalCold
    } else {
        EmergingClass::NoPattern
    };
    (class, mk)
}

/// Emerging-hot-spot result for one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct EmergingHotspot {
    pub cell: CellIndex,
    pub class: EmergingClass,
    /// Mann–Kendall test of the cell's Gi* z-scores over the periods.
    pub trend: MannKendall,
    /// Mann–Kendall test of the cell's raw counts over the periods
    /// (informational: the "count trend" of a space-time cube).
    pub count_trend: MannKendall,
    /// Gi* bin of each period, oldest first.
    pub bins: Vec<i8>,
    /// Gi* z of each period, oldest first.
    pub z: Vec<f64>,
}

/// Emerging hot-spot analysis: `counts_by_period[t][i]` is the count of
/// `cells[i]` in period `t` (oldest first). Gi* is computed for each period
/// separately over all `cells` (spatial neighbourhood only — no time-lagged
/// neighbours), its FDR bins and z-scores feed [`classify_emerging_with`].
pub fn emerging_hotspots(
    cells: &[CellIndex],
    counts_by_period: &[Vec<f64>],
    k: u32,
    weights: Weighting,
    params: &EmergingParams,
) -> Result<Vec<EmergingHotspot>, HotspotError> {
    let nbs = kring_neighbours(cells, k)?;
    let t = counts_by_period.len();
    let mut z_by_period = Vec::with_capacity(t);
    let mut bin_by_period = Vec::with_capacity(t);
    for counts in counts_by_period {
        if counts.len() != cells.len() {
            return Err(HotspotError::LengthMismatch {
                expected: cells.len(),
                got: counts.len(),
            });
        }
        if let Some(i) = counts.iter().position(|v| !v.is_finite()) {
            return Err(HotspotError::NonFiniteValue(cells[i]));
        }
        let z = gi_star_z(counts, &nbs, weights);
        let p: Vec<f64> = z.iter().map(|&z| two_sided_p(z)).collect();
        let pf = benjamini_hochberg(&p);
        let bins: Vec<i8> = z
            .iter()
            .zip(&pf)
            .map(|(&z, &p)| confidence_bin(z, p))
            .collect();
        z_by_period.push(z);
        bin_by_period.push(bins);
    }
    Ok(cells
        .iter()
        .enumerate()
        .map(|(i, &cell)| {
            let bins: Vec<i8> = bin_by_period.iter().map(|b| b[i]).collect();
            let z: Vec<f64> = z_by_period.iter().map(|z| z[i]).collect();
            let counts: Vec<f64> = counts_by_period.iter().map(|c| c[i]).collect();
            let (class, trend) = classify_emerging_with(&bins, &z, params);
            let count_trend = mann_kendall_alpha(&counts, params.trend_alpha);
            EmergingHotspot {
                cell,
                class,
                trend,
                count_trend,
                bins,
                z,
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use EmergingClass::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn erfc_known_values() {
        // scipy.special.erfc reference values.
        let cases = [
            (0.0, 1.0),
            (0.1, 0.8875370839817152),
            (0.5, 0.4795001221869535),
            (1.0, 0.15729920705028516),
            (2.0, 0.004677734981047266),
            (3.0, 2.2090496998585445e-05),
            (5.0, 1.5374597944280347e-12),
            (10.0, 2.0884875837625446e-45),
            (-1.0, 1.8427007929497148),
        ];
        for (x, want) in cases {
            let got = erfc(x);
            assert!(
                ((got - want) / want).abs() < 1e-13,
                "erfc({x}) = {got}, want {want}"
            );
        }
        assert!(close(normal_cdf(1.959963984540054), 0.975, 1e-15));
        assert!(close(two_sided_p(1.959963984540054), 0.05, 1e-15));
        assert!(close(normal_sf(0.0), 0.5, 1e-16));
    }

    #[test]
    fn mk_strictly_increasing() {
        let s: Vec<f64> = (1..=10).map(f64::from).collect();
        let mk = mann_kendall(&s);
        assert_eq!(mk.s, 45);
        assert!(close(mk.var_s, 125.0, 1e-12));
        assert!(close(mk.z, 44.0 / 125f64.sqrt(), 1e-12));
        assert!(close(mk.z, 3.935_5, 1e-4));
        assert_eq!(mk.trend, 1);
        let rev: Vec<f64> = s.iter().rev().copied().collect();
        let mk = mann_kendall(&rev);
        assert_eq!(mk.s, -45);
        assert_eq!(mk.trend, -1);
        assert!(close(mk.z, -44.0 / 125f64.sqrt(), 1e-12));
    }

    #[test]
    fn mk_with_ties() {
        // [1,2,2,3]: S = 5; Var = (4·3·13 − 2·1·9)/18 = 138/18; z = 4/√(138/18).
        let mk = mann_kendall(&[1.0, 2.0, 2.0, 3.0]);
        assert_eq!(mk.s, 5);
        assert!(close(mk.var_s, 138.0 / 18.0, 1e-12));
        assert!(close(mk.z, 4.0 / (138.0f64 / 18.0).sqrt(), 1e-12));
        assert_eq!(mk.trend, 0); // p ≈ 0.149
                                 // [3,1,4,1,5,9,2,6,5,3,5]: n = 11, ties {1,1} {3,3} {5,5,5}.
                                 // S = 16 (counted pairwise, checked with NumPy); Var = (11·10·27 − 2·1·9 − 2·1·9 − 3·2·11)/18 = 2838/18.
        let mk = mann_kendall(&[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0]);
        assert_eq!(mk.var_s, (2970.0 - 18.0 - 18.0 - 66.0) / 18.0);
        assert_eq!(mk.s, 16);
        assert!(close(mk.z, 15.0 / mk.var_s.sqrt(), 1e-12));
    }

    #[test]
    fn mk_constant_and_short() {
        let mk = mann_kendall(&[4.0; 12]);
        assert_eq!(mk.s, 0);
        assert_eq!(mk.var_s, 0.0);
        assert_eq!(mk.z, 0.0);
        assert_eq!(mk.p, 1.0);
        assert_eq!(mk.trend, 0);
        let mk = mann_kendall(&[]);
        assert_eq!((mk.s, mk.trend), (0, 0));
        let mk = mann_kendall(&[1.0]);
        assert_eq!((mk.s, mk.trend), (0, 0));
    }

    #[test]
    fn bh_step_up() {
        // Sorted p 0.005 0.01 0.03 0.04 0.5 (m = 5): p·m/rank = 0.025 0.025
        // 0.05 0.05 0.5, already monotone; = R's p.adjust(..., "BH").
        let adj = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005, 0.5]);
        let want = [0.025, 0.05, 0.05, 0.025, 0.5];
        for (a, w) in adj.iter().zip(want) {
            assert!(close(*a, w, 1e-15), "{adj:?}");
        }
        assert!(benjamini_hochberg(&[]).is_empty());
        assert_eq!(benjamini_hochberg(&[0.9, 0.95]), vec![0.95, 0.95]);
    }

    #[test]
    fn bins() {
        assert_eq!(confidence_bin(3.0, 0.005), 3);
        assert_eq!(confidence_bin(-3.0, 0.005), -3);
        assert_eq!(confidence_bin(2.0, 0.03), 2);
        assert_eq!(confidence_bin(-1.7, 0.09), -1);
        assert_eq!(confidence_bin(1.7, 0.10), 0);
        assert_eq!(confidence_bin(0.0, 0.0), 0);
    }

    fn area() -> Vec<CellIndex> {
        let c = h3o::LatLng::new(28.64, 121.26)
            .unwrap()
            .to_cell(h3o::Resolution::Nine);
        c.grid_disk::<Vec<_>>(3)
    }

    #[test]
    fn gi_star_degenerate_and_errors() {
        let cells = area();
        let zeros: Vec<(CellIndex, f64)> = cells.iter().map(|&c| (c, 0.0)).collect();
        let r = gi_star(&zeros, 1, Weighting::Binary).unwrap();
        assert!(r.iter().all(|g| g.z == 0.0 && g.p == 1.0 && g.bin == 0));
        let mut dup = zeros.clone();
        dup.push(zeros[0]);
        assert_eq!(
            gi_star(&dup, 1, Weighting::Binary),
            Err(HotspotError::DuplicateCell(zeros[0].0))
        );
        let mut nan = zeros.clone();
        nan[3].1 = f64::NAN;
        assert!(matches!(
            gi_star(&nan, 1, Weighting::Binary),
            Err(HotspotError::NonFiniteValue(_))
        ));
        assert!(gi_star(&[], 1, Weighting::Binary).unwrap().is_empty());
    }

    #[test]
    fn gi_star_hot_centre_cold_elsewhere() {
        let cells = area(); // 37 cells, centre first
        let centre = cells[0];
        let input: Vec<(CellIndex, f64)> = cells
            .iter()
            .map(|&c| {
                let d = centre.grid_distance(c).unwrap();
                (c, if d <= 1 { 20.0 } else { 1.0 })
            })
            .collect();
        for w in [
            Weighting::Binary,
            Weighting::InverseRing,
            Weighting::RowStandardized,
        ] {
            let r = gi_star(&input, 1, w).unwrap();
            // esda's 'R' convention gives a much smaller z (≈ 2.07 vs ≈ 5.6):
            // it ignores the neighbourhood size in the variance.
            let min_z = if w == Weighting::RowStandardized {
                2.0
            } else {
                3.0
            };
            assert!(r[0].z > min_z, "{w:?} {}", r[0].z);
            if w != Weighting::RowStandardized {
                assert_eq!(r[0].bin, 3);
            }
            let far = r
                .iter()
                .find(|g| centre.grid_distance(g.cell).unwrap() == 3)
                .unwrap();
            assert!(far.z < 0.0 && far.bin <= 0);
        }
        // Row-standardised weights under the general Getis–Ord variance equal
        // the binary z (scale invariance) — documents why `RowStandardized`
        // only exists for esda compatibility.
        let x: Vec<f64> = input.iter().map(|p| p.1).collect();
        let nbs = kring_neighbours(&cells, 1).unwrap();
        let zb = gi_star_z(&x, &nbs, Weighting::Binary);
        let zr = gi_star_z(&x, &nbs, Weighting::RowStandardized);
        // For RowStandardized, z = (local mean − x̄)/S.
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let s = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        for (i, nb) in nbs.iter().enumerate() {
            let local = nb.iter().map(|&(j, _)| x[j]).sum::<f64>() / nb.len() as f64;
            assert!(close(zr[i], (local - mean) / s, 1e-12));
            let card = nb.len() as f64;
            let want_b =
                (local * card - mean * card) / (s * ((n * card - card * card) / (n - 1.0)).sqrt());
            assert!(close(zb[i], want_b, 1e-12));
        }
    }

    // ---- emerging classes: hand-made bin series (10 periods unless noted) ----

    fn up() -> Vec<f64> {
        (0..10).map(f64::from).collect()
    }
    fn down() -> Vec<f64> {
        (0..10).rev().map(f64::from).collect()
    }
    fn flat() -> Vec<f64> {
        vec![2.0, 3.0, 2.0, 3.0, 2.0, 3.0, 2.0, 3.0, 2.0, 3.0]
    }
    fn neg(v: &[i8]) -> Vec<i8> {
        v.iter().map(|b| -b).collect()
    }

    #[test]
    fn emerging_hot_classes() {
        let c = classify_emerging;
        assert_eq!(c(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 2], &flat()), NewHot);
        assert_eq!(c(&[0, 0, 0, 0, 0, 0, 0, 1, 3, 2], &flat()), ConsecutiveHot);
        assert_eq!(c(&[0, 2, 2, 2, 2, 2, 3, 3, 3, 3], &up()), IntensifyingHot);
        assert_eq!(c(&[2, 2, 2, 2, 2, 2, 2, 2, 2, 2], &flat()), PersistentHot);
        assert_eq!(c(&[3, 3, 3, 3, 0, 3, 2, 2, 1, 1], &down()), DiminishingHot);
        assert_eq!(c(&[0, 2, 0, 0, 1, 1, 0, 0, 0, 2], &flat()), SporadicHot);
        assert_eq!(c(&[0, -2, 0, 0, 1, 1, 0, 0, 0, 2], &flat()), OscillatingHot);
        assert_eq!(c(&[2, 2, 2, 2, 2, 2, 2, 2, 2, 0], &flat()), HistoricalHot);
        assert_eq!(c(&[0, 0, 1, 0, 0, 0, 0, 1, 0, 0], &flat()), NoPattern);
        assert_eq!(c(&[0; 10], &flat()), NoPattern);
        // 90 % threshold: 9 of 10 hot including the last, no trend → persistent.
        assert_eq!(c(&[0, 2, 2, 2, 2, 2, 2, 2, 2, 2], &flat()), PersistentHot);
        // 8 of 10: not "mostly"; a hot before the final run → sporadic.
        assert_eq!(c(&[2, 0, 0, 2, 2, 2, 2, 2, 2, 2], &flat()), SporadicHot);
        // 8 of 10 as one final run, nothing before → consecutive.
        assert_eq!(c(&[0, 0, 2, 2, 2, 2, 2, 2, 2, 2], &flat()), ConsecutiveHot);
        // Choice: cold before the final hot run makes it oscillating, not new/consecutive.
        assert_eq!(c(&[-1, 0, 0, 0, 0, 0, 0, 0, 0, 2], &flat()), OscillatingHot);
        assert_eq!(c(&[-1, 0, 0, 0, 0, 0, 0, 0, 2, 2], &flat()), OscillatingHot);
        // Choice: mostly hot with a single cold period is still persistent.
        assert_eq!(c(&[-1, 2, 2, 2, 2, 2, 2, 2, 2, 2], &flat()), PersistentHot);
        // Choice: final cold after a hot history → oscillating cold.
        assert_eq!(
            c(&[2, 2, 2, 2, 2, 2, 2, 2, 2, -2], &flat()),
            OscillatingCold
        );
    }

    #[test]
    fn emerging_cold_classes() {
        let c = classify_emerging;
        assert_eq!(c(&neg(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 2]), &flat()), NewCold);
        assert_eq!(
            c(&neg(&[0, 0, 0, 0, 0, 0, 0, 1, 3, 2]), &flat()),
            ConsecutiveCold
        );
        // Intensifying cold: z getting significantly more negative.
        assert_eq!(
            c(&neg(&[0, 2, 2, 2, 2, 2, 3, 3, 3, 3]), &down()),
            IntensifyingCold
        );
        assert_eq!(
            c(&neg(&[2, 2, 2, 2, 2, 2, 2, 2, 2, 2]), &flat()),
            PersistentCold
        );
        assert_eq!(
            c(&neg(&[3, 3, 3, 3, 0, 3, 2, 2, 1, 1]), &up()),
            DiminishingCold
        );
        assert_eq!(
            c(&neg(&[0, 2, 0, 0, 1, 1, 0, 0, 0, 2]), &flat()),
            SporadicCold
        );
        assert_eq!(
            c(&neg(&[0, -2, 0, 0, 1, 1, 0, 0, 0, 2]), &flat()),
            OscillatingCold
        );
        assert_eq!(
            c(&neg(&[2, 2, 2, 2, 2, 2, 2, 2, 2, 0]), &flat()),
            HistoricalCold
        );
    }

    #[test]
    fn emerging_params_and_edges() {
        // min_bin = 2: ±1 bins do not count as significant.
        let p = EmergingParams {
            min_bin: 2,
            ..Default::default()
        };
        assert_eq!(
            classify_emerging_with(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 2], &flat(), &p).0,
            NewHot
        );
        assert_eq!(
            classify_emerging(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 2], &flat()),
            SporadicHot
        );
        assert_eq!(classify_emerging(&[], &[]), NoPattern);
        // Trend significant at 0.05 but not at 0.01: 10 inversions, S = 25,
        // z = 24/√125 ≈ 2.147, p ≈ 0.032.
        let mild = [4.0, 3.0, 2.0, 1.0, 0.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let mk = mann_kendall(&mild);
        assert!(mk.p < 0.05 && mk.p > 0.01, "{mk:?}");
        let hot = [2i8; 10];
        assert_eq!(classify_emerging(&hot, &mild), IntensifyingHot);
        let strict = EmergingParams {
            trend_alpha: 0.01,
            ..Default::default()
        };
        assert_eq!(
            classify_emerging_with(&hot, &mild, &strict).0,
            PersistentHot
        );
    }

    #[test]
    fn emerging_end_to_end() {
        let cells = area();
        let centre = cells[0];
        // 10 periods: the centre neighbourhood heats up from period 5 on.
        let periods: Vec<Vec<f64>> = (0..10)
            .map(|t| {
                cells
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| {
                        let d = centre.grid_distance(c).unwrap();
                        let base = 1.0 + (i % 3) as f64;
                        if t >= 5 && d <= 1 {
                            base + 30.0
                        } else {
                            base
                        }
                    })
                    .collect()
            })
            .collect();
        let r = emerging_hotspots(
            &cells,
            &periods,
            1,
            Weighting::Binary,
            &EmergingParams::default(),
        )
        .unwrap();
        assert_eq!(r[0].class, ConsecutiveHot, "{:?}", r[0]);
        assert_eq!(r[0].bins[..5], [0, 0, 0, 0, 0]);
        assert!(r[0].count_trend.trend == 1);
        let bad = vec![vec![0.0; cells.len() - 1]];
        assert!(matches!(
            emerging_hotspots(
                &cells,
                &bad,
                1,
                Weighting::Binary,
                &EmergingParams::default()
            ),
            Err(HotspotError::LengthMismatch { .. })
        ));
    }
}
