//! Deterministic GeoJSON writer: properties in a fixed, declared order (independent of
//! serde_json's `preserve_order` feature, which workspace feature unification could flip),
//! one feature per line for readable diffs, coordinates already rounded to 1e-6°.

use geo::{Coord, LineString, MultiPolygon};
use serde_json::Value;

pub struct Feature {
    pub props: Vec<(&'static str, Value)>,
    pub geometry: String,
}

fn num(v: f64) -> String {
    // Display gives the shortest round-trip representation: deterministic.
    format!("{v}")
}

fn ring(ls: &LineString) -> String {
    let parts: Vec<String> = ls
        .coords()
        .map(|c| format!("[{},{}]", num(c.x), num(c.y)))
        .collect();
    format!("[{}]", parts.join(","))
}

pub fn point(c: Coord) -> String {
    format!(
        "{{\"type\":\"Point\",\"coordinates\":[{},{}]}}",
        num(c.x),
        num(c.y)
    )
}

/// `Polygon` when there is one part, `MultiPolygon` otherwise.
pub fn polygonal(mp: &MultiPolygon) -> String {
    let poly = |p: &geo::Polygon| {
        let rings: Vec<String> = std::iter::once(p.exterior())
            .chain(p.interiors())
            .map(ring)
            .collect();
        format!("[{}]", rings.join(","))
    };
    if mp.0.len() == 1 {
        format!(
            "{{\"type\":\"Polygon\",\"coordinates\":{}}}",
            poly(&mp.0[0])
        )
    } else {
        let ps: Vec<String> = mp.iter().map(poly).collect();
        format!(
            "{{\"type\":\"MultiPolygon\",\"coordinates\":[{}]}}",
            ps.join(",")
        )
    }
}

pub fn multipolygon(mp: &MultiPolygon) -> String {
    let poly = |p: &geo::Polygon| {
        let rings: Vec<String> = std::iter::once(p.exterior())
            .chain(p.interiors())
            .map(ring)
            .collect();
        format!("[{}]", rings.join(","))
    };
    let ps: Vec<String> = mp.iter().map(poly).collect();
    format!(
        "{{\"type\":\"MultiPolygon\",\"coordinates\":[{}]}}",
        ps.join(",")
    )
}

pub fn collection(features: &[Feature]) -> String {
    let mut s = String::from("{\"type\":\"FeatureCollection\",\"features\":[\n");
    for (i, f) in features.iter().enumerate() {
        let props: Vec<String> = f
            .props
            .iter()
            .map(|(k, v)| format!("{}:{}", Value::from(*k), v))
            .collect();
        s.push_str(&format!(
            "{{\"type\":\"Feature\",\"properties\":{{{}}},\"geometry\":{}}}",
            props.join(","),
            f.geometry
        ));
        s.push_str(if i + 1 < features.len() { ",\n" } else { "\n" });
    }
    s.push_str("]}\n");
    s
}
