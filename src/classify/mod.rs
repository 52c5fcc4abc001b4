//! Chinese incident-text classifier for the 联勤 command centre.
//!
//! Maps a free-text incident description (110 call, 12345 work order, 信访
//! letter, grid report, sensor alarm, station task) to a leaf of the
//! two-level taxonomy in `data/taxonomy.csv`, with rule tags and the lead
//! department.
//!
//! * **Source codes beat the model**: if the source system's own category
//!   maps to a leaf ([`source_code_leaf`]), that leaf is used
//!   ([`Method::SourceCode`], confidence 1.0).
//! * Otherwise a linear model (multinomial logistic regression over hashed
//!   jieba words + character uni/bi-grams, see `features`/`model`) picks the
//!   leaf ([`Method::Model`]). If the category only pins a group (四平台
//!   "矛盾纠纷"), the best leaf of that group is chosen.
//! * Only groups 01–14 are learnt from text. Group 15 (风险预警: 重复警情预警
//!   …) is produced by the early-warning models from event histories, not
//!   reported by callers, so it is **never predicted** (training examples
//!   labelled 15.xx are ignored).
//!
//! [`Classifier::standard`] trains once from the embedded
//! `data/classify/train.jsonl` (9,200 lines: ≈0.5 s CPU in release, ≈5–8 s
//! in an unoptimised debug build); training is deterministic (fixed seed,
//! fixed order). The model takes ≈5 MB (1 MiB bucket index + bfloat16
//! weights). Rule tags ([`TAGS`]) come from a keyword table with negation
//! handling (`rules.rs`), independent of the model.

mod codes;
mod features;
mod model;
mod rules;
mod taxonomy;

use std::collections::HashMap;
use std::sync::OnceLock;

pub use codes::{source_code_leaf, source_group_hint};
pub use features::normalize;
pub use model::TrainParams;
pub use rules::{tags, TAGS};
pub use taxonomy::{Group, Leaf, Taxonomy, TaxonomyError, WARNING_GROUP};

use model::LinearModel;

const TRAIN_JSONL: &str = include_str!("../../data/classify/train.jsonl");
const HELDOUT_JSONL: &str = include_str!("../../data/classify/heldout.jsonl");

/// How the leaf of a [`Classification`] was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// From the source system's own category code.
    SourceCode,
    /// From the text model.
    Model,
}

/// A ranked alternative leaf.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    /// Leaf id (`"07.02"`).
    pub leaf_id: String,
    /// Leaf Chinese name.
    pub leaf_name: String,
    /// Model probability.
    pub confidence: f32,
}

/// Result of [`Classifier::classify`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Classification {
    /// Chosen leaf id.
    pub leaf_id: String,
    /// Chosen leaf Chinese name.
    pub leaf_name: String,
    /// Group id (`"07"`).
    pub group_id: String,
    /// Group Chinese name.
    pub group_name: String,
    /// Softmax probability of the chosen leaf (1.0 for [`Method::SourceCode`];
    /// within-group probability when a source category pinned the group).
    pub confidence: f32,
    /// The two next-best leaves by the text model (excluding the chosen one).
    pub runners_up: Vec<Candidate>,
    /// Tag codes (see [`TAGS`]), in [`TAGS`] order.
    pub tags: Vec<String>,
    /// taxonomy.csv `lead` of the chosen leaf.
    pub lead_department: String,
    /// How the leaf was chosen.
    pub method: Method,
}

/// A labelled training / evaluation text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Example {
    /// Incident text.
    pub text: String,
    /// Gold leaf id (`"07.02"`).
    pub leaf: String,
    /// Register: caller, operator, grid, petition, hotline, sensor, station.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register: Option<String>,
}

/// Errors from [`load_jsonl`].
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    /// A line is not valid JSON for an [`Example`].
    #[error("line {line}: {source}")]
    Json {
        /// 1-based line number.
        line: usize,
        /// Parser error.
        source: serde_json::Error,
    },
    /// The leaf id is not in the taxonomy.
    #[error("line {line}: unknown leaf {leaf:?}")]
    UnknownLeaf {
        /// 1-based line number.
        line: usize,
        /// The offending id.
        leaf: String,
    },
}

