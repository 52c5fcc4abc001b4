//! RFC 7946 rendering of layers.

use serde_json::{json, Map, Value};

use crate::domain::{Area, LayerKind, Layers, Site};

fn area_feature(a: &Area) -> Value {
    let mut props: Map<String, Value> = a.props.clone();
    props.insert("code".into(), json!(a.code));
    props.insert("name".into(), json!(a.name));
    if let Some(p) = &a.parent_code {
        props.entry("township_code").or_insert(json!(p));
    }
    json!({
        "type": "Feature",
        "id": a.code,
        "geometry": geojson::Geometry::new(geojson::Value::from(&a.geometry)),
        "properties": props,
    })
}

fn site_feature(s: &Site) -> Value {
    let mut props: Map<String, Value> = s.props.clone();
    props.insert("code".into(), json!(s.code));
    props.insert("name".into(), json!(s.name));
    props.insert("township_code".into(), json!(s.township_code));
    json!({
        "type": "Feature",
        "id": s.code,
        "geometry": {"type": "Point", "coordinates": [s.point.x(), s.point.y()]},
        "properties": props,
    })
}

/// One layer as a FeatureCollection (empty if not loaded).
pub fn layer_collection(layers: &Layers, kind: LayerKind) -> Value {
    let features: Vec<Value> = match (layers.areas(kind), layers.sites(kind)) {
        (Some(areas), _) => areas.iter().map(area_feature).collect(),
        (_, Some(sites)) => sites.iter().map(site_feature).collect(),
        _ => Vec::new(),
    };
    json!({"type": "FeatureCollection", "name": kind.name(), "features": features})
}
