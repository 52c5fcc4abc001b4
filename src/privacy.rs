//! Personal data at the edge: callers' phone numbers and ID-card numbers are
//! kept only as a keyed hash (HMAC-SHA-256 with a key from the settings,
//! generated on first start and stored outside the database) plus a masked
//! form (`138****1234`), so "same person, many calls" can be counted without
//! keeping the number. Free text and raw records are scrubbed of anything
//! that looks like a mobile or ID-card number before they are stored.
//! Companies and addresses named in the text are normalized and hashed the
//! same way (different domain prefixes, so equal strings of different kinds
//! never share a hash).
//!
//! Pure apart from [`load_or_create_key`].

use std::path::Path;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::domain::{Entity, Party};

/// Bytes of a generated key.
pub const KEY_LEN: usize = 32;
/// Hex characters kept of each digest (128 bits: collisions are not a concern
/// at any realistic number of callers).
const HASH_HEX: usize = 32;

#[derive(Clone)]
pub struct Hasher {
    key: Vec<u8>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher(<key>)")
    }
}

impl Hasher {
    pub fn new(key: &[u8]) -> Self {
        assert!(!key.is_empty(), "an HMAC key must not be empty");
        Self { key: key.to_vec() }
    }

    fn digest(&self, domain: &str, value: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any size");
        mac.update(domain.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut hex = String::with_capacity(HASH_HEX);
        for b in out.iter().take(HASH_HEX / 2) {
            hex.push_str(&format!("{b:02x}"));
        }
        hex
    }

    /// (masked, hash) of a phone number; None when nothing number-like is left
    /// after normalizing (`+86`, spaces, dashes and brackets dropped).
    pub fn phone(&self, raw: &str) -> Option<(String, String)> {
        let n = normalize_phone(raw)?;
        Some((mask_digits(&n), self.digest("phone", &n)))
    }

    /// (masked, hash) of an ID-card number (18 or 15 characters, `x` upper-cased).
    pub fn id_no(&self, raw: &str) -> Option<(String, String)> {
        let n: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if n.len() < 6 || !n.chars().all(|c| c.is_ascii_digit() || c == 'X') {
            return None;
        }
        Some((mask_id(&n), self.digest("id_no", &n)))
    }

    pub fn entity(&self, kind: &str, normalized: &str) -> String {
        self.digest(kind, normalized)
    }

    /// A party as stored: masked forms and hashes only.
    pub fn party(
        &self,
        role: &str,
        name: Option<&str>,
        phone: Option<&str>,
        id_no: Option<&str>,
    ) -> Party {
        let phone = phone.and_then(|p| self.phone(p));
        let id = id_no.and_then(|i| self.id_no(i));
        Party {
            role: role.to_string(),
            name_masked: name.map(str::trim).filter(|n| !n.is_empty()).map(mask_name),
            phone_masked: phone.as_ref().map(|p| p.0.clone()),
            phone_hash: phone.map(|p| p.1),
            id_masked: id.as_ref().map(|i| i.0.clone()),
            id_hash: id.map(|i| i.1),
        }
    }
}

/// Reads the key file, or creates it (random bytes, hex, mode 0600) on first
/// start. The directory is created if needed.
pub fn load_or_create_key(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key = decode_hex(text.trim()).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: not a hex key", path.display()),
                )
            })?;
            if key.len() < 16 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: key shorter than 16 bytes", path.display()),
                ));
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let key: Vec<u8> = (0..KEY_LEN).map(|_| rand::random::<u8>()).collect();
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            match write_private(path, &hex) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "generated the HMAC key for personal data");
                    Ok(key)
                }
                // another process created it first: use theirs
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_key(path),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Writes a new file atomically and only if `path` does not exist yet: the
/// key goes to a private temporary file that is then hard-linked into place
/// (`AlreadyExists` if another process won the race; nobody ever reads a
/// half-written key).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!(
        "tmp.{}.{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Digits of a phone number with the country code dropped; None if fewer
