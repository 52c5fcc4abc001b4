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
            site("S-OTHER", 121.18, 28.56, &[]),
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

/// The checked-in Huangyan layers, parsed with the importer's own parser.
fn huangyan() -> Layers {
    use crate::domain::LayerKind;
    use crate::ingest::layer_file::{parse, LayerData};
    let areas = |k, text: &str| match parse(k, text).unwrap() {
        LayerData::Areas(a) => a,
        LayerData::Sites(_) => unreachable!(),
    };
    let sites = |k, text: &str| match parse(k, text).unwrap() {
        LayerData::Sites(s) => s,
        LayerData::Areas(_) => unreachable!(),
    };
    Layers {
        boundary: areas(
            LayerKind::Boundary,
            include_str!("../../geodata/boundary.geojson"),
        ),
        townships: areas(
            LayerKind::Townships,
            include_str!("../../geodata/townships.geojson"),
        ),
        grids: areas(
            LayerKind::Grids,
            include_str!("../../geodata/grids.geojson"),
        ),
        stations: sites(
            LayerKind::Stations,
            include_str!("../../geodata/stations.geojson"),
        ),
        posts: sites(
            LayerKind::Posts,
            include_str!("../../geodata/posts.geojson"),
        ),
    }
}

#[test]
fn every_township_seat_locates_to_its_township_on_real_geodata() {
    let layers = huangyan();
    let idx = JurisdictionIndex::build(&layers);
    let grid_township: std::collections::HashMap<&str, &str> = layers
        .grids
        .iter()
        .map(|g| (g.code.as_str(), g.parent_code.as_deref().unwrap()))
        .collect();
    assert_eq!(layers.townships.len(), 19);
    for t in &layers.townships {
        let lon = t.props["seat_lon"].as_f64().unwrap();
        let lat = t.props["seat_lat"].as_f64().unwrap();
        let j = idx.locate(at(lon, lat));
        assert!(j.inside, "{} seat outside", t.name);
        assert_eq!(j.district.as_ref().unwrap().code, "331003");
        assert_eq!(j.township.as_ref().unwrap().code, t.code, "{}", t.name);
        let grid = j.grid.expect("every seat is in a grid");
        assert_eq!(
            grid_township[grid.code.as_str()],
            t.code,
            "grid of {} seat",
            t.name
        );
        let station = j.station.expect("every township has a responsible station");
        let serving = layers
            .stations
            .iter()
            .find(|s| s.code == station.code)
            .unwrap();
        assert!(
            serving.serves.contains(&t.code),
            "{} not served by {}",
            t.name,
            station.name
        );
        assert!(j.nearest_post.unwrap().distance_m < 5_000.0);
    }
}

#[test]
fn real_places_locate_where_their_names_say() {
    let idx = JurisdictionIndex::build(&huangyan());
    // 城南派出所 (places.csv, WGS-84, high confidence): a post at 0 m, in 南城街道
    let j = idx.locate(at(121.26392, 28.61838));
    assert_eq!(j.township.unwrap().name, "南城街道");
    let post = j.nearest_post.unwrap();
    assert_eq!(post.name, "城南派出所");
    assert!(post.distance_m < 1.0);
    // 院桥派出所 (places.csv) in 院桥镇
    assert_eq!(
        idx.locate(at(121.252874, 28.559662)).township.unwrap().name,
        "院桥镇"
    );
    // 宁溪镇 is mountain country: the 大寺基 ecological station is responsible
    let j = idx.locate(at(120.97059, 28.58967));
    assert_eq!(j.station.unwrap().name, "大寺基林场生态警务站");
    // Jiaojiang (椒江区), east of the district, and Wenzhou, far south: outside
    for (lon, lat) in [(121.43, 28.68), (120.70, 28.00)] {
        let j = idx.locate(at(lon, lat));
        assert!(!j.inside && j.township.is_none() && j.grid.is_none());
    }
}

/// A user's grid that spills across the township line: the grid's declared
/// township wins for every point in it, so township, grid and station agree.
#[test]
fn a_grid_declares_its_township() {
    let mut l = layers();
    // G-X covers the east edge of TW and a strip of TE, declared in TW
    let mut gx = square("G-X", 121.09, 28.5, 121.12, 28.55, true);
    gx.parent_code = Some("TW".into());
    l.grids.insert(0, gx);
    let idx = JurisdictionIndex::build(&l);
    let j = idx.locate(at(121.11, 28.52)); // geometrically in TE
    assert_eq!(j.grid.unwrap().code, "G-X");
    assert_eq!(j.township.unwrap().code, "TW");
    assert_eq!(j.station.unwrap().code, "S-WEST");
    // outside G-X the point's own township answers
    assert_eq!(idx.locate(at(121.15, 28.58)).township.unwrap().code, "TE");
}
