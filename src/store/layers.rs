//! Governance layers in PostGIS: replace a layer whole, load all layers.

use geo::{MultiPolygon, Point};
use serde_json::{json, Map, Value};
use sqlx::{PgPool, Row};

use super::{Context, StoreError};
use crate::domain::LayerData;
use crate::domain::{Area, LayerKind, Layers, Site};

fn table(kind: LayerKind) -> &'static str {
    match kind {
        LayerKind::Boundary => "district",
        LayerKind::Townships => "township",
        LayerKind::Grids => "grid",
        LayerKind::Stations => "station",
        LayerKind::Posts => "police_post",
    }
}

fn parent_column(kind: LayerKind) -> Option<&'static str> {
    match kind {
        LayerKind::Townships => Some("district_code"),
        LayerKind::Grids => Some("township_code"),
        _ => None,
    }
}

fn geometry_json(mp: &MultiPolygon<f64>) -> String {
    geojson::Geometry::new(geojson::Value::from(mp)).to_string()
}

fn point_json(p: &Point<f64>) -> String {
    json!({"type": "Point", "coordinates": [p.x(), p.y()]}).to_string()
}

/// Replaces a layer with `data` in one transaction: delete, insert, check
/// validity with PostGIS too (`ST_IsValid`), fill in missing township codes
/// from geometry, log the import. On any error nothing changes.
pub async fn replace_layer(
    pool: &PgPool,
    kind: LayerKind,
    data: &LayerData,
) -> Result<usize, StoreError> {
    replace_layers(pool, &[(kind, data)]).await
}

/// Replaces several layers in ONE transaction (`lianqin import a b c`): if
/// any file fails, no layer changes. Layers are applied in `LayerKind`
/// order so townships exist before grids derive their township codes.
pub async fn replace_layers(
    pool: &PgPool,
    layers: &[(LayerKind, &LayerData)],
) -> Result<usize, StoreError> {
    let mut ordered: Vec<&(LayerKind, &LayerData)> = layers.iter().collect();
    ordered.sort_by_key(|(k, _)| *k);
    let mut tx = pool
        .begin()
        .await
        .during("starting the import transaction")?;
    let mut n = 0;
    for (kind, data) in ordered {
        n += replace_in(&mut tx, *kind, data).await?;
    }
    tx.commit().await.during("committing the import")?;
    Ok(n)
}

async fn replace_in(
    tx: &mut sqlx::PgConnection,
    kind: LayerKind,
    data: &LayerData,
) -> Result<usize, StoreError> {
    let t = table(kind);
    sqlx::query(&format!("delete from {t}"))
        .execute(&mut *tx)
        .await
        .during("clearing the layer")?;
    match data {
        LayerData::Areas(areas) => {
            let parent = parent_column(kind);
            for a in areas {
                let sql = match parent {
                    Some(col) => format!(
                        "insert into {t} (code, name, props, geom, {col}) values ($1, $2, $3, ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON($4), 4326)), $5)"
                    ),
                    None => format!(
                        "insert into {t} (code, name, props, geom) values ($1, $2, $3, ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON($4), 4326)))"
                    ),
                };
                let mut q = sqlx::query(&sql)
                    .bind(&a.code)
                    .bind(&a.name)
                    .bind(Value::Object(a.props.clone()))
                    .bind(geometry_json(&a.geometry));
                if parent.is_some() {
                    q = q.bind(&a.parent_code);
                }
                q.execute(&mut *tx).await.during("inserting an area")?;
            }
            let invalid: Option<(String, String)> = sqlx::query_as(&format!(
                "select code, ST_IsValidReason(geom) from {t} where not ST_IsValid(geom) order by code limit 1"
            ))
            .fetch_optional(&mut *tx)
            .await
            .during("checking geometry validity")?;
            if let Some((code, reason)) = invalid {
                return Err(StoreError::Layer {
                    layer: kind.to_string(),
                    reason: format!("feature with code {code:?} has invalid geometry according to PostGIS: {reason}"),
                });
            }
            if kind == LayerKind::Grids {
                sqlx::query(
                    "update grid g set township_code = t.code from township t
                     where g.township_code is null and ST_Contains(t.geom, ST_PointOnSurface(g.geom))",
                )
                .execute(&mut *tx)
                .await
                .during("assigning grids to townships")?;
            }
        }
        LayerData::Sites(sites) => {
            let post_sql = format!(
                "insert into {t} (code, name, township_code, props, geom)
                 values ($1, $2, $3, $4, ST_SetSRID(ST_GeomFromGeoJSON($5), 4326))"
            );
            for s in sites {
                let q = if kind == LayerKind::Stations {
                    sqlx::query(
                        "insert into station (code, name, township_code, serves, props, geom)
                         values ($1, $2, $3, $4, $5, ST_SetSRID(ST_GeomFromGeoJSON($6), 4326))",
                    )
                    .bind(&s.code)
                    .bind(&s.name)
                    .bind(&s.township_code)
                    .bind(&s.serves)
                } else {
                    sqlx::query(&post_sql)
                        .bind(&s.code)
                        .bind(&s.name)
                        .bind(&s.township_code)
                };
                q.bind(Value::Object(s.props.clone()))
                    .bind(point_json(&s.point))
                    .execute(&mut *tx)
                    .await
                    .during("inserting a site")?;
            }
            sqlx::query(&format!(
                "update {t} s set township_code = t.code from township t
                 where s.township_code is null and ST_Intersects(t.geom, s.geom)"
            ))
            .execute(&mut *tx)
            .await
            .during("assigning sites to townships")?;
        }
    }
    sqlx::query("insert into event_log (kind, subject, payload) values ('layer.imported', $1, $2)")
        .bind(kind.name())
        .bind(json!({"features": data.len()}))
        .execute(&mut *tx)
        .await
        .during("logging the import")?;
    Ok(data.len())
}

