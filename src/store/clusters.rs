//! Repeat-call clusters in PostGIS (migration 0006): the writer's decisions
//! stored in one transaction per delta (clusters, memberships, moves, history,
//! event log), the start-up restore, and the read side of the API.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::{Context, StoreError};
use crate::cluster::{Call, Delta, Summary};
use crate::domain::{Bbox, Position};

/// Who did it, for actions by hand.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub name: Option<String>,
    pub note: Option<String>,
}

fn summary_json(s: &Summary) -> Value {
    json!({
        "id": s.id, "family": s.family, "members": s.members, "located": s.located,
        "first_at": s.first_at, "last_at": s.last_at, "closes_at": s.closes_at,
        "horizon_at": s.horizon_at,
        "lon": s.centroid.map(|c| c[0]), "lat": s.centroid.map(|c| c[1]),
        "west": s.bbox.map(|b| b[0]), "south": s.bbox.map(|b| b[1]),
        "east": s.bbox.map(|b| b[2]), "north": s.bbox.map(|b| b[3]),
        "categories": s.categories, "sources": s.sources, "callers": s.callers,
        "replaced_by": s.replaced_by, "manual": s.manual,
        "apart_from": s.apart_from.iter().collect::<Vec<_>>(), "version": s.version,
    })
}

