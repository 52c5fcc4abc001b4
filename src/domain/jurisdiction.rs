//! The answer to "whose is this point?": district, township, grid, the
//! responsible joint-duty station and the nearest police post.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AreaRef {
    pub code: String,
    pub name: String,
    /// True when the polygon is generated, not surveyed (see geodata/README.md).
    pub generated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SiteRef {
    pub code: String,
    pub name: String,
    /// Great-circle (haversine) distance from the point, in metres.
    pub distance_m: f64,
}

/// Full jurisdiction of a point, as returned by `GET /api/v1/locate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Jurisdiction {
    /// Inside the district boundary.
    pub inside: bool,
    pub district: Option<AreaRef>,
    pub township: Option<AreaRef>,
    pub grid: Option<AreaRef>,
    /// The station responsible for the township (its `serves` list), or the
    /// nearest station when no station lists the township.
    pub station: Option<SiteRef>,
    pub nearest_post: Option<SiteRef>,
}

/// The flat form stored with each incident and sent on the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct JurisdictionSummary {
    pub inside: bool,
    pub township_code: Option<String>,
    pub township_name: Option<String>,
    pub grid_code: Option<String>,
    pub grid_name: Option<String>,
    pub station_code: Option<String>,
    pub station_name: Option<String>,
    pub post_code: Option<String>,
    pub post_name: Option<String>,
    pub post_distance_m: Option<f64>,
}

impl From<&Jurisdiction> for JurisdictionSummary {
    fn from(j: &Jurisdiction) -> Self {
        Self {
            inside: j.inside,
            township_code: j.township.as_ref().map(|a| a.code.clone()),
            township_name: j.township.as_ref().map(|a| a.name.clone()),
            grid_code: j.grid.as_ref().map(|a| a.code.clone()),
            grid_name: j.grid.as_ref().map(|a| a.name.clone()),
            station_code: j.station.as_ref().map(|s| s.code.clone()),
            station_name: j.station.as_ref().map(|s| s.name.clone()),
            post_code: j.nearest_post.as_ref().map(|s| s.code.clone()),
            post_name: j.nearest_post.as_ref().map(|s| s.name.clone()),
            post_distance_m: j
                .nearest_post
                .as_ref()
                .map(|s| (s.distance_m * 10.0).round() / 10.0),
        }
    }
}
