//! Incidents in PostGIS: idempotent batch insert, bbox/time queries.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::{Context, StoreError};
use crate::domain::{
    Bbox, Incident, IncidentDetail, JurisdictionSummary, NewIncident, Position, Source, Stored,
};

const COLUMNS: &str =
    "id, source, source_id, reported_at, received_at, ST_X(geom) as lon, ST_Y(geom) as lat, \
                       category, description, address, priority, demo, jurisdiction, detail, \
                       (select m.cluster_id from cluster_member m where m.incident_id = incident.id) as cluster_id";

fn from_row(r: &PgRow) -> Result<Incident, StoreError> {
    let source: String = r.get("source");
    let lon: Option<f64> = r.get("lon");
    let lat: Option<f64> = r.get("lat");
    let bad = |reason: String| StoreError::Layer {
        layer: "incident".into(),
        reason,
    };
    let jurisdiction: sqlx::types::Json<JurisdictionSummary> = r.get("jurisdiction");
    let detail: sqlx::types::Json<IncidentDetail> = r.get("detail");
    let position = match (lon, lat) {
        (Some(lon), Some(lat)) => Some(Position::new(lon, lat).map_err(|e| bad(e.to_string()))?),
        _ => None,
    };
    Ok(Incident {
        id: r.get("id"),
        source: Source::parse(&source)
            .ok_or_else(|| bad(format!("unknown stored source {source:?}")))?,
        source_id: r.get("source_id"),
        reported_at: r.get("reported_at"),
        received_at: r.get("received_at"),
        position,
        category: r.get("category"),
        description: r.get("description"),
        address: r.get("address"),
        priority: r.get::<Option<i16>, _>("priority").map(|p| p as u8),
        demo: r.get("demo"),
        jurisdiction: jurisdiction.0,
        detail: detail.0,
        cluster_id: r.get("cluster_id"),
    })
}

/// Inserts a batch in one transaction; rows whose `(source, source_id)` is
/// already stored are left alone and returned as they are stored.
/// Duplicates inside the batch resolve to the first occurrence.
pub async fn insert_batch(
    pool: &PgPool,
    batch: &[(NewIncident, JurisdictionSummary)],
) -> Result<Vec<Stored>, StoreError> {
    let n = batch.len();
    let mut source = Vec::with_capacity(n);
    let mut source_id = Vec::with_capacity(n);
    let mut reported_at: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let (mut lon, mut lat) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut category, mut description, mut address) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut priority: Vec<Option<i16>> = Vec::with_capacity(n);
    let mut demo = Vec::with_capacity(n);
    let (mut township, mut grid, mut jur) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut h3: Vec<Option<i64>> = Vec::with_capacity(n);
    let (mut detail, mut raw) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (inc, j) in batch {
        source.push(inc.source.code().to_string());
        source_id.push(inc.source_id.clone());
        reported_at.push(inc.reported_at);
        lon.push(inc.position.map(|p| p.lon()));
        lat.push(inc.position.map(|p| p.lat()));
        category.push(inc.category.clone());
        description.push(inc.description.clone());
        address.push(inc.address.clone());
        priority.push(inc.priority.map(i16::from));
        demo.push(inc.demo);
        township.push(j.township_code.clone());
        grid.push(j.grid_code.clone());
        jur.push(serde_json::to_string(j).expect("summary serialises"));
        h3.push(
            inc.position
                .and_then(crate::risk::heat::cell_r10)
                .map(|c| u64::from(c) as i64),
        );
        detail.push(serde_json::to_string(&inc.detail).expect("detail serialises"));
        raw.push(inc.raw.as_ref().map(|v| v.to_string()));
    }
    let mut tx = pool
        .begin()
        .await
        .during("starting the ingest transaction")?;
    // One statement inserts the batch and appends to the event log; ON
    // CONFLICT DO NOTHING makes a resend a no-op. Rows go in key order, so two
    // overlapping batches lock the unique index in the same order (no
    // deadlock); `ordinality` keeps the first duplicate within a batch the winner.
    let created: Vec<i64> = sqlx::query_scalar(
        "with input as (
             select * from unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::float8[],
                                  $6::text[], $7::text[], $8::text[], $9::int2[], $10::bool[],
                                  $11::text[], $12::text[], $13::text[], $14::int8[], $15::text[], $16::text[])
                 with ordinality as t(source, source_id, reported_at, lon, lat, category, description, address,
                                      priority, demo, township_code, grid_code, jurisdiction, h3_r10, detail, raw, ord)
         ), ins as (
             insert into incident (source, source_id, reported_at, category, description, address, priority, demo,
                                   geom, township_code, grid_code, jurisdiction, h3_r10,
                                   detail, raw, source_category, occurred_at, leaf_id, group_id, tags, caller_hash)
             select source, source_id, reported_at, category, description, address, priority, demo,
                    case when lon is null then null else ST_SetSRID(ST_MakePoint(lon, lat), 4326) end,
                    township_code, grid_code, jurisdiction::jsonb, h3_r10,
                    d, raw::jsonb, d->>'source_category', (d->>'occurred_at')::timestamptz,
                    d->'classification'->>'leaf_id', d->'classification'->>'group_id',
                    coalesce(array(select jsonb_array_elements_text(d->'classification'->'tags')), '{}'),
                    (select p->>'phone_hash' from jsonb_array_elements(coalesce(d->'parties', '[]')) p
                      where p ? 'phone_hash' limit 1)
             from (select *, detail::jsonb as d from input) i order by source, source_id, ord
             on conflict (source, source_id) do nothing
             returning id, source, source_id, township_code
         ), logged as (
             insert into event_log (kind, subject, payload)
             select 'incident.created', ins.id::text,
                    jsonb_build_object('source', ins.source, 'source_id', ins.source_id, 'township_code', ins.township_code)
             from ins
         )
         select id from ins",
    )
    .bind(&source)
    .bind(&source_id)
    .bind(&reported_at)
    .bind(&lon)
    .bind(&lat)
    .bind(&category)
    .bind(&description)
    .bind(&address)
    .bind(&priority)
    .bind(&demo)
    .bind(&township)
    .bind(&grid)
    .bind(&jur)
    .bind(&h3)
    .bind(&detail)
    .bind(&raw)
    .fetch_all(&mut *tx)
    .await
    .during("inserting incidents")?;
    let rows = sqlx::query(&format!(
        "select {COLUMNS} from incident where (source, source_id) in (select * from unnest($1::text[], $2::text[]))"
    ))
    .bind(&source)
    .bind(&source_id)
    .fetch_all(&mut *tx)
    .await
    .during("reading back incidents")?;
    tx.commit().await.during("committing incidents")?;

    let mut by_key = std::collections::HashMap::with_capacity(rows.len());
    for r in &rows {
        let inc = from_row(r)?;
        by_key.insert((inc.source, inc.source_id.clone()), inc);
    }
    let created: std::collections::HashSet<i64> = created.into_iter().collect();
    let mut seen = std::collections::HashSet::new();
    batch
        .iter()
        .map(|(inc, _)| {
            let stored = by_key
                .get(&(inc.source, inc.source_id.clone()))
                .cloned()
                .ok_or_else(|| StoreError::Layer {
                    layer: "incident".into(),
                    reason: format!(
                        "incident {}/{} vanished after commit",
                        inc.source.code(),
                        inc.source_id
                    ),
                })?;
            // within one batch only the first occurrence counts as created
            let first = seen.insert(stored.id);
            Ok(Stored {
                created: first && created.contains(&stored.id),
                incident: stored,
            })
        })
        .collect()
}

