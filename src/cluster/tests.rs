use super::*;
use chrono::TimeZone;
use rand::{seq::SliceRandom, Rng, SeedableRng};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 20, 0, 0).unwrap()
}

/// A call `mins` after t0, `east_m`/`north_m` from a point in 东城街道.
fn call(id: i64, mins: i64, east_m: f64, north_m: f64, leaf: &str, text: &str) -> Call {
    let lat = 28.6473 + north_m / 111_195.0;
    let lon = 121.27106 + east_m / (111_195.0 * 28.6473_f64.to_radians().cos());
    Call {
        id,
        reported_at: t0() + chrono::Duration::minutes(mins),
        position: Some(Position::new(lon, lat).unwrap()),
        leaf_id: Some(leaf.into()),
        source: "110".into(),
        caller: None,
        entities: vec![],
        text: text.into(),
    }
}

fn clusterer() -> Clusterer {
    Clusterer::new(ClusterConfig::default())
}

#[test]
fn neighbours_calling_about_one_party_join_and_the_far_or_late_ones_do_not() {
    let mut c = clusterer();
    let (a, d) = c.apply(&call(1, 0, 0.0, 0.0, "02.08", "楼上KTV唱歌太吵"));
    assert_eq!(a, 1);
    assert_eq!(d.memberships[0].reason, Reason::Opened);
    // 150 m away, 40 min later, other words
    let (b, d) = c.apply(&call(2, 40, 150.0, 0.0, "02.08", "隔壁音响声音很大睡不着"));
    assert_eq!(b, 1);
    assert_eq!(d.memberships[0].reason, Reason::Nearby);
    assert_eq!(d.memberships[0].matched, Some(1));
    let m = d.memberships[0].distance_m.unwrap();
    assert!((m - 150.0).abs() < 2.0, "{m}");
    assert_eq!(d.clusters[0].members, 2);
    // 2 km away: another party
    assert_eq!(c.apply(&call(3, 50, 2_000.0, 0.0, "02.08", "吵")).0, 3);
    // the same place, 5 hours after the last call: the first party is over
    assert_eq!(c.apply(&call(4, 40 + 300, 0.0, 0.0, "02.08", "又吵")).0, 4);
    let s = c.summary(1).unwrap();
    assert_eq!(s.members, 2);
    assert_eq!(s.family, "noise");
    assert_eq!(s.closes_at, t0() + chrono::Duration::minutes(40 + 180));
}

#[test]
fn different_kinds_at_the_same_door_in_the_same_hour_stay_apart() {
    let mut c = clusterer();
    c.apply(&call(1, 0, 0.0, 0.0, "02.08", "楼上噪音扰民"));
    // a fight (crime_order) and a fall (help): other families
    assert_eq!(c.apply(&call(2, 5, 10.0, 0.0, "02.01", "有人打架")).0, 2);
    assert_eq!(c.apply(&call(3, 6, 10.0, 0.0, "05.03", "老人摔倒了")).0, 3);
    // the same family, another leaf, unrelated text: apart as well
    assert_eq!(c.apply(&call(4, 7, 10.0, 0.0, "02.04", "车窗被砸")).0, 4);
    assert_eq!(
        c.apply(&call(5, 8, 20.0, 0.0, "02.01", "打架了有人受伤")).0,
        2
    );
    // another leaf of the family with a similar text joins
    assert_eq!(
        c.apply(&call(6, 9, 20.0, 0.0, "02.03", "有人打架了有人受伤"))
            .0,
        2
    );
}

#[test]
fn noise_calls_of_any_noise_leaf_and_wording_at_one_place_and_hour_are_one_event() {
    let mut c = clusterer();
    c.apply(&call(
        1,
        0,
        0.0,
        0.0,
        "10.04",
        "楼下KTV唱歌声音太大了，吵得睡不着觉",
    ));
    assert_eq!(
        c.apply(&call(2, 5, 60.0, 30.0, "02.08", "半夜还在放音乐"))
            .0,
        1
    );
    assert_eq!(
        c.apply(&call(3, 9, -30.0, 50.0, "10.03", "隔壁太吵了影响休息"))
            .0,
        1
    );
    // a fight at the same door stays apart (another family)
    assert_eq!(c.apply(&call(4, 10, 10.0, 0.0, "02.01", "有人打架")).0, 4);
}

