//! Risk: forecasts, hotspots and heat over incidents. Pure logic.
//!
//! - [`forecast`]: next-period risk surface per square cell (naive counts,
//!   KDE, empirical-Bayes shrinkage) and its evaluation by PAI / PEI*; the
//!   engine of `lianqin forecast` on police.uk street-level CSVs.

pub mod forecast;
pub mod forecast_cli;
