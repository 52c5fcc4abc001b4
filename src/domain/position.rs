//! WGS-84 positions and bounding boxes, validated at construction
//! ("parse, don't validate"): a `Position` can never hold NaN or an
//! out-of-range coordinate, so nothing downstream re-checks.

use serde::Serialize;

/// Why a coordinate was refused. Carries the offending value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PositionError {
    #[error("longitude must be a finite number between -180 and 180, got {0}")]
    Longitude(f64),
    #[error("latitude must be a finite number between -90 and 90, got {0}")]
    Latitude(f64),
}

impl PositionError {
    /// The request field this error is about (`lon` or `lat`).
    pub fn field(&self) -> &'static str {
        match self {
            PositionError::Longitude(_) => "lon",
            PositionError::Latitude(_) => "lat",
        }
    }
}

/// A WGS-84 (EPSG:4326) longitude/latitude pair in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Position {
    lon: f64,
    lat: f64,
}

impl Position {
    /// Validates and builds a position.
    ///
    /// ```
    /// use lianqin::domain::Position;
    /// assert!(Position::new(121.26, 28.64).is_ok());
    /// assert!(Position::new(f64::NAN, 28.64).is_err());
    /// assert!(Position::new(121.26, 91.0).is_err());
    /// ```
    pub fn new(lon: f64, lat: f64) -> Result<Self, PositionError> {
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(PositionError::Longitude(lon));
        }
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(PositionError::Latitude(lat));
        }
        Ok(Self { lon, lat })
    }

    pub fn lon(&self) -> f64 {
        self.lon
    }

    pub fn lat(&self) -> f64 {
        self.lat
    }

    pub fn to_point(self) -> geo::Point<f64> {
        geo::Point::new(self.lon, self.lat)
    }
}

/// Why a bounding box was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BboxError {
    #[error("must be four comma-separated numbers w,s,e,n")]
    Shape,
    #[error("{0}")]
    Corner(#[from] PositionError),
    #[error(
        "west ({w}) must be less than east ({e}); boxes across the antimeridian are not supported"
    )]
    WestEast { w: f64, e: f64 },
    #[error("south ({s}) must be less than north ({n})")]
    SouthNorth { s: f64, n: f64 },
}

/// A WGS-84 bounding box `[west, south, east, north]`, west < east, south < north.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(into = "[f64; 4]")]
pub struct Bbox {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

impl From<Bbox> for [f64; 4] {
    fn from(b: Bbox) -> Self {
        [b.west, b.south, b.east, b.north]
    }
}

impl Bbox {
    pub fn new(west: f64, south: f64, east: f64, north: f64) -> Result<Self, BboxError> {
        Position::new(west, south)?;
        Position::new(east, north)?;
        if west >= east {
            return Err(BboxError::WestEast { w: west, e: east });
        }
        if south >= north {
            return Err(BboxError::SouthNorth { s: south, n: north });
        }
        Ok(Self {
            west,
            south,
            east,
            north,
        })
    }

    /// Parses `w,s,e,n` as used by the `bbox` query parameter.
    pub fn parse(text: &str) -> Result<Self, BboxError> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        if parts.len() != 4 {
            return Err(BboxError::Shape);
        }
        let mut v = [0.0; 4];
        for (slot, part) in v.iter_mut().zip(&parts) {
            *slot = part.parse::<f64>().map_err(|_| BboxError::Shape)?;
        }
        Self::new(v[0], v[1], v[2], v[3])
    }

    pub fn from_slice(v: &[f64]) -> Result<Self, BboxError> {
        match v {
            [w, s, e, n] => Self::new(*w, *s, *e, *n),
            _ => Err(BboxError::Shape),
        }
    }

    pub fn contains(&self, p: Position) -> bool {
        p.lon() >= self.west
            && p.lon() <= self.east
            && p.lat() >= self.south
            && p.lat() <= self.north
    }

    /// The whole world, for clients that subscribe without a box.
    pub fn world() -> Self {
        Self {
            west: -180.0,
            south: -90.0,
            east: 180.0,
            north: 90.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_finite_and_out_of_range() {
        assert_eq!(Position::new(f64::NAN, 0.0).unwrap_err().field(), "lon");
        assert_eq!(
            Position::new(0.0, f64::INFINITY).unwrap_err().field(),
            "lat"
        );
        assert!(Position::new(180.0001, 0.0).is_err());
        assert!(Position::new(0.0, -90.0001).is_err());
        assert!(Position::new(-180.0, 90.0).is_ok());
    }

    #[test]
    fn bbox_parse_and_validate() {
        let b = Bbox::parse("120.79,28.47,121.37,28.73").unwrap();
        assert!(b.contains(Position::new(121.26, 28.64).unwrap()));
        assert!(!b.contains(Position::new(121.5, 28.64).unwrap()));
        assert_eq!(Bbox::parse("1,2,3").unwrap_err(), BboxError::Shape);
        assert_eq!(Bbox::parse("a,2,3,4").unwrap_err(), BboxError::Shape);
        assert!(matches!(
            Bbox::parse("3,0,1,1").unwrap_err(),
            BboxError::WestEast { .. }
        ));
        assert!(matches!(
            Bbox::parse("0,5,1,1").unwrap_err(),
            BboxError::SouthNorth { .. }
        ));
        assert!(matches!(
            Bbox::parse("0,0,1,95").unwrap_err(),
            BboxError::Corner(_)
        ));
        assert!(matches!(
            Bbox::parse("NaN,0,1,1").unwrap_err(),
            BboxError::Corner(PositionError::Longitude(_))
        ));
    }
}