#[test]
fn a_traffic_accident_repeats_for_an_hour_within_a_few_hundred_metres() {
    let mut c = clusterer();
    c.apply(&call(1, 0, 0.0, 0.0, "03.01", "两车相撞"));
    assert_eq!(c.apply(&call(2, 20, 250.0, 0.0, "03.01", "路口车祸")).0, 1);
    assert_eq!(c.apply(&call(3, 25, 700.0, 0.0, "03.01", "车祸")).0, 3);
    // 70 minutes after the last call of cluster 1
    assert_eq!(c.apply(&call(4, 90, 0.0, 0.0, "03.01", "车祸")).0, 4);
}

#[test]
fn the_same_caller_links_further_apart_and_unlocated_calls() {
    let mut c = clusterer();
    let mut a = call(1, 0, 0.0, 0.0, "07.02", "邻居占用楼道堆放杂物");
    a.caller = Some("h:caller".into());
    c.apply(&a);
    // 1.5 km away (the caller called from work), two days later
    let mut b = call(2, 60 * 48, 1_500.0, 0.0, "07.02", "又来反映邻居问题");
    b.caller = Some("h:caller".into());
    let (k, d) = c.apply(&b);
    assert_eq!(k, 1);
    assert_eq!(d.memberships[0].reason, Reason::SameCaller);
    // unlocated, same caller
    let mut u = call(3, 60 * 50, 0.0, 0.0, "07.02", "楼道杂物");
    u.position = None;
    u.caller = Some("h:caller".into());
    assert_eq!(c.apply(&u).0, 1);
    // unlocated, no caller: alone
    let mut v = u.clone();
    v.id = 4;
    v.caller = None;
    assert_eq!(c.apply(&v).0, 4);
    let s = c.summary(1).unwrap();
    assert_eq!((s.members, s.located, s.callers), (3, 2, 1));
}

#[test]
fn a_wage_dispute_about_one_company_repeats_across_days_and_kilometres() {
    let mut c = clusterer();
    let mut a = call(1, 0, 0.0, 0.0, "08.01", "某某模具有限公司拖欠工资");
    a.entities = vec!["e:company".into()];
    c.apply(&a);
    let mut b = call(2, 60 * 24 * 9, 8_000.0, 3_000.0, "08.02", "工资一直没发");
    b.entities = vec!["e:company".into(), "e:addr".into()];
    let (k, d) = c.apply(&b);
    assert_eq!(k, 1);
    assert_eq!(d.memberships[0].reason, Reason::SameEntity);
    // same company but a noise complaint: another family
    let mut n = call(3, 60 * 24 * 9, 0.0, 0.0, "10.04", "工厂噪音");
    n.entities = vec!["e:company".into()];
    assert_eq!(c.apply(&n).0, 3);
    // 40 days later: beyond the entity gap
    let mut late = call(4, 60 * 24 * 50, 0.0, 0.0, "08.01", "拖欠工资");
    late.entities = vec!["e:company".into()];
    assert_eq!(c.apply(&late).0, 4);
}

#[test]
fn a_chronic_nuisance_at_one_address_repeats_for_weeks_but_kinds_stay_apart() {
    let mut c = clusterer();
    let at = |id, days: i64, east: f64, leaf: &str, text: &str| {
        let mut x = call(id, 60 * 24 * days, east, 0.0, leaf, text);
        x.entities = vec!["e:addr:a".into()];
        x
    };
    c.apply(&at(1, 0, 0.0, "10.01", "店门口占道经营"));
    // the same address and leaf, 12 days later, geocoded 400 m off: the same matter
    let (k, d) = c.apply(&at(2, 12, 400.0, "10.01", "又在门口摆摊"));
    assert_eq!(k, 1);
    assert_eq!(d.memberships[0].reason, Reason::SameEntity);
    // the same address, another leaf of the family (a lamp out): another matter
    assert_eq!(c.apply(&at(3, 12, 0.0, "10.05", "路灯坏了")).0, 3);
}

