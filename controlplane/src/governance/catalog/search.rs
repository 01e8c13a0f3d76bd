//! Catalog search: a per-tenant in-memory tantivy index over table and column names,
//! descriptions, tags, glossary terms and classifications; BM25-ranked, typo-tolerant (each
//! word also matches within one or two edits), with facets (data source, tag, sensitivity).
//! The index is rebuilt from the catalog records the first time a search follows a change.
use std::collections::BTreeMap;

use serde::Serialize;
use tantivy::{
    collector::TopDocs,
    query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery},
    schema::{IndexRecordOption, Schema, Value as _, FAST, STORED, TEXT},
    Index, IndexReader, TantivyDocument, Term,
};
use utoipa::ToSchema;

use super::model::CatalogTable;

/// Hits considered for facets (and the most a page can show).
const MAX_HITS: usize = 1000;

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    /// `table` or `column`.
    pub kind: String,
    pub data_source: String,
    /// `schema.table` or `table`.
    pub table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    pub score: f32,
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Facets {
    pub data_source: BTreeMap<String, usize>,
    pub tag: BTreeMap<String, usize>,
    pub sensitivity: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    pub query: String,
    /// Matches before facet filters and the limit.
    pub total: usize,
    pub hits: Vec<SearchHit>,
    pub facets: Facets,
}

/// Narrowing by facet values (all given ones must hold).
#[derive(Clone, Debug, Default)]
pub struct FacetFilter {
    pub data_source: Option<String>,
    pub tag: Option<String>,
    pub sensitivity: Option<String>,
}

struct Fields {
    names: tantivy::schema::Field,
    text: tantivy::schema::Field,
    ord: tantivy::schema::Field,
}

/// One tenant's index and the entries it points at.
pub struct CatalogIndex {
    reader: IndexReader,
    fields: Fields,
    entries: Vec<SearchHit>,
}

/// `customerEmail`, `customer_email` → `customer email`: names become words to match.
fn words(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for ch in name.chars() {
        if ch.is_uppercase() && prev_lower {
            out.push(' ');
        }
        prev_lower = ch.is_lowercase() || ch.is_ascii_digit();
        out.push(if ch.is_alphanumeric() { ch } else { ' ' });
    }
    out
}

impl CatalogIndex {
    pub fn build(tables: &[CatalogTable]) -> tantivy::Result<Self> {
        let mut sb = Schema::builder();
        let fields = Fields {
            names: sb.add_text_field("names", TEXT),
            text: sb.add_text_field("text", TEXT),
            ord: sb.add_u64_field("ord", STORED | FAST),
        };
        let index = Index::create_in_ram(sb.build());
        let mut writer: tantivy::IndexWriter = index.writer(15_000_000)?;
        let mut entries = Vec::new();
        for t in tables.iter().filter(|t| !t.dropped) {
            let table = t.qualified();
            let mut table_text = vec![
                t.curation.description.clone().unwrap_or_default(),
                t.curation.tags.join(" "),
                t.curation.glossary_terms.join(" "),
            ];
            table_text.extend(t.curation.annotations.values().cloned());
            add(
                &mut writer,
                &fields,
                &mut entries,
                SearchHit {
                    kind: "table".into(),
                    data_source: t.data_source.clone(),
                    table: table.clone(),
                    column: None,
                    description: t.curation.description.clone(),
                    tags: t.curation.tags.clone(),
                    sensitivity: None,
                    classification: None,
                    score: 0.0,
                },
                format!(
                    "{} {}",
                    words(&t.name),
                    t.schema.as_deref().map(words).unwrap_or_default()
                ),
                table_text.join(" "),
            )?;
            for c in &t.columns {
                let sensitivity = c.level().map(super::crawl::level_name);
                let classification = c.label();
                let mut tags = c.curation.tags.clone();
                if let Some(cl) = &c.classification {
                    tags.extend(cl.tags.iter().cloned());
                }
                let text = [
                    c.curation.description.clone().unwrap_or_default(),
                    tags.join(" "),
                    c.curation.glossary_terms.join(" "),
                    classification.as_deref().map(words).unwrap_or_default(),
                    sensitivity.clone().unwrap_or_default(),
                    words(&t.name),
                ]
                .join(" ");
                add(
                    &mut writer,
                    &fields,
                    &mut entries,
                    SearchHit {
                        kind: "column".into(),
                        data_source: t.data_source.clone(),
                        table: table.clone(),
                        column: Some(c.name.clone()),
                        description: c.curation.description.clone(),
                        tags,
                        sensitivity,
                        classification,
                        score: 0.0,
                    },
                    words(&c.name),
                    text,
                )?;
            }
        }
        writer.commit()?;
        let reader = index.reader()?;
        Ok(Self {
            reader,
            fields,
            entries,
        })
    }