/// than 5 digits remain or letters are mixed in.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let t = raw.trim();
    if t.chars()
        .any(|c| !(c.is_ascii_digit() || " +-()（）".contains(c)))
    {
        return None;
    }
    let mut d: String = t.chars().filter(|c| c.is_ascii_digit()).collect();
    // +86 … or 86 in front of an 11-digit mobile number
    if d.starts_with("86") && (t.starts_with('+') || d.len() == 13) {
        d.drain(..2);
    }
    (d.len() >= 5).then_some(d)
}

/// `13812341234` → `138****1234`; short numbers keep only their last 2 digits.
pub fn mask_digits(d: &str) -> String {
    let n = d.chars().count();
    if n >= 11 {
        let head: String = d.chars().take(3).collect();
        let tail: String = d.chars().skip(n - 4).collect();
        format!("{head}{}{tail}", "*".repeat(n - 7))
    } else if n >= 7 {
        let head: String = d.chars().take(3).collect();
        let tail: String = d.chars().skip(n - 2).collect();
        format!("{head}{}{tail}", "*".repeat(n - 5))
    } else {
        let tail: String = d.chars().skip(n.saturating_sub(2)).collect();
        format!("{}{tail}", "*".repeat(n.saturating_sub(2)))
    }
}

/// `331003199001011234` → `331***********1234`.
pub fn mask_id(n: &str) -> String {
    let len = n.chars().count();
    if len <= 7 {
        return "*".repeat(len);
    }
    let head: String = n.chars().take(3).collect();
    let tail: String = n.chars().skip(len - 4).collect();
    format!("{head}{}{tail}", "*".repeat(len - 7))
}

/// `张三丰` → `张**`.
pub fn mask_name(name: &str) -> String {
    let mut it = name.chars();
    match it.next() {
        Some(first) => format!("{first}{}", "*".repeat(it.count())),
        None => String::new(),
    }
}

/// Whether 18 characters have the shape of a PRC resident ID number (17
/// digits and a digit or X). The check character is not verified: a mistyped
/// ID number is still personal data.
fn is_id18(s: &[char]) -> bool {
    s.len() == 18
        && s[..17].iter().all(|c| c.is_ascii_digit())
        && (s[17].is_ascii_digit() || s[17] == 'X' || s[17] == 'x')
}

/// Replaces mobile numbers (11 digits from `1[3-9]`, optionally `+86`/`86`),
/// landlines with area code (`0576-84123456`) and ID-card numbers (18
/// characters, or 15 digits) in free text by their masked forms.
/// A digit run of another length (case numbers, amounts) is left alone.
pub fn scrub_text(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // maximal run of digits, dashes inside, and a trailing X
        let start = i;
        let mut j = i;
        while j < chars.len()
            && (chars[j].is_ascii_digit()
                || (chars[j] == '-' && j + 1 < chars.len() && chars[j + 1].is_ascii_digit()))
        {
            j += 1;
        }
        if j < chars.len() && (chars[j] == 'X' || chars[j] == 'x') {
            j += 1;
        }
        let run: Vec<char> = chars[start..j].to_vec();
        let digits: String = run.iter().filter(|c| **c != '-').collect();
        let dchars: Vec<char> = digits.chars().collect();
        let masked = if is_id18(&dchars)
            || (dchars.len() == 15 && dchars.iter().all(|c| c.is_ascii_digit()))
        {
            Some(mask_id(&digits))
        } else if dchars.iter().all(|c| c.is_ascii_digit()) {
            let mobile = |d: &str| {
                d.len() == 11 && d.starts_with('1') && matches!(d.as_bytes()[1], b'3'..=b'9')
            };
            if mobile(&digits) {
                Some(mask_digits(&digits))
            } else if digits.len() == 13 && digits.starts_with("86") && mobile(&digits[2..]) {
                Some(mask_digits(&digits[2..]))
            } else if run.contains(&'-')
                && digits.starts_with('0')
                && (10..=12).contains(&digits.len())
            {
                Some(mask_digits(&digits))
            } else {
                None
            }
        } else {
            None
        };
        match masked {
            Some(m) => out.push_str(&m),
            None => out.extend(run.iter()),
        }
        i = j;
    }
    out
}