#[test]
fn a_petition_about_a_company_joins_its_wage_dispute_but_not_other_kinds() {
    let mut c = clusterer();
    let mut a = call(1, 0, 0.0, 0.0, "08.01", "某某模具有限公司拖欠工资三个月");
    a.entities = vec!["e:company".into()];
    c.apply(&a);
    // a 信访 letter (petition leaf), registered at the petition office 6 km away, a week later
    let mut p = call(
        2,
        60 * 24 * 7,
        6_000.0,
        0.0,
        "12.04",
        "反映某某模具有限公司欠薪问题",
    );
    p.entities = vec!["e:company".into()];
    let (k, d) = c.apply(&p);
    assert_eq!(k, 1);
    assert_eq!(d.memberships[0].reason, Reason::SameEntity);
    // the same company's noise (a family that does not link by entities): apart
    let mut n = call(
        3,
        60 * 24 * 7,
        0.0,
        0.0,
        "10.04",
        "某某模具有限公司夜间噪音",
    );
    n.entities = vec!["e:company".into()];
    assert_eq!(c.apply(&n).0, 3);
    // a petition without the entity does not reach across families
    let q = call(4, 60 * 24 * 7, 0.0, 0.0, "12.04", "反映欠薪问题");
    assert_eq!(c.apply(&q).0, 4);
}

#[test]
fn a_missing_person_is_one_event_while_the_family_searches_kilometres_apart() {
    let mut c = clusterer();
    c.apply(&call(1, 0, 0.0, 0.0, "05.01", "我家老人走失了"));
    assert_eq!(
        c.apply(&call(
            2,
            90,
            2_500.0,
            800.0,
            "05.01",
            "还没找到，在河边这边找"
        ))
        .0,
        1
    );
    // a lock-out (another kind of help) next door stays apart
    assert_eq!(
        c.apply(&call(3, 95, 10.0, 0.0, "05.06", "钥匙锁在家里了"))
            .0,
        3
    );
}

#[test]
fn a_call_too_late_to_stay_in_memory_still_names_its_cluster_in_the_delta() {
    let mut c = clusterer();
    c.apply(&call(1, 60 * 24 * 10, 0.0, 0.0, "02.08", "太吵了"));
    // ten days older than the newest call: opened, stored, let go at once
    let (k, d) = c.apply(&call(2, 0, 5_000.0, 0.0, "02.08", "很吵"));
    assert_eq!(k, 2);
    assert_eq!(d.memberships[0].cluster_id, 2);
    assert!(
        d.clusters.iter().any(|s| s.id == 2),
        "the cluster row the membership needs"
    );
    assert!(c.summary(2).is_none(), "let go from memory");
}

