//! Command line: `serve`, `import`, `migrate`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::domain::LayerKind;
use crate::ingest::layer_file;

#[derive(Debug, Parser)]
#[command(
    name = "lianqin",
    version,
    about = "联勤: real-time geospatial core of a joint-duty command center"
)]
pub struct Cli {
    /// Config file (TOML). Default: $LIANQIN_CONFIG, else ./lianqin.toml if present.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API, the WebSocket stream and the big screen.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080, or $LIANQIN_LISTEN).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Run the built-in demo feed (simulated incidents, marked demo).
        #[arg(long)]
        demo: bool,
    },
    /// Load GeoJSON layer files into PostGIS, replacing each layer whole;
    /// or, with --responders, upsert a roster CSV (see docs/RESPONDERS.md).
    Import {
        /// The layer, when it cannot be inferred from the file name
        /// (boundary|townships|grids|stations|posts). Only with one file.
        #[arg(long, conflicts_with = "responders")]
        layer: Option<String>,
        /// A roster CSV (columns id,name,type,skills,station,post,department,phone,shift,status).
        #[arg(long, value_name = "ROSTER.csv")]
        responders: Option<PathBuf>,
        #[arg(required_unless_present = "responders")]
        paths: Vec<PathBuf>,
    },
    /// Check PostGIS and apply database migrations.
    Migrate,
    /// Import a source system's records from a file (CSV with a header row,
    /// or JSONL; `.json` holding one object or an array also works) through
    /// the ingest pipeline: normalized, geocoded, classified, committed in
    /// batches, idempotent on the source's id. Prints accepted/rejected rows
    /// with line, field and reason; exit status 1 when any row was refused.
    /// See docs/SOURCES.md for each system's fields.
    Ingest {
        /// The source system, by code or Chinese name (110, 12345, xinfang/信访,
        /// maodiao/矛调, grid/四平台, station, sensor, eido).
        #[arg(long)]
        source: String,
        file: PathBuf,
    },
    /// Next-period risk per square cell from police.uk street-level CSVs
    /// (plain or gzip): one row `cell_id,lon,lat,score` per cell of the
    /// study area (convex hull of the training points). With --test, prints
    /// PAI / PEI* at 1 % and 5 % for naive counts, KDE and the model.
    /// Needs no database. See docs/FORECAST.md.
    Forecast {
        /// Training files (police.uk street-level CSV, .csv or .csv.gz).
        #[arg(long, required = true, num_args = 1..)]
        train: Vec<PathBuf>,
        /// Square cell size, metres, in a local projection.
        #[arg(long, default_value_t = 250.0)]
        cell_m: f64,
        /// Output CSV.
        #[arg(long)]
        out: PathBuf,
        /// eb (empirical Bayes, default), kde or naive.
        #[arg(long, default_value = "eb")]
        model: String,
        /// Files of the period to evaluate against (prints PAI / PEI*).
        #[arg(long, num_args = 1..)]
        test: Vec<PathBuf>,
        /// Fix the KDE bandwidth (metres) instead of choosing it by validation on the training data.
        #[arg(long)]
        bandwidth: Option<f64>,
        /// Fix the EB prior strength instead of choosing it by validation.
        #[arg(long)]
        k: Option<f64>,
        /// Random half-splits of the training events used for validation.
        #[arg(long)]
        reps: Option<usize>,
        #[arg(long)]
        seed: Option<u64>,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Forecast {
        train,
        cell_m,
        out,
        model,
        test,
        bandwidth,
        k,
        reps,
        seed,
    } = &cli.command
    {
        use crate::risk::forecast::ModelKind;
        let model = match ModelKind::parse(model) {
            Some(m @ (ModelKind::Eb | ModelKind::Kde | ModelKind::Naive)) => m,
            _ => bail!("--model {model:?} is not one of eb, kde, naive"),
        };
        let args = crate::risk::forecast_cli::ForecastArgs {
            train: train.clone(),
            test: test.clone(),
            cell_m: *cell_m,
            out: out.clone(),
            model,
            bandwidth_m: *bandwidth,
            prior_k: *k,
            reps: *reps,
            seed: *seed,
        };
        // CPU-bound: off the async runtime
        return tokio::task::spawn_blocking(move || crate::risk::forecast_cli::run(&args))
            .await
            .context("forecast task")?;
    }
    let mut settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Forecast { .. } => unreachable!("handled above"),
        Command::Serve { listen, demo } => {
            if let Some(l) = listen {
                settings.listen = l;
            }
            settings.demo.enabled |= demo;
            let app = crate::app::Application::build(settings).await?;
            app.run_until_stopped().await?;
        }
        Command::Ingest { source, file } => {
            ingest_file(&settings, &source, &file).await?;
        }
        Command::Migrate => {
            let target = crate::store::describe(&settings.database_url);
            let pool = crate::store::connect(&settings.database_url, 2).await?;
            let v = crate::store::migrate(&pool, &target).await?;
            println!("migrated {target} (PostGIS {v})");
        }
        Command::Import {
            responders: Some(roster),
            paths,
            ..
        } => {
            if !paths.is_empty() {
                bail!("--responders imports one roster CSV; import layer files in a separate call");
            }
            import_roster(&settings, &roster).await?;
        }
        Command::Import { layer, paths, .. } => {
            let explicit = match layer.as_deref() {
                None => None,
                Some(name) => Some(LayerKind::parse(name).with_context(|| {
                    format!("--layer {name:?} is not one of boundary, townships, grids, stations, posts")
                })?),
            };
            if explicit.is_some() && paths.len() > 1 {
                bail!(
                    "--layer applies to a single file; got {} files",
                    paths.len()
                );
            }
            // Parse and validate every file before touching the database.
            let mut parsed = Vec::new();
            for path in &paths {
                let kind = explicit.or_else(|| layer_file::layer_from_path(path)).with_context(|| {
                    format!(
                        "{}: cannot tell the layer from the file name; name it boundary|townships|grids|stations|posts.geojson or pass --layer",
                        path.display()
                    )
                })?;
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let data = layer_file::parse(kind, &text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                parsed.push((path, kind, data));
            }
            // Areas that others refer to go first, so township codes can be derived.
            parsed.sort_by_key(|(_, kind, _)| *kind);
            if let Some(w) = parsed.windows(2).find(|w| w[0].1 == w[1].1) {
                bail!(
                    "{} and {} are both the {} layer; import one file per layer",
                    w[0].0.display(),
                    w[1].0.display(),
                    w[0].1
                );
            }
            let target = crate::store::describe(&settings.database_url);
            let pool = crate::store::connect(&settings.database_url, 2).await?;
            crate::store::migrate(&pool, &target).await?;
            // One transaction for all files: if any fails, no layer changes.
            let layers: Vec<_> = parsed.iter().map(|(_, kind, data)| (*kind, data)).collect();
            crate::store::layers::replace_layers(&pool, &layers)
                .await
                .context("importing (nothing was changed)")?;
            for (path, kind, data) in &parsed {
                println!("imported {} {kind} from {}", data.len(), path.display());
            }
            println!("a running server picks up new layers on restart");
        }
    }
    Ok(())
}

