use super::*;
use geo::{polygon, MultiPolygon, Point};
use serde_json::json;

fn square(code: &str, x0: f64, y0: f64, x1: f64, y1: f64, generated: bool) -> Area {
    Area {
        code: code.into(),
        name: format!("{code}名"),
        parent_code: None,
        props: json!({"generated": generated}).as_object().unwrap().clone(),
        geometry: MultiPolygon(vec![polygon![
            (x: x0, y: y0), (x: x1, y: y0), (x: x1, y: y1), (x: x0, y: y1), (x: x0, y: y0)
        ]]),
    }
}

fn site(code: &str, lon: f64, lat: f64, serves: &[&str]) -> Site {
    Site {
        code: code.into(),
        name: format!("{code}名"),
        township_code: None,
        serves: serves.iter().map(|s| s.to_string()).collect(),
        props: Default::default(),
        point: Point::new(lon, lat),
    }
}

/// A 0.2° × 0.2° district at Huangyan's latitude split into two townships
/// (west, east) and four grids.
fn layers() -> Layers {
    Layers {
        boundary: vec![square("D", 121.0, 28.5, 121.2, 28.7, false)],
        townships: vec![
            square("TW", 121.0, 28.5, 121.1, 28.7, true),
            square("TE", 121.1, 28.5, 121.2, 28.7, true),
        ],
        grids: vec![
            square("G-SW", 121.0, 28.5, 121.1, 28.6, true),
            square("G-NW", 121.0, 28.6, 121.1, 28.7, true),
            square("G-SE", 121.1, 28.5, 121.2, 28.6, true),
            square("G-NE", 121.1, 28.6, 121.2, 28.7, true),
        ],
        stations: vec![
            site("S-WEST", 121.05, 28.6, &["TW"]),
            site("S-OTHER", 121.19, 28.69, &[]),
        ],
        posts: vec![
            // east of the query point by 0.0100° (≈ 977 m at 28.6°N)
            site("P-EAST", 121.0600, 28.6500, &[]),
            // north of the query point by 0.0090° (≈ 1,001 m): nearer in degrees, farther in metres
            site("P-NORTH", 121.0500, 28.6590, &[]),
            site("P-FAR", 121.19, 28.51, &[]),
        ],
    }
}

fn at(lon: f64, lat: f64) -> Position {
    Position::new(lon, lat).unwrap()
}

#[test]
fn locates_township_grid_and_station() {
    let idx = JurisdictionIndex::build(&layers());
    let j = idx.locate(at(121.05, 28.65));
    assert!(j.inside);
    assert_eq!(j.district.unwrap().code, "D");
    let t = j.township.unwrap();
    assert_eq!(t.code, "TW");
    assert!(t.generated);
    assert_eq!(j.grid.unwrap().code, "G-NW");
    // TW is served by S-WEST
    assert_eq!(j.station.unwrap().code, "S-WEST");

    let j = idx.locate(at(121.15, 28.55));
    assert_eq!(j.township.unwrap().code, "TE");
    assert_eq!(j.grid.unwrap().code, "G-SE");
    // no station serves TE: the nearest station answers
    let s = j.station.unwrap();
    assert_eq!(s.code, "S-OTHER");
    assert!(s.distance_m > 1_000.0);
}

#[test]
fn nearest_post_is_metric_not_degrees() {
    let idx = JurisdictionIndex::build(&layers());
    let p = idx.nearest_post(at(121.05, 28.65)).unwrap();
    assert_eq!(p.code, "P-EAST", "degrees would pick P-NORTH");
    assert!((p.distance_m - 977.0).abs() < 5.0, "{}", p.distance_m);
}

#[test]
fn outside_the_district() {
    let idx = JurisdictionIndex::build(&layers());
    let j = idx.locate(at(121.3, 28.65));
    assert!(!j.inside);
    assert!(j.district.is_none() && j.township.is_none() && j.grid.is_none());
    assert!(j.station.is_none());
    // the nearest post is still useful just outside the line
    assert!(j.nearest_post.is_some());
}

#[test]
fn empty_world_answers_nothing() {
    let idx = JurisdictionIndex::build(&Layers::default());
    assert!(idx.is_empty());
    let j = idx.locate(at(121.05, 28.65));
    assert!(!j.inside && j.nearest_post.is_none());
    assert!(idx.district_bbox().is_none());
}

#[test]
fn district_bbox() {
    let idx = JurisdictionIndex::build(&layers());
    assert_eq!(idx.district_bbox().unwrap(), [121.0, 28.5, 121.2, 28.7]);
}
