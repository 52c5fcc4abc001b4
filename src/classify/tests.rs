//! Integration-style tests of the classifier (share one trained model).

use super::*;

/// Held-out floors: measured values (accuracy 0.824, macro-F1 0.825, group
/// accuracy 0.872 on the 658 hand-written lines) minus 0.05. See
/// data/classify/README.md.
const HELDOUT_ACCURACY_FLOOR: f64 = 0.77;
const HELDOUT_MACRO_F1_FLOOR: f64 = 0.77;
const HELDOUT_GROUP_ACCURACY_FLOOR: f64 = 0.82;

fn clf() -> &'static Classifier {
    Classifier::standard()
}

#[test]
fn corpus_covers_every_learnable_leaf() {
    let tax = Taxonomy::standard();
    let train = train_corpus();
    let held = heldout();
    for leaf in tax.learnable_leaves() {
        let n = train.iter().filter(|e| e.leaf == leaf.id).count();
        assert!(n >= 20, "train: {} has {n} examples", leaf.id);
        let h = held.iter().filter(|e| e.leaf == leaf.id).count();
        assert!(h >= 5, "heldout: {} has {h} examples", leaf.id);
    }
    assert!(train.iter().all(|e| !e.leaf.starts_with("15.")));
    assert_eq!(clf().classes().len(), 92);
}

#[test]
fn heldout_does_not_regress() {
    let ev = clf().evaluate(&heldout());
    assert!(
        ev.accuracy >= HELDOUT_ACCURACY_FLOOR,
        "held-out accuracy {:.3} < floor {HELDOUT_ACCURACY_FLOOR}",
        ev.accuracy
    );
    assert!(
        ev.macro_f1 >= HELDOUT_MACRO_F1_FLOOR,
        "held-out macro-F1 {:.3} < floor {HELDOUT_MACRO_F1_FLOOR}",
        ev.macro_f1
    );
    assert!(
        ev.group_accuracy >= HELDOUT_GROUP_ACCURACY_FLOOR,
        "held-out group accuracy {:.3} < floor {HELDOUT_GROUP_ACCURACY_FLOOR}",
        ev.group_accuracy
    );
    assert_eq!(ev.group_confusion.len(), 15);
    let total: u32 = ev.group_confusion.iter().flatten().sum();
    assert_eq!(total as usize, ev.n);
}

#[test]
fn obvious_texts() {
    let c = clf();
    for (text, leaf) in [
        ("楼上天天半夜蹦迪，吵得睡不着", "02.08"),
        ("我家被小偷撬门进来了，金项链没了", "01.01"),
        ("在工地干了半年活，包工头一分钱没给", "08.01"),
        ("有人被困在电梯里出不来", "04.08"),
    ] {
        let r = c.classify(text, None, None, None);
        assert_eq!(r.leaf_id, leaf, "{text}: {r:?}");
        assert_eq!(r.method, Method::Model);
    }
}

#[test]
fn source_code_beats_model() {
    let c = clf();
    let text = "楼上天天半夜蹦迪，吵得睡不着";
    let r = c.classify(text, Some("110"), Some("100100"), None);
    assert_eq!(r.leaf_id, "01.01");
    assert_eq!(r.method, Method::SourceCode);
    assert_eq!(r.confidence, 1.0);
    assert_eq!(r.lead_department, "派出所(重大：刑侦)");
    // Runners-up still from the model, the noise leaf first.
    assert_eq!(r.runners_up.len(), 2);
    assert_eq!(r.runners_up[0].leaf_id, "02.08");
    let r = c.classify(text, Some("maodiao"), Some("邻里纠纷"), None);
    assert_eq!(
        (r.leaf_id.as_str(), r.method),
        ("07.02", Method::SourceCode)
    );
    let r = c.classify(text, Some("maodiao"), Some("邻里"), None);
    assert_eq!(r.leaf_id, "07.02");
    let r = c.classify("烟雾浓度超标", Some("sensor"), Some("smoke"), None);
    assert_eq!(r.leaf_id, "04.01");
    // Unmapped code → model.
    let r = c.classify(text, Some("12345"), Some("没有这个分类"), None);
    assert_eq!((r.leaf_id.as_str(), r.method), ("02.08", Method::Model));
}

#[test]
fn code_ranges_650100_659900() {
    let c = clf();
    for code in ["650100", "650200", "654321", "659900"] {
        let r = c.classify("请求协助", Some("110"), Some(code), None);
        assert_eq!(r.leaf_id, "14.01", "{code}");
        assert_eq!(r.method, Method::SourceCode);
    }
    assert_eq!(source_code_leaf(Some("110"), "609900"), Some("14.05"));
    assert_eq!(source_code_leaf(Some("110"), "660000"), None);
}

