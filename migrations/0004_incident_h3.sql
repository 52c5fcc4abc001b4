-- Each incident's H3 cell (resolution 10, as the 64-bit index) — computed
-- at ingest from the WGS-84 point; coarser cells are its parents. The live
-- heat is rebuilt from it at start-up; hotspot and forecast queries group
-- by it. Rows stored before this migration are filled in by the server at
-- start-up (PostGIS has no H3 functions without an extension).
alter table incident add column h3_r10 bigint;
create index incident_h3_idx on incident (h3_r10, reported_at);
