//! Rule tags: keyword table with negation and exclusion handling, plus age
//! ("七十多岁", "15岁") and hour-of-day rules.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Tag codes with Chinese labels, in output order.
pub const TAGS: &[(&str, &str)] = &[
    ("elderly", "涉老年人"),
    ("minor", "涉未成年人"),
    ("disabled", "涉残疾人"),
    ("mental", "涉精神障碍"),
    ("repeat_caller", "重复报警/反映"),
    ("enterprise", "涉企"),
    ("weapon", "涉刀械枪支"),
    ("injury", "有人受伤"),
    ("night", "夜间"),
    ("group", "涉多人/群体"),
    ("threat_extreme", "扬言极端"),
    ("domestic", "涉家庭/婚恋"),
    ("drunk", "涉酒"),
];

/// One keyword rule.
struct Rule {
    tag: &'static str,
    keywords: &'static [&'static str],
    /// Phrases that contain a keyword but must not trigger it (大学生 ≠ minor).
    exclude: &'static [&'static str],
    /// Whether a negation word just before the keyword cancels it (没有受伤).
    negatable: bool,
}

/// The rule table. Extend here.
const RULES: &[Rule] = &[
    Rule {
        tag: "elderly",
        keywords: &[
            "老人", "老年", "大爷", "大妈", "阿婆", "阿公", "老太", "老头", "老伯", "老汉", "奶奶",
            "爷爷", "外婆", "外公", "七旬", "八旬", "九旬", "耄耋", "孤寡", "空巢", "高龄",
        ],
        exclude: &["老人家具"],
        negatable: false,
    },
    Rule {
        tag: "minor",
        keywords: &[
            "小孩",
            "未成年",
            "学生",
            "孩子",
            "初中生",
            "小学生",
            "高中生",
            "中学生",
            "儿童",
            "幼儿",
            "婴儿",
            "小朋友",
            "女童",
            "男童",
            "少年",
            "童工",
            "幼童",
            "娃",
        ],
        exclude: &["大学生", "研究生", "学生家长", "孩子他爸", "孩子他妈"],
        negatable: false,
    },
    Rule {
        tag: "disabled",
        keywords: &[
            "残疾",
            "轮椅",
            "聋哑",
            "盲人",
            "智力障碍",
            "智障",
            "残障",
            "瘫痪",
            "失明",
            "聋人",
            "哑巴",
            "拄拐",
            "肢残",
            "视障",
        ],
        exclude: &[],
        negatable: false,
    },
    Rule {
        tag: "mental",
        keywords: &[
            "精神病",
            "精神异常",
            "精神障碍",
            "精神疾病",
            "精神分裂",
            "精神失常",
            "精神不正常",
            "精神有问题",
            "疯子",
            "发疯",
            "神志不清",
            "抑郁症",
            "躁狂",
            "肇事肇祸",
            "脑子有问题",
        ],
        exclude: &[],
        negatable: true,
    },
    Rule {
        tag: "repeat_caller",
        keywords: &[
            "又",
            "再次",
            "多次",
            "反复",
            "屡次",
            "上次",
            "三番五次",
            "好几次",
            "几次三番",
            "一再",
            "屡教不改",
            "还是没解决",
            "一直没人管",
            "重复报警",
            "又来了",
        ],
        exclude: &["又哭又闹", "又打又骂", "又脏又乱", "又吵又闹"],
        negatable: false,
    },
    Rule {
        tag: "enterprise",
        keywords: &[
            "公司",
            "厂",
            "企业",
            "工地",
            "老板",
            "车间",
            "项目部",
            "包工头",
            "商户",
            "门店",
            "作坊",
            "商家",
            "店家",
            "超市",
            "酒店",
            "饭店",
        ],
        exclude: &[],
        negatable: false,
    },
    Rule {
        tag: "weapon",
        keywords: &[
            "刀", "棍棒", "枪", "砍", "匕首", "铁棍", "木棍", "木棒", "钢管", "斧头", "铁锹",
            "锄头", "凶器", "榔头", "铁锤", "弩",
        ],
        exclude: &["刀具店", "开刀", "枪手"],
        negatable: true,
    },
    Rule {
        tag: "injury",
        keywords: &[
            "受伤",
            "流血",
            "骨折",
            "送医",
            "120",
            "伤者",
            "出血",
            "缝针",
            "打伤",
            "砍伤",
            "刺伤",
            "撞伤",
            "烫伤",
            "烧伤",
            "重伤",
            "轻伤",
            "伤势",
            "昏迷",
            "淤青",
            "鼻青脸肿",
            "救护车",
            "头破血流",
            "伤员",
            "受了伤",
            "伤口",
        ],
        exclude: &["损伤赔偿"],
        negatable: true,
    },
    Rule {
        tag: "night",
        keywords: &[
            "深夜",
            "凌晨",
            "半夜",
            "午夜",
            "后半夜",
            "夜里",
            "夜间",
            "三更",
        ],
        exclude: &[],
        negatable: false,
    },
    Rule {
        tag: "group",
        keywords: &[
            "多人",
            "一群",
            "十几个人",
            "十几人",
            "几十人",
            "几十个人",
            "上百人",
            "数十人",
            "二十多人",
            "三十多人",
            "十多人",
            "十多个人",
            "聚集",
            "围堵",
            "一帮",
            "一伙",
            "成群",
            "群体",
            "集体",
            "围攻",
            "好多人",
            "一大帮",
            "百余人",
            "几十号人",
            "聚众",
            "数百人",
        ],
        exclude: &["集体经济", "集体土地", "村集体"],
        negatable: false,
    },
    Rule {
        tag: "threat_extreme",
        keywords: &[
            "扬言",
            "跳楼",
            "同归于尽",
            "自杀",
            "不想活",
            "轻生",
            "跳河",
            "喝农药",
            "寻死",
            "割腕",
            "报复社会",
            "杀了他",
            "杀了你",
            "弄死",
            "一起死",
            "活不下去",
            "炸掉",
            "烧死",
            "上吊",
            "跳江",
            "自残",
        ],
        exclude: &[],
        negatable: false,
    },
    Rule {
        tag: "domestic",
        keywords: &[
            "老公",
            "老婆",
            "丈夫",
            "妻子",
            "家暴",
            "家庭暴力",
            "媳妇",
            "前夫",
            "前妻",
            "夫妻",
            "两口子",
            "婆婆",
            "公公",
            "儿媳",
            "男友",
            "女友",
            "男朋友",
            "女朋友",
        ],
        exclude: &[],
        negatable: false,
    },
    Rule {
        tag: "drunk",
        keywords: &[
            "醉酒",
            "喝醉",
            "酒后",
            "喝多了",
            "醉驾",
            "酒驾",
            "酒气",
            "耍酒疯",
            "醉汉",
            "喝了酒",
            "烂醉",
        ],
        exclude: &[],
        negatable: true,
    },
];

