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
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}}
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