    pub fn search(&self, q: &str, filter: &FacetFilter, limit: usize) -> SearchResult {
        let searcher = self.reader.searcher();
        let terms: Vec<String> = words(q)
            .split_whitespace()
            .map(|w| w.to_lowercase())
            .collect();
        let mut hits: Vec<SearchHit> = Vec::new();
        if !terms.is_empty() {
            let query = self.query(&terms);
            let found = searcher
                .search(&query, &TopDocs::with_limit(MAX_HITS).order_by_score())
                .unwrap_or_default();
            for (score, addr) in found {
                let Ok(doc) = searcher.doc::<TantivyDocument>(addr) else {
                    continue;
                };
                let ord = doc.get_first(self.fields.ord).and_then(|v| v.as_u64());
                if let Some(e) = ord.and_then(|o| self.entries.get(o as usize)) {
                    hits.push(SearchHit { score, ..e.clone() });
                }
            }
        }
        let mut facets = Facets::default();
        for h in &hits {
            *facets.data_source.entry(h.data_source.clone()).or_default() += 1;
            for t in &h.tags {
                *facets.tag.entry(t.clone()).or_default() += 1;
            }
            if let Some(s) = &h.sensitivity {
                *facets.sensitivity.entry(s.clone()).or_default() += 1;
            }
        }
        let total = hits.len();
        hits.retain(|h| {
            filter
                .data_source
                .as_ref()
                .is_none_or(|d| *d == h.data_source)
                && filter.tag.as_ref().is_none_or(|t| h.tags.contains(t))
                && filter
                    .sensitivity
                    .as_ref()
                    .is_none_or(|s| h.sensitivity.as_ref() == Some(s))
        });
        hits.truncate(limit);
        SearchResult {
            query: q.to_string(),
            total,
            hits,
            facets,
        }
    }

    /// Every word must match somewhere (name or text), exactly (ranked higher) or within an
    /// edit distance that grows with the word's length.
    fn query(&self, terms: &[String]) -> BooleanQuery {
        let per_word: Vec<(Occur, Box<dyn Query>)> = terms
            .iter()
            .map(|w| {
                let distance = match w.chars().count() {
                    0..=3 => 0,
                    4..=7 => 1,
                    _ => 2,
                };
                let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                for (field, boost) in [(self.fields.names, 4.0), (self.fields.text, 1.0)] {
                    let term = Term::from_field_text(field, w);
                    let exact = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
                    any.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(exact), boost * 2.0)),
                    ));
                    if distance > 0 {
                        let fuzzy = FuzzyTermQuery::new(term, distance, true);
                        any.push((
                            Occur::Should,
                            Box::new(BoostQuery::new(Box::new(fuzzy), boost)),
                        ));
                    }
                    // A word typed partly ("cust") finds the names it starts.
                    let prefix =
                        FuzzyTermQuery::new_prefix(Term::from_field_text(field, w), 0, true);
                    any.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(prefix), boost * 0.5)),
                    ));
                }
                (
                    Occur::Must,
                    Box::new(BooleanQuery::new(any)) as Box<dyn Query>,
                )
            })
            .collect();
        BooleanQuery::new(per_word)
    }
}

fn add(
    writer: &mut tantivy::IndexWriter,
    f: &Fields,
    entries: &mut Vec<SearchHit>,
    hit: SearchHit,
    names: String,
    text: String,
) -> tantivy::Result<()> {
    let mut doc = TantivyDocument::default();
    doc.add_text(f.names, names);
    doc.add_text(f.text, text);
    doc.add_u64(f.ord, entries.len() as u64);
    writer.add_document(doc)?;
    entries.push(hit);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_words() {
        assert_eq!(
            words("customerEmail")
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["customer", "Email"]
        );
        assert_eq!(
            words("order_items").split_whitespace().collect::<Vec<_>>(),
            ["order", "items"]
        );
    }
}
