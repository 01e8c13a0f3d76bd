//! The data dictionary: every table and column of the catalog with its type, keys,
//! description, tags and sensitivity, as JSON, CSV or Markdown.
use serde::Serialize;
use utoipa::ToSchema;

use super::model::CatalogTable;
use crate::http::csv::field as csv_field;

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DictionaryEntry {
    pub data_source: String,
    pub table: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_estimate: Option<i64>,
    pub columns: Vec<DictionaryColumn>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DictionaryColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    pub nullable: bool,
    pub primary_key: bool,
    /// `table.column` it references, for foreign keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub references: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub glossary_terms: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
}

pub fn entries(tables: &[CatalogTable]) -> Vec<DictionaryEntry> {
    let mut out: Vec<DictionaryEntry> = tables
        .iter()
        .filter(|t| !t.dropped)
        .map(|t| DictionaryEntry {
            data_source: t.data_source.clone(),
            table: t.qualified(),
            kind: t.kind.clone(),
            description: t.curation.description.clone(),
            owner: t.curation.owner.clone(),
            tags: t.curation.tags.clone(),
            row_estimate: t.row_estimate,
            columns: t
                .columns
                .iter()
                .map(|c| DictionaryColumn {
                    name: c.name.clone(),
                    type_name: c.type_name.clone(),
                    nullable: c.nullable,
                    primary_key: c.primary_key,
                    references: t.foreign_keys.iter().find_map(|fk| {
                        let i = fk.columns.iter().position(|x| *x == c.name)?;
                        Some(format!("{}.{}", fk.ref_table, fk.ref_columns.get(i)?))
                    }),
                    description: c.curation.description.clone(),
                    tags: c.curation.tags.clone(),
                    glossary_terms: c.curation.glossary_terms.clone(),
                    sensitivity: c.level().map(super::crawl::level_name),
                    classification: c.label(),
                })
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| (&a.data_source, &a.table).cmp(&(&b.data_source, &b.table)));
    out
}

pub fn csv(entries: &[DictionaryEntry]) -> String {
    let mut out = String::from(
        "data_source,table,column,type,nullable,primary_key,references,description,tags,glossary_terms,sensitivity,classification\r\n",
    );
    for e in entries {
        for c in &e.columns {
            let fields = [
                e.data_source.clone(),
                e.table.clone(),
                c.name.clone(),
                c.type_name.clone(),
                c.nullable.to_string(),
                c.primary_key.to_string(),
                c.references.clone().unwrap_or_default(),
                c.description.clone().unwrap_or_default(),
                c.tags.join(";"),
                c.glossary_terms.join(";"),
                c.sensitivity.clone().unwrap_or_default(),
                c.classification.clone().unwrap_or_default(),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
        }
    }
    out
}

/// Markdown table cells: pipes escaped, line breaks flattened.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub fn markdown(entries: &[DictionaryEntry]) -> String {
    let mut out = String::from("# Data dictionary\n");
    for e in entries {
        out.push_str(&format!(
            "\n## {} · {}\n\n",
            md(&e.data_source),
            md(&e.table)
        ));
        if let Some(d) = &e.description {
            out.push_str(&format!("{}\n\n", md(d)));
        }
        out.push_str("| column | type | nullable | key | description | tags | sensitivity |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        for c in &e.columns {
            let key = match (&c.primary_key, &c.references) {
                (true, _) => "PK".to_string(),
                (false, Some(r)) => format!("FK → {r}"),
                _ => String::new(),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                md(&c.name),
                md(&c.type_name),
                if c.nullable { "yes" } else { "no" },
                md(&key),
                md(c.description.as_deref().unwrap_or_default()),
                md(&c.tags.join(", ")),
                md(c.sensitivity.as_deref().unwrap_or_default()),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_cells_escape_pipes_and_newlines() {
        assert_eq!(md("a|b\nc"), "a\\|b c");
    }
}