fn parse_multipolygon(text: &str) -> Option<MultiPolygon<f64>> {
    let g: geojson::Geometry = text.parse().ok()?;
    match geo::Geometry::<f64>::try_from(g).ok()? {
        geo::Geometry::MultiPolygon(mp) => Some(mp),
        geo::Geometry::Polygon(p) => Some(MultiPolygon(vec![p])),
        _ => None,
    }
}

fn props_of(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

async fn load_areas(pool: &PgPool, kind: LayerKind) -> Result<Vec<Area>, StoreError> {
    let t = table(kind);
    let parent = parent_column(kind).unwrap_or("null::text");
    let rows = sqlx::query(&format!(
        "select code, name, {parent} as parent_code, props, ST_AsGeoJSON(geom, 9) as geom from {t} order by code"
    ))
    .fetch_all(pool)
    .await
    .during("loading an area layer")?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let code: String = r.get("code");
        let geometry =
            parse_multipolygon(r.get::<String, _>("geom").as_str()).ok_or_else(|| {
                StoreError::Layer {
                    layer: kind.to_string(),
                    reason: format!("stored geometry of {code:?} is not a (multi)polygon"),
                }
            })?;
        out.push(Area {
            code,
            name: r.get("name"),
            parent_code: r.get("parent_code"),
            props: props_of(r.get("props")),
            geometry,
        });
    }
    Ok(out)
}

async fn load_sites(pool: &PgPool, kind: LayerKind) -> Result<Vec<Site>, StoreError> {
    let t = table(kind);
    let serves = if kind == LayerKind::Stations {
        "serves"
    } else {
        "'{}'::text[]"
    };
    let rows = sqlx::query(&format!(
        "select code, name, township_code, {serves} as serves, props, ST_X(geom) as x, ST_Y(geom) as y from {t} order by code"
    ))
    .fetch_all(pool)
    .await
    .during("loading a site layer")?;
    Ok(rows
        .into_iter()
        .map(|r| Site {
            code: r.get("code"),
            name: r.get("name"),
            township_code: r.get("township_code"),
            serves: r.get("serves"),
            props: props_of(r.get("props")),
            point: Point::new(r.get("x"), r.get("y")),
        })
        .collect())
}

/// Loads every layer (an empty layer loads as an empty list).
pub async fn load_all(pool: &PgPool) -> Result<Layers, StoreError> {
    Ok(Layers {
        boundary: load_areas(pool, LayerKind::Boundary).await?,
        townships: load_areas(pool, LayerKind::Townships).await?,
        grids: load_areas(pool, LayerKind::Grids).await?,
        stations: load_sites(pool, LayerKind::Stations).await?,
        posts: load_sites(pool, LayerKind::Posts).await?,
    })
}