/// Negation words that cancel a negatable keyword when they occur within the
/// few characters before it ("没有人受伤", "未携带刀具", "无人员受伤").
const NEGATIONS: &[&str] = &["没有", "没", "无", "未", "并非", "不是", "不曾"];
/// How many characters before a keyword are searched for a negation.
const NEG_WINDOW: usize = 4;

fn is_ascii_digit_at(s: &str, byte: usize, before: bool) -> bool {
    if before {
        s[..byte]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_digit())
    } else {
        s[byte..].chars().next().is_some_and(|c| c.is_ascii_digit())
    }
}

fn negated(text: &str, at: usize) -> bool {
    let head = &text[..at];
    // Window: the last NEG_WINDOW chars before the keyword, stopping at punctuation.
    let mut start = at;
    for (n, (i, c)) in head.char_indices().rev().enumerate() {
        if n >= NEG_WINDOW
            || matches!(
                c,
                '，' | '。' | ',' | '.' | '；' | ';' | '！' | '!' | '？' | '?'
            )
        {
            break;
        }
        start = i;
    }
    let window = &text[start..at];
    NEGATIONS.iter().any(|n| window.contains(n))
}

/// Whether the keyword occurrence `kw` at byte `at` counts for `rule`.
fn accept(rule: &Rule, text: &str, at: usize, kw: &str) -> bool {
    let numeric = kw.bytes().all(|b| b.is_ascii_digit());
    if numeric
        && (is_ascii_digit_at(text, at, true) || is_ascii_digit_at(text, at + kw.len(), false))
    {
        return false;
    }
    // An exclusion phrase covering this occurrence (大学生 ⊃ 学生)?
    let covered = rule.exclude.iter().any(|ex| {
        ex.contains(kw)
            && text
                .match_indices(ex)
                .any(|(s, _)| s <= at && at + kw.len() <= s + ex.len())
    });
    if covered {
        return false;
    }
    !(rule.negatable && negated(text, at))
}

