//! The OpenAPI 3.1 document at `GET /openapi.json`, written by hand next to
//! the handlers it describes (one JSON value, no derive machinery).

use axum::Json;
use serde_json::{json, Value};

pub async fn document() -> Json<Value> {
    Json(spec())
}

fn err_responses() -> Value {
    json!({
        "400": {"description": "Invalid input; the body names the field and the reason", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "404": {"description": "Unknown path or resource", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    })
}

pub fn spec() -> Value {
    let mut post_responses = err_responses();
    post_responses["201"] = json!({"description": "At least one incident was created; stored records in input order", "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/IncidentRecord"}, {"type": "array", "items": {"$ref": "#/components/schemas/IncidentRecord"}}]}}}});
    post_responses["200"] = json!({"description": "Every incident was already stored (idempotent resend); the stored records"});
    post_responses["413"] = json!({"description": "Body larger than the limit", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    post_responses["415"] = json!({"description": "Content-Type is not application/json"});
    post_responses["503"] =
        json!({"description": "Too many ingest requests in flight (shed); retry"});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "lianqin",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Real-time geospatial core of the Huangyan joint-duty command center. Coordinates are WGS-84 lon/lat; distances are metres. The WebSocket stream at /api/v1/stream is described in docs/STREAM.md."
        },
        "paths": {
            "/healthz": {"get": {"summary": "Health: 200 when the database answers and the world is loaded", "responses": {"200": {"description": "Healthy"}, "503": {"description": "Database unreachable or no layers loaded"}}}},
            "/api/v1/layers/{name}": {"get": {
                "summary": "A governance layer as an RFC 7946 FeatureCollection",
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string", "enum": ["boundary", "townships", "grids", "stations", "posts"]}}],
                "responses": {"200": {"description": "FeatureCollection", "content": {"application/geo+json": {}}}, "404": {"description": "Unknown layer"}}
            }},
            "/api/v1/locate": {"get": {
                "summary": "Jurisdiction of a point: district, township, grid, responsible station, nearest post (metres)",
                "parameters": [
                    {"name": "lon", "in": "query", "required": true, "schema": {"type": "number", "minimum": -180, "maximum": 180}},
                    {"name": "lat", "in": "query", "required": true, "schema": {"type": "number", "minimum": -90, "maximum": 90}},
                    {"name": "crs", "in": "query", "required": false, "schema": {"type": "string", "enum": ["wgs84", "gcj02", "bd09"], "default": "wgs84"}}
                ],
                "responses": {"200": {"description": "Jurisdiction", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Jurisdiction"}}}}, "400": err_responses()["400"]}
            }},
            "/api/v1/incidents": {
                "post": {
                    "summary": "Ingest one incident or an array (≤ 1000). Idempotent on (source, source_id); all-or-nothing; answered after the commit",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/NewIncident"}, {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"$ref": "#/components/schemas/NewIncident"}}]}}}},
                    "responses": post_responses
                },
                "get": {
                    "summary": "Stored incidents, newest first (by reported_at)",
                    "parameters": [
                        {"name": "bbox", "in": "query", "schema": {"type": "string", "example": "121.2,28.6,121.3,28.7"}, "description": "w,s,e,n in degrees"},
                        {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500}}
                    ],
                    "responses": {"200": {"description": "FeatureCollection of incidents", "content": {"application/geo+json": {}}}, "400": err_responses()["400"]}
                }
            },
            "/api/v1/stats/today": {"get": {"summary": "Incidents received since midnight Asia/Shanghai, by source (from PostGIS), with the highest incident id at that moment", "responses": {"200": {"description": "{day, timezone, since, total, by_source, max_id}"}}}},
            "/api/v1/stream": {"get": {"summary": "WebSocket upgrade: subscribe to a bbox, get a snapshot then live incidents (docs/STREAM.md)", "responses": {"101": {"description": "Switching protocols"}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
            "/api/v1/responders": {
                "post": {
                    "summary": "Upsert roster entries by id (one object or an array ≤ 1000); all or nothing. An explicit `status` sets it (409 while the responder is on an open assignment); phone numbers are stored only masked",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/NewResponder"}, {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"$ref": "#/components/schemas/NewResponder"}}]}}}},
                    "responses": {"201": {"description": "At least one responder was created; Features with `created`"}, "200": {"description": "All existed and were updated"}, "400": err_responses()["400"], "413": {"description": "Body larger than the limit"}}
                },
                "get": {
                    "summary": "Responders as GeoJSON Features (geometry null without a fix), with the last position and its age",
                    "parameters": [
                        {"name": "bbox", "in": "query", "schema": {"type": "string"}, "description": "w,s,e,n; only responders with a position inside"},
                        {"name": "type", "in": "query", "schema": {"type": "string"}, "description": "comma list of types"},
                        {"name": "status", "in": "query", "schema": {"type": "string"}, "description": "comma list of statuses, or any"},
                        {"name": "skill", "in": "query", "schema": {"type": "string"}},
                        {"name": "station", "in": "query", "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"description": "FeatureCollection of ResponderFeature", "content": {"application/geo+json": {}}}, "400": err_responses()["400"]}
                }
            },
            "/api/v1/responders/positions": {"post": {
                "summary": "Position fixes (one object or an array ≤ 1000): validated, de-duplicated, newest wins per responder, Traccar-like filters (future > 5 min, outdated, duplicate, older than latest, implausible jump by type, inaccurate). Telemetry: flushed to PostGIS within 1 s",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/PositionFix"}, {"type": "array", "items": {"$ref": "#/components/schemas/PositionFix"}}]}}}},
                "responses": {"200": {"description": "{accepted, rejected: [{index, id, field, reason, code}]}"}, "400": err_responses()["400"], "404": {"description": "Every fix named an unknown responder (field id)"}, "422": {"description": "Every fix was refused by a filter; `code` names it"}}
            }},
            "/api/v1/responders/nearest": {"get": {
                "summary": "The k nearest matching responders (default status available), fresh fixes first then stale, each by haversine distance; with ETA and the reasons for the rank",
                "parameters": [
                    {"name": "lon", "in": "query", "required": true, "schema": {"type": "number"}},
                    {"name": "lat", "in": "query", "required": true, "schema": {"type": "number"}},
                    {"name": "crs", "in": "query", "schema": {"type": "string", "enum": ["wgs84", "gcj02", "bd09"]}},
                    {"name": "k", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 5}},
                    {"name": "type", "in": "query", "schema": {"type": "string"}},
                    {"name": "skill", "in": "query", "schema": {"type": "string"}},
                    {"name": "station", "in": "query", "schema": {"type": "string"}},
                    {"name": "status", "in": "query", "schema": {"type": "string", "default": "available"}},
                    {"name": "fields", "in": "query", "schema": {"type": "string", "enum": ["full", "ids"], "default": "full"}, "description": "ids: only {id, distance_m, eta_s, stale} per candidate"}
                ],
                "responses": {"200": {"description": "{lon, lat, k, candidates: [Candidate]} (fields=ids: {candidates: [{id, distance_m, eta_s, stale}]})"}, "400": err_responses()["400"]}
            }},
            "/api/v1/responders/{id}": {"get": {"summary": "One responder as a Feature", "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "ResponderFeature"}, "404": {"description": "Unknown responder (field id)"}}}},
            "/api/v1/responders/{id}/status": {"post": {
                "summary": "Set a status: available clears an open assignment, en_route/on_scene acknowledge a dispatched one, busy/off_duty are refused (409) while one is open, dispatched only by assigning",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["available", "en_route", "on_scene", "busy", "off_duty"]}}}}}},
                "responses": {"200": {"description": "{assignments, responders}"}, "400": err_responses()["400"], "404": {"description": "Unknown responder"}, "409": {"description": "Conflicts with the open assignment, named in reason"}}
            }},
            "/api/v1/responders/{id}/track": {"get": {"summary": "The downsampled track (one point per 30 s or 100 m) as a LineString Feature with times", "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "from", "in": "query", "schema": {"type": "string", "format": "date-time"}}, {"name": "to", "in": "query", "schema": {"type": "string", "format": "date-time"}}], "responses": {"200": {"description": "Feature"}, "404": {"description": "Unknown responder"}}}},
            "/osmand": {
                "get": {"summary": "OsmAnd protocol as Traccar's server accepts it (id|deviceid, lat+lon|location=lat,lon, timestamp in s/ms/ISO-8601, speed in knots, bearing|heading, altitude, accuracy|hdop, batt; crs extension), so Traccar Client reports unchanged", "responses": {"200": {"description": "Accepted (or an exact resend of the stored fix)"}, "400": err_responses()["400"], "404": {"description": "Unknown device id (field id)"}, "422": {"description": "Refused by a position filter; code names it"}}},
                "post": {"summary": "Same as GET, with the query string, a form body, or Traccar Client's JSON body ({location:{timestamp, coords:{latitude, longitude, accuracy, speed, heading, altitude}, battery:{level}}, device_id})", "responses": {"200": {"description": "Accepted"}, "400": err_responses()["400"], "404": {"description": "Unknown device id"}, "422": {"description": "Refused by a position filter"}}}
            },
            "/api/v1/incidents/{id}/candidates": {"get": {
                "summary": "Recommended responders for an incident: k nearest matching (default available), with distance (m), ETA (straight line × detour factor ÷ speed per type) and reasons",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}, {"name": "k", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 5}}, {"name": "type", "in": "query", "schema": {"type": "string"}}, {"name": "skill", "in": "query", "schema": {"type": "string"}}, {"name": "station", "in": "query", "schema": {"type": "string"}}, {"name": "status", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "{incident, candidates: [Candidate]}"}, "400": err_responses()["400"], "404": {"description": "Unknown incident"}}
            }},
            "/api/v1/incidents/{id}/assign": {"post": {
                "summary": "Dispatch responders to an incident (all or nothing); committed with event-log rows before the answer; an unacknowledged dispatch is re-offered to the next closest available responder after the ack timeout",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["responders"], "properties": {"responders": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"type": "string"}}, "by": {"type": "string"}}}}}},
                "responses": {"201": {"description": "{assignments, responders}"}, "400": err_responses()["400"], "404": {"description": "Unknown incident or responder (field names it)"}, "409": {"description": "A responder is not available or already assigned; reason names the current assignment"}}
            }},
            "/api/v1/incidents/{id}/assignments": {"get": {"summary": "Every assignment of an incident, oldest first (re-offers carry `replaces`)", "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}], "responses": {"200": {"description": "{incident_id, assignments}"}}}},
            "/api/v1/assignments/{id}/ack": {"post": {"summary": "Acknowledge a dispatch: assignment acked, responder en_route", "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}], "responses": {"200": {"description": "{assignments, responders}"}, "404": {"description": "Unknown assignment"}, "409": {"description": "Not dispatched any more"}}}},
            "/api/v1/assignments/{id}/decline": {"post": {"summary": "Decline: responder available again, the incident offered to the next closest available responder of the same type", "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}], "responses": {"200": {"description": "{assignments, responders}"}, "404": {"description": "Unknown assignment"}, "409": {"description": "Not open any more"}}}},
            "/api/v1/heat": {"get": {
                "summary": "Decayed incident intensity on H3 cells (res 7–10): live surface (24 h half-life) or risk surface (30 days), per category or overall; updated per incident in the live world. An `at` more than a minute in the past is computed exactly from PostGIS",
                "parameters": [
                    {"name": "bbox", "in": "query", "schema": {"type": "string"}, "description": "w,s,e,n (default: the district)"},
                    {"name": "res", "in": "query", "schema": {"type": "integer", "minimum": 7, "maximum": 10, "default": 8}},
                    {"name": "category", "in": "query", "schema": {"type": "string"}},
                    {"name": "surface", "in": "query", "schema": {"type": "string", "enum": ["live", "risk"], "default": "live"}},
                    {"name": "at", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                    {"name": "area", "in": "query", "schema": {"type": "string"}, "description": "township:CODE, station:CODE or grid:CODE"},
                    {"name": "boundary", "in": "query", "schema": {"type": "boolean"}, "description": "include each cell's hexagon"}
                ],
                "responses": {"200": {"description": "{res, surface, half_life_s, at, max_intensity, cells: [{h3, lon, lat, intensity, count, boundary?}]}"}, "400": err_responses()["400"]}
            }},
            "/api/v1/hotspots": {"get": {
                "summary": "Getis-Ord Gi* over every H3 cell of the study area (zeros included), binary k-ring weights with the cell itself, two-sided p, Benjamini-Hochberg FDR, bins ±1/±2/±3 (90/95/99 %), and the top repeat places",
                "parameters": [
                    {"name": "bbox", "in": "query", "schema": {"type": "string"}}, {"name": "area", "in": "query", "schema": {"type": "string"}},
                    {"name": "res", "in": "query", "schema": {"type": "integer", "minimum": 7, "maximum": 10, "default": 9}},
                    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date-time"}}, {"name": "to", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                    {"name": "category", "in": "query", "schema": {"type": "string"}}, {"name": "k", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 3, "default": 1}},
                    {"name": "all", "in": "query", "schema": {"type": "boolean"}, "description": "list every study cell, not only those with incidents or a non-zero bin"}
                ],
                "responses": {"200": {"description": "{res, k, weights, from, to, n_cells, n_incidents, bins, cells: [{h3, lon, lat, count, z, p, p_fdr, bin}], top_places}"}, "400": err_responses()["400"]}
            }},
            "/api/v1/hotspots/emerging": {"get": {
                "summary": "Emerging-hotspot classes (new, consecutive, intensifying, persistent, diminishing, sporadic, oscillating, historical; hot and cold) over a series of periods, with a Mann-Kendall trend test per cell",
                "parameters": [
                    {"name": "bbox", "in": "query", "schema": {"type": "string"}}, {"name": "area", "in": "query", "schema": {"type": "string"}},
                    {"name": "res", "in": "query", "schema": {"type": "integer", "minimum": 7, "maximum": 10, "default": 9}},
                    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date-time"}}, {"name": "to", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                    {"name": "step", "in": "query", "schema": {"type": "string", "enum": ["day", "week"], "default": "week"}},
                    {"name": "category", "in": "query", "schema": {"type": "string"}}, {"name": "k", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 3}},
                    {"name": "all", "in": "query", "schema": {"type": "boolean"}}
                ],
                "responses": {"200": {"description": "{periods, classes, cells: [{h3, lon, lat, class, trend_z, trend_p, bins, counts}]}"}, "400": err_responses()["400"]}
            }},
            "/api/v1/forecast": {"get": {
                "summary": "Expected incidents per H3 cell in the next `days`: empirical-Bayes shrinkage of the last `days` counts towards the cell's first-ring mean, k = 1 (the model that beat naive counts and KDE on police.uk data, docs/FORECAST.md)",
                "parameters": [
                    {"name": "bbox", "in": "query", "schema": {"type": "string"}}, {"name": "area", "in": "query", "schema": {"type": "string"}},
                    {"name": "res", "in": "query", "schema": {"type": "integer", "minimum": 7, "maximum": 10, "default": 9}},
                    {"name": "category", "in": "query", "schema": {"type": "string"}},
                    {"name": "days", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 365, "default": 28}},
                    {"name": "all", "in": "query", "schema": {"type": "boolean"}}
                ],
                "responses": {"200": {"description": "{model, res, days, n_cells, cells: [{h3, lon, lat, score, count}]}"}, "400": err_responses()["400"]}
            }},
            "/api/v1/stats/positions": {"get": {"summary": "Position ingest counters since start: accepted, rejected by reason, unknown responder, invalid, flushes", "responses": {"200": {"description": "counters"}}}}
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error", "reason"], "properties": {
                "error": {"type": "string", "example": "invalid_request"},
                "field": {"type": "string", "example": "lat"},
                "reason": {"type": "string", "example": "latitude must be a finite number between -90 and 90, got 91"}}},
            "NewIncident": {"type": "object", "additionalProperties": false, "required": ["source", "source_id", "reported_at", "lon", "lat"], "properties": {
                "source": {"type": "string", "enum": ["110", "12345", "xinfang", "maodiao", "grid", "station", "sifa", "other"]},
                "source_id": {"type": "string", "minLength": 1, "maxLength": 128},
                "reported_at": {"type": "string", "format": "date-time", "description": "RFC 3339 with offset; at most 5 minutes in the future"},
                "lon": {"type": "number", "minimum": -180, "maximum": 180},
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "crs": {"type": "string", "enum": ["wgs84", "gcj02", "bd09"], "default": "wgs84", "description": "Datum of lon/lat; converted to WGS-84 on arrival"},
                "category": {"type": "string", "maxLength": 64},
                "description": {"type": "string", "maxLength": 2000},
                "address": {"type": "string", "maxLength": 256},
                "priority": {"type": "integer", "minimum": 1, "maximum": 4}}},
            "IncidentRecord": {"type": "object", "properties": {
                "id": {"type": "integer"}, "created": {"type": "boolean", "description": "false when this (source, source_id) was already stored"},
                "source": {"type": "string"}, "source_label": {"type": "string"}, "source_id": {"type": "string"},
                "reported_at": {"type": "string", "format": "date-time"}, "received_at": {"type": "string", "format": "date-time"},
                "lon": {"type": "number"}, "lat": {"type": "number"},
                "category": {"type": ["string", "null"]}, "description": {"type": ["string", "null"]}, "address": {"type": ["string", "null"]},
                "priority": {"type": ["integer", "null"]}, "demo": {"type": "boolean"},
                "jurisdiction": {"$ref": "#/components/schemas/JurisdictionSummary"}}},
            "JurisdictionSummary": {"type": "object", "properties": {
                "inside": {"type": "boolean"}, "township_code": {"type": ["string", "null"]}, "township_name": {"type": ["string", "null"]},
                "grid_code": {"type": ["string", "null"]}, "grid_name": {"type": ["string", "null"]},
                "station_code": {"type": ["string", "null"]}, "station_name": {"type": ["string", "null"]},
                "post_code": {"type": ["string", "null"]}, "post_name": {"type": ["string", "null"]}, "post_distance_m": {"type": ["number", "null"]}}},
            "NewResponder": {"type": "object", "additionalProperties": false, "required": ["id", "name", "type"], "properties": {
                "id": {"type": "string", "minLength": 1, "maxLength": 64}, "name": {"type": "string", "maxLength": 64},
                "type": {"type": "string", "enum": ["police", "patrol_car", "auxiliary", "grid", "lawyer", "prosecutor", "cadre", "mediator", "fire", "other"]},
                "skills": {"type": "array", "maxItems": 16, "items": {"type": "string", "maxLength": 32}},
                "station": {"type": "string"}, "post": {"type": "string"}, "department": {"type": "string"},
                "phone": {"type": "string", "description": "stored only masked, e.g. 138****1234"}, "shift": {"type": "string"},
                "status": {"type": "string", "enum": ["available", "busy", "off_duty"]}, "demo": {"type": "boolean"}}},
            "PositionFix": {"type": "object", "additionalProperties": false, "required": ["id", "lon", "lat", "ts"], "properties": {
                "id": {"type": "string"}, "lon": {"type": "number"}, "lat": {"type": "number"}, "ts": {"type": "string", "format": "date-time"},
                "speed": {"type": "number", "description": "m/s"}, "heading": {"type": "number"}, "accuracy": {"type": "number", "description": "metres"},
                "altitude": {"type": "number"}, "battery": {"type": "number", "description": "percent"},
                "crs": {"type": "string", "enum": ["wgs84", "gcj02", "bd09"]}}},
            "Candidate": {"type": "object", "properties": {
                "rank": {"type": "integer"}, "responder": {"type": "object"}, "lon": {"type": "number"}, "lat": {"type": "number"},
                "distance_m": {"type": "number"}, "eta_s": {"type": "number"}, "stale": {"type": "boolean"}, "position_age_s": {"type": "number"},
                "reasons": {"type": "array", "items": {"type": "string"}}}},
            "AreaRef": {"type": ["object", "null"], "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "generated": {"type": "boolean"}}},
            "SiteRef": {"type": ["object", "null"], "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "distance_m": {"type": "number"}}},
            "Jurisdiction": {"type": "object", "properties": {
                "lon": {"type": "number"}, "lat": {"type": "number"}, "inside": {"type": "boolean"},
                "district": {"$ref": "#/components/schemas/AreaRef"}, "township": {"$ref": "#/components/schemas/AreaRef"},
                "grid": {"$ref": "#/components/schemas/AreaRef"}, "station": {"$ref": "#/components/schemas/SiteRef"},
                "nearest_post": {"$ref": "#/components/schemas/SiteRef"}}}
        }}
    })
}
