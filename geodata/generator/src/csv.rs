//! Minimal RFC 4180 reader for the small source tables (quoted fields, `""` escapes, no
//! embedded newlines needed). Rows are returned as header-keyed maps in file order.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

fn split_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

pub type Row = BTreeMap<String, String>;

pub fn read(path: &Path) -> Result<Vec<Row>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = split_line(lines.next().context("empty csv")?);
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let cells = split_line(line);
        if cells.len() != header.len() {
            bail!(
                "{}: row {} has {} cells, header has {}",
                path.display(),
                i + 2,
                cells.len(),
                header.len()
            );
        }
        rows.push(header.iter().cloned().zip(cells).collect());
    }
    Ok(rows)
}