/// Every string in a JSON value scrubbed with [`scrub_text`]; values of keys
/// that name a phone, an ID number or a person's name are masked whatever
/// they look like.
pub fn scrub_json(v: &Value, hasher: &Hasher) -> Value {
    match v {
        Value::String(s) => Value::String(scrub_text(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| scrub_json(x, hasher)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let masked = match (personal_key(k), x) {
                        (Some(Personal::Phone), Value::String(s)) => Some(
                            hasher
                                .phone(s)
                                .map(|p| p.0)
                                .unwrap_or_else(|| mask_digits(s)),
                        ),
                        (Some(Personal::Phone), Value::Number(n)) => {
                            Some(mask_digits(&n.to_string()))
                        }
                        (Some(Personal::IdNo), Value::String(s)) => Some(mask_id(s.trim())),
                        (Some(Personal::Name), Value::String(s)) => Some(mask_name(s.trim())),
                        _ => None,
                    };
                    let value = match masked {
                        Some(m) => Value::String(m),
                        None => scrub_json(x, hasher),
                    };
                    (k.clone(), value)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

enum Personal {
    Phone,
    IdNo,
    Name,
}

/// Keys of the source formats (docs/SOURCES.md) and of the incidents API that
/// carry a person's phone, ID number or name.
fn personal_key(k: &str) -> Option<Personal> {
    const PHONE: &[&str] = &[
        "BJDH",
        "LXDH",
        "caller_phone",
        "phone",
        "来电号码",
        "联系电话",
        "电话",
        "手机",
        "纠纷方电话",
        "tel",
        "telephone",
        "mobile",
    ];
    const ID: &[&str] = &[
        "SFZH",
        "caller_id_no",
        "id_no",
        "身份证号",
        "身份证",
        "证件号码",
    ];
    const NAME: &[&str] = &[
        "BJRXM",
        "BJDHYHXM",
        "caller_name",
        "来电人",
        "信访人",
        "姓名",
        "被访人",
        "纠纷方名称",
        "name_of_caller",
    ];
    if PHONE.contains(&k) {
        Some(Personal::Phone)
    } else if ID.contains(&k) {
        Some(Personal::IdNo)
    } else if NAME.contains(&k) {
        Some(Personal::Name)
    } else {
        None
    }
}

const COMPANY_SUFFIXES: &[&str] = &[
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "集团",
    "公司",
    "合作社",
    "工厂",
    "厂",
    "工地",
    "项目部",
    "酒店",
    "宾馆",
    "饭店",
    "超市",
    "商场",
    "医院",
    "幼儿园",
    "物业",
];

/// Characters that end a company name when walking back from its suffix.
fn stops_name(c: char) -> bool {
    !('\u{4e00}'..='\u{9fff}').contains(&c)
        || "的了在是和与跟被向到说称找去把给让对从家个位那这我你他她们里也都就还又再没不要想"
            .contains(c)
}

/// Companies (and similar organisations) named in `text`, normalized: the
/// longest suffix wins (`…模具有限公司`), 2–16 characters of name before it.
pub fn companies(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut found: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let rest: String = chars[i..chars.len().min(i + 6)].iter().collect();
        let Some(suffix) = COMPANY_SUFFIXES.iter().find(|s| rest.starts_with(**s)) else {
            i += 1;
            continue;
        };
        let slen = suffix.chars().count();
        let mut start = i;
        while start > 0 && i - start < 16 && !stops_name(chars[start - 1]) {
            start -= 1;
        }
        if i - start >= 2 {
            let name: String = chars[start..i + slen].iter().collect();
            let name = name
                .trim_start_matches("浙江省")
                .trim_start_matches("台州市")
                .to_string();
            if !found.contains(&name) {
                found.push(name);
            }
        }
        i += slen;
    }
    found
}

/// An address normalized for hashing: no whitespace or punctuation,
/// full-width digits and letters folded, the province/city/district prefix dropped.
pub fn normalize_address(a: &str) -> String {
    let mut s: String = a
        .chars()
        .filter_map(|c| {
            let c = match c {
                '\u{ff10}'..='\u{ff5a}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
                _ => c,
            };
            (!c.is_whitespace()
                && !c.is_ascii_punctuation()
                && !"，。、；：（）【】“”‘’·".contains(c))
            .then_some(c)
        })
        .collect();
    for p in ["浙江省", "台州市", "黄岩区"] {
        if let Some(r) = s.strip_prefix(p) {
            s = r.to_string();
        }
    }
    s
}

/// Company and address entities of an incident.
pub fn entities(hasher: &Hasher, text: Option<&str>, address: Option<&str>) -> Vec<Entity> {
    let mut out = Vec::new();
    for name in text.map(companies).unwrap_or_default() {
        out.push(Entity {
            kind: "company".into(),
            hash: hasher.entity("company", &name),
            name,
        });
    }
    if let Some(a) = address
        .map(normalize_address)
        .filter(|a| a.chars().count() >= 2)
    {
        out.push(Entity {
            kind: "address".into(),
            hash: hasher.entity("address", &a),
            name: a,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn h() -> Hasher {
        Hasher::new(b"test key of sixteen+ bytes")
    }

    #[test]
    fn phone_hash_is_stable_across_formats_and_keyed() {
        let a = h().phone("13812341234").unwrap();
        let b = h().phone("+86 138-1234-1234").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.0, "138****1234");
        assert_eq!(a.1.len(), 32);
        let other = Hasher::new(b"another key, also long")
            .phone("13812341234")
            .unwrap();
        assert_ne!(a.1, other.1, "the hash depends on the key");
        assert!(h().phone("call me").is_none());
    }

    #[test]
    fn id_numbers_masked_and_hashed() {
        let (m, hash) = h().id_no("33100319900101123x").unwrap();
        assert_eq!(m, "331***********123X");
        assert_eq!(hash, h().id_no("33100319900101123X").unwrap().1);
    }

    #[test]
    fn scrubbing_free_text() {
        let id = "33100319900101123X";
        let t = format!(
            "我电话13812341234，身份证{id}，座机0576-84123456，欠款20000元，案号2026120300001"
        );
        let s = scrub_text(&t);
        assert!(!s.contains("13812341234"), "{s}");
        assert!(!s.contains(id), "{s}");
        assert!(!s.contains("84123456"), "{s}");
        assert!(s.contains("138****1234"));
        assert!(s.contains("20000元"), "amounts stay: {s}");
        assert!(s.contains("2026120300001"), "case numbers stay: {s}");
    }

    #[test]
    fn scrubbing_raw_records_by_key() {
        let raw = json!({"JJDBH": "J3310032026120300001", "BJDH": "13912345678", "BJRXM": "王小明",
                         "当事人": [{"姓名": "李四", "电话": "13700001111", "身份证号": "331003198001010011"}],
                         "BJNR": "对方电话13655556666"});
        let s = scrub_json(&raw, &h()).to_string();
        for clear in [
            "13912345678",
            "王小明",
            "李四",
            "13700001111",
            "331003198001010011",
            "13655556666",
        ] {
            assert!(!s.contains(clear), "{clear} in {s}");
        }
        assert!(s.contains("J3310032026120300001"));
        assert!(s.contains("王**"));
    }

    #[test]
    fn companies_found_and_normalized() {
        let c = companies("我在黄岩某某模具有限公司干了半年，老板不给工资，隔壁的宏达塑料厂也一样");
        assert_eq!(
            c,
            vec!["黄岩某某模具有限公司".to_string(), "宏达塑料厂".to_string()]
        );
        assert!(companies("公司").is_empty());
    }

    #[test]
    fn address_normalized() {
        assert_eq!(
            normalize_address("浙江省台州市黄岩区 东城街道（劳动北路１２号）"),
            "东城街道劳动北路12号"
        );
    }

    #[test]
    fn key_file_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("lianqin-key-{}", std::process::id()));
        let path = dir.join("sub/hmac.key");
        let _ = std::fs::remove_dir_all(&dir);
        let a = load_or_create_key(&path).unwrap();
        let b = load_or_create_key(&path).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), KEY_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
