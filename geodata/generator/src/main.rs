//! `cargo run -p lianqin-geodata --release -- --src geodata/src --out geodata`
//!
//! Regenerates the layers byte-for-byte, writes them, then re-reads them and checks the invariants.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

fn main() -> Result<()> {
    let mut src = PathBuf::from("geodata/src");
    let mut out = PathBuf::from("geodata");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--src" => src = args.next().context("--src needs a path")?.into(),
            "--out" => out = args.next().context("--out needs a path")?.into(),
            "-h" | "--help" => {
                println!("usage: lianqin-geodata [--src DIR] [--out DIR]");
                return Ok(());
            }
            other => bail!("unknown argument {other}"),
        }
    }
    let files = lianqin_geodata::generate(&src)?;
    for (name, text) in &files {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {} ({} bytes)", path.display(), text.len());
    }
    let report = lianqin_geodata::check::check_all(&files, &src)?;
    print!("{report}");
    Ok(())
}
