//! Responders, their latest positions and tracks, and assignments in PostGIS.
//!
//! Records (roster rows, statuses, assignments) change in one transaction
//! with their `event_log` row; every function here commits before it
//! returns, and returns the [`DutyChange`] the live world must apply.
//! Row locks are always taken in responder-id order (no deadlocks between
//! two commanders assigning overlapping sets).

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};

use super::{Context, StoreError};
use crate::domain::{
    Assignment, AssignmentStatus, DutyChange, Fix, Position, ResponderSpec, ResponderType, Status,
    StatusChange,
};

/// A roster row as stored.
#[derive(Debug, Clone)]
pub struct StoredResponder {
    pub spec: ResponderSpec,
    pub status: Status,
    pub status_since: DateTime<Utc>,
    pub fix: Option<Fix>,
    pub created: bool,
}

fn bad(reason: String) -> StoreError {
    StoreError::Layer {
        layer: "responder".into(),
        reason,
    }
}

fn responder_from_row(r: &PgRow) -> Result<StoredResponder, StoreError> {
    let kind: String = r.get("kind");
    let status: String = r.get("status");
    let kind = ResponderType::parse(&kind).ok_or_else(|| bad(format!("unknown kind {kind:?}")))?;
    let status = Status::parse(&status).ok_or_else(|| bad(format!("unknown status {status:?}")))?;
    let fix = match r
        .try_get::<Option<DateTime<Utc>>, _>("fix_at")
        .ok()
        .flatten()
    {
        Some(ts) => {
            let lon: f64 = r.get("lon");
            let lat: f64 = r.get("lat");
            Some(Fix {
                position: Position::new(lon, lat).map_err(|e| bad(e.to_string()))?,
                ts,
                speed_mps: r.get::<Option<f32>, _>("speed_mps").map(f64::from),
                heading: r.get::<Option<f32>, _>("heading").map(f64::from),
                accuracy_m: r.get::<Option<f32>, _>("accuracy_m").map(f64::from),
                altitude_m: None,
                battery: None,
            })
        }
        None => None,
    };
    Ok(StoredResponder {
        spec: ResponderSpec {
            id: r.get("id"),
            name: r.get("name"),
            kind,
            skills: r.get("skills"),
            station: r.get("station_code"),
            post: r.get("post_code"),
            department: r.get("department"),
            phone_masked: r.get("phone_masked"),
            shift: r.get("shift"),
            status: Some(status),
            demo: r.get("demo"),
        },
        status,
        status_since: r.get("status_since"),
        fix,
        created: r.try_get("created").unwrap_or(false),
    })
}

const RESPONDER_COLUMNS: &str =
    "r.id, r.name, r.kind, r.skills, r.station_code, r.post_code, r.department, \
     r.phone_masked, r.shift, r.status, r.status_since, r.demo, \
     ST_X(p.geom) as lon, ST_Y(p.geom) as lat, p.fix_at, p.speed_mps, p.heading, p.accuracy_m";

