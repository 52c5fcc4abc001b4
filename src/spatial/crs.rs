//! China's obfuscated datums, converted at the edge only: GCJ-02 ("Mars
//! coordinates", used by Amap/Tencent) and BD-09 (Baidu). Inside lianqin
//! everything is WGS-84.
//!
//! GCJ-02 has no closed-form inverse; `gcj02_to_wgs84` iterates the forward
//! formula until the residual is below 1e-9° (≈ 0.1 mm).

use std::f64::consts::PI;

const A: f64 = 6_378_245.0;
const EE: f64 = 0.006_693_421_622_965_943;
const X_PI: f64 = PI * 3000.0 / 180.0;

/// The datum a client's coordinates are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datum {
    Wgs84,
    Gcj02,
    Bd09,
}

impl Datum {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "wgs84" | "epsg4326" => Some(Datum::Wgs84),
            "gcj02" => Some(Datum::Gcj02),
            "bd09" => Some(Datum::Bd09),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Datum::Wgs84 => "wgs84",
            Datum::Gcj02 => "gcj02",
            Datum::Bd09 => "bd09",
        }
    }

    /// Converts a point in this datum to WGS-84.
    pub fn to_wgs84(self, lon: f64, lat: f64) -> (f64, f64) {
        match self {
            Datum::Wgs84 => (lon, lat),
            Datum::Gcj02 => gcj02_to_wgs84(lon, lat),
            Datum::Bd09 => {
                let (glon, glat) = bd09_to_gcj02(lon, lat);
                gcj02_to_wgs84(glon, glat)
            }
        }
    }
}

/// GCJ-02 applies only inside mainland China (rough box, as every implementation does).
pub fn in_china(lon: f64, lat: f64) -> bool {
    (72.004..=137.8347).contains(&lon) && (0.8293..=55.8271).contains(&lat)
}

fn transform_lat(x: f64, y: f64) -> f64 {
    let mut r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    r
}

fn transform_lon(x: f64, y: f64) -> f64 {
    let mut r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    r += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    r += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    r += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    r
}

/// WGS-84 → GCJ-02 (the standard published forward formula).
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if !in_china(lon, lat) {
        return (lon, lat);
    }
    let mut dlat = transform_lat(lon - 105.0, lat - 35.0);
    let mut dlon = transform_lon(lon - 105.0, lat - 35.0);
    let radlat = lat / 180.0 * PI;
    let magic = 1.0 - EE * radlat.sin().powi(2);
    let sqrt_magic = magic.sqrt();
    dlat = (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrt_magic) * PI);
    dlon = (dlon * 180.0) / (A / sqrt_magic * radlat.cos() * PI);
    (lon + dlon, lat + dlat)
}

/// GCJ-02 → WGS-84 by fixed-point iteration of the forward formula.
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if !in_china(lon, lat) {
        return (lon, lat);
    }
    let (mut wlon, mut wlat) = (lon, lat);
    for _ in 0..30 {
        let (glon, glat) = wgs84_to_gcj02(wlon, wlat);
        let (dlon, dlat) = (glon - lon, glat - lat);
        wlon -= dlon;
        wlat -= dlat;
        if dlon.abs() < 1e-9 && dlat.abs() < 1e-9 {
            break;
        }
    }
    (wlon, wlat)
}

/// BD-09 → GCJ-02.
pub fn bd09_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    let x = lon - 0.0065;
    let y = lat - 0.006;
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * X_PI).sin();
    let theta = y.atan2(x) - 0.000003 * (x * X_PI).cos();
    (z * theta.cos(), z * theta.sin())
}