/// `lianqin ingest --source S FILE`.
async fn ingest_file(
    settings: &Settings,
    source: &str,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    use crate::ingest::sources;
    let system = sources::parse_source(source).with_context(|| {
        let known: Vec<&str> = sources::SourceSystem::ALL
            .iter()
            .map(|s| s.code())
            .collect();
        format!(
            "--source {source:?} is not one of {} (or their Chinese names)",
            known.join(", ")
        )
    })?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let now = chrono::Utc::now();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let parsed: Vec<(usize, Result<sources::SourceRecord, sources::RecordError>)> =
        match ext.as_str() {
            "csv" => sources::parse_csv(system, &text, now),
            "json" => {
                let v: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{}: not JSON", path.display()))?;
                let items = match v {
                    serde_json::Value::Array(a) => a,
                    other => vec![other],
                };
                items
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (i + 1, sources::parse_record(system, r, now)))
                    .collect()
            }
            _ => sources::parse_jsonl(system, &text, now),
        };
    let target = crate::store::describe(&settings.database_url);
    let pool = crate::store::connect(&settings.database_url, 4).await?;
    crate::store::migrate(&pool, &target).await?;
    let layers = crate::store::layers::load_all(&pool).await?;
    let snapshot = std::sync::Arc::new(crate::live::Snapshot::new(layers));
    let key = crate::privacy::load_or_create_key(&settings.ingest.key_file)
        .with_context(|| format!("HMAC key file {}", settings.ingest.key_file.display()))?;
    let ingest = crate::ingest::Ingest::start_offline(
        pool.clone(),
        snapshot,
        crate::privacy::Hasher::new(&key),
        settings.ingest.pipeline(),
    );
    let bar = indicatif::ProgressBar::new(parsed.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {pos}/{len} records ({per_sec}, {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message("ingesting");
    // indicatif draws only on a terminal; elsewhere (logs, CI) one plain line per batch
    let plain = !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let total = bar.length().unwrap_or(0);
    let mut rejected: Vec<(usize, String, String)> = Vec::new();
    let (mut created, mut duplicates, mut unlocated) = (0usize, 0usize, 0usize);
    let mut good: Vec<(usize, crate::ingest::Intake)> = Vec::new();
    for (line, r) in parsed {
        match r
            .map_err(|e| crate::ingest::FieldError::new(e.field, e.reason))
            .and_then(crate::ingest::records::to_intake)
        {
            Ok(i) => good.push((line, i)),
            Err(e) => {
                rejected.push((line, e.field, e.reason));
                bar.inc(1);
            }
        }
    }
    for chunk in good.chunks(1000) {
        let batch: Vec<crate::ingest::Intake> = chunk.iter().map(|(_, i)| i.clone()).collect();
        let stored = ingest
            .submit_wait(batch)
            .await
            .map_err(|e| anyhow::anyhow!("storing records (earlier batches are stored): {e}"))?;
        for s in &stored {
            if s.created {
                created += 1;
                unlocated += usize::from(s.incident.position.is_none());
            } else {
                duplicates += 1;
            }
        }
        bar.inc(chunk.len() as u64);
        if plain {
            eprintln!("ingesting: {}/{total} records", bar.position());
        }
    }
    bar.finish_and_clear();
    rejected.sort_by_key(|r| r.0);
    println!(
        "{} ({}): {} records accepted ({created} new, {duplicates} already stored, {unlocated} new but unlocated), {} rejected",
        path.display(),
        system.label_zh(),
        created + duplicates,
        rejected.len()
    );
    for (line, field, reason) in &rejected {
        println!("  rejected line {line}: {field}: {reason}");
    }
    println!("a running server shows these after its next start (they are in PostGIS now)");
    if !rejected.is_empty() {
        bail!(
            "{} records rejected (listed above); the accepted records are stored",
            rejected.len()
        );
    }
    Ok(())
}

/// `lianqin import --responders ROSTER.csv`: parse with a progress bar,
/// upsert the good rows in batches of 1,000 (each batch one transaction),
/// print a summary with every refused row's line, field and reason.
/// Exit status 1 when any row was refused (the good rows are stored).
async fn import_roster(settings: &Settings, path: &std::path::Path) -> anyhow::Result<()> {
    use crate::ingest::roster_csv;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {bytes}/{total_bytes} ({eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message("reading");
    let parsed = roster_csv::parse(std::io::BufReader::new(file), |b| bar.set_position(b))
        .map_err(|e| anyhow::anyhow!("{}: {e} (nothing was imported)", path.display()))?;
    bar.finish_and_clear();
    let target = crate::store::describe(&settings.database_url);
    let pool = crate::store::connect(&settings.database_url, 2).await?;
    crate::store::migrate(&pool, &target).await?;
    // the skill registry holds at most MAX_SKILLS names (one bit each in the index)
    let mut known: std::collections::HashSet<String> =
        sqlx::query_scalar::<_, String>("select distinct unnest(skills) from responder")
            .fetch_all(&pool)
            .await
            .context("reading known skills")?
            .into_iter()
            .collect();
    let mut accepted = Vec::with_capacity(parsed.accepted.len());
    let mut rejected = parsed.rejected;
    for (line, spec) in parsed.accepted {
        let new: Vec<&String> = spec.skills.iter().filter(|s| !known.contains(*s)).collect();
        if known.len() + new.len() > crate::dispatch::roster::MAX_SKILLS {
            rejected.push(roster_csv::RowError {
                line,
                field: "skills".into(),
                reason: format!(
                    "the roster may name at most {} distinct skills",
                    crate::dispatch::roster::MAX_SKILLS
                ),
            });
            continue;
        }
        known.extend(spec.skills.iter().cloned());
        accepted.push(spec);
    }
    let bar = indicatif::ProgressBar::new(accepted.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} rows")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message("storing");
    let (mut created, mut updated) = (0usize, 0usize);
    for chunk in accepted.chunks(1000) {
        let stored = crate::store::responders::upsert(&pool, chunk)
            .await
            .context("storing roster rows (earlier batches are stored)")?;
        created += stored.iter().filter(|s| s.created).count();
        updated += stored.iter().filter(|s| !s.created).count();
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    rejected.sort_by_key(|e| e.line);
    println!(
        "{}: {} rows accepted ({created} new, {updated} updated), {} rejected",
        path.display(),
        created + updated,
        rejected.len()
    );
    for e in &rejected {
        println!("  rejected {e}");
    }
    println!("a running server picks up roster changes on restart (or POST /api/v1/responders)");
    if !rejected.is_empty() {
        bail!(
            "{} rows rejected (listed above); the accepted rows are stored",
            rejected.len()
        );
    }
    Ok(())
}