#[test]
fn group_hint_restricts_to_group() {
    let r = clf().classify(
        "两家人为了门口的排水沟吵架",
        Some("grid"),
        Some("矛盾纠纷"),
        None,
    );
    assert_eq!(r.group_id, "07", "{r:?}");
    assert_eq!(r.method, Method::Model);
    assert!(r.confidence > 0.0 && r.confidence <= 1.0);
}

#[test]
fn injury_negation_in_classification() {
    let c = clf();
    let r = c.classify("两车追尾，没有人受伤", None, None, None);
    assert!(!r.tags.contains(&"injury".to_string()), "{:?}", r.tags);
    let r = c.classify("两车追尾，无人受伤", None, None, None);
    assert!(!r.tags.contains(&"injury".to_string()), "{:?}", r.tags);
    let r = c.classify("两车追尾，司机受伤流血", None, None, None);
    assert!(r.tags.contains(&"injury".to_string()), "{:?}", r.tags);
}

#[test]
fn night_tag_by_hour() {
    let c = clf();
    let night = |h| {
        c.classify("楼上很吵", None, None, Some(h))
            .tags
            .contains(&"night".to_string())
    };
    assert!(night(22) && night(23) && night(0) && night(5));
    assert!(!night(6) && !night(12) && !night(21));
}

#[test]
fn runners_up_two_and_distinct() {
    let c = clf();
    for e in heldout().iter().take(60) {
        let r = c.classify(&e.text, None, None, None);
        assert_eq!(r.runners_up.len(), 2);
        assert_ne!(r.runners_up[0].leaf_id, r.runners_up[1].leaf_id);
        assert!(r.runners_up.iter().all(|x| x.leaf_id != r.leaf_id));
        assert!(r.runners_up[0].confidence <= r.confidence + 1e-6);
        assert!(r.runners_up[1].confidence <= r.runners_up[0].confidence);
        assert!((0.0..=1.0).contains(&r.confidence));
    }
}

#[test]
fn group_15_never_predicted() {
    let c = clf();
    assert!(c.classes().iter().all(|l| !l.starts_with("15.")));
    for text in [
        "重复警情预警",
        "电诈预警劝阻",
        "家暴复发预警：同一地址第三次报警",
        "工单超时预警",
    ] {
        let r = c.classify(text, None, None, None);
        assert_ne!(r.group_id, "15", "{text}");
        assert!(r.runners_up.iter().all(|x| !x.leaf_id.starts_with("15.")));
    }
    // Group-15 training examples are ignored.
    let ex = vec![
        Example {
            text: "重复警情".into(),
            leaf: "15.01".into(),
            register: None,
        },
        Example {
            text: "有人打架".into(),
            leaf: "02.01".into(),
            register: None,
        },
        Example {
            text: "家里被偷".into(),
            leaf: "01.01".into(),
            register: None,
        },
    ];
    let small = Classifier::train(&ex);
    assert_eq!(small.classes(), &["01.01", "02.01"]);
    let r = small.classify("重复警情", None, None, None);
    assert!(!r.leaf_id.starts_with("15."));
    assert_eq!(r.runners_up.len(), 2);
}

#[test]
fn training_is_deterministic() {
    let sub: Vec<Example> = train_corpus().into_iter().step_by(23).collect();
    let a = Classifier::train(&sub);
    let b = Classifier::train(&sub);
    assert!(a == b, "two trainings differ");
    let t = "我借给朋友五万块钱，一直不还";
    assert_eq!(
        a.classify(t, None, None, Some(3)),
        b.classify(t, None, None, Some(3))
    );
}

#[test]
fn serde_round_trip() {
    let r = clf().classify("有人在河里电鱼", Some("12345"), Some("林业"), Some(23));
    let s = serde_json::to_string(&r).unwrap();
    assert!(s.contains("\"method\":\"source_code\""), "{s}");
    let back: Classification = serde_json::from_str(&s).unwrap();
    assert_eq!(back, r);
}

#[test]
fn load_jsonl_errors() {
    assert!(matches!(
        load_jsonl("{bad"),
        Err(ClassifyError::Json { line: 1, .. })
    ));
    let e = load_jsonl("\n{\"text\":\"x\",\"leaf\":\"99.01\"}");
    assert!(matches!(e, Err(ClassifyError::UnknownLeaf { line: 2, .. })));
    let ok = load_jsonl("{\"text\":\"x\",\"leaf\":\"01.01\"}\n\n").unwrap();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].register, None);
}