/// Stores one delta in one transaction. `actor` is set for commander actions
/// (their event-log rows name them).
pub async fn apply(pool: &PgPool, delta: &Delta, actor: Option<&Actor>) -> Result<(), StoreError> {
    if delta.is_empty() && delta.links.is_empty() {
        return Ok(());
    }
    // each cluster once, in its last state (one upsert cannot touch a row twice)
    let mut seen = std::collections::HashSet::new();
    let mut clusters: Vec<Value> = delta
        .clusters
        .iter()
        .rev()
        .filter(|s| seen.insert(s.id))
        .map(summary_json)
        .collect();
    clusters.reverse();
    let members: Vec<Value> = delta
        .memberships
        .iter()
        .map(|m| {
            json!({"incident_id": m.incident_id, "cluster_id": m.cluster_id,
                   "reason": m.reason.as_str(), "matched": m.matched, "distance_m": m.distance_m})
        })
        .collect();
    let reassigned: Vec<Value> = delta
        .reassigned
        .iter()
        .map(|(i, t)| json!({"incident_id": i, "to_id": t}))
        .collect();
    let links: Vec<Value> = delta
        .links
        .iter()
        .map(|l| {
            json!({"cluster_id": l.cluster_id, "kind": l.kind.as_str(), "other_id": l.other_id,
                   "incident_id": l.incident_id, "manual": l.manual})
        })
        .collect();
    let (name, note) = actor
        .map(|a| (a.name.clone(), a.note.clone()))
        .unwrap_or_default();

    let mut tx = pool
        .begin()
        .await
        .during("starting the cluster transaction")?;
    sqlx::query(
        "insert into cluster (id, family, members, located, first_at, last_at, closes_at, horizon_at,
                              centroid, west, south, east, north, categories, sources, callers,
                              replaced_by, manual, apart_from, version, updated_at)
         select id, family, members, located, first_at, last_at, closes_at, horizon_at,
                case when lon is null then null else ST_SetSRID(ST_MakePoint(lon, lat), 4326) end,
                west, south, east, north, categories, sources, callers,
                replaced_by, manual, apart_from, version, now()
         from jsonb_to_recordset($1::jsonb) as x(
                id bigint, family text, members int, located int, first_at timestamptz,
                last_at timestamptz, closes_at timestamptz, horizon_at timestamptz, lon float8, lat float8,
                west float8, south float8, east float8, north float8, categories jsonb, sources jsonb,
                callers int, replaced_by bigint, manual bool, apart_from bigint[], version bigint)
         order by id
         on conflict (id) do update set
             family = excluded.family, members = excluded.members, located = excluded.located,
             first_at = excluded.first_at, last_at = excluded.last_at, closes_at = excluded.closes_at,
             horizon_at = excluded.horizon_at, centroid = excluded.centroid, west = excluded.west,
             south = excluded.south, east = excluded.east, north = excluded.north,
             categories = excluded.categories, sources = excluded.sources, callers = excluded.callers,
             replaced_by = excluded.replaced_by, manual = excluded.manual,
             apart_from = excluded.apart_from, version = excluded.version, updated_at = now()
         where cluster.version <= excluded.version",
    )
    .bind(Value::Array(clusters))
    .execute(&mut *tx)
    .await
    .during("storing clusters")?;
    // memberships first (they name the cluster as it was when they joined),
    // then the moves of merges and splits made after them
    sqlx::query(
        "with m as (
             insert into cluster_member (incident_id, cluster_id, reason, matched, distance_m)
             select incident_id, cluster_id, reason, matched, distance_m
             from jsonb_to_recordset($1::jsonb) as x(incident_id bigint, cluster_id bigint, reason text,
                                                     matched bigint, distance_m float8)
             order by incident_id
             on conflict (incident_id) do nothing
             returning incident_id, cluster_id, reason, matched
         )
         -- a call that opened its own cluster is in the log already (its
         -- ingest row): only joins are logged, not one row more per call
         insert into event_log (kind, subject, payload)
         select 'cluster.joined', incident_id::text,
                jsonb_build_object('cluster_id', cluster_id, 'reason', reason, 'matched', matched)
         from m where reason <> 'opened'",
    )
    .bind(Value::Array(members))
    .execute(&mut *tx)
    .await
    .during("storing cluster memberships")?;
    for (from, to) in &delta.moved {
        sqlx::query("update cluster_member set cluster_id = $2 where cluster_id = $1")
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await
            .during("moving the members of a merged cluster")?;
    }
    sqlx::query(
        "update cluster_member m set cluster_id = x.to_id, reason = 'manual', matched = null, distance_m = null
         from jsonb_to_recordset($1::jsonb) as x(incident_id bigint, to_id bigint)
         where m.incident_id = x.incident_id",
    )
    .bind(Value::Array(reassigned))
    .execute(&mut *tx)
    .await
    .during("moving split members")?;
    sqlx::query(
        "with l as (
             insert into cluster_link (cluster_id, kind, other_id, incident_id, manual, actor, note)
             select cluster_id, kind, other_id, incident_id, manual,
                    case when manual then $2 end, case when manual then $3 end
             from jsonb_to_recordset($1::jsonb) as x(cluster_id bigint, kind text, other_id bigint,
                                                     incident_id bigint, manual bool)
             returning cluster_id, kind, other_id, incident_id, manual, actor
         )
         insert into event_log (kind, subject, payload)
         select case kind when 'REPLACING' then 'cluster.merged'
                          when 'SPLIT' then 'cluster.split' else null end,
                cluster_id::text,
                jsonb_build_object('other_id', other_id, 'incident_id', incident_id,
                                   'manual', manual, 'actor', actor)
         from l where kind in ('REPLACING', 'SPLIT')",
    )
    .bind(Value::Array(links))
    .bind(name)
    .bind(note)
    .execute(&mut *tx)
    .await
    .during("storing cluster history")?;
    tx.commit().await.during("committing clusters")?;
    Ok(())
}

fn summary_from_row(r: &PgRow) -> Summary {
    let lon: Option<f64> = r.get("lon");
    let lat: Option<f64> = r.get("lat");
    let b: [Option<f64>; 4] = [r.get("west"), r.get("south"), r.get("east"), r.get("north")];
    let cats: sqlx::types::Json<std::collections::BTreeMap<String, u32>> = r.get("categories");
    let srcs: sqlx::types::Json<std::collections::BTreeMap<String, u32>> = r.get("sources");
    let apart: Vec<i64> = r.get("apart_from");
    Summary {
        id: r.get("id"),
        family: r.get("family"),
        members: r.get::<i32, _>("members") as u32,
        located: r.get::<i32, _>("located") as u32,
        first_at: r.get("first_at"),
        last_at: r.get("last_at"),
        closes_at: r.get("closes_at"),
        horizon_at: r.get("horizon_at"),
        centroid: lon.zip(lat).map(|(x, y)| [x, y]),
        bbox: match b {
            [Some(w), Some(s), Some(e), Some(n)] => Some([w, s, e, n]),
            _ => None,
        },
        categories: cats.0,
        sources: srcs.0,
        callers: r.get::<i32, _>("callers") as u32,
        replaced_by: r.get("replaced_by"),
        manual: r.get("manual"),
        apart_from: apart.into_iter().collect(),
        version: r.get("version"),
    }
}