/// Inserts or updates roster rows (by id) in one transaction. An explicit
/// `status` (available, busy, off_duty) is the initial status of a new
/// responder and replaces an existing one's, unless that responder is on an
/// open assignment (its status then belongs to the assignment and is kept;
/// the HTTP layer refuses that case with a 409 first).
/// Ids must be unique within the batch (the caller checks).
pub async fn upsert(
    pool: &PgPool,
    specs: &[ResponderSpec],
) -> Result<Vec<StoredResponder>, StoreError> {
    let n = specs.len();
    let mut cols: [Vec<Option<String>>; 10] = Default::default();
    let mut demo = Vec::with_capacity(n);
    for s in specs {
        let vals = [
            Some(s.id.clone()),
            Some(s.name.clone()),
            Some(s.kind.code().to_string()),
            Some(serde_json::to_string(&s.skills).expect("strings serialise")),
            s.station.clone(),
            s.post.clone(),
            s.department.clone(),
            s.phone_masked.clone(),
            s.shift.clone(),
            s.status.map(|x| x.code().to_string()),
        ];
        for (c, v) in cols.iter_mut().zip(vals) {
            c.push(v);
        }
        demo.push(s.demo);
    }
    let mut tx = pool.begin().await.during("starting the roster upsert")?;
    // lock the existing rows first (same order as every other change), so
    // the upsert statement sees assignments committed while it waited
    let ids: Vec<String> = specs.iter().map(|s| s.id.clone()).collect();
    lock_responders(&mut tx, &ids).await?;
    let rows = sqlx::query(&format!(
        "with input as (
             select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                  $7::text[], $8::text[], $9::text[], $10::text[], $11::bool[])
                 as t(id, name, kind, skills, station, post, department, phone, shift, status, demo)
         ), up as (
             insert into responder as r (id, name, kind, skills, station_code, post_code, department,
                                         phone_masked, shift, status, demo)
             select id, name, kind, array(select jsonb_array_elements_text(skills::jsonb)), station, post,
                    department, phone, shift, coalesce(status, 'available'), demo
             from input order by id
             on conflict (id) do update set
                 name = excluded.name, kind = excluded.kind, skills = excluded.skills,
                 station_code = excluded.station_code, post_code = excluded.post_code,
                 department = excluded.department, phone_masked = excluded.phone_masked,
                 shift = excluded.shift, demo = excluded.demo, updated_at = now(),
                 -- an explicit status applies unless an assignment is open
                 -- (then the status belongs to the assignment; the API
                 -- refuses that case with a 409 beforehand)
                 status = case when exists (select 1 from assignment a where a.responder_id = r.id
                                                and a.status in ('dispatched', 'acked'))
                               then r.status
                               else coalesce((select i.status from input i where i.id = excluded.id), r.status) end,
                 status_since = case when exists (select 1 from assignment a where a.responder_id = r.id
                                                      and a.status in ('dispatched', 'acked'))
                                       or coalesce((select i.status from input i where i.id = excluded.id), r.status) = r.status
                                     then r.status_since else now() end
             returning r.*, (xmax = 0) as created
         ), logged as (
             insert into event_log (kind, subject, payload)
             select case when created then 'responder.created' else 'responder.updated' end, id,
                    jsonb_build_object('kind', kind, 'status', status, 'station', station_code)
             from up
         )
         select {RESPONDER_COLUMNS}, r.created from up r left join responder_position p on p.responder_id = r.id"
    ))
    .bind(&cols[0])
    .bind(&cols[1])
    .bind(&cols[2])
    .bind(&cols[3])
    .bind(&cols[4])
    .bind(&cols[5])
    .bind(&cols[6])
    .bind(&cols[7])
    .bind(&cols[8])
    .bind(&cols[9])
    .bind(&demo)
    .fetch_all(&mut *tx)
    .await
    .during("upserting responders")?;
    tx.commit().await.during("committing responders")?;
    let mut by_id: std::collections::HashMap<String, StoredResponder> = rows
        .iter()
        .map(|r| responder_from_row(r).map(|s| (s.spec.id.clone(), s)))
        .collect::<Result<_, _>>()?;
    specs
        .iter()
        .map(|s| {
            by_id
                .remove(&s.id)
                .ok_or_else(|| bad(format!("responder {} vanished after commit", s.id)))
        })
        .collect()
}

/// Every responder with its latest stored fix (start-up).
pub async fn load_all(pool: &PgPool) -> Result<Vec<StoredResponder>, StoreError> {
    let rows = sqlx::query(&format!(
        "select {RESPONDER_COLUMNS} from responder r left join responder_position p on p.responder_id = r.id order by r.id"
    ))
    .fetch_all(pool)
    .await
    .during("loading responders")?;
    rows.iter().map(responder_from_row).collect()
}

const ASSIGNMENT_COLUMNS: &str =
    "id, incident_id, responder_id, status, created_at, ack_deadline, acked_at, closed_at, replaces, reason";

fn assignment_from_row(r: &PgRow) -> Result<Assignment, StoreError> {
    let status: String = r.get("status");
    Ok(Assignment {
        id: r.get("id"),
        incident_id: r.get("incident_id"),
        responder_id: r.get("responder_id"),
        status: AssignmentStatus::parse(&status)
            .ok_or_else(|| bad(format!("unknown assignment status {status:?}")))?,
        created_at: r.get("created_at"),
        ack_deadline: r.get("ack_deadline"),
        acked_at: r.get("acked_at"),
        closed_at: r.get("closed_at"),
        replaces: r.get("replaces"),
        reason: r.get("reason"),
    })
}

/// Open (dispatched or acked) assignments, oldest first (start-up, timers).
pub async fn open_assignments(pool: &PgPool) -> Result<Vec<Assignment>, StoreError> {
    let rows = sqlx::query(&format!(
        "select {ASSIGNMENT_COLUMNS} from assignment where status in ('dispatched', 'acked') order by id"
    ))
    .fetch_all(pool)
    .await
    .during("loading open assignments")?;
    rows.iter().map(assignment_from_row).collect()
}

