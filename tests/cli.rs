//! The `lianqin` binary itself, against real PostGIS: `migrate`, `import`
//! of the shipped geodata, a user's own grid file, and refusal of a bad file
//! that must leave the stored layer untouched.

use std::path::PathBuf;
use std::process::{Command, Output};

use sqlx::{Connection, PgConnection};

fn admin_url() -> String {
    std::env::var("LIANQIN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn with_db(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("URL has a database part");
    format!("{base}/{db}")
}

struct TempDb {
    name: String,
    url: String,
}

impl TempDb {
    async fn new() -> Self {
        let name = format!("lianqin_test_cli_{:x}", rand::random::<u64>());
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .expect("admin connection");
        sqlx::query(&format!("create database {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        Self {
            url: with_db(&admin_url(), &name),
            name,
        }
    }

    async fn drop_db(self) {
        let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
        let _ = sqlx::query(&format!(
            "drop database if exists {} with (force)",
            self.name
        ))
        .execute(&mut admin)
        .await;
    }

    async fn grid_codes(&self) -> Vec<String> {
        let mut c = PgConnection::connect(&self.url).await.unwrap();
        sqlx::query_scalar("select code from grid order by code")
            .fetch_all(&mut c)
            .await
            .unwrap()
    }
}

fn lianqin(db: &TempDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lianqin"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .env_remove("LIANQIN_CONFIG")
        .output()
        .expect("run lianqin")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn tmp_file(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lianqin-cli-{:x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

const GEODATA: [&str; 5] = [
    "geodata/boundary.geojson",
    "geodata/townships.geojson",
    "geodata/grids.geojson",
    "geodata/stations.geojson",
    "geodata/posts.geojson",
];

#[tokio::test]
async fn migrate_import_and_user_grid_file() {
    let db = TempDb::new().await;
    let out = lianqin(&db, &["migrate"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("PostGIS"));

    let mut args = vec!["import"];
    args.extend(GEODATA);
    let out = lianqin(&db, &args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("imported 348 grids"), "{}", text(&out));
    assert_eq!(db.grid_codes().await.len(), 348);

    // Importing again replaces, not duplicates.
    let out = lianqin(&db, &args);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(db.grid_codes().await.len(), 348);

    // A user's own grid file: two grids without township_code, inside 西城街道;
    // the importer derives the township from geometry.
    let own = serde_json::json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "MY-1", "name": "自有网格一", "households": 320},
         "geometry": {"type": "Polygon", "coordinates": [[[121.250, 28.640], [121.255, 28.640], [121.255, 28.645], [121.250, 28.645], [121.250, 28.640]]]}},
        {"type": "Feature", "properties": {"code": "MY-2", "name": "自有网格二"},
         "geometry": {"type": "Polygon", "coordinates": [[[121.255, 28.640], [121.260, 28.640], [121.260, 28.645], [121.255, 28.645], [121.255, 28.640]]]}}
    ]});
    let path = tmp_file("my-grids.geojson", &own.to_string());
    let out = lianqin(&db, &["import", "--layer", "grids", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(db.grid_codes().await, vec!["MY-1", "MY-2"]);
    let mut c = PgConnection::connect(&db.url).await.unwrap();
    let (tc, households): (Option<String>, Option<i64>) = sqlx::query_as(
        "select township_code, (props->>'households')::bigint from grid where code = 'MY-1'",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert!(tc.is_some(), "township derived from geometry");
    assert_eq!(households, Some(320), "extra properties are kept");
    db.drop_db().await;
}

#[tokio::test]
async fn a_bad_grid_file_is_refused_and_nothing_stored_is_lost() {
    let db = TempDb::new().await;
    let mut args = vec!["import"];
    args.extend(GEODATA);
    let out = lianqin(&db, &args);
    assert!(out.status.success(), "{}", text(&out));
    let before = db.grid_codes().await;
    assert_eq!(before.len(), 348);

    // feature 1 is a self-intersecting "bow tie"
    let bad = serde_json::json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "OK-1", "name": "好网格"},
         "geometry": {"type": "Polygon", "coordinates": [[[121.25, 28.64], [121.26, 28.64], [121.26, 28.65], [121.25, 28.65], [121.25, 28.64]]]}},
        {"type": "Feature", "properties": {"code": "BOWTIE", "name": "坏网格"},
         "geometry": {"type": "Polygon", "coordinates": [[[121.25, 28.64], [121.26, 28.65], [121.26, 28.64], [121.25, 28.65], [121.25, 28.64]]]}}
    ]});
    let path = tmp_file("grids.geojson", &bad.to_string());
    let out = lianqin(&db, &["import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(
        msg.contains("feature 1") && msg.contains("BOWTIE") && msg.contains("invalid"),
        "{msg}"
    );
    assert_eq!(
        db.grid_codes().await,
        before,
        "the stored grids are untouched"
    );

    // not a FeatureCollection; unknown layer name; bad --layer
    let path = tmp_file(
        "grids.geojson",
        r#"{"type":"Point","coordinates":[121,28]}"#,
    );
    let out = lianqin(&db, &["import", path.to_str().unwrap()]);
    assert!(
        !out.status.success() && text(&out).contains("FeatureCollection"),
        "{}",
        text(&out)
    );
    let path = tmp_file("mystery.geojson", "{}");
    let out = lianqin(&db, &["import", path.to_str().unwrap()]);
    assert!(
        !out.status.success() && text(&out).contains("--layer"),
        "{}",
        text(&out)
    );
    let out = lianqin(&db, &["import", "--layer", "roads", path.to_str().unwrap()]);
    assert!(
        !out.status.success() && text(&out).contains("roads"),
        "{}",
        text(&out)
    );
    assert_eq!(db.grid_codes().await, before);
    db.drop_db().await;
}

