//! Risk: forecasts, hotspots and heat over incidents. Pure logic.
//!
//! - [`forecast`]: next-period risk surface per square cell (naive counts,
//!   KDE, empirical-Bayes shrinkage) and its evaluation by PAI / PEI*; the
//!   engine of `lianqin forecast` on police.uk street-level CSVs.

//! - [`hotspots`]: Getis-Ord Gi* over H3 cells (k-ring weights, the cell
//!   itself included), Benjamini–Hochberg FDR, confidence bins, Mann-Kendall,
//!   emerging-hotspot classes; verified against PySAL esda (tools/pysal/).
//! - [`heat`]: decayed incident intensity on H3 cells (res 7–10), live
//!   (24 h half-life) and risk (30 days) surfaces, updated per incident.

pub mod forecast;
pub mod forecast_cli;
pub mod heat;
pub mod hotspots;
#[cfg(test)]
mod hotspots_pysal_tests;
