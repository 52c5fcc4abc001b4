//! GeoJSON layer files (`lianqin import`): an RFC 7946 FeatureCollection in
//! WGS-84. Areas (boundary, townships, grids) are Polygon/MultiPolygon;
//! sites (stations, posts) are Points. Required properties: `code` (unique
//! string) and `name`. Optional: `township_code` (grids, stations, posts),
//! `serves` (stations: township codes). Every other property is kept.
//!
//! One bad feature rejects the whole file: the error names the feature's
//! index and code and the reason, so nothing is half-imported.

use std::collections::HashSet;

use geo::{MultiPolygon, Point, Validation};
use geojson::{GeoJson, PolygonType};
use serde_json::{Map, Value};

use crate::domain::{Area, LayerKind, Site};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{reason}", location(.feature, .code))]
pub struct LayerFileError {
    pub feature: Option<usize>,
    pub code: Option<String>,
    pub reason: String,
}

fn location(feature: &Option<usize>, code: &Option<String>) -> String {
    match (feature, code) {
        (Some(i), Some(c)) => format!("feature {i} (code {c:?}): "),
        (Some(i), None) => format!("feature {i}: "),
        _ => String::new(),
    }
}

pub use crate::domain::LayerData;

/// Infers the layer from a file name such as `geodata/grids.geojson`.
pub fn layer_from_path(path: &std::path::Path) -> Option<LayerKind> {
    let stem = path.file_name()?.to_str()?.split('.').next()?;
    LayerKind::parse(stem)
}

pub fn parse(kind: LayerKind, text: &str) -> Result<LayerData, LayerFileError> {
    let top = |reason: String| LayerFileError {
        feature: None,
        code: None,
        reason,
    };
    let gj: GeoJson = text
        .parse()
        .map_err(|e| top(format!("not valid GeoJSON: {e}")))?;
    let GeoJson::FeatureCollection(fc) = gj else {
        return Err(top("must be a GeoJSON FeatureCollection".into()));
    };
    if fc.features.is_empty() {
        return Err(top("the FeatureCollection has no features".into()));
    }
    let mut seen = HashSet::new();
    let mut areas = Vec::new();
    let mut sites = Vec::new();
    for (i, feature) in fc.features.into_iter().enumerate() {
        let props = feature.properties.unwrap_or_default();
        let code = prop_string(&props, "code");
        let fail = |reason: String| LayerFileError {
            feature: Some(i),
            code: code.clone(),
            reason,
        };
        let Some(code_s) = code.clone() else {
            return Err(fail(
                "property `code` is required (a non-empty string or integer)".into(),
            ));
        };
        if !seen.insert(code_s.clone()) {
            return Err(fail("duplicate `code` in this file".into()));
        }
        let name = prop_string(&props, "name")
            .ok_or_else(|| fail("property `name` is required (a non-empty string)".into()))?;
        let geometry = feature
            .geometry
            .ok_or_else(|| fail("has no geometry".into()))?;
        let township_code = prop_string(&props, "township_code");
        if kind.is_area() {
            let geometry = area_geometry(geometry.value).map_err(fail)?;
            let parent_code = match kind {
                LayerKind::Grids => township_code,
                LayerKind::Townships => prop_string(&props, "district_code"),
                _ => None,
            };
            areas.push(Area {
                code: code_s,
                name,
                parent_code,
                props,
                geometry,
            });
        } else {
            let point = match geometry.value {
                geojson::Value::Point(p) => {
                    check_position(&p).map_err(fail)?;
                    Point::new(p[0], p[1])
                }
                other => {
                    return Err(fail(format!(
                        "geometry must be a Point, got {}",
                        other.type_name()
                    )))
                }
            };
            let serves = match props.get("serves") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        fail("property `serves` must be an array of township code strings".into())
                    })?,
                Some(_) => {
                    return Err(fail(
                        "property `serves` must be an array of township code strings".into(),
                    ))
                }
            };
            sites.push(Site {
                code: code_s,
                name,
                township_code,
                serves,
                props,
                point,
            });
        }
    }
    Ok(if kind.is_area() {
        LayerData::Areas(areas)
    } else {
        LayerData::Sites(sites)
    })
}

