//! What the classifier says of an incident (see `crate::classify`): a leaf of
//! the two-level taxonomy (`../shared/TAXONOMY.md`), how sure, the two
//! runners-up, rule tags and the suggested lead department.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Classification {
    /// e.g. `07.03`
    pub leaf_id: String,
    pub leaf_name: String,
    /// e.g. `07`
    pub group_id: String,
    pub group_name: String,
    /// 0..1: the model's probability of the leaf (1.0 when the source's own
    /// category code decided it).
    pub confidence: f32,
    /// The two next-best leaves of the text model.
    pub runners_up: Vec<Candidate>,
    /// Rule tags (codes such as `elderly`, `weapon`, `night`).
    pub tags: Vec<String>,
    /// `taxonomy.csv` `lead` of the leaf.
    pub lead_department: String,
    pub method: Method,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ClassificationCandidate)]
pub struct Candidate {
    pub leaf_id: String,
    pub leaf_name: String,
    pub confidence: f32,
}

/// How the leaf was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ClassificationMethod)]
pub enum Method {
    /// The source's own category code (110 code, 12345 分类 …) mapped to the taxonomy.
    SourceCode,
    /// The text model.
    Model,
}
