//! Tests over the CHECKED-IN layers in `geodata/*.geojson`, plus proof that each invariant check
//! rejects broken input.

use geo::{LineString, MultiPolygon, Polygon};
use lianqin_geodata::check::{self, check_all, check_geometry, check_serves, check_tiling};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const OUT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const SRC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../src");

fn checked_in() -> Vec<(String, String)> {
    lianqin_geodata::FILES
        .iter()
        .map(|n| {
            let p = PathBuf::from(OUT_DIR).join(n);
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (n.to_string(), text)
        })
        .collect()
}

fn src() -> &'static Path {
    Path::new(SRC_DIR)
}

#[test]
fn checked_in_layers_hold_every_invariant() {
    let report =
        check_all(&checked_in(), src()).unwrap_or_else(|e| panic!("invariants violated:\n{e:#}"));
    println!("{report}");
}

#[test]
fn generator_reproduces_the_checked_in_bytes() {
    let generated = lianqin_geodata::generate(src()).expect("generate");
    let on_disk = checked_in();
    assert_eq!(generated.len(), on_disk.len());
    for ((gn, gt), (dn, dt)) in generated.iter().zip(&on_disk) {
        assert_eq!(gn, dn);
        if gt != dt {
            let line = gt
                .lines()
                .zip(dt.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "geodata/{gn} differs from the generator output (first differing line {}); \
                 regenerate with `cargo run -p lianqin-geodata --release -- --src geodata/src --out geodata`",
                line + 1
            );
        }
    }
}

#[test]
fn counts_and_codes() {
    let files = checked_in();
    let layer = |n: &str| check::parse(&files.iter().find(|(f, _)| f == n).unwrap().1).unwrap();
    assert_eq!(layer("boundary.geojson").len(), 1);
    assert_eq!(layer("townships.geojson").len(), 19);
    let grids = layer("grids.geojson");
    assert!(grids.len() >= 348);
    let villages: BTreeSet<String> = grids
        .iter()
        .map(|g| g.s("village_code").unwrap().to_string())
        .collect();
    assert_eq!(villages.len(), 348);
    assert!(villages.iter().all(|c| c.len() == 12));
    assert!(grids.iter().all(|g| g.s("name").unwrap().ends_with("网格")));
    assert_eq!(layer("stations.geojson").len(), 4);
    let posts = layer("posts.geojson");
    assert_eq!(posts.len(), 21);
    let codes: Vec<&str> = posts.iter().map(|p| p.s("code").unwrap()).collect();
    assert_eq!(codes.first(), Some(&"PP001"));
    assert_eq!(codes.last(), Some(&"PP021"));
}

// ---- each check can fail ----

fn square(x0: f64, y0: f64, s: f64) -> MultiPolygon {
    // small squares near the district so the projection's metres are meaningful
    let (x0, y0, s) = (121.0 + x0 * 0.01, 28.6 + y0 * 0.01, s * 0.01);
    MultiPolygon::new(vec![Polygon::new(
        LineString::from(vec![
            (x0, y0),
            (x0 + s, y0),
            (x0 + s, y0 + s),
            (x0, y0 + s),
            (x0, y0),
        ]),
        vec![],
    )])
}

#[test]
fn tiling_check_rejects_overlap_gap_and_spill() {
    let whole = square(0.0, 0.0, 2.0);
    let ok = [
        ("a".into(), square(0.0, 0.0, 1.0)),
        ("b".into(), square(1.0, 0.0, 1.0)),
        ("c".into(), square(0.0, 1.0, 1.0)),
        ("d".into(), square(1.0, 1.0, 1.0)),
    ];
    let mut errs = Vec::new();
    check_tiling("ok", &whole, &ok, &mut errs);
    assert!(errs.is_empty(), "{errs:?}");

    let mut overlapping = ok.to_vec();
    overlapping[1].1 = square(0.5, 0.0, 1.0);
    overlapping.push(("e".into(), square(1.5, 0.0, 0.5)));
    check_tiling("overlap", &whole, &overlapping, &mut errs);
    assert!(errs.iter().any(|e| e.contains("overlap by")), "{errs:?}");

    errs.clear();
    check_tiling("gap", &whole, &ok[..3], &mut errs);
    assert!(errs.iter().any(|e| e.contains("parts sum")), "{errs:?}");

    errs.clear();
    let mut spill = ok.clone();
    spill[3].1 = square(1.0, 1.0, 1.2);
    check_tiling("spill", &whole, &spill, &mut errs);
    assert!(errs.iter().any(|e| e.contains("inside")), "{errs:?}");
}

fn fc(geometry: Value) -> Vec<check::Feat> {
    let text = serde_json::json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "X", "name": "x", "generated": true, "method": "m"}, "geometry": geometry}
    ]})
    .to_string();
    check::parse(&text).unwrap()
}