fn prop_string(props: &Map<String, Value>, key: &str) -> Option<String> {
    match props.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn check_position(p: &[f64]) -> Result<(), String> {
    match p {
        [lon, lat, ..] if lon.is_finite() && lat.is_finite() && (-180.0..=180.0).contains(lon) && (-90.0..=90.0).contains(lat) => Ok(()),
        [lon, lat, ..] => Err(format!(
            "coordinate [{lon}, {lat}] is not a WGS-84 longitude/latitude (lon -180..180, lat -90..90)"
        )),
        _ => Err("a position needs at least two numbers".into()),
    }
}

fn check_rings(rings: &PolygonType) -> Result<(), String> {
    if rings.is_empty() {
        return Err("polygon has no rings".into());
    }
    for (r, ring) in rings.iter().enumerate() {
        let role = if r == 0 {
            "exterior ring".to_string()
        } else {
            format!("interior ring {}", r - 1)
        };
        if ring.len() < 4 {
            return Err(format!(
                "{role} has {} positions; at least 4 are required",
                ring.len()
            ));
        }
        for p in ring {
            check_position(p)?;
        }
        if ring.first() != ring.last() {
            return Err(format!(
                "{role} is not closed (first and last positions differ)"
            ));
        }
    }
    Ok(())
}

fn area_geometry(value: geojson::Value) -> Result<MultiPolygon<f64>, String> {
    match &value {
        geojson::Value::Polygon(rings) => check_rings(rings)?,
        geojson::Value::MultiPolygon(polys) => {
            if polys.is_empty() {
                return Err("MultiPolygon has no polygons".into());
            }
            for (i, rings) in polys.iter().enumerate() {
                check_rings(rings).map_err(|e| format!("polygon {i}: {e}"))?;
            }
        }
        other => {
            return Err(format!(
                "geometry must be a Polygon or MultiPolygon, got {}",
                other.type_name()
            ))
        }
    }
    let g: geo::Geometry<f64> = value
        .try_into()
        .map_err(|e| format!("unreadable geometry: {e}"))?;
    let mp = match g {
        geo::Geometry::Polygon(p) => MultiPolygon(vec![p]),
        geo::Geometry::MultiPolygon(mp) => mp,
        _ => return Err("geometry must be a Polygon or MultiPolygon".into()),
    };
    mp.check_validation()
        .map_err(|e| format!("geometry is invalid: {e}"))?;
    Ok(mp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fc(features: Value) -> String {
        json!({"type":"FeatureCollection","features":features}).to_string()
    }

    fn square(code: &str) -> Value {
        json!({"type":"Feature","properties":{"code":code,"name":"网格"},
               "geometry":{"type":"Polygon","coordinates":[[[121.0,28.5],[121.1,28.5],[121.1,28.6],[121.0,28.6],[121.0,28.5]]]}})
    }

    #[test]
    fn reads_areas_and_sites() {
        let LayerData::Areas(a) =
            parse(LayerKind::Grids, &fc(json!([square("G1"), square("G2")]))).unwrap()
        else {
            panic!("areas expected")
        };
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].props["name"], "网格");
        let site = json!({"type":"Feature","properties":{"code":"ST1","name":"站","serves":["331003001"]},
                          "geometry":{"type":"Point","coordinates":[121.2,28.6]}});
        let LayerData::Sites(s) = parse(LayerKind::Stations, &fc(json!([site]))).unwrap() else {
            panic!("sites expected")
        };
        assert_eq!(s[0].serves, vec!["331003001"]);
    }

    #[test]
    fn rejects_bad_features_naming_them() {
        let bowtie = json!({"type":"Feature","properties":{"code":"BAD","name":"x"},
            "geometry":{"type":"Polygon","coordinates":[[[121.0,28.5],[121.1,28.6],[121.1,28.5],[121.0,28.6],[121.0,28.5]]]}});
        let e = parse(LayerKind::Grids, &fc(json!([square("G1"), bowtie]))).unwrap_err();
        assert_eq!((e.feature, e.code.as_deref()), (Some(1), Some("BAD")));
        assert!(e.reason.contains("invalid"), "{e}");
        assert!(e.to_string().starts_with("feature 1 (code \"BAD\")"), "{e}");

        let open = json!({"type":"Feature","properties":{"code":"OPEN","name":"x"},
            "geometry":{"type":"Polygon","coordinates":[[[121.0,28.5],[121.1,28.5],[121.1,28.6],[121.0,28.6]]]}});
        assert!(parse(LayerKind::Grids, &fc(json!([open])))
            .unwrap_err()
            .reason
            .contains("not closed"));

        let far = json!({"type":"Feature","properties":{"code":"FAR","name":"x"},
            "geometry":{"type":"Polygon","coordinates":[[[221.0,28.5],[121.1,28.5],[121.1,28.6],[221.0,28.5]]]}});
        assert!(parse(LayerKind::Grids, &fc(json!([far])))
            .unwrap_err()
            .reason
            .contains("WGS-84"));

        let e = parse(LayerKind::Grids, &fc(json!([square("G1"), square("G1")]))).unwrap_err();
        assert!(e.reason.contains("duplicate"));

        let mut nameless = square("G9");
        nameless["properties"]
            .as_object_mut()
            .unwrap()
            .remove("name");
        assert!(parse(LayerKind::Grids, &fc(json!([nameless])))
            .unwrap_err()
            .reason
            .contains("name"));

        let pt = json!({"type":"Feature","properties":{"code":"P","name":"x"},"geometry":{"type":"Point","coordinates":[121.0,28.5]}});
        assert!(parse(LayerKind::Grids, &fc(json!([pt.clone()])))
            .unwrap_err()
            .reason
            .contains("Polygon"));
        assert!(parse(LayerKind::Posts, &fc(json!([square("S")])))
            .unwrap_err()
            .reason
            .contains("Point"));

        assert!(parse(LayerKind::Grids, "{")
            .unwrap_err()
            .reason
            .contains("GeoJSON"));
        assert!(parse(LayerKind::Grids, &fc(json!([])))
            .unwrap_err()
            .reason
            .contains("no features"));
    }

    #[test]
    fn infers_layer_from_file_name() {
        assert_eq!(
            layer_from_path("geodata/grids.geojson".as_ref()),
            Some(LayerKind::Grids)
        );
        assert_eq!(
            layer_from_path("/x/townships.json".as_ref()),
            Some(LayerKind::Townships)
        );
        assert_eq!(layer_from_path("my.geojson".as_ref()), None);
    }
}
