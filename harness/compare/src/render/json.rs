//! The whole comparison as JSON: every group with its change, interval, sample counts and
//! verdict. Also saved as `comparison.json`.

use anyhow::Result;

use super::Exporter;
use crate::model::Comparison;

/// Writes `comparison.json`.
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn export(&self, cmp: &Comparison) -> Result<Vec<(&'static str, String)>> {
        Ok(vec![("comparison.json", render(cmp)?)])
    }
}

/// Pretty-printed, with a final newline.
pub fn render(cmp: &Comparison) -> Result<String> {
    pretty(cmp)
}

/// Any value pretty-printed, with a final newline.
pub(crate) fn pretty(value: &impl serde::Serialize) -> Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}