#[test]
fn geometry_check_rejects_clockwise_unclosed_and_self_intersecting_rings() {
    let mut errs = Vec::new();
    let ccw = serde_json::json!({"type": "Polygon", "coordinates": [[[121.0, 28.6], [121.1, 28.6], [121.1, 28.7], [121.0, 28.6]]]});
    check_geometry("t", &fc(ccw), &mut errs);
    assert!(errs.is_empty(), "{errs:?}");

    let cw = serde_json::json!({"type": "Polygon", "coordinates": [[[121.0, 28.6], [121.1, 28.7], [121.1, 28.6], [121.0, 28.6]]]});
    check_geometry("t", &fc(cw), &mut errs);
    assert!(errs.iter().any(|e| e.contains("winding")), "{errs:?}");

    errs.clear();
    let unclosed = serde_json::json!({"type": "Polygon", "coordinates": [[[121.0, 28.6], [121.1, 28.6], [121.1, 28.7], [121.0, 28.7]]]});
    check_geometry("t", &fc(unclosed), &mut errs);
    assert!(errs.iter().any(|e| e.contains("not closed")), "{errs:?}");

    errs.clear();
    let bowtie = serde_json::json!({"type": "Polygon", "coordinates": [[[121.0, 28.6], [121.1, 28.7], [121.1, 28.6], [121.0, 28.7], [121.0, 28.6]]]});
    check_geometry("t", &fc(bowtie), &mut errs);
    assert!(
        errs.iter().any(|e| e.contains("invalid geometry")),
        "{errs:?}"
    );

    errs.clear();
    let out_of_range = serde_json::json!({"type": "Point", "coordinates": [200.0, 28.6]});
    check_geometry("t", &fc(out_of_range), &mut errs);
    assert!(errs.iter().any(|e| e.contains("bad point")), "{errs:?}");
}

#[test]
fn serves_check_rejects_duplicates_and_omissions() {
    let towns: BTreeSet<String> = ["A", "B", "C"].iter().map(|s| s.to_string()).collect();
    let st = |serves: Value| {
        let text = serde_json::json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"code": "S", "serves": serves}, "geometry": {"type": "Point", "coordinates": [121.0, 28.6]}}
        ]})
        .to_string();
        check::parse(&text).unwrap()
    };
    let mut errs = Vec::new();
    check_serves(&st(serde_json::json!(["A", "B", "C"])), &towns, &mut errs);
    assert!(errs.is_empty(), "{errs:?}");
    check_serves(&st(serde_json::json!(["A", "A", "B"])), &towns, &mut errs);
    assert!(
        errs.iter().any(|e| e.contains("A served 2"))
            && errs.iter().any(|e| e.contains("C served 0")),
        "{errs:?}"
    );
}

/// Edit one property of one feature of the checked-in files and expect `check_all` to object.
fn tampered(file: &str, index: usize, key: &str, value: Value) -> Vec<(String, String)> {
    let mut files = checked_in();
    let entry = files.iter_mut().find(|(n, _)| n == file).unwrap();
    let mut v: Value = serde_json::from_str(&entry.1).unwrap();
    v["features"][index]["properties"][key] = value;
    entry.1 = v.to_string();
    files
}

#[test]
fn tampered_layers_are_rejected() {
    let cases = [
        ("townships.geojson", 0, "seat_lon", serde_json::json!(120.9)),
        ("grids.geojson", 5, "generated", serde_json::json!(false)),
        ("grids.geojson", 7, "village_lat", serde_json::json!(28.5)),
        (
            "grids.geojson",
            9,
            "township_code",
            serde_json::json!("331003205"),
        ),
        ("stations.geojson", 0, "serves", serde_json::json!([])),
        (
            "posts.geojson",
            3,
            "township_code",
            serde_json::json!("331003001"),
        ),
        ("posts.geojson", 20, "method", serde_json::json!("")),
    ];
    // control: rewriting an untouched value through serde_json keeps the files acceptable
    assert!(check_all(
        &tampered("posts.geojson", 0, "code", serde_json::json!("PP001")),
        src()
    )
    .is_ok());
    for (file, i, key, value) in cases {
        let res = check_all(&tampered(file, i, key, value.clone()), src());
        assert!(
            res.is_err(),
            "tampering {file}[{i}].{key} = {value} was not detected"
        );
    }
    // a grid removed: coverage of village codes fails
    let mut files = checked_in();
    let g = files
        .iter_mut()
        .find(|(n, _)| n == "grids.geojson")
        .unwrap();
    let mut v: Value = serde_json::from_str(&g.1).unwrap();
    v["features"].as_array_mut().unwrap().remove(100);
    g.1 = v.to_string();
    assert!(check_all(&files, src()).is_err());
}