#[test]
fn a_late_call_between_two_clusters_merges_them_with_history() {
    let mut c = clusterer();
    c.apply(&call(1, 0, 0.0, 0.0, "03.01", "两车相撞"));
    c.apply(&call(2, 10, 500.0, 0.0, "03.01", "车祸"));
    assert_ne!(c.cluster_of(1), c.cluster_of(2));
    // arrives last, happened in between, 250 m from both
    let (k, d) = c.apply(&call(3, 5, 250.0, 0.0, "03.01", "车祸"));
    assert_eq!(k, 1, "the older cluster survives");
    assert_eq!(c.cluster_of(2), Some(1));
    assert_eq!(d.moved, vec![(2, 1)]);
    let kinds: Vec<(i64, LinkKind, i64)> = d
        .links
        .iter()
        .map(|l| (l.cluster_id, l.kind, l.other_id))
        .collect();
    assert_eq!(
        kinds,
        vec![(1, LinkKind::Replacing, 2), (2, LinkKind::Replaced, 1)]
    );
    assert!(d
        .links
        .iter()
        .all(|l| l.incident_id == Some(3) && !l.manual));
    let gone = d.clusters.iter().find(|s| s.id == 2).unwrap();
    assert_eq!(gone.replaced_by, Some(1));
    let kept = d.clusters.iter().find(|s| s.id == 1).unwrap();
    assert_eq!(kept.members, 3);
    assert!(c.summary(2).is_none());
    let [w, _, e, _] = kept.bbox.unwrap();
    assert!(e > w);
    // a commander acting on the merged-away id hears where its calls went
    assert_eq!(c.merge(2, &[1]), Err(ActionError::Replaced(2, 1)));
    assert_eq!(
        c.split(2, &[2]).map(|_| ()),
        Err(ActionError::Replaced(2, 1))
    );
    assert_eq!(c.merge(99, &[1]), Err(ActionError::UnknownCluster(99)));
}

/// Canonical partition: each cluster as its sorted member ids.
fn partition(c: &Clusterer, ids: &[i64]) -> Vec<Vec<i64>> {
    let mut by: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for id in ids {
        by.entry(c.cluster_of(*id).unwrap()).or_default().push(*id);
    }
    let mut v: Vec<Vec<i64>> = by.into_values().collect();
    for m in &mut v {
        m.sort_unstable();
    }
    v.sort();
    v
}

fn random_calls(rng: &mut rand::rngs::SmallRng, n: usize) -> Vec<Call> {
    let leaves = ["02.08", "03.01", "07.02", "08.01", "02.01", "10.04"];
    let words = ["太吵了", "车祸", "邻居纠纷", "拖欠工资", "打架", "工厂噪音"];
    (0..n)
        .map(|i| {
            let k = rng.gen_range(0..leaves.len());
            let mut c = call(
                i as i64 + 1,
                rng.gen_range(0..60 * 20),
                rng.gen_range(-1_500.0..1_500.0),
                rng.gen_range(-1_500.0..1_500.0),
                leaves[k],
                words[k],
            );
            if rng.gen_bool(0.3) {
                c.caller = Some(format!("caller-{}", rng.gen_range(0..15)));
            }
            if rng.gen_bool(0.2) {
                c.entities = vec![format!("ent-{}", rng.gen_range(0..6))];
            }
            if rng.gen_bool(0.1) {
                c.position = None;
            }
            c
        })
        .collect()
}

#[test]
fn the_partition_does_not_depend_on_arrival_order() {
    for seed in 0..12 {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let calls = random_calls(&mut rng, 300);
        let ids: Vec<i64> = calls.iter().map(|c| c.id).collect();
        // in event-time order (a replay) …
        let mut sorted = calls.clone();
        sorted.sort_by_key(|c| (c.reported_at, c.id));
        let mut a = clusterer();
        for x in &sorted {
            a.apply(x);
        }
        let want = partition(&a, &ids);
        assert!(
            want.len() < 300 && want.len() > 20,
            "seed {seed}: {} clusters",
            want.len()
        );
        // … shuffled (late batches) …
        for round in 0..3 {
            let mut shuffled = calls.clone();
            shuffled.shuffle(&mut rng);
            let mut b = clusterer();
            for x in &shuffled {
                b.apply(x);
            }
            assert_eq!(partition(&b, &ids), want, "seed {seed} round {round}");
        }
        // … and equal to the connected components of the link graph by brute force
        let mut probe = clusterer();
        let entries: Vec<Entry> = calls.iter().map(|c| probe.make_entry(c, c.id)).collect();
        let mut parent: Vec<usize> = (0..calls.len()).collect();
        fn find(p: &mut Vec<usize>, x: usize) -> usize {
            if p[x] != x {
                let r = find(p, p[x]);
                p[x] = r;
            }
            p[x]
        }
        for i in 0..calls.len() {
            for j in (i + 1)..calls.len() {
                if probe.link(&entries[i], &entries[j]).is_some() {
                    let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                    parent[ri] = rj;
                }
            }
        }
        let mut by: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
        for (i, c) in calls.iter().enumerate() {
            let r = find(&mut parent, i);
            by.entry(r).or_default().push(c.id);
        }
        let mut brute: Vec<Vec<i64>> = by.into_values().collect();
        for m in &mut brute {
            m.sort_unstable();
        }
        brute.sort();
        assert_eq!(brute, want, "seed {seed}: online ≠ connected components");
        // member counts add up
        let total: u32 = a.summaries(None, 1, false).iter().map(|s| s.members).sum();
        assert_eq!(total, 300);
    }
}

