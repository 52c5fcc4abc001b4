//! The two-level event taxonomy (15 groups, 100 leaves) parsed from the
//! embedded `data/taxonomy.csv`.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The embedded taxonomy table (`data/taxonomy.csv`).
pub(super) const TAXONOMY_CSV: &str = include_str!("../../data/taxonomy.csv");

/// Group id of the system-generated warnings (预警). These leaves are outputs
/// of the early-warning models, never event kinds a caller reports, so the
/// text classifier never predicts them.
pub const WARNING_GROUP: &str = "15";

/// A top-level group ("07" 矛盾纠纷).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Two-digit id, e.g. `"07"`.
    pub id: String,
    /// Chinese name (`top_zh`).
    pub name: String,
    /// English name (`top_en`).
    pub name_en: String,
}

/// A leaf ("07.03" 房屋宅基地纠纷) with its routing attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// Leaf id, e.g. `"07.03"`.
    pub id: String,
    /// Chinese name (`leaf_zh`).
    pub name: String,
    /// English gloss (`leaf_en`).
    pub name_en: String,
    /// Parent group id, e.g. `"07"`.
    pub group_id: String,
    /// Parent group Chinese name.
    pub group_name: String,
    /// Lead department (`lead`).
    pub lead: String,
    /// Assisting departments (`assist`).
    pub assist: String,
    /// Deadline text with sources (`deadline`).
    pub deadline: String,
}

/// The parsed taxonomy.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    groups: Vec<Group>,
    leaves: Vec<Leaf>,
    leaf_index: HashMap<String, usize>,
    group_index: HashMap<String, usize>,
}

/// Error from parsing a taxonomy table.
#[derive(Debug, thiserror::Error)]
pub enum TaxonomyError {
    /// CSV syntax error.
    #[error("taxonomy csv: {0}")]
    Csv(#[from] csv::Error),
    /// A row with an id that is not `NN.NN`.
    #[error("taxonomy csv: bad leaf id {0:?}")]
    BadId(String),
    /// A required column is missing.
    #[error("taxonomy csv: missing column {0}")]
    MissingColumn(&'static str),
}

impl Taxonomy {
    /// The standard taxonomy from the embedded `data/taxonomy.csv`.
    pub fn standard() -> &'static Taxonomy {
        static TAX: OnceLock<Taxonomy> = OnceLock::new();
        TAX.get_or_init(|| {
            Taxonomy::from_csv(TAXONOMY_CSV).expect("embedded taxonomy.csv is valid")
        })
    }

    /// Parse a taxonomy table with the columns
    /// `id,top_zh,top_en,leaf_zh,leaf_en,lead,assist,deadline,source`.
    pub fn from_csv(s: &str) -> Result<Taxonomy, TaxonomyError> {
        let mut rdr = csv::Reader::from_reader(s.as_bytes());
        let headers = rdr.headers()?.clone();
        let col = |name: &'static str| -> Result<usize, TaxonomyError> {
            headers
                .iter()
                .position(|h| h.trim() == name)
                .ok_or(TaxonomyError::MissingColumn(name))
        };
        let (c_id, c_top, c_top_en, c_leaf, c_leaf_en) = (
            col("id")?,
            col("top_zh")?,
            col("top_en")?,
            col("leaf_zh")?,
            col("leaf_en")?,
        );
        let (c_lead, c_assist, c_deadline) = (col("lead")?, col("assist")?, col("deadline")?);
        let mut groups: Vec<Group> = Vec::new();
        let mut leaves = Vec::new();
        for rec in rdr.records() {
            let rec = rec?;
            let get = |i: usize| rec.get(i).unwrap_or("").trim().to_string();
            let id = get(c_id);
            let (gid, rest) = id
                .split_once('.')
                .ok_or_else(|| TaxonomyError::BadId(id.clone()))?;
            if gid.len() != 2 || rest.len() != 2 {
                return Err(TaxonomyError::BadId(id));
            }
            let gid = gid.to_string();
            if !groups.iter().any(|g| g.id == gid) {
                groups.push(Group {
                    id: gid.clone(),
                    name: get(c_top),
                    name_en: get(c_top_en),
                });
            }
            leaves.push(Leaf {
                id: id.clone(),
                name: get(c_leaf),
                name_en: get(c_leaf_en),
                group_id: gid,
                group_name: get(c_top),
                lead: get(c_lead),
                assist: get(c_assist),
                deadline: get(c_deadline),
            });
        }
        let leaf_index = leaves
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id.clone(), i))
            .collect();
        let group_index = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id.clone(), i))
            .collect();
        Ok(Taxonomy {
            groups,
            leaves,
            leaf_index,
            group_index,
        })
    }

    /// All leaves in table order.
    pub fn leaves(&self) -> &[Leaf] {
        &self.leaves
    }

    /// All groups in table order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Look a leaf up by id (`"07.03"`).
    pub fn leaf(&self, id: &str) -> Option<&Leaf> {
        self.leaf_index.get(id).map(|&i| &self.leaves[i])
    }

    /// Look a group up by id (`"07"`).
    pub fn group(&self, id: &str) -> Option<&Group> {
        self.group_index.get(id).map(|&i| &self.groups[i])
    }

    /// Leaves that the text model may predict (every group except 15 预警).
    pub fn learnable_leaves(&self) -> impl Iterator<Item = &Leaf> {
        self.leaves.iter().filter(|l| l.group_id != WARNING_GROUP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_taxonomy_shape() {
        let t = Taxonomy::standard();
        assert_eq!(t.groups().len(), 15);
        assert_eq!(t.leaves().len(), 100);
        assert_eq!(t.learnable_leaves().count(), 92);
        let l = t.leaf("07.03").unwrap();
        assert_eq!(l.name, "房屋宅基地纠纷");
        assert_eq!(l.group_id, "07");
        assert_eq!(t.group("07").unwrap().name, "矛盾纠纷");
        assert!(t.leaf("99.99").is_none());
    }
}
