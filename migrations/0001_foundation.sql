-- lianqin foundation schema. All geometry is WGS-84 (EPSG:4326).
create extension if not exists postgis;

-- Governance layers. Each layer is replaced whole, in one transaction, by
-- `lianqin import`; `props` keeps every source property (generated, method, ...).
create table district (
    code  text primary key,
    name  text not null,
    props jsonb not null default '{}',
    geom  geometry(MultiPolygon, 4326) not null
);
create index district_geom_idx on district using gist (geom);

create table township (
    code          text primary key,
    name          text not null,
    district_code text,
    props         jsonb not null default '{}',
    geom          geometry(MultiPolygon, 4326) not null
);
create index township_geom_idx on township using gist (geom);

create table grid (
    code          text primary key,
    name          text not null,
    township_code text,
    props         jsonb not null default '{}',
    geom          geometry(MultiPolygon, 4326) not null
);
create index grid_geom_idx on grid using gist (geom);
create index grid_township_idx on grid (township_code);

create table station (
    code          text primary key,
    name          text not null,
    township_code text,
    serves        text[] not null default '{}',
    props         jsonb not null default '{}',
    geom          geometry(Point, 4326) not null
);
create index station_geom_idx on station using gist (geom);

create table police_post (
    code          text primary key,
    name          text not null,
    township_code text,
    props         jsonb not null default '{}',
    geom          geometry(Point, 4326) not null
);
create index police_post_geom_idx on police_post using gist (geom);

-- Incidents from every source system. (source, source_id) makes ingest idempotent.
create table incident (
    id            bigint generated always as identity primary key,
    source        text not null,
    source_id     text not null,
    reported_at   timestamptz not null,
    received_at   timestamptz not null default now(),
    category      text,
    description   text,
    address       text,
    priority      smallint check (priority between 1 and 4),
    demo          boolean not null default false,
    geom          geometry(Point, 4326) not null,
    township_code text,
    grid_code     text,
    -- the jurisdiction as assigned at ingest time (layers may change later)
    jurisdiction  jsonb not null default '{}',
    constraint incident_source_key unique (source, source_id)
);
create index incident_geom_idx on incident using gist (geom);
create index incident_reported_idx on incident (reported_at desc, id desc);
create index incident_township_idx on incident (township_code, reported_at desc);

-- Append-only log of everything that changed. Later issues (cases, sign-for,
-- warnings, replication over NATS) append their own kinds.
create table event_log (
    seq     bigint generated always as identity primary key,
    at      timestamptz not null default now(),
    kind    text not null,
    subject text not null,
    payload jsonb not null default '{}'
);
create index event_log_kind_idx on event_log (kind, seq);

create function event_log_append_only() returns trigger
language plpgsql as $$
begin
    raise exception 'event_log is append-only (% refused)', tg_op;
end
$$;
create trigger event_log_no_update_delete before update or delete on event_log
    for each row execute function event_log_append_only();
create trigger event_log_no_truncate before truncate on event_log
    for each statement execute function event_log_append_only();
