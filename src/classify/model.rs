//! Multinomial logistic regression over hashed binary features, trained with
//! plain SGD (decaying step, fixed-seed shuffling: deterministic).
//!
//! Weights are stored only for buckets seen in training: `index` maps a
//! bucket to a row of `weights` (row-major, one `f32` per class), so memory
//! is `4 MiB + rows × classes × 4 B` (≈ 20–40 MB for the standard corpus).

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::features::{unit_value, N_BUCKETS};

const NO_ROW: u32 = u32::MAX;

/// Training hyper-parameters.
#[derive(Debug, Clone, Copy)]
pub struct TrainParams {
    /// Passes over the data.
    pub epochs: usize,
    /// Initial learning rate.
    pub lr0: f32,
    /// Step decay: `lr = lr0 / (1 + decay * t / n)`, `t` counting examples.
    pub decay: f32,
    /// Skip gradient components smaller than this (sparse updates).
    pub grad_eps: f32,
    /// Shuffling seed.
    pub seed: u64,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            epochs: 6,
            lr0: 1.0,
            decay: 0.5,
            grad_eps: 1e-3,
            seed: 0x6c69_616e_7169_6e00, // "lianqin"
        }
    }
}

/// A trained linear model.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    n_classes: usize,
    index: Vec<u32>,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl LinearModel {
    /// Train on `(bucket ids, class index)` pairs.
    pub fn train(data: &[(Vec<u32>, usize)], n_classes: usize, p: TrainParams) -> LinearModel {
        let k = n_classes;
        let mut index = vec![NO_ROW; N_BUCKETS];
        let mut n_rows = 0u32;
        // Translate buckets to compact rows once.
        let rows: Vec<(Vec<u32>, f32, usize)> = data
            .iter()
            .map(|(b, y)| {
                let r = b
                    .iter()
                    .map(|&bk| {
                        let slot = &mut index[bk as usize];
                        if *slot == NO_ROW {
                            *slot = n_rows;
                            n_rows += 1;
                        }
                        *slot
                    })
                    .collect::<Vec<u32>>();
                (r, unit_value(b.len()), *y)
            })
            .collect();
        let mut weights = vec![0f32; n_rows as usize * k];
        let mut bias = vec![0f32; k];
        let mut order: Vec<usize> = (0..rows.len()).collect();
        let mut rng = SmallRng::seed_from_u64(p.seed);
        let mut scores = vec![0f32; k];
        let mut active: Vec<(usize, f32)> = Vec::with_capacity(k);
        let n = rows.len().max(1) as f32;
        let mut t = 0f32;
        for _ in 0..p.epochs {
            order.shuffle(&mut rng);
            for &i in &order {
                let (feats, v, y) = &rows[i];
                scores.copy_from_slice(&bias);
                for &r in feats {
                    let row = &weights[r as usize * k..(r as usize + 1) * k];
                    for (s, w) in scores.iter_mut().zip(row) {
                        *s += w * v;
                    }
                }
                softmax(&mut scores);
                let lr = p.lr0 / (1.0 + p.decay * t / n);
                t += 1.0;
                active.clear();
                for (c, &pc) in scores.iter().enumerate() {
                    let g = if c == *y { pc - 1.0 } else { pc };
                    if g.abs() >= p.grad_eps {
                        active.push((c, lr * g));
                    }
                }
                for &(c, g) in &active {
                    bias[c] -= g * 0.1;
                }
                for &r in feats {
                    let row = &mut weights[r as usize * k..(r as usize + 1) * k];
                    for &(c, g) in &active {
                        row[c] -= g * v;
                    }
                }
            }
        }
        LinearModel {
            n_classes: k,
            index,
            weights,
            bias,
        }
    }

    /// Number of stored weight rows (distinct training buckets).
    pub fn n_rows(&self) -> usize {
        self.weights.len() / self.n_classes.max(1)
    }

    /// Class probabilities (softmax) for a text's bucket ids, into `out`.
    pub fn predict_proba(&self, buckets: &[u32], out: &mut Vec<f32>) {
        let k = self.n_classes;
        out.clear();
        out.extend_from_slice(&self.bias);
        let v = unit_value(buckets.len());
        for &b in buckets {
            let r = self.index[b as usize];
            if r == NO_ROW {
                continue;
            }
            let row = &self.weights[r as usize * k..(r as usize + 1) * k];
            for (s, w) in out.iter_mut().zip(row) {
                *s += w * v;
            }
        }
        softmax(out);
    }
}

fn softmax(s: &mut [f32]) {
    let m = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut z = 0.0;
    for x in s.iter_mut() {
        *x = (*x - m).exp();
        z += *x;
    }
    if z > 0.0 {
        for x in s.iter_mut() {
            *x /= z;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_toy_problem() {
        let data = vec![
            (vec![1, 2, 3], 0),
            (vec![1, 2, 4], 0),
            (vec![7, 8, 9], 1),
            (vec![7, 8, 10], 1),
        ];
        let m = LinearModel::train(&data, 2, TrainParams::default());
        let mut p = Vec::new();
        m.predict_proba(&[1, 2], &mut p);
        assert!(p[0] > 0.8, "{p:?}");
        m.predict_proba(&[8, 9], &mut p);
        assert!(p[1] > 0.8, "{p:?}");
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
}
