//! Wire formats shared by the adapters on both sides of the live world
//! (`live` renders layer GeoJSON once per layer change, `http` serves it), kept
//! below both so data flows one way: source → ingest → store → live →
//! realtime/http.

pub mod geojson;