/// Parse JSON-lines examples (`{"text":…,"leaf":…,"register":…}`); blank
/// lines and lines starting with `#` or `//` are skipped.
pub fn load_jsonl(s: &str) -> Result<Vec<Example>, ClassifyError> {
    let tax = Taxonomy::standard();
    let mut out = Vec::new();
    for (i, line) in s.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        let ex: Example = serde_json::from_str(line).map_err(|source| ClassifyError::Json {
            line: i + 1,
            source,
        })?;
        if tax.leaf(&ex.leaf).is_none() {
            return Err(ClassifyError::UnknownLeaf {
                line: i + 1,
                leaf: ex.leaf,
            });
        }
        out.push(ex);
    }
    Ok(out)
}

/// Hashed feature buckets of `text` (sorted, distinct), for diagnostics.
pub fn feature_buckets(text: &str) -> Vec<u32> {
    let mut b = Vec::new();
    features::buckets(text, &mut b);
    b
}

/// The embedded training corpus (`data/classify/train.jsonl`).
pub fn train_corpus() -> Vec<Example> {
    load_jsonl(TRAIN_JSONL).expect("embedded train.jsonl is valid")
}

/// The embedded hand-written held-out set (`data/classify/heldout.jsonl`).
pub fn heldout() -> Vec<Example> {
    load_jsonl(HELDOUT_JSONL).expect("embedded heldout.jsonl is valid")
}

/// Evaluation of the text model on labelled examples (source codes unused).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// Number of examples.
    pub n: usize,
    /// Leaf-level accuracy.
    pub accuracy: f64,
    /// Macro-averaged F1 over leaves occurring in gold or predictions.
    pub macro_f1: f64,
    /// Group-level accuracy.
    pub group_accuracy: f64,
    /// Group ids (row/column order of `group_confusion`): all 15 groups.
    pub groups: Vec<String>,
    /// `group_confusion[gold][predicted]` counts.
    pub group_confusion: Vec<Vec<u32>>,
    /// Per-leaf `(leaf, support, precision, recall, f1)`, sorted by leaf id.
    pub per_leaf: Vec<(String, u32, f64, f64, f64)>,
}

impl Evaluation {
    /// Off-diagonal group pairs `(gold, predicted, count)`, most frequent first.
    pub fn confused_groups(&self, k: usize) -> Vec<(String, String, u32)> {
        let mut v = Vec::new();
        for (i, row) in self.group_confusion.iter().enumerate() {
            for (j, &c) in row.iter().enumerate() {
                if i != j && c > 0 {
                    v.push((self.groups[i].clone(), self.groups[j].clone(), c));
                }
            }
        }
        v.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
        v.truncate(k);
        v
    }
}

/// The trained text classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Classifier {
    /// Leaf ids of the model's classes (sorted; groups 01–14 only).
    classes: Vec<&'static str>,
    /// The taxonomy leaves of `classes` (same order).
    leaves: Vec<&'static Leaf>,
    model: LinearModel,
}