#[test]
fn a_split_by_hand_stays_apart_and_a_merge_by_hand_joins() {
    let mut c = clusterer();
    for (i, m) in [(1, 0), (2, 10), (3, 20), (4, 30)] {
        c.apply(&call(i, m, (i as f64) * 50.0, 0.0, "02.08", "太吵了"));
    }
    assert_eq!(c.summary(1).unwrap().members, 4);
    let (new_id, d) = c.split(1, &[3, 4]).unwrap();
    assert_eq!(new_id, 3);
    assert_eq!(d.reassigned, vec![(3, 3), (4, 3)]);
    assert_eq!(c.summary(1).unwrap().members, 2);
    assert_eq!(c.summary(3).unwrap().members, 2);
    assert!(c.summary(3).unwrap().manual);
    let kinds: Vec<LinkKind> = d.links.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds,
        vec![LinkKind::Split, LinkKind::Parent, LinkKind::Child]
    );
    // a call near both parts joins the older one and does not re-merge
    let (k, d) = c.apply(&call(5, 35, 125.0, 0.0, "02.08", "太吵了"));
    assert_eq!(k, 1);
    assert!(d.moved.is_empty());
    assert_eq!(c.cluster_of(3), Some(3));
    // refusals
    assert_eq!(c.split(1, &[3]), Err(ActionError::NotMember(3, 1)));
    assert!(matches!(
        c.split(1, &[1, 2, 5]),
        Err(ActionError::Invalid(_))
    ));
    assert_eq!(c.merge(1, &[99]), Err(ActionError::UnknownCluster(99)));
    // the commander changes their mind
    let d = c.merge(1, &[3]).unwrap();
    assert_eq!(d.moved, vec![(3, 1)]);
    assert_eq!(c.summary(1).unwrap().members, 5);
    assert!(c.summary(1).unwrap().apart_from.is_empty());
    assert_eq!(c.cluster_of(4), Some(1));
    // splitting off the cluster's own opening call names the part by the
    // next listed call: the cluster is not overwritten by itself
    let (new_id, _) = c.split(1, &[1, 2]).unwrap();
    assert_eq!(new_id, 2);
    assert_eq!(c.summary(1).unwrap().members, 3);
    assert_eq!(c.summary(2).unwrap().members, 2);
    assert_eq!((c.cluster_of(1), c.cluster_of(3)), (Some(2), Some(1)));
    // every listed call already names a cluster: refused, nothing changes
    assert!(matches!(c.split(2, &[1]), Err(ActionError::Invalid(_))));
    assert_eq!(c.summary(2).unwrap().members, 2);
}