/// Query for `GET /api/v1/incidents`.
#[derive(Debug, Clone)]
pub struct IncidentQuery {
    pub bbox: Option<Bbox>,
    pub since: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `reported_at`.
    pub until: Option<DateTime<Utc>>,
    /// Keyset page: only rows ordered after this (reported_at, id), i.e.
    /// `(reported_at, id) < before` in the newest-first order.
    pub before: Option<(DateTime<Utc>, i64)>,
    pub limit: i64,
    /// Only located (`true`) or only unlocated (`false`) incidents.
    pub located: Option<bool>,
    pub source: Option<Source>,
}

/// Newest first (by `reported_at`, then id).
pub async fn query(pool: &PgPool, q: &IncidentQuery) -> Result<Vec<Incident>, StoreError> {
    let (w, s, e, n) = match q.bbox {
        Some(b) => (Some(b.west), Some(b.south), Some(b.east), Some(b.north)),
        None => (None, None, None, None),
    };
    let rows = sqlx::query(&format!(
        "select {COLUMNS} from incident
         where ($1::float8 is null or geom && ST_MakeEnvelope($1, $2, $3, $4, 4326))
           and ($5::timestamptz is null or reported_at >= $5)
           and ($7::bool is null or located = $7)
           and ($8::text is null or source = $8)
           and ($9::timestamptz is null or reported_at < $9)
           and ($10::timestamptz is null or (reported_at, id) < ($10, $11::int8))
         order by reported_at desc, id desc
         limit $6"
    ))
    .bind(w)
    .bind(s)
    .bind(e)
    .bind(n)
    .bind(q.since)
    .bind(q.limit)
    .bind(q.located)
    .bind(q.source.map(|s| s.code()))
    .bind(q.until)
    .bind(q.before.map(|b| b.0))
    .bind(q.before.map(|b| b.1))
    .fetch_all(pool)
    .await
    .during("querying incidents")?;
    rows.iter().map(from_row).collect()
}

