-- Multi-source ingest (issue 6): every source's record becomes one normalized
-- incident, located (or flagged unlocated), classified and tagged, with the
-- source's raw record kept beside it.
--
-- * geom becomes optional: a record that cannot be located is stored with
--   geom null and `located = false`, never dropped.
-- * detail (jsonb): source category, occurred time, CRS received, geocode
--   match, classification, masked parties with their keyed hashes, entities,
--   external refs (EIDO ids). Columns below copy what queries filter on.
-- * raw (jsonb): the source's native record, with personal numbers replaced
--   by their masked form (phone and ID numbers are never stored in clear).
alter table incident alter column geom drop not null;

alter table incident
    add column located boolean generated always as (geom is not null) stored,
    add column source_category text,
    add column occurred_at timestamptz,
    add column leaf_id text,
    add column group_id text,
    add column tags text[] not null default '{}',
    add column caller_hash text,
    add column detail jsonb not null default '{}',
    add column raw jsonb;

create index incident_unlocated_idx on incident (reported_at desc, id desc) where geom is null;
create index incident_leaf_idx on incident (leaf_id, reported_at desc);
create index incident_caller_hash_idx on incident (caller_hash, reported_at desc) where caller_hash is not null;