#[test]
fn restored_clusters_take_new_calls_and_old_calls_are_let_go() {
    let mut c = clusterer();
    c.apply(&call(1, 0, 0.0, 0.0, "02.08", "太吵了"));
    c.apply(&call(2, 10, 50.0, 0.0, "02.08", "太吵了"));
    let s = c.summary(1).unwrap().clone();
    // a new process: restore from what was stored
    let mut r = clusterer();
    r.restore_cluster(s.clone());
    assert!(r.restore_member(&call(1, 0, 0.0, 0.0, "02.08", "太吵了"), 1));
    assert!(r.restore_member(&call(2, 10, 50.0, 0.0, "02.08", "太吵了"), 1));
    assert!(!r.restore_member(&call(9, 10, 50.0, 0.0, "02.08", "x"), 77));
    r.finish_restore();
    assert_eq!(r.summary(1), Some(&s));
    let (k, d) = r.apply(&call(3, 20, 0.0, 50.0, "02.08", "太吵了"));
    assert_eq!(k, 1);
    assert_eq!(d.clusters[0].members, 3);
    assert_eq!(d.clusters[0].version, s.version + 1);
    // two days + lateness later everything of that evening is let go
    r.apply(&call(4, 60 * 24 * 3, 5_000.0, 0.0, "03.01", "车祸"));
    assert_eq!(r.cluster_of(1), None);
    assert!(r.summary(1).is_none());
    assert_eq!(r.len(), 1);
}

#[test]
fn extent_is_the_hull_of_the_members() {
    let mut c = clusterer();
    c.apply(&call(1, 0, 0.0, 0.0, "02.08", "太吵了"));
    c.apply(&call(2, 1, 100.0, 0.0, "02.08", "太吵了"));
    c.apply(&call(3, 2, 50.0, 100.0, "02.08", "太吵了"));
    let ring = c.extent(1).unwrap();
    assert_eq!(ring.len(), 4, "{ring:?}");
    assert_eq!(ring.first(), ring.last());
}

#[test]
fn merge_chains_stay_resolvable_through_evictions_and_compaction() {
    // few calls kept, many merges: the union-find chains are compacted and
    // every call in memory still names a live cluster that lists it
    let mut c = Clusterer::new(ClusterConfig {
        max_calls: 300,
        ..ClusterConfig::default()
    });
    let mut id = 0;
    for round in 0..400_i64 {
        // two crashes 500 m apart, then the call between them (merges them)
        let base = round * 3_000.0 as i64;
        for (mins, east) in [(0, 0.0), (1, 500.0), (2, 250.0)] {
            id += 1;
            let x = call(
                id,
                round * 90 + mins,
                base as f64 + east,
                0.0,
                "03.01",
                "车祸",
            );
            c.apply(&x);
        }
        assert_eq!(c.cluster_of(id), c.cluster_of(id - 2), "round {round}");
        assert_eq!(c.cluster_of(id - 1), c.cluster_of(id - 2), "round {round}");
    }
    assert!(c.len() <= 300);
    for (inc, e) in &c.entries {
        let k = c.cluster_of(*inc).unwrap();
        let cl = c
            .clusters
            .get(&k)
            .unwrap_or_else(|| panic!("{inc} → {k} unknown"));
        assert!(cl.live.contains(inc), "{inc} not listed by {k}");
        assert_eq!(c.root(e.cluster), k);
    }
    assert!(c.parent.len() <= c.entries.len() + COMPACT_SLACK);
}

#[test]
fn links_do_not_depend_on_where_the_first_call_put_the_projection() {
    // a stray first fix on the equator, then calls at 60° N: east–west
    // metres are half the planar units there
    let mut c = clusterer();
    let mut stray = call(1, 0, 0.0, 0.0, "02.08", "吵");
    stray.position = Some(Position::new(0.0, 0.0).unwrap());
    c.apply(&stray);
    let at = |id, mins, east_m: f64| {
        let mut x = call(id, mins, 0.0, 0.0, "02.08", "吵");
        let lon = 10.0 + east_m / (111_195.0 * 60.0_f64.to_radians().cos());
        x.position = Some(Position::new(lon, 60.0).unwrap());
        x
    };
    c.apply(&at(2, 1, 0.0));
    // 190 m east (noise radius 200 m): one event, whatever the origin
    assert_eq!(c.apply(&at(3, 2, 190.0)).0, 2);
    assert_eq!(c.apply(&at(4, 3, 380.0)).0, 2, "chained through call 3");
    assert_eq!(c.apply(&at(5, 4, 900.0)).0, 5, "too far from every call");
}