pub async fn assignment(pool: &PgPool, id: i64) -> Result<Option<Assignment>, StoreError> {
    let row = sqlx::query(&format!(
        "select {ASSIGNMENT_COLUMNS} from assignment where id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .during("reading an assignment")?;
    row.as_ref().map(assignment_from_row).transpose()
}

/// Every assignment of an incident, oldest first.
pub async fn incident_assignments(
    pool: &PgPool,
    incident_id: i64,
) -> Result<Vec<Assignment>, StoreError> {
    let rows = sqlx::query(&format!(
        "select {ASSIGNMENT_COLUMNS} from assignment where incident_id = $1 order by id"
    ))
    .bind(incident_id)
    .fetch_all(pool)
    .await
    .during("reading an incident's assignments")?;
    rows.iter().map(assignment_from_row).collect()
}

async fn log(
    tx: &mut Transaction<'_, Postgres>,
    kind: &str,
    subject: &str,
    payload: serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query("insert into event_log (kind, subject, payload) values ($1, $2, $3)")
        .bind(kind)
        .bind(subject)
        .bind(payload)
        .execute(&mut **tx)
        .await
        .during("appending to the event log")?;
    Ok(())
}

async fn set_responder_status(
    tx: &mut Transaction<'_, Postgres>,
    id: &str,
    status: Status,
) -> Result<StatusChange, StoreError> {
    let since: DateTime<Utc> = sqlx::query_scalar(
        "update responder set status = $2,
                status_since = case when status = $2 then status_since else now() end, updated_at = now()
         where id = $1 returning status_since",
    )
    .bind(id)
    .bind(status.code())
    .fetch_one(&mut **tx)
    .await
    .during("updating a responder's status")?;
    log(
        tx,
        "responder.status",
        id,
        json!({"status": status.code(), "since": since}),
    )
    .await?;
    Ok(StatusChange {
        responder_id: id.to_string(),
        status,
        since,
    })
}

/// Locks the responders (in id order) and returns (id, status) for those that exist.
async fn lock_responders(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    sqlx::query_as("select id, status from responder where id = any($1) order by id for update")
        .bind(ids)
        .fetch_all(&mut **tx)
        .await
        .during("locking responders")
}

async fn open_of(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[String],
) -> Result<Vec<Assignment>, StoreError> {
    let rows = sqlx::query(&format!(
        "select {ASSIGNMENT_COLUMNS} from assignment where responder_id = any($1) and status in ('dispatched', 'acked')"
    ))
    .bind(ids)
    .fetch_all(&mut **tx)
    .await
    .during("reading open assignments")?;
    rows.iter().map(assignment_from_row).collect()
}

async fn insert_assignment(
    tx: &mut Transaction<'_, Postgres>,
    incident_id: i64,
    responder_id: &str,
    deadline: DateTime<Utc>,
    replaces: Option<i64>,
    reason: Option<&str>,
    by: Option<&str>,
) -> Result<Assignment, StoreError> {
    let row = sqlx::query(&format!(
        "insert into assignment (incident_id, responder_id, status, ack_deadline, replaces, reason, by_whom)
         values ($1, $2, 'dispatched', $3, $4, $5, $6) returning {ASSIGNMENT_COLUMNS}"
    ))
    .bind(incident_id)
    .bind(responder_id)
    .bind(deadline)
    .bind(replaces)
    .bind(reason)
    .bind(by)
    .fetch_one(&mut **tx)
    .await
    .during("inserting an assignment")?;
    let a = assignment_from_row(&row)?;
    log(
        tx,
        "assignment.created",
        &a.id.to_string(),
        json!({"incident_id": incident_id, "responder_id": responder_id, "ack_deadline": deadline, "replaces": replaces, "reason": reason, "by": by}),
    )
    .await?;
    Ok(a)
}

fn describe_open(a: &Assignment) -> String {
    format!(
        "{} is {} to incident {} (assignment {})",
        a.responder_id,
        match a.status {
            AssignmentStatus::Acked => "en route / on scene",
            _ => "dispatched",
        },
        a.incident_id,
        a.id
    )
}

/// Assigns responders to an incident: all or nothing. Each must exist
/// (404 naming it), be `available` and have no open assignment (409 naming
/// the current assignment or status).
pub async fn assign(
    pool: &PgPool,
    incident_id: i64,
    responders: &[String],
    deadline: DateTime<Utc>,
    by: Option<&str>,
) -> Result<DutyChange, StoreError> {
    let mut tx = pool.begin().await.during("starting an assignment")?;
    let exists: Option<i64> = sqlx::query_scalar("select id from incident where id = $1")
        .bind(incident_id)
        .fetch_optional(&mut *tx)
        .await
        .during("checking the incident")?;
    if exists.is_none() {
        return Err(StoreError::Missing(format!("no incident {incident_id}")));
    }
    let locked = lock_responders(&mut tx, responders).await?;
    let open = open_of(&mut tx, responders).await?;
    for (i, id) in responders.iter().enumerate() {
        let field = format!("responders[{i}]");
        let Some((_, status)) = locked.iter().find(|(rid, _)| rid == id) else {
            return Err(StoreError::Missing(format!("no responder {id:?}")));
        };
        if let Some(a) = open.iter().find(|a| &a.responder_id == id) {
            return Err(StoreError::Conflict {
                field,
                reason: describe_open(a),
            });
        }
        if status != Status::Available.code() {
            return Err(StoreError::Conflict {
                field,
                reason: format!("{id} is {status}, not available"),
            });
        }
    }
    let mut change = DutyChange::default();
    for id in responders {
        let a = insert_assignment(&mut tx, incident_id, id, deadline, None, None, by).await?;
        change
            .statuses
            .push(set_responder_status(&mut tx, id, Status::Dispatched).await?);
        change.assignments.push(a);
    }
    tx.commit().await.during("committing an assignment")?;
    Ok(change)
}

async fn peek_assignment(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
) -> Result<Assignment, StoreError> {
    let row = sqlx::query(&format!(
        "select {ASSIGNMENT_COLUMNS} from assignment where id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .during("reading an assignment")?
    .ok_or_else(|| StoreError::Missing(format!("no assignment {id}")))?;
    assignment_from_row(&row)
}

async fn lock_assignment(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
) -> Result<Assignment, StoreError> {
    let row = sqlx::query(&format!(
        "select {ASSIGNMENT_COLUMNS} from assignment where id = $1 for update"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .during("locking an assignment")?
    .ok_or_else(|| StoreError::Missing(format!("no assignment {id}")))?;
    assignment_from_row(&row)
}

async fn close_assignment(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    status: AssignmentStatus,
    reason: Option<&str>,
) -> Result<Assignment, StoreError> {
    let acked = status == AssignmentStatus::Acked;
    let row = sqlx::query(&format!(
        "update assignment set status = $2,
                acked_at = case when $3 then now() else acked_at end,
                closed_at = case when $3 then closed_at else now() end,
                reason = coalesce($4, reason)
         where id = $1 returning {ASSIGNMENT_COLUMNS}"
    ))
    .bind(id)
    .bind(status.code())
    .bind(acked)
    .bind(reason)
    .fetch_one(&mut **tx)
    .await
    .during("updating an assignment")?;
    let a = assignment_from_row(&row)?;
    log(
        tx,
        &format!("assignment.{}", status.code()),
        &id.to_string(),
        json!({"incident_id": a.incident_id, "responder_id": a.responder_id, "reason": reason}),
    )
    .await?;
    Ok(a)
}

/// The responder (or a commander for them) acknowledges: `dispatched` →
/// `acked`, the responder becomes `en_route`.
pub async fn ack(pool: &PgPool, id: i64) -> Result<DutyChange, StoreError> {
    let mut tx = pool.begin().await.during("starting an acknowledgement")?;
    // Lock order everywhere: responders (by id), then assignments.
    let peek = peek_assignment(&mut tx, id).await?;
    lock_responders(&mut tx, std::slice::from_ref(&peek.responder_id)).await?;
    let a = lock_assignment(&mut tx, id).await?;
    if a.status != AssignmentStatus::Dispatched {
        return Err(StoreError::Conflict {
            field: "status".into(),
            reason: format!(
                "assignment {id} is {}; only a dispatched assignment can be acknowledged",
                a.status.code()
            ),
        });
    }
    let a = close_assignment(&mut tx, id, AssignmentStatus::Acked, None).await?;
    let s = set_responder_status(&mut tx, &a.responder_id, Status::EnRoute).await?;
    tx.commit().await.during("committing an acknowledgement")?;
    Ok(DutyChange {
        assignments: vec![a],
        statuses: vec![s],
    })
}

/// Closes an open assignment as declined (by the responder or a commander)
/// or timed out (only if still `dispatched` and past its deadline), frees
/// the responder, and in the same transaction offers the incident to the
/// first of `next` who is available with no open assignment.
/// `Ok(None)` for a timeout that lost the race against an ack or decline.
pub async fn close_and_reoffer(
    pool: &PgPool,
    id: i64,
    close_as: AssignmentStatus,
    reason: &str,
    next: &[String],
    deadline: DateTime<Utc>,
) -> Result<Option<DutyChange>, StoreError> {
    let mut tx = pool.begin().await.during("starting a re-offer")?;
    // lock the old responder and every candidate in one ordered statement,
    // then the assignment (the same order as every other change)
    let peek = peek_assignment(&mut tx, id).await?;
    let mut ids: Vec<String> = next.to_vec();
    ids.push(peek.responder_id.clone());
    let locked = lock_responders(&mut tx, &ids).await?;
    let a = lock_assignment(&mut tx, id).await?;
    let allowed = match close_as {
        AssignmentStatus::TimedOut => {
            a.status == AssignmentStatus::Dispatched && a.ack_deadline <= Utc::now()
        }
        AssignmentStatus::Declined => a.status.is_open(),
        _ => false,
    };
    if !allowed {
        if close_as == AssignmentStatus::TimedOut {
            return Ok(None);
        }
        return Err(StoreError::Conflict {
            field: "status".into(),
            reason: format!(
                "assignment {id} is {}; only an open assignment can be declined",
                a.status.code()
            ),
        });
    }
    let open = open_of(&mut tx, next).await?;
    let closed = close_assignment(&mut tx, id, close_as, Some(reason)).await?;
    let mut change = DutyChange::default();
    change
        .statuses
        .push(set_responder_status(&mut tx, &closed.responder_id, Status::Available).await?);
    change.assignments.push(closed.clone());
    let pick = next.iter().find(|cand| {
        **cand != closed.responder_id
            && !open.iter().any(|o| &o.responder_id == *cand)
            && locked
                .iter()
                .any(|(rid, st)| rid == *cand && st == Status::Available.code())
    });
    if let Some(cand) = pick {
        let why = format!(
            "{} assignment {} of {}",
            if close_as == AssignmentStatus::TimedOut {
                "re-offered after timeout of"
            } else {
                "re-offered after decline of"
            },
            closed.id,
            closed.responder_id
        );
        let na = insert_assignment(
            &mut tx,
            closed.incident_id,
            cand,
            deadline,
            Some(closed.id),
            Some(&why),
            Some("auto"),
        )
        .await?;
        change
            .statuses
            .push(set_responder_status(&mut tx, cand, Status::Dispatched).await?);
        change.assignments.push(na);
    }
    tx.commit().await.during("committing a re-offer")?;
    Ok(Some(change))
}

/// Responders already tried for an incident (any assignment, open or closed).
pub async fn tried(pool: &PgPool, incident_id: i64) -> Result<Vec<String>, StoreError> {
    sqlx::query_scalar("select distinct responder_id from assignment where incident_id = $1")
        .bind(incident_id)
        .fetch_all(pool)
        .await
        .during("reading who was tried for an incident")
}

/// A status set by the responder or a commander. `available` clears an open
/// assignment (handling finished); `en_route`/`on_scene` acknowledge a
/// dispatched one; `busy`/`off_duty` are refused while one is open (409
/// naming it: decline or clear it first); `dispatched` is only set by
/// assigning.
pub async fn set_status(pool: &PgPool, id: &str, status: Status) -> Result<DutyChange, StoreError> {
    let mut tx = pool.begin().await.during("starting a status change")?;
    let locked = lock_responders(&mut tx, &[id.to_string()]).await?;
    if locked.is_empty() {
        return Err(StoreError::Missing(format!("no responder {id:?}")));
    }
    let open = open_of(&mut tx, &[id.to_string()]).await?;
    let mut change = DutyChange::default();
    if let Some(a) = open.first() {
        match status {
            Status::Available => change.assignments.push(
                close_assignment(
                    &mut tx,
                    a.id,
                    AssignmentStatus::Cleared,
                    Some("responder available again"),
                )
                .await?,
            ),
            Status::EnRoute | Status::OnScene if a.status == AssignmentStatus::Dispatched => change
                .assignments
                .push(close_assignment(&mut tx, a.id, AssignmentStatus::Acked, None).await?),
            Status::EnRoute | Status::OnScene => {}
            Status::Busy | Status::OffDuty => {
                return Err(StoreError::Conflict {
                    field: "status".into(),
                    reason: format!(
                        "{}; decline or clear it before setting {}",
                        describe_open(a),
                        status.code()
                    ),
                })
            }
            Status::Dispatched => {}
        }
    }
    change
        .statuses
        .push(set_responder_status(&mut tx, id, status).await?);
    tx.commit().await.during("committing a status change")?;
    Ok(change)
}

/// Telemetry flush: the newest fix per responder (upsert, newest wins even
/// if flushes overlap) and downsampled track points, in one transaction.
pub async fn flush_positions(
    pool: &PgPool,
    latest: &[(String, Fix)],
    track: &[(String, Fix)],
) -> Result<(), StoreError> {
    type Columns = (
        Vec<String>,
        Vec<f64>,
        Vec<f64>,
        Vec<DateTime<Utc>>,
        [Vec<Option<f32>>; 3],
    );
    fn cols(list: &[(String, Fix)]) -> Columns {
        let mut out = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            [Vec::new(), Vec::new(), Vec::new()],
        );
        for (id, f) in list {
            out.0.push(id.clone());
            out.1.push(f.position.lon());
            out.2.push(f.position.lat());
            out.3.push(f.ts);
            out.4[0].push(f.speed_mps.map(|v| v as f32));
            out.4[1].push(f.heading.map(|v| v as f32));
            out.4[2].push(f.accuracy_m.map(|v| v as f32));
        }
        out
    }
    let mut tx = pool.begin().await.during("starting a position flush")?;
    if !latest.is_empty() {
        let (ids, lon, lat, ts, [speed, heading, acc]) = cols(latest);
        sqlx::query(
            "insert into responder_position as p (responder_id, geom, fix_at, speed_mps, heading, accuracy_m)
             select id, ST_SetSRID(ST_MakePoint(lon, lat), 4326), ts, speed, heading, acc
             from unnest($1::text[], $2::float8[], $3::float8[], $4::timestamptz[], $5::real[], $6::real[], $7::real[])
                  as t(id, lon, lat, ts, speed, heading, acc)
             where exists (select 1 from responder r where r.id = t.id)
             order by id
             on conflict (responder_id) do update set geom = excluded.geom, fix_at = excluded.fix_at,
                 speed_mps = excluded.speed_mps, heading = excluded.heading, accuracy_m = excluded.accuracy_m,
                 flushed_at = now()
             where p.fix_at < excluded.fix_at",
        )
        .bind(&ids)
        .bind(&lon)
        .bind(&lat)
        .bind(&ts)
        .bind(&speed)
        .bind(&heading)
        .bind(&acc)
        .execute(&mut *tx)
        .await
        .during("flushing latest positions")?;
    }
    if !track.is_empty() {
        let (ids, lon, lat, ts, [speed, _, _]) = cols(track);
        sqlx::query(
            "insert into responder_track (responder_id, fix_at, geom, speed_mps)
             select id, ts, ST_SetSRID(ST_MakePoint(lon, lat), 4326), speed
             from unnest($1::text[], $2::float8[], $3::float8[], $4::timestamptz[], $5::real[])
                  as t(id, lon, lat, ts, speed)
             where exists (select 1 from responder r where r.id = t.id)
             on conflict do nothing",
        )
        .bind(&ids)
        .bind(&lon)
        .bind(&lat)
        .bind(&ts)
        .bind(&speed)
        .execute(&mut *tx)
        .await
        .during("flushing track points")?;
    }
    tx.commit().await.during("committing a position flush")?;
    Ok(())
}

/// Track points of one responder in a period, oldest first (replay).
pub async fn track(
    pool: &PgPool,
    id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Fix>, StoreError> {
    let rows = sqlx::query(
        "select ST_X(geom) as lon, ST_Y(geom) as lat, fix_at, speed_mps from responder_track
         where responder_id = $1 and fix_at >= $2 and fix_at < $3 order by fix_at limit 10000",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .during("reading a track")?;
    rows.iter()
        .map(|r| {
            Ok(Fix {
                position: Position::new(r.get("lon"), r.get("lat"))
                    .map_err(|e| bad(e.to_string()))?,
                ts: r.get("fix_at"),
                speed_mps: r.get::<Option<f32>, _>("speed_mps").map(f64::from),
                heading: None,
                accuracy_m: None,
                altitude_m: None,
                battery: None,
            })
        })
        .collect()
}
