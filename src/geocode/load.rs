//! Building [`Place`]s from the GeoJSON layers and `places.csv`.

use geo::{Centroid, Coord, Geometry, Intersects, LineString, MultiPolygon, Point, Polygon};
use serde_json::Value;

use super::{Place, PlaceKind};

/// Builds places from a GeoJSON FeatureCollection of one layer kind (the shape of the files
/// in `geodata/`):
///
/// * `Township`: `name`, `code`; the point is `seat_lon`/`seat_lat` if present, else the
///   polygon centroid.
/// * `Village` (a grid layer): one place per feature from `village_name`, `village_code`,
///   `village_lon`/`village_lat`; fallback the grid `name`/`code` and the polygon centroid.
///   `township_code`/`township_name` are copied.
/// * `Station`, `Post`, `Landmark`: `name`, `code`, `township_code` (and `township_name`
///   if present); the point geometry (centroid for any other geometry).
///
/// Features without a name or without a usable point are skipped.
pub fn places_from_feature_collection(kind: PlaceKind, fc: &Value) -> Vec<Place> {
    let Some(features) = fc.get("features").and_then(Value::as_array) else {
        return Vec::new();
    };
    features
        .iter()
        .filter_map(|f| place_from_feature(kind, f))
        .collect()
}

fn prop_str(props: &Value, key: &str) -> Option<String> {
    match props.get(key)? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn prop_f64(props: &Value, key: &str) -> Option<f64> {
    match props.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn valid_lon_lat(lon: f64, lat: f64) -> Option<(f64, f64)> {
    (lon.is_finite()
        && lat.is_finite()
        && (-180.0..=180.0).contains(&lon)
        && (-90.0..=90.0).contains(&lat))
    .then_some((lon, lat))
}

fn prop_point(props: &Value, lon: &str, lat: &str) -> Option<(f64, f64)> {
    valid_lon_lat(prop_f64(props, lon)?, prop_f64(props, lat)?)
}

fn geometry_point(geometry: Option<&Value>) -> Option<(f64, f64)> {
    let p = parse_geometry(geometry?)?.centroid()?;
    valid_lon_lat(p.x(), p.y())
}

fn place_from_feature(kind: PlaceKind, feature: &Value) -> Option<Place> {
    let props = feature.get("properties").unwrap_or(&Value::Null);
    let geometry = feature.get("geometry");
    let (name, code, point) = match kind {
        PlaceKind::Township => (
            prop_str(props, "name")?,
            prop_str(props, "code"),
            prop_point(props, "seat_lon", "seat_lat").or_else(|| geometry_point(geometry)),
        ),
        PlaceKind::Village => match prop_str(props, "village_name") {
            Some(name) => (
                name,
                prop_str(props, "village_code").or_else(|| prop_str(props, "code")),
                prop_point(props, "village_lon", "village_lat")
                    .or_else(|| geometry_point(geometry)),
            ),
            None => (
                prop_str(props, "name")?,
                prop_str(props, "code"),
                geometry_point(geometry),
            ),
        },
        PlaceKind::Station | PlaceKind::Post | PlaceKind::Landmark => (
            prop_str(props, "name")?,
            prop_str(props, "code"),
            geometry_point(geometry),
        ),
    };
    let (lon, lat) = point?;
    let (township_code, township_name) = if kind == PlaceKind::Township {
        (code.clone(), Some(name.clone()))
    } else {
        (
            prop_str(props, "township_code"),
            prop_str(props, "township_name"),
        )
    };
    Some(Place {
        name,
        kind,
        lon,
        lat,
        code,
        township_code,
        township_name,
    })
}

fn coord(v: &Value) -> Option<Coord<f64>> {
    let a = v.as_array()?;
    Some(Coord {
        x: a.first()?.as_f64()?,
        y: a.get(1)?.as_f64()?,
    })
}

fn ring(v: &Value) -> Option<LineString<f64>> {
    v.as_array()?
        .iter()
        .map(coord)
        .collect::<Option<Vec<_>>>()
        .map(LineString::new)
}

fn polygon(v: &Value) -> Option<Polygon<f64>> {
    let rings = v.as_array()?;
    let exterior = ring(rings.first()?)?;
    let holes = rings[1..].iter().map(ring).collect::<Option<Vec<_>>>()?;
    Some(Polygon::new(exterior, holes))
}

/// Parses a GeoJSON geometry (Point, MultiPoint, LineString, Polygon, MultiPolygon).
pub(super) fn parse_geometry(g: &Value) -> Option<Geometry<f64>> {
    let coords = g.get("coordinates")?;
    match g.get("type")?.as_str()? {
        "Point" => coord(coords).map(|c| Geometry::Point(Point(c))),
        "MultiPoint" => coords
            .as_array()?
            .iter()
            .map(|c| coord(c).map(Point))
            .collect::<Option<Vec<_>>>()
            .map(|p| Geometry::MultiPoint(p.into())),
        "LineString" => ring(coords).map(Geometry::LineString),
        "Polygon" => polygon(coords).map(Geometry::Polygon),
        "MultiPolygon" => coords
            .as_array()?
            .iter()
            .map(polygon)
            .collect::<Option<Vec<_>>>()
            .map(|p| Geometry::MultiPolygon(MultiPolygon::new(p))),
        _ => None,
    }
}

/// Fills `township_code`/`township_name` of every place that has no `township_code`
/// from the township polygon that contains its point (`townships_fc` shaped like
/// `geodata/townships.geojson`). Places outside every polygon are left as they are.
/// Returns how many places were assigned.
pub fn assign_townships(places: &mut [Place], townships_fc: &Value) -> usize {
    let Some(features) = townships_fc.get("features").and_then(Value::as_array) else {
        return 0;
    };
    let polygons: Vec<(String, String, Geometry<f64>)> = features
        .iter()
        .filter_map(|f| {
            let props = f.get("properties")?;
            Some((
                prop_str(props, "code")?,
                prop_str(props, "name")?,
                parse_geometry(f.get("geometry")?)?,
            ))
        })
        .collect();
    let mut assigned = 0;
    for place in places.iter_mut().filter(|p| p.township_code.is_none()) {
        let pt = Point::new(place.lon, place.lat);
        if let Some((code, name, _)) = polygons.iter().find(|(_, _, g)| g.intersects(&pt)) {
            place.township_code = Some(code.clone());
            place.township_name = Some(name.clone());
            assigned += 1;
        }
    }
    assigned
}

/// Splits CSV text into records (RFC 4180: quoted fields, `""` escapes, CRLF).
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.trim_start_matches('\u{FEFF}').chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// Landmarks from `places.csv` text (header `name,kind,lon,lat,…`; the columns are found
/// by name, or taken in that order without a header). Rows without a parsable lon/lat are
/// skipped; coordinates are taken as given (the file's `crs` column is not applied).
pub fn landmarks_from_csv(text: &str) -> Vec<Place> {
    let records = csv_records(text);
    let Some(first) = records.first() else {
        return Vec::new();
    };
    let col = |key: &str| {
        first
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(key))
    };
    let (has_header, name_i, lon_i, lat_i) = match (col("name"), col("lon"), col("lat")) {
        (Some(n), Some(lo), Some(la)) => (true, n, lo, la),
        _ => (false, 0, 2, 3),
    };
    records
        .iter()
        .skip(usize::from(has_header))
        .filter_map(|r| {
            let name = r.get(name_i)?.trim();
            let lon: f64 = r.get(lon_i)?.trim().parse().ok()?;
            let lat: f64 = r.get(lat_i)?.trim().parse().ok()?;
            let (lon, lat) = valid_lon_lat(lon, lat)?;
            (!name.is_empty()).then(|| Place {
                name: name.to_string(),
                kind: PlaceKind::Landmark,
                lon,
                lat,
                code: None,
                township_code: None,
                township_name: None,
            })
        })
        .collect()
}