const SUMMARY_COLUMNS: &str = "c.id, c.family, c.members, c.located, c.first_at, c.last_at, c.closes_at, \
     c.horizon_at, ST_X(c.centroid) as lon, ST_Y(c.centroid) as lat, c.west, c.south, c.east, c.north, \
     c.categories, c.sources, c.callers, c.replaced_by, c.manual, c.apart_from, c.version";

const CALL_COLUMNS: &str = "i.id, i.reported_at, ST_X(i.geom) as lon, ST_Y(i.geom) as lat, i.leaf_id, \
     i.source, i.caller_hash, coalesce(i.description, '') as description, \
     coalesce(array(select e->>'hash' from jsonb_array_elements(coalesce(i.detail->'entities', '[]')) e \
                    where e ? 'hash'), '{}') as entities";

fn call_from_row(r: &PgRow) -> Call {
    let lon: Option<f64> = r.get("lon");
    let lat: Option<f64> = r.get("lat");
    Call {
        id: r.get("id"),
        reported_at: r.get("reported_at"),
        position: lon.zip(lat).and_then(|(x, y)| Position::new(x, y).ok()),
        leaf_id: r.get("leaf_id"),
        source: r.get("source"),
        caller: r.get("caller_hash"),
        entities: r.get("entities"),
        text: r.get("description"),
    }
}

/// What start-up restores: the clusters a call could still join (not merged
/// away, horizon not past) and their members (event-time order).
pub async fn load_live(
    pool: &PgPool,
    now: DateTime<Utc>,
) -> Result<(Vec<Summary>, Vec<(Call, i64)>), StoreError> {
    let clusters: Vec<Summary> = sqlx::query(&format!(
        "select {SUMMARY_COLUMNS} from cluster c where c.replaced_by is null and c.horizon_at > $1"
    ))
    .bind(now)
    .fetch_all(pool)
    .await
    .during("loading live clusters")?
    .iter()
    .map(summary_from_row)
    .collect();
    let members = sqlx::query(&format!(
        "select {CALL_COLUMNS}, m.cluster_id from cluster_member m
           join cluster c on c.id = m.cluster_id
           join incident i on i.id = m.incident_id
          where c.replaced_by is null and c.horizon_at > $1
          order by i.reported_at, i.id"
    ))
    .bind(now)
    .fetch_all(pool)
    .await
    .during("loading cluster members")?
    .iter()
    .map(|r| (call_from_row(r), r.get::<i64, _>("cluster_id")))
    .collect();
    Ok((clusters, members))
}