#[tokio::test]
async fn migrate_reports_an_unreachable_database_clearly() {
    let db = TempDb {
        name: "unused".into(),
        url: "postgres://postgres@127.0.0.1:1/nowhere".into(),
    };
    let out = lianqin(&db, &["migrate"]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(
        msg.contains("cannot connect to PostgreSQL at 127.0.0.1:1/nowhere"),
        "{msg}"
    );
}

#[tokio::test]
async fn roster_csv_import_reports_bad_rows_and_stores_good_ones() {
    let db = TempDb::new().await;
    let out = lianqin(&db, &["import", "--responders", "docs/samples/roster.csv"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("8 rows accepted (8 new, 0 updated), 0 rejected"),
        "{}",
        text(&out)
    );
    // the same file again updates, a bad file names line, field and reason
    let out = lianqin(&db, &["import", "--responders", "docs/samples/roster.csv"]);
    assert!(text(&out).contains("(0 new, 8 updated)"), "{}", text(&out));
    let bad = tmp_file(
        "roster.csv",
        "id,name,type,phone,skills\nX-1,甲,police,13812345678,driving;first_aid\nX-2,乙,tank,,\nX-1,丙,grid,,\n",
    );
    let out = lianqin(&db, &["import", "--responders", bad.to_str().unwrap()]);
    assert!(
        !out.status.success(),
        "a file with refused rows exits non-zero"
    );
    let t = text(&out);
    assert!(t.contains("1 rows accepted"), "{t}");
    assert!(t.contains("line 3: type: unknown type \"tank\""), "{t}");
    assert!(
        t.contains("line 4: id: duplicate id \"X-1\" (first on line 2)"),
        "{t}"
    );
    let mut c = PgConnection::connect(&db.url).await.unwrap();
    let (n, phone, skills): (i64, Option<String>, Vec<String>) = sqlx::query_as(
        "select (select count(*) from responder), phone_masked, skills from responder where id = 'X-1'",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(n, 9);
    assert_eq!(phone.as_deref(), Some("138****5678"));
    assert_eq!(skills, vec!["driving", "first_aid"]);
    let clear: i64 =
        sqlx::query_scalar("select count(*) from responder r where r::text like '%13812345678%'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(clear, 0, "the clear phone number is stored nowhere");
    // a bad header refuses the whole file
    let hdr = tmp_file("roster.csv", "id,name,colour\nY,z,red\n");
    let out = lianqin(&db, &["import", "--responders", hdr.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown column \"colour\""),
        "{}",
        text(&out)
    );
    drop(c);
    db.drop_db().await;
}

/// A police.uk street-level file: `n` records at each (lon, lat).
fn police_csv(points: &[(f64, f64, usize)]) -> String {
    let mut s = String::from("Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,Last outcome category,Context\n");
    for (lon, lat, n) in points {
        for _ in 0..*n {
            s.push_str(&format!(
                ",2016-07,WYP,WYP,{lon},{lat},On or near X,E0,X 001,Burglary,,\n"
            ));
        }
    }
    s.push_str(",2016-07,WYP,WYP,,,No Location,,,Burglary,,\n");
    s
}

#[test]
fn forecast_writes_one_scored_row_per_cell_and_ranks_the_busy_place_first() {
    // a 4 km square with a hot place (30 records), a warm one (5) and corners
    let pts = [
        (-1.55, 53.80, 30),
        (-1.53, 53.80, 5),
        (-1.58, 53.78, 1),
        (-1.52, 53.78, 1),
        (-1.58, 53.82, 1),
        (-1.52, 53.82, 1),
    ];
    let train = tmp_file("train.csv", &police_csv(&pts));
    let out = train.with_file_name("scores.csv");
    let o = Command::new(env!("CARGO_BIN_EXE_lianqin"))
        .args([
            "forecast",
            "--train",
            train.to_str().unwrap(),
            "--cell-m",
            "250",
            "--out",
            out.to_str().unwrap(),
        ])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("skipped 1 (no coordinates 1"),
        "{}",
        text(&o)
    );
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("cell_id,lon,lat,score"));
    let rows: Vec<(String, f64, f64, f64)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 4, "{l}");
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect();
    // the hull of the points is ≈ 4 km × 4.4 km: hundreds of 250 m cells, every one scored
    assert!(rows.len() > 200, "{} rows", rows.len());
    let best = rows.iter().max_by(|a, b| a.3.total_cmp(&b.3)).unwrap();
    assert!(
        (best.1 + 1.55).abs() < 0.003 && (best.2 - 53.80).abs() < 0.002,
        "best cell {best:?}"
    );
    let warm = rows
        .iter()
        .filter(|r| (r.1 + 1.53).abs() < 0.003 && (r.2 - 53.80).abs() < 0.002)
        .map(|r| r.3)
        .fold(f64::MIN, f64::max);
    let empty_far = rows
        .iter()
        .filter(|r| (r.1 + 1.55).abs() > 0.02 || (r.2 - 53.80).abs() > 0.015)
        .map(|r| r.3)
        .fold(f64::MIN, f64::max);
    assert!(
        best.3 > warm && warm > empty_far,
        "hot {} > warm {warm} > far {empty_far}",
        best.3
    );
    // gzip works the same, and --test prints the PAI / PEI* table
    let gz = train.with_file_name("train.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, police_csv(&pts).as_bytes()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_lianqin"))
        .args([
            "forecast",
            "--train",
            gz.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--test",
            train.to_str().unwrap(),
        ])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("| naive |") && t.contains("| eb |") && t.contains("| kde |"),
        "{t}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_lianqin"))
        .args([
            "forecast",
            "--train",
            gz.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--model",
            "magic",
        ])
        .output()
        .unwrap();
    assert!(
        !bad.status.success() && text(&bad).contains("--model"),
        "{}",
        text(&bad)
    );
}

