-- Responders (people and vehicles a commander can send), their latest
-- position, a downsampled track, and assignments to incidents.
--
-- Durability policy (ARCHITECTURE.md "Responders"):
--   * roster rows, statuses and assignments are records: committed (with an
--     event_log row in the same transaction) before any answer or stream event;
--   * positions are telemetry: the live world keeps the newest fix per
--     responder and flushes the latest ones to responder_position in one batch
--     per second; responder_track keeps a downsampled track for replay.

create table responder (
    id           text primary key check (length(id) between 1 and 64),
    name         text not null,
    kind         text not null check (kind in ('police', 'patrol_car', 'auxiliary', 'grid', 'lawyer',
                                               'prosecutor', 'cadre', 'mediator', 'fire', 'other')),
    skills       text[] not null default '{}',
    station_code text,
    post_code    text,
    department   text,
    -- only ever the masked form (138****1234); the clear number is never stored
    phone_masked text,
    shift        text,
    status       text not null default 'available'
                 check (status in ('available', 'dispatched', 'en_route', 'on_scene', 'busy', 'off_duty')),
    status_since timestamptz not null default now(),
    demo         boolean not null default false,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
create index responder_kind_idx on responder (kind, status);

-- Latest accepted fix per responder (newest wins; flushed in batches).
create table responder_position (
    responder_id text primary key references responder (id) on delete cascade,
    geom         geometry(Point, 4326) not null,
    fix_at       timestamptz not null,
    speed_mps    real,
    heading      real,
    accuracy_m   real,
    flushed_at   timestamptz not null default now()
);
create index responder_position_geom_idx on responder_position using gist (geom);

-- Downsampled track (one point per 30 s or 100 m moved), for replay.
create table responder_track (
    responder_id text not null references responder (id) on delete cascade,
    fix_at       timestamptz not null,
    geom         geometry(Point, 4326) not null,
    speed_mps    real,
    primary key (responder_id, fix_at)
);

create table assignment (
    id           bigint generated always as identity primary key,
    incident_id  bigint not null references incident (id),
    responder_id text not null references responder (id),
    status       text not null check (status in ('dispatched', 'acked', 'declined', 'timed_out', 'cleared')),
    created_at   timestamptz not null default now(),
    ack_deadline timestamptz not null,
    acked_at     timestamptz,
    closed_at    timestamptz,
    -- the assignment this one was offered in place of (timeout or decline)
    replaces     bigint references assignment (id),
    reason       text,
    by_whom      text
);
-- A responder is on at most one open assignment: the database is the arbiter
-- when two commanders assign the same responder at once.
create unique index assignment_one_open_per_responder on assignment (responder_id)
    where status in ('dispatched', 'acked');
create index assignment_incident_idx on assignment (incident_id, id);
create index assignment_deadline_idx on assignment (ack_deadline) where status = 'dispatched';
