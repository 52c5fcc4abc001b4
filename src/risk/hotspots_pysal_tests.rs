//! Gi* against PySAL esda `G_Local(y, w, transform=t, star=True)` on the fixed
//! 61-cell example of `tools/pysal/gistar_reference.py` (output checked in as
//! `tools/pysal/gistar_reference.json`).
//!
//! Tolerances: |Δz| ≤ 1e-9 and |Δp| ≤ 1e-9 (two-sided p = 2·esda `p_norm`,
//! esda's p_norm being one-sided). Observed differences are ~1e-15.

use std::str::FromStr;

use super::hotspots::{gi_star, kring_neighbours, Weighting};
use h3o::CellIndex;
use serde_json::Value;

const REFERENCE: &str = include_str!("../../tools/pysal/gistar_reference.json");
const TOL_Z: f64 = 1e-9;
const TOL_P: f64 = 1e-9;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn input(r: &Value) -> Vec<(CellIndex, f64)> {
    let cells = r["cells"].as_array().unwrap();
    let counts = floats(&r["counts"]);
    cells
        .iter()
        .zip(counts)
        .map(|(c, n)| (CellIndex::from_str(c.as_str().unwrap()).unwrap(), n))
        .collect()
}

#[test]
fn neighbour_lists_match_the_fixture() {
    let r: Value = serde_json::from_str(REFERENCE).unwrap();
    let cells: Vec<CellIndex> = input(&r).iter().map(|p| p.0).collect();
    let nbs = kring_neighbours(&cells, 2).unwrap();
    for (i, nb) in nbs.iter().enumerate() {
        for (d, key) in [(1u32, "ring1"), (2, "ring2")] {
            let want: Vec<usize> = r[key][i]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect();
            let got: Vec<usize> = nb
                .iter()
                .filter(|&&(_, dd)| dd == d)
                .map(|&(j, _)| j)
                .collect();
            assert_eq!(got, want, "cell {i} ring {d}");
        }
        assert!(nb.contains(&(i, 0)), "self included");
    }
}

fn check(
    key: &str,
    weights: Weighting,
    k: u32,
    z_key: &str,
    p_key: &str,
    section: &str,
) -> (f64, f64) {
    let r: Value = serde_json::from_str(REFERENCE).unwrap();
    let refr = &r[section][key];
    assert_eq!(refr["k"].as_u64().unwrap() as u32, k);
    let want_z = floats(&refr[z_key]);
    let want_p = floats(&refr[p_key]);
    let got = gi_star(&input(&r), k, weights).unwrap();
    let (mut dz, mut dp) = (0.0_f64, 0.0_f64);
    for (i, g) in got.iter().enumerate() {
        dz = dz.max((g.z - want_z[i]).abs());
        dp = dp.max((g.p - want_p[i]).abs());
    }
    println!("{section}/{key}: max |dz| = {dz:e}, max |dp| = {dp:e}");
    assert!(dz <= TOL_Z, "{key}: max |dz| = {dz:e}");
    assert!(dp <= TOL_P, "{key}: max |dp| = {dp:e}");
    (dz, dp)
}

#[test]
fn binary_matches_esda_transform_b() {
    check("k1_B", Weighting::Binary, 1, "Zs", "p_two_sided", "esda");
    check("k2_B", Weighting::Binary, 2, "Zs", "p_two_sided", "esda");
}

#[test]
fn row_standardized_matches_esda_transform_r() {
    check(
        "k1_R",
        Weighting::RowStandardized,
        1,
        "Zs",
        "p_two_sided",
        "esda",
    );
    check(
        "k2_R",
        Weighting::RowStandardized,
        2,
        "Zs",
        "p_two_sided",
        "esda",
    );
}

#[test]
fn one_sided_p_norm_is_half_of_our_p() {
    let r: Value = serde_json::from_str(REFERENCE).unwrap();
    let p_norm = floats(&r["esda"]["k1_B"]["p_norm"]);
    let got = gi_star(&input(&r), 1, Weighting::Binary).unwrap();
    let d = got
        .iter()
        .zip(&p_norm)
        .map(|(g, p)| (g.p - 2.0 * p).abs())
        .fold(0.0, f64::max);
    assert!(d <= TOL_P, "{d:e}");
}

#[test]
fn inverse_ring_matches_numpy_getis_ord_1995() {
    check(
        "k1_inverse_ring",
        Weighting::InverseRing,
        1,
        "z",
        "p_two_sided",
        "numpy_getis_ord_1995",
    );
    check(
        "k2_inverse_ring",
        Weighting::InverseRing,
        2,
        "z",
        "p_two_sided",
        "numpy_getis_ord_1995",
    );
}
