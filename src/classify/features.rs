//! Text → hashed sparse feature vector: jieba words plus character uni- and
//! bi-grams, hashed (FNV-1a) into `2^HASH_BITS` buckets, binary, L2-normalised.

use std::sync::OnceLock;

use jieba_rs::Jieba;

/// log2 of the hashed feature space.
pub const HASH_BITS: u32 = 18;
/// Number of hash buckets.
pub const N_BUCKETS: usize = 1 << HASH_BITS;

const NS_UNI: u64 = 0x11;
const NS_BI: u64 = 0x22;
const NS_WORD: u64 = 0x33;

/// The shared jieba segmenter (default dictionary), created once.
pub fn jieba() -> &'static Jieba {
    static J: OnceLock<Jieba> = OnceLock::new();
    J.get_or_init(Jieba::new)
}

/// Normalise text for feature extraction: full-width ASCII → half-width,
/// ASCII lower-case, every ASCII digit → `0`, whitespace dropped.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        };
        if c.is_whitespace() {
            continue;
        }
        if c.is_ascii_digit() {
            out.push('0');
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// True for characters that split n-gram runs (punctuation, symbols).
fn is_boundary(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c,
            '\u{3000}'..='\u{303F}' // CJK punctuation 。、「」【】
            | '\u{FF00}'..='\u{FF0F}'
            | '\u{FF1A}'..='\u{FF20}'
            | '\u{FF3B}'..='\u{FF40}'
            | '\u{FF5B}'..='\u{FF65}'
            | '\u{2010}'..='\u{206F}' // general punctuation “”…—
            | '\u{00B7}')
}

#[inline]
fn fnv(ns: u64, bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ ns.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Hash of one or two characters (splitmix64 finaliser over the code points).
#[inline]
fn mix(ns: u64, a: char, b: char) -> u64 {
    let mut z = (ns << 48) ^ (u64::from(u32::from(a)) << 24) ^ u64::from(u32::from(b));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[inline]
fn bucket(h: u64) -> u32 {
    // Fold the high bits in: FNV's low bits are weak.
    ((h ^ (h >> 29) ^ (h >> 47)) & (N_BUCKETS as u64 - 1)) as u32
}

/// Hashed bucket ids of `text` (sorted, deduplicated: binary features).
pub fn buckets(text: &str, out: &mut Vec<u32>) {
    out.clear();
    let norm = normalize(text);
    // Character n-grams within runs of non-punctuation.
    let mut prev: Option<char> = None;
    for c in norm.chars() {
        if is_boundary(c) {
            prev = None;
            continue;
        }
        out.push(bucket(mix(NS_UNI, '\0', c)));
        if let Some(p) = prev {
            out.push(bucket(mix(NS_BI, p, c)));
        }
        prev = Some(c);
    }
    // Words (multi-character only: single characters are the unigrams).
    for tok in jieba().cut(&norm, true) {
        let w = tok.word;
        let mut chars = w.chars();
        let first = chars.next();
        if chars.next().is_none() || first.is_some_and(is_boundary) {
            continue;
        }
        out.push(bucket(fnv(NS_WORD, w.as_bytes())));
    }
    out.sort_unstable();
    out.dedup();
}

/// The L2-normalised value every (binary) feature of a text with `n`
/// distinct features takes.
#[inline]
pub fn unit_value(n: usize) -> f32 {
    if n == 0 {
        0.0
    } else {
        1.0 / (n as f32).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_width_case_digits() {
        assert_eq!(normalize("ＡＢ１２ 3元"), "ab000元");
    }

    #[test]
    fn buckets_are_deterministic_and_nonempty() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        buckets("楼上天天半夜蹦迪，吵得睡不着！", &mut a);
        buckets("楼上天天半夜蹦迪，吵得睡不着！", &mut b);
        assert_eq!(a, b);
        assert!(a.len() > 20);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        buckets("，。！", &mut a);
        assert!(a.is_empty());
    }
}