#[tokio::test]
async fn ingest_a_source_file_with_progress_summary_and_replay() {
    let db = TempDb::new().await;
    let key = std::env::temp_dir().join(format!("lianqin-cli-key-{:x}", rand::random::<u64>()));
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lianqin"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DATABASE_URL", &db.url)
            .env("LIANQIN_KEY_FILE", &key)
            .env("RUST_LOG", "warn")
            .env_remove("LIANQIN_CONFIG")
            .output()
            .expect("run lianqin")
    };
    let out = run(&["import"]
        .iter()
        .chain(GEODATA.iter())
        .copied()
        .collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out));
    let rows = std::fs::read_to_string("docs/samples/12345.csv")
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
        - 1;
    let out = run(&["ingest", "--source", "12345热线", "docs/samples/12345.csv"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains(&format!(
            "{rows} records accepted ({rows} new, 0 already stored"
        )),
        "{t}"
    );
    assert!(
        t.contains(&format!("ingesting: {rows}/{rows} records")),
        "progress: {t}"
    );
    // replay stores nothing twice
    let out = run(&["ingest", "--source", "12345", "docs/samples/12345.csv"]);
    let t = text(&out);
    assert!(t.contains(&format!("(0 new, {rows} already stored")), "{t}");
    let mut c = PgConnection::connect(&db.url).await.unwrap();
    let (n, classified, located): (i64, i64, i64) = sqlx::query_as(
        "select count(*), count(leaf_id), count(*) filter (where located) from incident where source = '12345'",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!((n, classified), (rows as i64, rows as i64));
    assert!(located >= 1);
    let clear: i64 = sqlx::query_scalar(
        "select count(*) from incident i where i::text like '%13805861234%' or raw::text like '%13805861234%'",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(
        clear, 0,
        "a caller's number from the file is stored nowhere in clear"
    );
    // bad rows: named by line, field and reason; the good ones land; exit 1
    let header = std::fs::read_to_string("docs/samples/12345.csv")
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim_start_matches('\u{feff}')
        .to_string();
    let good = "CLI-OK,,2026-03-18 08:41:10,刘女士,13805861234,投诉,占道经营,一般,路口有流动摊贩占道经营,黄岩区北城街道劳动北路,,,,电话,";
    let no_time =
        "CLI-BAD,,,刘女士,13805861234,投诉,占道经营,一般,路口有流动摊贩,黄岩区北城街道,,,,电话,";
    let bad = tmp_file("bad.csv", &format!("{header}\n{good}\n{no_time}\n"));
    let out = run(&["ingest", "--source", "12345", bad.to_str().unwrap()]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("1 records accepted (1 new"), "{t}");
    assert!(t.contains("rejected line 3: 受理时间"), "{t}");
    let out = run(&["ingest", "--source", "119", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--source \"119\""), "{}", text(&out));
    drop(c);
    let _ = std::fs::remove_file(&key);
    db.drop_db().await;
}