/// GCJ-02 → BD-09.
pub fn gcj02_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    let z = (lon * lon + lat * lat).sqrt() + 0.00002 * (lat * X_PI).sin();
    let theta = lat.atan2(lon) + 0.000003 * (lon * X_PI).cos();
    (z * theta.cos() + 0.0065, z * theta.sin() + 0.006)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spatial::haversine_m;

    #[test]
    fn gcj_round_trip_is_sub_millimetre() {
        for (lon, lat) in [(121.2571, 28.6531), (120.8, 28.5), (121.36, 28.72)] {
            let (g1, g2) = wgs84_to_gcj02(lon, lat);
            // the offset in Huangyan is a few hundred metres
            let off = haversine_m(lon, lat, g1, g2);
            assert!((200.0..800.0).contains(&off), "offset {off}");
            let (w1, w2) = gcj02_to_wgs84(g1, g2);
            assert!(haversine_m(lon, lat, w1, w2) < 0.001);
        }
    }

    #[test]
    fn bd_round_trip() {
        let (b1, b2) = gcj02_to_bd09(121.26, 28.65);
        let (g1, g2) = bd09_to_gcj02(b1, b2);
        assert!(haversine_m(121.26, 28.65, g1, g2) < 0.5);
        let (w1, w2) = Datum::Bd09.to_wgs84(b1, b2);
        let (e1, e2) = Datum::Gcj02.to_wgs84(121.26, 28.65);
        assert!(haversine_m(w1, w2, e1, e2) < 0.5);
    }

    /// Reference pairs published with wandergis/coordtransform (and used by
    /// hutool's tests), and Beijing railway station read off both maps.
    #[test]
    fn bd09_reference_pairs_within_a_metre() {
        let (g1, g2) = bd09_to_gcj02(116.404, 39.915);
        assert!(haversine_m(g1, g2, 116.39762729119315, 39.90865673957631) < 0.01);
        let (b1, b2) = gcj02_to_bd09(116.404, 39.915);
        assert!(haversine_m(b1, b2, 116.41036949371029, 39.92133699351021) < 0.01);
        // GCJ-02 (39.90245, 116.42703) ↔ BD-09 (39.90851, 116.43351), 5 decimals (≈ 1 m)
        let (g1, g2) = bd09_to_gcj02(116.43351, 39.90851);
        assert!(haversine_m(g1, g2, 116.42703, 39.90245) < 1.5, "{g1},{g2}");
    }

    #[test]
    fn outside_china_untouched() {
        assert_eq!(wgs84_to_gcj02(-1.5, 53.8), (-1.5, 53.8));
        assert_eq!(Datum::parse("GCJ-02"), Some(Datum::Gcj02));
        assert_eq!(Datum::parse("wgs84"), Some(Datum::Wgs84));
        assert_eq!(Datum::parse("bd09"), Some(Datum::Bd09));
        assert_eq!(Datum::parse("utm"), None);
    }

    fn ring_of(f: &serde_json::Value) -> Vec<(f64, f64)> {
        let g = &f["geometry"];
        let ring = if g["type"] == "MultiPolygon" {
            &g["coordinates"][0][0]
        } else {
            &g["coordinates"][0]
        };
        ring.as_array()
            .unwrap()
            .iter()
            .map(|c| (c[0].as_f64().unwrap(), c[1].as_f64().unwrap()))
            .collect()
    }

    /// Distance in metres from a point to the nearest segment of a ring.
    fn to_ring_m(ring: &[(f64, f64)], lon: f64, lat: f64) -> f64 {
        let proj = crate::spatial::LocalProjection::new(lon, lat);
        ring.windows(2)
            .map(|w| {
                let [ax, ay] = proj.project(w[0].0, w[0].1);
                let [bx, by] = proj.project(w[1].0, w[1].1);
                let (dx, dy) = (bx - ax, by - ay);
                let len2 = dx * dx + dy * dy;
                let t = if len2 == 0.0 {
                    0.0
                } else {
                    (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
                };
                ((ax + t * dx).powi(2) + (ay + t * dy).powi(2)).sqrt()
            })
            .fold(f64::INFINITY, f64::min)
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    /// The shipped boundary variants (geodata/src): the raw Amap GCJ-02 copy,
    /// converted here, must (a) reproduce the provenance's own WGS-84
    /// conversion of it vertex by vertex, and (b) land on the independent
    /// geotool-cn WGS-84 copy within tens of metres, while the raw copy is
    /// hundreds of metres off.
    #[test]
    fn converts_real_amap_boundary_onto_wgs84_copies() {
        let text = include_str!("../../geodata/src/huangyan_boundary_variants.geojson");
        let fc: serde_json::Value = serde_json::from_str(text).unwrap();
        let feats = fc["features"].as_array().unwrap();
        let prop =
            |f: &serde_json::Value, k: &str| f["properties"][k].as_str().unwrap_or("").to_string();
        let raw = ring_of(
            feats
                .iter()
                .find(|f| prop(f, "crs").starts_with("GCJ-02 (Amap"))
                .expect("raw Amap copy"),
        );
        let converted = ring_of(
            feats
                .iter()
                .find(|f| {
                    prop(f, "crs").starts_with("WGS-84") && prop(f, "source").contains("cnmaps")
                })
                .expect("cnmaps WGS-84 copy"),
        );
        let independent = ring_of(
            feats
                .iter()
                .find(|f| {
                    prop(f, "crs").starts_with("WGS-84") && prop(f, "source").contains("geotool")
                })
                .expect("geotool WGS-84 copy"),
        );
        assert_eq!(raw.len(), converted.len());
        // (a) same vertices, same formula, independent implementation
        let worst = raw
            .iter()
            .zip(&converted)
            .map(|(&(x, y), &(a, b))| {
                let (w1, w2) = gcj02_to_wgs84(x, y);
                haversine_m(w1, w2, a, b)
            })
            .fold(0.0, f64::max);
        assert!(worst < 1.0, "worst vertex differs by {worst} m");
        // (b) against an independent WGS-84 source
        let sample: Vec<(f64, f64)> = raw.iter().step_by(10).copied().collect();
        let raw_off = median(
            sample
                .iter()
                .map(|&(x, y)| to_ring_m(&independent, x, y))
                .collect(),
        );
        let conv_off = median(
            sample
                .iter()
                .map(|&(x, y)| {
                    let (a, b) = gcj02_to_wgs84(x, y);
                    to_ring_m(&independent, a, b)
                })
                .collect(),
        );
        assert!(raw_off > 150.0, "raw GCJ copy should be far off: {raw_off}");
        assert!(conv_off < 60.0, "converted copy should match: {conv_off}");
        assert!(conv_off * 3.0 < raw_off);
    }
}