/// Keywords indexed by their first character: `(rule index, keyword)`.
fn keyword_index() -> &'static HashMap<char, Vec<(usize, &'static str)>> {
    static IDX: OnceLock<HashMap<char, Vec<(usize, &'static str)>>> = OnceLock::new();
    IDX.get_or_init(|| {
        let mut m: HashMap<char, Vec<(usize, &'static str)>> = HashMap::new();
        for (ri, r) in RULES.iter().enumerate() {
            for kw in r.keywords {
                if let Some(c) = kw.chars().next() {
                    m.entry(c).or_default().push((ri, kw));
                }
            }
        }
        m
    })
}

/// Which rules of [`RULES`] fire on `text`.
fn fired_rules(text: &str) -> Vec<bool> {
    let idx = keyword_index();
    let mut hit = vec![false; RULES.len()];
    for (at, c) in text.char_indices() {
        let Some(list) = idx.get(&c) else {
            continue;
        };
        for &(ri, kw) in list {
            if !hit[ri] && text[at..].starts_with(kw) && accept(&RULES[ri], text, at, kw) {
                hit[ri] = true;
            }
        }
    }
    hit
}

fn cn_digit(c: char) -> Option<u32> {
    Some(match c {
        '零' | '〇' => 0,
        '一' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

/// Parse a number written in Arabic digits or simple Chinese numerals
/// (七十, 十二, 八十五, 三).
fn parse_num(s: &[char]) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    if s.iter().all(|c| c.is_ascii_digit()) {
        return s.iter().collect::<String>().parse().ok();
    }
    let mut total = 0u32;
    let mut cur: Option<u32> = None;
    for &c in s {
        if c == '十' {
            total += cur.unwrap_or(1) * 10;
            cur = None;
        } else if c == '百' {
            total += cur.unwrap_or(1) * 100;
            cur = None;
        } else {
            cur = Some(cn_digit(c)?);
        }
    }
    Some(total + cur.unwrap_or(0))
}

/// Ages mentioned as "N岁" / "N多岁" / "N来岁" / "N周岁".
pub fn ages(text: &str) -> Vec<u32> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        if c != '岁' {
            continue;
        }
        let mut end = i;
        while end > 0 && matches!(chars[end - 1], '多' | '来' | '周' | '余') {
            end -= 1;
        }
        let mut start = end;
        while start > 0
            && (chars[start - 1].is_ascii_digit()
                || cn_digit(chars[start - 1]).is_some()
                || matches!(chars[start - 1], '十' | '百'))
        {
            start -= 1;
        }
        if let Some(n) = parse_num(&chars[start..end]) {
            if n > 0 && n < 130 {
                out.push(n);
            }
        }
    }
    out
}

/// Tag codes for `text` (in [`TAGS`] order). `local_hour` (0..23, Asia/Shanghai)
/// sets `night` for 22:00–05:59.
pub fn tags(text: &str, local_hour: Option<u32>) -> Vec<String> {
    let ages = if text.contains('岁') {
        ages(text)
    } else {
        Vec::new()
    };
    let hit = fired_rules(text);
    let mut out = Vec::new();
    for (code, _) in TAGS {
        let by_rule = RULES.iter().zip(&hit).any(|(r, &h)| h && r.tag == *code);
        let extra = match *code {
            "elderly" => ages.iter().any(|&a| a >= 60),
            "minor" => ages.iter().any(|&a| a < 18),
            "night" => local_hour.is_some_and(|h| h >= 22 || h <= 5),
            "repeat_caller" => text.contains('第') && has_nth_time(text),
            _ => false,
        };
        if by_rule || extra {
            out.push((*code).to_string());
        }
    }
    out
}

/// "第三次" / "第2次" / "第N回" with N ≥ 2.
fn has_nth_time(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c != '第' {
            continue;
        }
        let mut j = i + 1;
        while j < chars.len()
            && (chars[j].is_ascii_digit()
                || cn_digit(chars[j]).is_some()
                || matches!(chars[j], '十' | '几'))
        {
            j += 1;
        }
        if j > i + 1 && j < chars.len() && matches!(chars[j], '次' | '回' | '趟' | '遍') {
            let n = &chars[i + 1..j];
            if n == ['几'] || parse_num(n).is_some_and(|n| n >= 2) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(text: &str, tag: &str) -> bool {
        tags(text, None).iter().any(|t| t == tag)
    }

    #[test]
    fn injury_negation() {
        assert!(has("两人打架，一人头部受伤流血", "injury"));
        assert!(!has("两车追尾，没有受伤", "injury"));
        assert!(!has("现场无人受伤，车辆损坏", "injury"));
        assert!(!has("双方未受伤", "injury"));
        assert!(!has("人没有受伤，只是车刮了", "injury"));
        assert!(has("没有钱，他被打伤了", "injury"));
    }

    #[test]
    fn numeric_keyword_boundaries() {
        assert!(has("已经打了120", "injury"));
        assert!(!has("欠我1200元", "injury"));
    }

    #[test]
    fn night_by_hour_and_text() {
        assert!(tags("有人吵闹", Some(23)).contains(&"night".to_string()));
        assert!(tags("有人吵闹", Some(3)).contains(&"night".to_string()));
        assert!(tags("有人吵闹", Some(5)).contains(&"night".to_string()));
        assert!(!tags("有人吵闹", Some(6)).contains(&"night".to_string()));
        assert!(!tags("有人吵闹", Some(21)).contains(&"night".to_string()));
        assert!(!tags("有人吵闹", None).contains(&"night".to_string()));
        assert!(has("凌晨两点有人砸门", "night"));
    }

    #[test]
    fn ages_and_people() {
        assert_eq!(ages("一名七十多岁的老人和一个12岁的孩子"), vec![70, 12]);
        assert!(has("一名80多岁的男子走失", "elderly"));
        assert!(has("15岁女孩离家出走", "minor"));
        assert!(!has("三十岁男子", "minor"));
        assert!(!has("一名大学生被骗", "minor"));
        assert!(has("坐轮椅的残疾人", "disabled"));
        assert!(has("疑似精神障碍人员在街上乱砸", "mental"));
    }

    #[test]
    fn other_tags() {
        assert!(has("这是我第三次报警了", "repeat_caller"));
        assert!(!has("第一次来这里", "repeat_caller"));
        assert!(has("楼上又在吵", "repeat_caller"));
        assert!(has("对方持刀威胁", "weapon"));
        assert!(!has("对方没有持刀", "weapon"));
        assert!(has("十几个人围堵厂门口", "group"));
        assert!(has("十几个人围堵厂门口", "enterprise"));
        assert!(has("他扬言要跳楼", "threat_extreme"));
        assert!(has("老公喝醉了打我", "domestic"));
        assert!(has("老公喝醉了打我", "drunk"));
        assert!(!has("老公喝醉了打我", "elderly"));
    }

    #[test]
    fn tags_follow_table_order() {
        let t = tags("凌晨老公喝醉了拿刀砍我，我流血了", None);
        assert_eq!(t, vec!["weapon", "injury", "night", "domestic", "drunk"]);
        for (code, label) in TAGS {
            assert!(!code.is_empty() && !label.is_empty());
        }
    }
}
