-- Repeat-call clustering (issue 7): one event, many calls.
--
-- The live writer decides memberships online (src/cluster); they are stored
-- here before they are published, and rebuilt into memory at start-up.
--
-- * cluster: one row per cluster, named by the incident that opened it; the
--   aggregates the writer keeps (members, time span, centroid, bbox, counts
--   per leaf and source). `version` grows with every change: an upsert never
--   goes back to an older state. A merged-away cluster keeps its row with
--   `replaced_by` set.
-- * cluster_member: which cluster each incident is in, and why (the link
--   that put it there). Repeat calls are counted from here: every member but
--   the earliest (by reported_at) of its cluster is a repeat.
-- * cluster_link: history in the EIDO manner (REPLACING/REPLACED for
--   merges, SPLIT/PARENT/CHILD for splits, RELATED), automatic or by hand.
create table cluster (
    id          bigint primary key references incident (id),
    family      text not null,
    members     integer not null check (members >= 0),
    located     integer not null check (located >= 0),
    first_at    timestamptz not null,
    last_at     timestamptz not null,
    closes_at   timestamptz not null,
    horizon_at  timestamptz not null,
    centroid    geometry(Point, 4326),
    west        double precision,
    south       double precision,
    east        double precision,
    north       double precision,
    categories  jsonb not null default '{}',
    sources     jsonb not null default '{}',
    callers     integer not null default 0,
    replaced_by bigint references cluster (id),
    manual      boolean not null default false,
    apart_from  bigint[] not null default '{}',
    version     bigint not null,
    updated_at  timestamptz not null default now()
);
create index cluster_centroid_gix on cluster using gist (centroid);
create index cluster_last_idx on cluster (last_at desc, id desc) where replaced_by is null;
create index cluster_horizon_idx on cluster (horizon_at) where replaced_by is null;

create table cluster_member (
    incident_id bigint primary key references incident (id),
    cluster_id  bigint not null references cluster (id),
    reason      text not null check (reason in ('opened', 'nearby', 'same_caller', 'same_entity', 'manual')),
    matched     bigint references incident (id),
    distance_m  double precision,
    joined_at   timestamptz not null default now()
);
create index cluster_member_cluster_idx on cluster_member (cluster_id);

create table cluster_link (
    seq         bigint generated always as identity primary key,
    cluster_id  bigint not null references cluster (id),
    kind        text not null check (kind in ('REPLACING', 'REPLACED', 'SPLIT', 'PARENT', 'CHILD', 'RELATED')),
    other_id    bigint not null references cluster (id),
    incident_id bigint references incident (id),
    manual      boolean not null,
    actor       text,
    note        text,
    at          timestamptz not null default now()
);
create index cluster_link_cluster_idx on cluster_link (cluster_id, seq);
