//! `lianqin forecast`: the forecast command over police.uk street-level CSVs.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, Context};

use super::forecast::*;

/// What `lianqin forecast` was asked to do.
#[derive(Debug, Clone)]
pub struct ForecastArgs {
    pub train: Vec<PathBuf>,
    pub test: Vec<PathBuf>,
    pub cell_m: f64,
    pub out: PathBuf,
    pub model: ModelKind,
    pub bandwidth_m: Option<f64>,
    pub prior_k: Option<f64>,
    pub reps: Option<usize>,
    pub seed: Option<u64>,
}

fn read_files(files: &[PathBuf]) -> anyhow::Result<(Vec<Point>, ReadStats)> {
    let mut pts = Vec::new();
    let mut st = ReadStats::default();
    for f in files {
        let file = std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?;
        let (p, s) = read_police_csv(std::io::BufReader::new(file))
            .map_err(|e| anyhow!("{}: {e}", f.display()))?;
        eprintln!(
            "{}: {} rows, {} used, skipped {} (no coordinates {}, bad coordinates {}, malformed {})",
            f.display(),
            s.rows,
            s.used,
            s.skipped(),
            s.skipped_no_coords,
            s.skipped_bad_coords,
            s.skipped_malformed
        );
        pts.extend(p);
        st.add(&s);
    }
    Ok((pts, st))
}

/// Fits the model on the training files, writes `cell_id,lon,lat,score`
/// for every study-area cell, and with test files prints PAI / PEI* at
/// 1 % and 5 % for every model (each fitted on the training files only).
pub fn run(a: &ForecastArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    if !(a.cell_m.is_finite() && (10.0..=10_000.0).contains(&a.cell_m)) {
        return Err(anyhow!(
            "--cell-m must be 10 to 10000 metres, got {}",
            a.cell_m
        ));
    }
    let mut opt = FitOptions::default();
    opt.bandwidth_m = a.bandwidth_m.or(opt.bandwidth_m);
    opt.prior_k = a.prior_k.or(opt.prior_k);
    if let Some(r) = a.reps {
        opt.reps = r;
    }
    if let Some(s) = a.seed {
        opt.seed = s;
    }
    let (tr, trs) = read_files(&a.train)?;
    let grid = Grid::new(&tr, a.cell_m).map_err(|e| anyhow!("{e}"))?;
    let (_, tr_out) = grid.counts(&tr);
    eprintln!(
        "training: {} events used, {} skipped; study area: {} cells of {} m ({:.1} km²), hull of {} vertices; {} training events in no study cell",
        trs.used,
        trs.skipped(),
        grid.len(),
        a.cell_m,
        grid.len() as f64 * a.cell_m * a.cell_m / 1e6,
        grid.hull.len(),
        tr_out
    );
    let fitted = fit(a.model, &grid, &tr, &opt).map_err(|e| anyhow!("{e}"))?;
    eprintln!("model {}: {}", fitted.kind.name(), params(&fitted));
    let file =
        std::fs::File::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    write_scores_csv(std::io::BufWriter::new(file), &grid, &fitted.scores)
        .with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "wrote {} ({} rows) in {:.2} s",
        a.out.display(),
        grid.len(),
        t0.elapsed().as_secs_f64()
    );
    if a.test.is_empty() {
        return Ok(());
    }
    let (te, tes) = read_files(&a.test)?;
    let fr = [0.01, 0.05];
    let (_, te_out) = grid.counts(&te);
    println!(
        "cell {} m, N = {} cells; train events {} (skipped {}), test events {} (skipped {}, {} outside the study area = misses)",
        a.cell_m,
        grid.len(),
        trs.used,
        trs.skipped(),
        tes.used,
        tes.skipped(),
        te_out
    );
    println!("| model | params | n@1% | hits@1% | PAI@1% | PEI*@1% | n@5% | hits@5% | PAI@5% | PEI*@5% |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for kind in [
        ModelKind::Naive,
        ModelKind::NaiveKdeTies,
        ModelKind::Kde,
        ModelKind::Eb,
    ] {
        let f = if kind == a.model {
            fitted.clone()
        } else {
            fit(kind, &grid, &tr, &opt).map_err(|e| anyhow!("{e}"))?
        };
        row(kind.name(), &f, &evaluate(&grid, &f.scores, &te, &fr));
    }
    // a second KDE peer: Scott's rule-of-thumb bandwidth (no validation)
    let hs = scott_bandwidth(&grid, &tr);
    let o = FitOptions {
        bandwidth_m: Some((hs / 10.0).round() * 10.0),
        ..opt.clone()
    };
    let f = fit(ModelKind::Kde, &grid, &tr, &o).map_err(|e| anyhow!("{e}"))?;
    row("kde (Scott h)", &f, &evaluate(&grid, &f.scores, &te, &fr));
    eprintln!("total {:.2} s", t0.elapsed().as_secs_f64());
    Ok(())
}

fn row(name: &str, f: &Fitted, ev: &[Evaluation]) {
    println!(
        "| {} | {} | {} | {} | {:.2} | {:.3} | {} | {} | {:.2} | {:.3} |",
        name,
        params(f),
        ev[0].n_cells,
        ev[0].hits,
        ev[0].pai,
        ev[0].pei,
        ev[1].n_cells,
        ev[1].hits,
        ev[1].pai,
        ev[1].pei
    );
}

fn params(f: &Fitted) -> String {
    let mut s = Vec::new();
    if let Some(h) = f.bandwidth_m {
        s.push(format!("h={h} m"));
    }
    if let Some(k) = f.prior_k {
        s.push(format!("k={k}"));
    }
    if let Some(v) = f.validation {
        s.push(format!("val PEI*={v:.3}"));
    }
    if s.is_empty() {
        "-".into()
    } else {
        s.join(", ")
    }
}
