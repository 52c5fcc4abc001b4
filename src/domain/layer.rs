//! Governance layers: the district boundary, townships and grids (areas) and
//! joint-duty stations and police posts (sites).

use geo::{MultiPolygon, Point};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The five governance layers the service knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    Boundary,
    Townships,
    Grids,
    Stations,
    Posts,
}

impl LayerKind {
    pub const ALL: [LayerKind; 5] = [
        LayerKind::Boundary,
        LayerKind::Townships,
        LayerKind::Grids,
        LayerKind::Stations,
        LayerKind::Posts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LayerKind::Boundary => "boundary",
            LayerKind::Townships => "townships",
            LayerKind::Grids => "grids",
            LayerKind::Stations => "stations",
            LayerKind::Posts => "posts",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Areas are (multi)polygons; the others are points.
    pub fn is_area(self) -> bool {
        matches!(
            self,
            LayerKind::Boundary | LayerKind::Townships | LayerKind::Grids
        )
    }
}

impl std::fmt::Display for LayerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A polygonal governance unit (district, township or grid).
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    pub code: String,
    pub name: String,
    /// For grids: the township that contains it. For townships: the district.
    pub parent_code: Option<String>,
    /// Every property of the source feature, kept verbatim (`generated`, `method`, …).
    pub props: Map<String, Value>,
    pub geometry: MultiPolygon<f64>,
}

/// A point site (joint-duty station or police post).
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub code: String,
    pub name: String,
    pub township_code: Option<String>,
    /// Stations: the township codes this station is responsible for.
    pub serves: Vec<String>,
    pub props: Map<String, Value>,
    pub point: Point<f64>,
}

/// All layers of the live world.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layers {
    pub boundary: Vec<Area>,
    pub townships: Vec<Area>,
    pub grids: Vec<Area>,
    pub stations: Vec<Site>,
    pub posts: Vec<Site>,
}

impl Layers {
    pub fn areas(&self, kind: LayerKind) -> Option<&[Area]> {
        match kind {
            LayerKind::Boundary => Some(&self.boundary),
            LayerKind::Townships => Some(&self.townships),
            LayerKind::Grids => Some(&self.grids),
            _ => None,
        }
    }

    pub fn sites(&self, kind: LayerKind) -> Option<&[Site]> {
        match kind {
            LayerKind::Stations => Some(&self.stations),
            LayerKind::Posts => Some(&self.posts),
            _ => None,
        }
    }

    pub fn count(&self, kind: LayerKind) -> usize {
        self.areas(kind)
            .map(<[Area]>::len)
            .or_else(|| self.sites(kind).map(<[Site]>::len))
            .unwrap_or(0)
    }
}

/// The parsed content of one layer file.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerData {
    Areas(Vec<Area>),
    Sites(Vec<Site>),
}

impl LayerData {
    pub fn len(&self) -> usize {
        match self {
            LayerData::Areas(a) => a.len(),
            LayerData::Sites(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