/// Incidents with no cluster yet (stored by `lianqin ingest` without a
/// running server, before migration 0006, or committed just before a
/// crash), oldest event first, at most `limit` of the newest.
pub async fn unassigned(pool: &PgPool, limit: i64) -> Result<Vec<Call>, StoreError> {
    let rows = sqlx::query(&format!(
        "select * from (
             select {CALL_COLUMNS} from incident i
              where not exists (select 1 from cluster_member m where m.incident_id = i.id)
              order by i.reported_at desc, i.id desc limit $1
         ) t order by reported_at, id"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await
    .during("loading unclustered incidents")?;
    Ok(rows.iter().map(call_from_row).collect())
}

/// `GET /api/v1/clusters`.
#[derive(Debug, Clone, Default)]
pub struct ClusterQuery {
    pub bbox: Option<Bbox>,
    /// clusters whose last call is at or after this
    pub since: Option<DateTime<Utc>>,
    /// … and whose first call is before this
    pub until: Option<DateTime<Utc>>,
    /// Some(true): open only; Some(false): closed only
    pub open: Option<bool>,
    pub min_members: u32,
    pub family: Option<String>,
    pub limit: i64,
}

/// A stored cluster with its extent (convex hull of the located members).
#[derive(Debug, Clone, Serialize)]
pub struct ClusterRow {
    #[serde(flatten)]
    pub summary: Summary,
    pub open: bool,
    pub extent: Option<Value>,
}

pub async fn list(pool: &PgPool, q: &ClusterQuery) -> Result<Vec<ClusterRow>, StoreError> {
    let (w, s, e, n) = q
        .bbox
        .map(|b| (Some(b.west), Some(b.south), Some(b.east), Some(b.north)))
        .unwrap_or_default();
    let rows = sqlx::query(&format!(
        "select {SUMMARY_COLUMNS}, c.closes_at > now() as open,
                (select ST_AsGeoJSON(ST_ConvexHull(ST_Collect(i.geom)), 6)
                   from cluster_member m join incident i on i.id = m.incident_id
                  where m.cluster_id = c.id and i.geom is not null) as extent
           from cluster c
          where c.replaced_by is null
            and c.members >= $1
            and ($2::float8 is null or c.centroid && ST_MakeEnvelope($2, $3, $4, $5, 4326))
            and ($6::timestamptz is null or c.last_at >= $6)
            and ($7::timestamptz is null or c.first_at < $7)
            and ($8::bool is null or (c.closes_at > now()) = $8)
            and ($9::text is null or c.family = $9)
          order by c.last_at desc, c.id desc
          limit $10"
    ))
    .bind(q.min_members as i32)
    .bind(w)
    .bind(s)
    .bind(e)
    .bind(n)
    .bind(q.since)
    .bind(q.until)
    .bind(q.open)
    .bind(q.family.as_deref())
    .bind(q.limit)
    .fetch_all(pool)
    .await
    .during("listing clusters")?;
    Ok(rows.iter().map(row_out).collect())
}

fn row_out(r: &PgRow) -> ClusterRow {
    let extent: Option<String> = r.get("extent");
    ClusterRow {
        summary: summary_from_row(r),
        open: r.get("open"),
        extent: extent.and_then(|t| serde_json::from_str(&t).ok()),
    }
}

/// One member as `GET /api/v1/clusters/{id}` lists it (also its OpenAPI
/// schema `ClusterMember`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ClusterMember)]
pub struct MemberOut {
    pub incident_id: i64,
    pub source: String,
    pub source_id: String,
    pub reported_at: DateTime<Utc>,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub leaf_id: Option<String>,
    pub category: Option<String>,
    pub description: Option<String>,
    pub address: Option<String>,
    /// masked (`138****1234`)
    pub caller_masked: Option<String>,
    /// `opened`, `nearby`, `same_caller`, `same_entity`, `manual`
    pub reason: String,
    /// the member it was linked to
    pub matched: Option<i64>,
    pub distance_m: Option<f64>,
    /// every member but the earliest is a repeat call
    pub repeat: bool,
}

/// One history row, an EIDO-style link (OpenAPI schema `ClusterLink`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = ClusterLink)]
pub struct LinkOut {
    /// `REPLACING`, `REPLACED`, `SPLIT`, `PARENT`, `CHILD`, `RELATED`
    pub kind: String,
    pub other_id: i64,
    /// the call that caused an automatic merge
    pub incident_id: Option<i64>,
    pub manual: bool,
    pub actor: Option<String>,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

/// A cluster (following `replaced_by` to where it went is the caller's
/// choice: the row says), its members and its history.
pub async fn get(
    pool: &PgPool,
    id: i64,
) -> Result<Option<(ClusterRow, Vec<MemberOut>, Vec<LinkOut>)>, StoreError> {
    let Some(row) = sqlx::query(&format!(
        "select {SUMMARY_COLUMNS}, c.replaced_by is null and c.closes_at > now() as open,
                (select ST_AsGeoJSON(ST_ConvexHull(ST_Collect(i.geom)), 6)
                   from cluster_member m join incident i on i.id = m.incident_id
                  where m.cluster_id = c.id and i.geom is not null) as extent
           from cluster c where c.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .during("reading a cluster")?
    else {
        return Ok(None);
    };
    let members = sqlx::query(
        "select i.id, i.source, i.source_id, i.reported_at, ST_X(i.geom) as lon, ST_Y(i.geom) as lat,
                i.leaf_id, i.category, i.description, i.address,
                (select p->>'phone_masked' from jsonb_array_elements(coalesce(i.detail->'parties', '[]')) p
                  where p ? 'phone_masked' limit 1) as caller_masked,
                m.reason, m.matched, m.distance_m,
                row_number() over (order by i.reported_at, i.id) > 1 as repeat
           from cluster_member m join incident i on i.id = m.incident_id
          where m.cluster_id = $1
          order by i.reported_at, i.id
          limit 2000",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .during("reading cluster members")?
    .iter()
    .map(|r| MemberOut {
        incident_id: r.get("id"),
        source: r.get("source"),
        source_id: r.get("source_id"),
        reported_at: r.get("reported_at"),
        lon: r.get("lon"),
        lat: r.get("lat"),
        leaf_id: r.get("leaf_id"),
        category: r.get("category"),
        description: r.get("description"),
        address: r.get("address"),
        caller_masked: r.get("caller_masked"),
        reason: r.get("reason"),
        matched: r.get("matched"),
        distance_m: r.get("distance_m"),
        repeat: r.get("repeat"),
    })
    .collect();
    let links = sqlx::query(
        "select kind, other_id, incident_id, manual, actor, note, at
           from cluster_link where cluster_id = $1 order by seq",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .during("reading cluster history")?
    .iter()
    .map(|r| LinkOut {
        kind: r.get("kind"),
        other_id: r.get("other_id"),
        incident_id: r.get("incident_id"),
        manual: r.get("manual"),
        actor: r.get("actor"),
        note: r.get("note"),
        at: r.get("at"),
    })
    .collect();
    Ok(Some((row_out(&row), members, links)))
}

/// What repeat statistics are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepeatsBy {
    Day,
    Township,
    Grid,
    Category,
    Source,
}

impl RepeatsBy {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "day" => Self::Day,
            "township" => Self::Township,
            "grid" => Self::Grid,
            "category" => Self::Category,
            "source" => Self::Source,
            _ => return None,
        })
    }
    fn key_sql(self) -> &'static str {
        match self {
            // a day in Huangyan is a day in Asia/Shanghai
            Self::Day => "to_char(reported_at at time zone 'Asia/Shanghai', 'YYYY-MM-DD')",
            Self::Township => "coalesce(township_code, '')",
            Self::Grid => "coalesce(grid_code, '')",
            Self::Category => "coalesce(leaf_id, '')",
            Self::Source => "source",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RepeatRow {
    pub key: String,
    /// calls in the period (all incidents, clustered or not yet)
    pub calls: i64,
    /// calls that joined a cluster opened by an earlier call
    pub repeats: i64,
    pub rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepeatLocation {
    pub cluster_id: i64,
    pub family: String,
    pub calls: i64,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub address: Option<String>,
    pub township_code: Option<String>,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepeatCaller {
    pub caller_masked: Option<String>,
    pub calls: i64,
    pub clusters: i64,
    pub last_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Repeats {
    pub calls: i64,
    pub repeats: i64,
    pub rate: f64,
    pub unclustered: i64,
    pub rows: Vec<RepeatRow>,
    pub top_locations: Vec<RepeatLocation>,
    pub top_callers: Vec<RepeatCaller>,
}

/// Repeat-call statistics over calls reported in `[from, to)`: a call is a
/// repeat when an earlier call (by event time) of its cluster exists — also
/// one from before `from`, so a period's first day is not undercounted.
pub async fn repeats(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: RepeatsBy,
) -> Result<Repeats, StoreError> {
    let base = "with calls as (
             select i.id, i.reported_at, i.source, i.leaf_id, i.township_code, i.grid_code,
                    m.cluster_id,
                    exists (select 1 from cluster_member m2 join incident j on j.id = m2.incident_id
                             where m2.cluster_id = m.cluster_id
                               and (j.reported_at, j.id) < (i.reported_at, i.id)) as repeat
               from incident i left join cluster_member m on m.incident_id = i.id
              where i.reported_at >= $1 and i.reported_at < $2
         )";
    let rows = sqlx::query(&format!(
        "{base}
         select {key} as key, count(*) as calls, count(*) filter (where repeat) as repeats
           from calls group by 1 order by 1",
        key = by.key_sql()
    ))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .during("counting repeat calls")?;
    let rows: Vec<RepeatRow> = rows
        .iter()
        .map(|r| {
            let calls: i64 = r.get("calls");
            let repeats: i64 = r.get("repeats");
            RepeatRow {
                key: r.get("key"),
                calls,
                repeats,
                rate: if calls > 0 {
                    repeats as f64 / calls as f64
                } else {
                    0.0
                },
            }
        })
        .collect();
    let totals = sqlx::query(&format!(
        "{base}
         select count(*) as calls, count(*) filter (where repeat) as repeats,
                count(*) filter (where cluster_id is null) as unclustered from calls"
    ))
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await
    .during("counting repeat calls")?;
    let calls: i64 = totals.get("calls");
    let repeats: i64 = totals.get("repeats");
    let top_locations = sqlx::query(
        "select c.id, c.family, count(*) as calls, ST_X(c.centroid) as lon, ST_Y(c.centroid) as lat,
                (select i2.address from incident i2 where i2.id = c.id) as address,
                (select i2.township_code from incident i2 where i2.id = c.id) as township_code,
                min(i.reported_at) as first_at, max(i.reported_at) as last_at
           from cluster c join cluster_member m on m.cluster_id = c.id
           join incident i on i.id = m.incident_id
          where c.replaced_by is null and i.reported_at >= $1 and i.reported_at < $2
          group by c.id having count(*) > 1
          order by count(*) desc, max(i.reported_at) desc limit 10",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .during("finding top repeat locations")?
    .iter()
    .map(|r| RepeatLocation {
        cluster_id: r.get("id"),
        family: r.get("family"),
        calls: r.get("calls"),
        lon: r.get("lon"),
        lat: r.get("lat"),
        address: r.get("address"),
        township_code: r.get("township_code"),
        first_at: r.get("first_at"),
        last_at: r.get("last_at"),
    })
    .collect();
    let top_callers = sqlx::query(
        "select min(p.masked) as caller_masked, count(*) as calls,
                count(distinct m.cluster_id) as clusters, max(i.reported_at) as last_at
           from incident i
           left join cluster_member m on m.incident_id = i.id
           left join lateral (select q->>'phone_masked' as masked
                                from jsonb_array_elements(coalesce(i.detail->'parties', '[]')) q
                               where q ? 'phone_hash' limit 1) p on true
          where i.caller_hash is not null and i.reported_at >= $1 and i.reported_at < $2
          group by i.caller_hash having count(*) > 1
          order by count(*) desc, max(i.reported_at) desc limit 10",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .during("finding top repeat callers")?
    .iter()
    .map(|r| RepeatCaller {
        caller_masked: r.get("caller_masked"),
        calls: r.get("calls"),
        clusters: r.get("clusters"),
        last_at: r.get("last_at"),
    })
    .collect();
    Ok(Repeats {
        calls,
        repeats,
        rate: if calls > 0 {
            repeats as f64 / calls as f64
        } else {
            0.0
        },
        unclustered: totals.get("unclustered"),
        rows,
        top_locations,
        top_callers,
    })
}
