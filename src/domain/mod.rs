//! Pure domain types: validated positions, incidents, governance layers and
//! jurisdictions. No I/O lives here; adapters convert to and from these types.

pub mod assignment;
pub mod classification;
pub mod incident;
pub mod jurisdiction;
pub mod layer;
pub mod position;
pub mod responder;

pub use assignment::{Assignment, AssignmentStatus, DutyChange, StatusChange};
pub use classification::{Candidate, Classification, Method};
pub use incident::{
    Entity, Geocoded, Incident, IncidentDetail, NewIncident, Party, Source, Stored,
};
pub use jurisdiction::{AreaRef, Jurisdiction, JurisdictionSummary, SiteRef};
pub use layer::{Area, LayerData, LayerKind, Layers, Site};
pub use position::{Bbox, Position, PositionError};
pub use responder::{Fix, ResponderSpec, ResponderType, Status};