/// One incident by id.
pub async fn get(pool: &PgPool, id: i64) -> Result<Option<Incident>, StoreError> {
    let row = sqlx::query(&format!("select {COLUMNS} from incident where id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .during("reading an incident")?;
    row.as_ref().map(from_row).transpose()
}

/// The most recent incidents for the live world at start-up.
pub async fn recent(
    pool: &PgPool,
    since: DateTime<Utc>,
    max: i64,
) -> Result<Vec<Incident>, StoreError> {
    query(
        pool,
        &IncidentQuery {
            bbox: None,
            since: Some(since),
            until: None,
            before: None,
            limit: max,
            located: None,
            source: None,
        },
    )
    .await
}

pub async fn count(pool: &PgPool) -> Result<i64, StoreError> {
    sqlx::query_scalar("select count(*) from incident")
        .fetch_one(pool)
        .await
        .during("counting incidents")
}

/// Incidents received since `since`, by source, and the highest incident id
/// at that moment (so a screen can add live incidents with larger ids).
pub async fn counts_since(
    pool: &PgPool,
    since: DateTime<Utc>,
) -> Result<(Vec<(String, i64)>, i64), StoreError> {
    let mut tx = pool.begin().await.during("starting the statistics read")?;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("select source, count(*) from incident where received_at >= $1 group by source order by source")
            .bind(since)
            .fetch_all(&mut *tx)
            .await
            .during("counting incidents by source")?;
    let max_id: i64 = sqlx::query_scalar("select coalesce(max(id), 0) from incident")
        .fetch_one(&mut *tx)
        .await
        .during("reading the newest incident id")?;
    tx.commit().await.during("ending the statistics read")?;
    Ok((rows, max_id))
}

/// Fills `h3_r10` for rows stored before it existed (start-up; in batches).
pub async fn backfill_h3(pool: &PgPool) -> Result<u64, StoreError> {
    let mut total = 0u64;
    loop {
        let rows: Vec<(i64, f64, f64)> = sqlx::query_as(
            "select id, ST_X(geom), ST_Y(geom) from incident where h3_r10 is null order by id limit 10000",
        )
        .fetch_all(pool)
        .await
        .during("reading incidents without an H3 cell")?;
        if rows.is_empty() {
            return Ok(total);
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut cells = Vec::with_capacity(rows.len());
        for (id, lon, lat) in &rows {
            let cell = Position::new(*lon, *lat)
                .ok()
                .and_then(crate::risk::heat::cell_r10)
                .map_or(0, |c| u64::from(c) as i64);
            ids.push(*id);
            cells.push(cell);
        }
        sqlx::query(
            "update incident i set h3_r10 = t.h3 from unnest($1::int8[], $2::int8[]) as t(id, h3) where i.id = t.id",
        )
        .bind(&ids)
        .bind(&cells)
        .execute(pool)
        .await
        .during("filling H3 cells")?;
        total += rows.len() as u64;
    }
}

/// (res-10 cell, reported_at, category) of incidents reported since `since`
/// (start-up heat rebuild), oldest first.
pub async fn heat_rows(
    pool: &PgPool,
    since: DateTime<Utc>,
) -> Result<Vec<(i64, DateTime<Utc>, Option<String>)>, StoreError> {
    sqlx::query_as(
        "select h3_r10, reported_at, category from incident
         where reported_at >= $1 and h3_r10 is not null and h3_r10 <> 0 order by reported_at",
    )
    .bind(since)
    .fetch_all(pool)
    .await
    .during("loading incidents for the heat surface")
}

/// Counts per (res-10 cell, category) of incidents reported in [from, to)
/// inside `bbox` (hotspot and forecast queries aggregate them to coarser cells).
pub async fn cell_counts(
    pool: &PgPool,
    bbox: Bbox,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    category: Option<&str>,
) -> Result<Vec<(i64, DateTime<Utc>)>, StoreError> {
    sqlx::query_as(
        "select h3_r10, reported_at from incident
         where geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)
           and reported_at >= $5 and reported_at < $6
           and ($7::text is null or category = $7)
           and h3_r10 is not null and h3_r10 <> 0",
    )
    .bind(bbox.west)
    .bind(bbox.south)
    .bind(bbox.east)
    .bind(bbox.north)
    .bind(from)
    .bind(to)
    .bind(category)
    .fetch_all(pool)
    .await
    .during("counting incidents per cell")
}

/// Addresses and categories of the incidents in given res-10 cells in a
/// period (for the "top repeat places" table).
pub async fn places(
    pool: &PgPool,
    cells: &[i64],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    category: Option<&str>,
) -> Result<Vec<(i64, Option<String>, Option<String>)>, StoreError> {
    // at most 50 rows per cell (newest first), so one busy cell cannot use up the answer
    sqlx::query_as(
        "select h3_r10, address, category from (
             select h3_r10, address, category,
                    row_number() over (partition by h3_r10 order by reported_at desc) as n
             from incident
             where h3_r10 = any($1) and reported_at >= $2 and reported_at < $3
               and ($4::text is null or category = $4)
         ) t where n <= 50",
    )
    .bind(cells)
    .bind(from)
    .bind(to)
    .bind(category)
    .fetch_all(pool)
    .await
    .during("reading places")
}
