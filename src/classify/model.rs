//! Multinomial logistic regression over hashed binary features, trained with
//! plain SGD (decaying step, fixed-seed shuffling: deterministic).
//!
//! Weights are stored only for buckets seen in training: `index` maps a
//! bucket to a row of `weights` (row-major, one bfloat16 per class, rows in
//! descending feature frequency), so memory is
//! `4 B × 2^HASH_BITS + rows × classes × 2 B` (≈ 1 MiB + 3.5 MB for the
//! standard corpus; training peaks at ≈ 10 MB more for the `f32` copy).

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
    /// An example whose true-class probability was at least this on its
    /// last visit is skipped (at most `max_skips` epochs in a row): saves
    /// most of the later epochs' work at no measurable accuracy cost.
    pub skip_confident: f32,
    /// See `skip_confident`.
    pub max_skips: u8,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            epochs: 4,
            lr0: 2.0,
            decay: 0.5,
            grad_eps: 1e-3,
            seed: 0x6c69_616e_7169_6e00, // "lianqin"
            skip_confident: 0.9,
            max_skips: 2,
        }
    }
}

/// A trained linear model.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    n_classes: usize,
    index: Vec<u32>,
    /// bfloat16 weights (upper half of an `f32`): half the memory traffic of
    /// `f32` at prediction time, which is memory-bound; training is in `f32`.
    weights: Vec<u16>,
    bias: Vec<f32>,
}

/// `f32` → bfloat16, round to nearest even.
fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    let round = 0x7fff + ((b >> 16) & 1);
    (b.wrapping_add(round) >> 16) as u16
}

#[inline]
fn from_bf16(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

impl LinearModel {
    /// Train on `(bucket ids, class index)` pairs.
    pub fn train(data: &[(Vec<u32>, usize)], n_classes: usize, p: TrainParams) -> LinearModel {
        let k = n_classes;
        // Rows in descending document frequency (ties: bucket id), so the
        // weights of common features sit together (cache locality at
        // prediction time).
        let mut df = vec![0u32; N_BUCKETS];
        for (b, _) in data {
            for &bk in b {
                df[bk as usize] += 1;
            }
        }
        let mut used: Vec<u32> = (0..N_BUCKETS as u32)
            .filter(|&b| df[b as usize] > 0)
            .collect();
        used.sort_by(|&a, &b| df[b as usize].cmp(&df[a as usize]).then(a.cmp(&b)));
        let mut index = vec![NO_ROW; N_BUCKETS];
        for (row, &b) in used.iter().enumerate() {
            index[b as usize] = row as u32;
        }
        let n_rows = used.len() as u32;
        let rows: Vec<(Vec<u32>, f32, usize)> = data
            .iter()
            .map(|(b, y)| {
                let r = b.iter().map(|&bk| index[bk as usize]).collect::<Vec<u32>>();
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
        // Per example: true-class probability at the last visit, skips in a row.
        let mut last_p = vec![0f32; rows.len()];
        let mut skips = vec![0u8; rows.len()];
        for _ in 0..p.epochs {
            order.shuffle(&mut rng);
            for &i in &order {
                if last_p[i] >= p.skip_confident && skips[i] < p.max_skips {
                    skips[i] += 1;
                    t += 1.0;
                    continue;
                }
                skips[i] = 0;
                let (feats, v, y) = &rows[i];
                scores.copy_from_slice(&bias);
                for &r in feats {
                    axpy(
                        &mut scores,
                        &weights[r as usize * k..(r as usize + 1) * k],
                        *v,
                    );
                }
                softmax(&mut scores);
                last_p[i] = scores[*y];
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
                    // Plain `while` loops: these are the hot loops and stay
                    // tolerable in unoptimised (debug) builds too.
                    let mut j = 0;
                    while j < active.len() {
                        let (c, g) = active[j];
                        row[c] -= g * v;
                        j += 1;
                    }
                }
            }
        }
        LinearModel {
            n_classes: k,
            index,
            weights: weights.into_iter().map(to_bf16).collect(),
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
            axpy_bf16(out, &self.weights[r as usize * k..(r as usize + 1) * k], v);
        }
        softmax(out);
    }
}

/// `acc += row * v`. Written as an indexed `while` loop so that debug builds
/// (no inlining of iterator adaptors) are not 10x slower; release builds
/// vectorise it either way.
#[inline]
fn axpy(acc: &mut [f32], row: &[f32], v: f32) {
    let n = acc.len().min(row.len());
    let (acc, row) = (&mut acc[..n], &row[..n]);
    let mut j = 0;
    while j < n {
        acc[j] += row[j] * v;
        j += 1;
    }
}

/// `acc += row * v` with a bfloat16 row.
#[inline]
fn axpy_bf16(acc: &mut [f32], row: &[u16], v: f32) {
    let n = acc.len().min(row.len());
    let (acc, row) = (&mut acc[..n], &row[..n]);
    let mut j = 0;
    while j < n {
        acc[j] += from_bf16(row[j]) * v;
        j += 1;
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
    fn bf16_round_trip() {
        for x in [0.0f32, 1.0, -2.5, 0.123_456, 1e-3, -7.75e2] {
            let y = from_bf16(to_bf16(x));
            assert!((x - y).abs() <= x.abs() / 128.0, "{x} {y}");
        }
    }

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