impl Classifier {
    /// The standard classifier, trained once from the embedded corpus.
    pub fn standard() -> &'static Classifier {
        static C: OnceLock<Classifier> = OnceLock::new();
        C.get_or_init(|| Classifier::train(&train_corpus()))
    }

    /// Train with default parameters. Examples labelled with unknown or
    /// group-15 leaves are ignored.
    pub fn train(examples: &[Example]) -> Classifier {
        Classifier::train_with(examples, TrainParams::default())
    }

    /// Train with explicit parameters.
    pub fn train_with(examples: &[Example], params: TrainParams) -> Classifier {
        let tax = Taxonomy::standard();
        let mut classes: Vec<&'static str> = examples
            .iter()
            .filter_map(|e| tax.leaf(&e.leaf))
            .filter(|l| l.group_id != WARNING_GROUP)
            .map(|l| l.id.as_str())
            .collect();
        classes.sort_unstable();
        classes.dedup();
        let class_of: HashMap<&str, usize> =
            classes.iter().enumerate().map(|(i, c)| (*c, i)).collect();
        let data: Vec<(Vec<u32>, usize)> = examples
            .iter()
            .filter_map(|e| {
                let y = *class_of.get(e.leaf.as_str())?;
                let mut b = Vec::new();
                features::buckets(&e.text, &mut b);
                Some((b, y))
            })
            .collect();
        let model = LinearModel::train(&data, classes.len(), params);
        let leaves = classes.iter().filter_map(|c| tax.leaf(c)).collect();
        Classifier {
            classes,
            leaves,
            model,
        }
    }

    /// Leaf ids the model can predict.
    pub fn classes(&self) -> &[&'static str] {
        &self.classes
    }

    /// Number of stored weight rows (for memory estimates: rows × classes × 4 B).
    pub fn weight_rows(&self) -> usize {
        self.model.n_rows()
    }

    /// Probabilities of [`Classifier::classes`] (same order) for `text`.
    pub fn probabilities(&self, text: &str) -> Vec<f32> {
        let mut b = Vec::new();
        features::buckets(text, &mut b);
        let mut p = Vec::new();
        self.model.predict_proba(&b, &mut p);
        p
    }

    /// All model classes with probabilities, best first.
    pub fn rank(&self, text: &str) -> Vec<(&'static str, f32)> {
        let mut v: Vec<(&'static str, f32)> = self
            .classes
            .iter()
            .copied()
            .zip(self.probabilities(text))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        v
    }

    /// Indices of the `k` best classes accepted by `keep`, best first
    /// (ties: lower id), with their probabilities.
    fn top_k(&self, probs: &[f32], k: usize, keep: impl Fn(&str) -> bool) -> Vec<(usize, f32)> {
        let mut top: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
        for (i, (&l, &p)) in self.classes.iter().zip(probs).enumerate() {
            if !keep(l) {
                continue;
            }
            let pos = top.iter().position(|&(_, q)| p > q).unwrap_or(top.len());
            if pos < k {
                top.insert(pos, (i, p));
                top.truncate(k);
            }
        }
        top
    }

    /// Classify one incident text.
    ///
    /// `source`: the source system code, one of "110", "12345", "xinfang",
    /// "maodiao", "grid", "station", "sensor", "eido" (or `None`).
    /// `source_category`: that system's own category code or name.
    /// `local_hour`: hour 0..23 (Asia/Shanghai) of the event, for the `night` tag.
    pub fn classify(
        &self,
        text: &str,
        source: Option<&str>,
        source_category: Option<&str>,
        local_hour: Option<u32>,
    ) -> Classification {
        let tax = Taxonomy::standard();
        let probs = self.probabilities(text);
        let code_leaf = source_category
            .and_then(|c| source_code_leaf(source, c))
            .and_then(|id| tax.leaf(id));
        let hint = match (code_leaf, source_category) {
            (None, Some(c)) => source_group_hint(source, c),
            _ => None,
        };
        let chosen: Option<(&'static Leaf, f32, Method)> = if let Some(l) = code_leaf {
            Some((l, 1.0, Method::SourceCode))
        } else if let Some((g, (i, p))) =
            hint.and_then(|g| Some((g, *self.top_k(&probs, 1, |l| l.starts_with(g)).first()?)))
        {
            let in_group: f32 = self
                .classes
                .iter()
                .zip(&probs)
                .filter(|(l, _)| l.starts_with(g))
                .map(|x| x.1)
                .sum();
            let conf = if in_group > 0.0 { p / in_group } else { 0.0 };
            Some((self.leaves[i], conf, Method::Model))
        } else {
            self.top_k(&probs, 1, |_| true)
                .first()
                .map(|&(i, p)| (self.leaves[i], p, Method::Model))
        };
        // Untrained classifier: fall back to 05.07 其他群众求助.
        let (leaf, confidence, method) = chosen.unwrap_or_else(|| {
            let l = tax.leaf("05.07").unwrap_or(&tax.leaves()[0]);
            (l, 0.0, Method::Model)
        });
        let mut runners_up: Vec<Candidate> = self
            .top_k(&probs, 2, |l| l != leaf.id)
            .iter()
            .map(|&(i, p)| Candidate {
                leaf_id: self.leaves[i].id.clone(),
                leaf_name: self.leaves[i].name.clone(),
                confidence: p,
            })
            .collect();
        // Models with < 3 classes: pad with other learnable leaves at 0.
        for l in tax.learnable_leaves() {
            if runners_up.len() >= 2 {
                break;
            }
            if l.id != leaf.id && !runners_up.iter().any(|c| c.leaf_id == l.id) {
                runners_up.push(Candidate {
                    leaf_id: l.id.clone(),
                    leaf_name: l.name.clone(),
                    confidence: 0.0,
                });
            }
        }
        Classification {
            leaf_id: leaf.id.clone(),
            leaf_name: leaf.name.clone(),
            group_id: leaf.group_id.clone(),
            group_name: leaf.group_name.clone(),
            confidence,
            runners_up,
            tags: rules::tags(text, local_hour),
            lead_department: leaf.lead.clone(),
            method,
        }
    }

    /// Evaluate the text model (no source codes) on labelled examples.
    pub fn evaluate(&self, examples: &[Example]) -> Evaluation {
        let tax = Taxonomy::standard();
        let groups: Vec<String> = tax.groups().iter().map(|g| g.id.clone()).collect();
        let gidx: HashMap<&str, usize> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.as_str(), i))
            .collect();
        let mut conf = vec![vec![0u32; groups.len()]; groups.len()];
        let (mut ok, mut gok) = (0usize, 0usize);
        // leaf → (tp, fp, fn, support)
        let mut stats: HashMap<String, (u32, u32, u32, u32)> = HashMap::new();
        for e in examples {
            let probs = self.probabilities(&e.text);
            let pred = self
                .top_k(&probs, 1, |_| true)
                .first()
                .map(|x| self.classes[x.0])
                .unwrap_or("");
            let gold_g = e.leaf.split('.').next().unwrap_or("");
            let pred_g = pred.split('.').next().unwrap_or("");
            if pred == e.leaf {
                ok += 1;
                stats.entry(e.leaf.clone()).or_default().0 += 1;
            } else {
                stats.entry(pred.to_string()).or_default().1 += 1;
                stats.entry(e.leaf.clone()).or_default().2 += 1;
            }
            stats.entry(e.leaf.clone()).or_default().3 += 1;
            if gold_g == pred_g {
                gok += 1;
            }
            if let (Some(&i), Some(&j)) = (gidx.get(gold_g), gidx.get(pred_g)) {
                conf[i][j] += 1;
            }
        }
        let n = examples.len();
        let mut per_leaf: Vec<(String, u32, f64, f64, f64)> = stats
            .into_iter()
            .filter(|(l, _)| !l.is_empty())
            .map(|(l, (tp, fp, fneg, sup))| {
                let p = if tp + fp > 0 {
                    f64::from(tp) / f64::from(tp + fp)
                } else {
                    0.0
                };
                let r = if tp + fneg > 0 {
                    f64::from(tp) / f64::from(tp + fneg)
                } else {
                    0.0
                };
                let f = if p + r > 0.0 {
                    2.0 * p * r / (p + r)
                } else {
                    0.0
                };
                (l, sup, p, r, f)
            })
            .collect();
        per_leaf.sort_by(|a, b| a.0.cmp(&b.0));
        let macro_f1 = if per_leaf.is_empty() {
            0.0
        } else {
            per_leaf.iter().map(|x| x.4).sum::<f64>() / per_leaf.len() as f64
        };
        let frac = |k: usize| if n == 0 { 0.0 } else { k as f64 / n as f64 };
        Evaluation {
            n,
            accuracy: frac(ok),
            macro_f1,
            group_accuracy: frac(gok),
            groups,
            group_confusion: conf,
            per_leaf,
        }
    }
}

#[cfg(test)]
mod tests;
