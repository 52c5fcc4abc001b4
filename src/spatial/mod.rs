//! Pure spatial algorithms: metric distances, China datum conversions at the
//! edge, prepared point-in-polygon, and the R-tree jurisdiction index.

pub mod crs;
pub mod geodesy;
pub mod index;
pub mod pip;

pub use geodesy::{haversine_m, LocalProjection};
pub use index::JurisdictionIndex;
