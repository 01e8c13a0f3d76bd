//! MongoDB lineage: follows the fields of the documents through an aggregation pipeline.
//!
//! Fields are tracked at their top level (`address.city` is part of `address`): the catalog
//! knows a collection's top-level fields, and classification is per field. Collections are
//! schemaless and the catalog comes from a sampled document, so a field the catalog does not
//! list is reported unresolved (with the source it would have), never dropped.
use serde_json::{Map, Value};

use super::{
    Collector, ColumnRef, Flow, Lineage, LineageError, OutputColumn, SchemaLookup, TableRef,
    Transform,
};
use crate::engine::guard::check_mongo;

pub(super) fn analyze(text: &str, schema: &dyn SchemaLookup) -> Result<Lineage, LineageError> {
    serde_json::from_str::<Value>(text).map_err(|e| LineageError::Parse(e.to_string()))?;
    let query = check_mongo(text).map_err(|r| LineageError::Unsupported(r.0))?;
    let mut mongo = Mongo {
        schema,
        out: Collector::default(),
        vars: Vec::new(),
    };
    let doc = mongo.collection(&query.collection);
    let doc = mongo.pipeline(doc, &query.pipeline);
    let outputs = mongo.outputs(doc);
    Ok(mongo.out.finish(outputs))
}

/// The documents flowing between stages.
#[derive(Clone, Debug)]
struct Doc {
    /// Known top-level fields in order, with their lineage.
    fields: Vec<(String, Flow)>,
    /// Other fields may exist but are unknown (unknown collection, opaque stage): what they
    /// would carry.
    open: Option<Flow>,
    /// Still the documents of this collection (fields the catalog missed come from it).
    base: Option<TableRef>,
    /// Fields known to hold documents of known shape (`$lookup` results), for `$as.field`.
    subdocs: Vec<(String, Doc)>,
}

impl Doc {
    fn set(&mut self, path: &str, flow: Flow) {
        let (top, nested) = match path.split_once('.') {
            Some((top, _)) => (top, true),
            None => (path, false),
        };
        self.subdocs.retain(|(n, _)| n != top);
        match self.fields.iter_mut().find(|(n, _)| n == top) {
            // Setting a subfield keeps the rest of the field.
            Some((_, old)) if nested => {
                *old = Flow::combine([old.clone(), flow], Transform::Direct)
            }
            Some((_, old)) => *old = flow,
            None => self.fields.push((top.to_string(), flow)),
        }
    }

    fn whole(&self) -> Flow {
        let mut parts: Vec<Flow> = self.fields.iter().map(|(_, f)| f.clone()).collect();
        parts.extend(self.open.clone());
        Flow::union(parts)
    }

    fn closed(fields: Vec<(String, Flow)>) -> Self {
        Self {
            fields,
            open: None,
            base: None,
            subdocs: Vec::new(),
        }
    }

    fn opaque(open: Flow) -> Self {
        Self {
            open: Some(open),
            ..Self::closed(Vec::new())
        }
    }

    fn subdoc(&self, top: &str) -> Option<&Doc> {
        self.subdocs.iter().find(|(n, _)| n == top).map(|(_, d)| d)
    }
}

struct Mongo<'a> {
    schema: &'a dyn SchemaLookup,
    out: Collector,
    /// `$lookup` variables (`let`) visible as `$$name`.
    vars: Vec<(String, Flow)>,
}

impl Mongo<'_> {
    fn collection(&mut self, name: &str) -> Doc {
        match self.schema.columns(&TableRef::new(None, name)) {
            Some((table, fields)) => {
                self.out.tables.insert(table.clone());
                let fields = fields
                    .iter()
                    .map(|f| (f.clone(), Flow::column(ColumnRef::new(table.clone(), f))))
                    .collect();
                Doc {
                    base: Some(table),
                    ..Doc::closed(fields)
                }
            }
            None => {
                self.out.note(format!("collection {name} not in catalog"));
                Doc::opaque(Flow::unresolved())
            }
        }
    }

    fn pipeline(&mut self, mut doc: Doc, stages: &[Value]) -> Doc {
        for stage in stages {
            doc = match stage.as_object().and_then(|o| o.iter().next()) {
                Some((name, spec)) => self.stage(doc, name, spec),
                None => {
                    self.out.note("a pipeline stage is not an object".into());
                    self.opaque(doc)
                }
            };
        }
        doc
    }

    fn stage(&mut self, mut doc: Doc, name: &str, spec: &Value) -> Doc {
        match name {
            "$match" => {
                self.match_filters(&doc, spec);
                doc
            }
            "$sort" => {
                for key in spec.as_object().into_iter().flat_map(Map::keys) {
                    let flow = self.field(&doc, key);
                    self.out.filter(&flow);
                }
                doc
            }
            "$limit" | "$skip" | "$sample" => doc,
            "$project" => self.project(doc, spec),
            "$addFields" | "$set" => self.add_fields(doc, spec),
            "$unset" => unset(doc, spec),
            "$group" => self.group(&doc, spec),
            "$count" => {
                let name = spec.as_str().unwrap_or("count").to_string();
                Doc::closed(vec![(name, aggregated(Flow::constant()))])
            }
            "$sortByCount" => {
                let id = self.expr(&doc, spec);
                Doc::closed(vec![
                    ("_id".into(), id),
                    ("count".into(), aggregated(Flow::constant())),
                ])
            }
            "$unwind" => {
                if let Some(index) = spec.get("includeArrayIndex").and_then(Value::as_str) {
                    doc.set(index, Flow::constant());
                }
                doc
            }
            "$lookup" => self.lookup(doc, spec),
            "$unionWith" => self.union_with(doc, spec),
            "$replaceRoot" => self.replace_root(&doc, spec.get("newRoot").unwrap_or(&Value::Null)),
            "$replaceWith" => self.replace_root(&doc, spec),
            other => {
                self.out.note(format!("stage {other} is not resolved"));
                self.opaque(doc)
            }
        }
    }

    fn add_fields(&mut self, mut doc: Doc, spec: &Value) -> Doc {
        for (k, v) in spec.as_object().into_iter().flatten() {
            let flow = self.expr(&doc, v);
            doc.set(k, flow);
        }
        doc
    }

    /// After a stage the analyzer does not follow, any field may carry anything seen so far.
    fn opaque(&mut self, doc: Doc) -> Doc {
        let mut flow = doc.whole();
        flow.resolved = false;
        Doc::opaque(flow)
    }

    /// A field's lineage in `doc` (by its top-level name, or inside a looked-up document).
    fn field(&mut self, doc: &Doc, path: &str) -> Flow {
        let (top, rest) = path.split_once('.').unwrap_or((path, ""));
        if let (Some(sub), false) = (doc.subdoc(top), rest.is_empty()) {
            return self.field(sub, rest);
        }
        if let Some((_, flow)) = doc.fields.iter().find(|(n, _)| n == top) {
            return flow.clone();
        }
        if let Some(open) = &doc.open {
            self.out
                .note(format!("field {top} of an unresolved document"));
            return open.clone();
        }
        match &doc.base {
            Some(table) => {
                self.out
                    .note(format!("field {top} not in the catalog of {table}"));
                Flow {
                    resolved: false,
                    ..Flow::column(ColumnRef::new(table.clone(), top))
                }
            }
            // Removed by an earlier stage: the field is missing, nothing flows.
            None => Flow::constant(),
        }
    }

    /// An aggregation expression: `"$field"` is the field as is, operators derive.
    fn expr(&mut self, doc: &Doc, v: &Value) -> Flow {
        match v {
            Value::String(s) if s.starts_with("$$") => self.variable(doc, &s[2..]),
            Value::String(s) if s.starts_with('$') => self.field(doc, &s[1..]),
            Value::Array(items) => {
                let parts: Vec<Flow> = items.iter().map(|i| self.expr(doc, i)).collect();
                Flow::combine(parts, Transform::Derived)
            }
            Value::Object(map) if map.contains_key("$literal") => Flow::constant(),
            Value::Object(map) => {
                let operator = map.keys().any(|k| k.starts_with('$'));
                let parts: Vec<Flow> = map.values().map(|i| self.expr(doc, i)).collect();
                if operator {
                    Flow::combine(parts, Transform::Derived)
                } else {
                    // A document of values: each value as is.
                    Flow::union(parts)
                }
            }
            _ => Flow::constant(),
        }
    }

    fn variable(&mut self, doc: &Doc, path: &str) -> Flow {
        let name = path.split('.').next().unwrap_or(path);
        match name {
            "ROOT" | "CURRENT" => match path.split_once('.') {
                Some((_, rest)) => self.field(doc, rest),
                None => doc.whole(),
            },
            _ => self
                .vars
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map_or_else(Flow::constant, |(_, f)| f.clone()),
        }
    }

    /// `$match`: every field it tests is a filter.
    fn match_filters(&mut self, doc: &Doc, spec: &Value) {
        for (k, v) in spec.as_object().into_iter().flatten() {
            match k.as_str() {
                "$and" | "$or" | "$nor" => {
                    for item in v.as_array().into_iter().flatten() {
                        self.match_filters(doc, item);
                    }
                }
                "$expr" => {
                    let flow = self.expr(doc, v);
                    self.out.filter(&flow);
                }
                k if k.starts_with('$') => {}
                field => {
                    let flow = self.field(doc, field);
                    self.out.filter(&flow);
                }
            }
        }
    }

    fn project(&mut self, doc: Doc, spec: &Value) -> Doc {
        let Some(spec) = spec.as_object() else {
            self.out.note("$project needs an object".into());
            return self.opaque(doc);
        };
        let excluded = |k: &String, v: &Value| k != "_id" && is_false(v);
        let exclusion = spec.iter().any(|(k, v)| excluded(k, v))
            || spec.iter().all(|(k, v)| k == "_id" && is_false(v));
        if exclusion {
            let mut doc = doc;
            let kept = |n: &String| !spec.get(n).is_some_and(is_false);
            doc.fields.retain(|(n, _)| kept(n));
            doc.subdocs.retain(|(n, _)| kept(n));
            return doc;
        }
        let mut out = Doc::closed(Vec::new());
        if !spec.get("_id").is_some_and(is_false) {
            let id = match spec.get("_id") {
                Some(v) if !is_flag(v) => self.expr(&doc, v),
                _ => self.field(&doc, "_id"),
            };
            out.set("_id", id);
        }
        for (k, v) in spec.iter().filter(|(k, _)| *k != "_id") {
            let flow = self.projected(&doc, k, v);
            out.set(k, flow);
            if let (true, Some(sub)) = (is_flag(v), doc.subdoc(k)) {
                out.subdocs.push((k.clone(), sub.clone()));
            }
        }
        out
    }

    /// One inclusion-projection entry: a flag keeps the field, a nested spec keeps parts of it,
    /// anything else is an expression.
    fn projected(&mut self, doc: &Doc, key: &str, v: &Value) -> Flow {
        match v {
            v if is_flag(v) => self.field(doc, key),
            Value::Object(map) if !map.keys().any(|k| k.starts_with('$')) => {
                let parts: Vec<Flow> = map
                    .iter()
                    .map(|(sub, inner)| self.projected(doc, &format!("{key}.{sub}"), inner))
                    .collect();
                Flow::union(parts)
            }
            v => self.expr(doc, v),
        }
    }

    /// `$group`: `_id` and one accumulator per field. `{$sum: 1}` and `{$count: {}}` carry no
    /// values; every other accumulator aggregates its argument (`$push`/`$addToSet` reveal it).
    fn group(&mut self, doc: &Doc, spec: &Value) -> Doc {
        let mut out = Doc::closed(Vec::new());
        let id = self.expr(doc, spec.get("_id").unwrap_or(&Value::Null));
        out.set("_id", id);
        for (k, v) in spec.as_object().into_iter().flatten() {
            if k == "_id" {
                continue;
            }
            let arg = match v.as_object().and_then(|o| o.iter().next()) {
                Some((_, arg)) => self.expr(doc, arg),
                None => {
                    self.out.note(format!("accumulator {k} is not an object"));
                    Flow::unresolved()
                }
            };
            out.set(k, aggregated(arg));
        }
        out
    }

    /// `$lookup`: the `as` field holds the matching documents of the other collection.
    fn lookup(&mut self, mut doc: Doc, spec: &Value) -> Doc {
        let from = spec.get("from").and_then(Value::as_str).unwrap_or_default();
        let mut foreign = self.collection(from);
        let local = spec.get("localField").and_then(Value::as_str);
        let remote = spec.get("foreignField").and_then(Value::as_str);
        if let (Some(local), Some(remote)) = (local, remote) {
            let keys = [self.field(&doc, local), self.field(&foreign, remote)];
            for key in &keys {
                self.out.filter(key);
            }
        }
        if let Some(stages) = spec.get("pipeline").and_then(Value::as_array) {
            let mark = self.vars.len();
            for (name, v) in spec
                .get("let")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let flow = self.expr(&doc, v);
                self.vars.push((name.clone(), flow));
            }
            foreign = self.pipeline(foreign, stages);
            self.vars.truncate(mark);
        }
        let field = spec.get("as").and_then(Value::as_str).unwrap_or(from);
        doc.set(field, foreign.whole());
        if !field.contains('.') {
            doc.subdocs.push((field.to_string(), foreign));
        }
        doc
    }

    /// `$unionWith`: documents of another collection (after its pipeline) join the stream.
    fn union_with(&mut self, mut doc: Doc, spec: &Value) -> Doc {
        let (coll, stages) = match spec {
            Value::String(c) => (c.as_str(), None),
            other => (
                other
                    .get("coll")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
                other.get("pipeline").and_then(Value::as_array),
            ),
        };
        let mut other = self.collection(coll);
        if let Some(stages) = stages {
            other = self.pipeline(other, stages);
        }
        for (name, flow) in other.fields {
            match doc.fields.iter_mut().find(|(n, _)| *n == name) {
                Some((_, mine)) => *mine = Flow::union([mine.clone(), flow]),
                None => doc.fields.push((name, flow)),
            }
        }
        doc.open = match (doc.open, other.open) {
            (None, None) => None,
            (a, b) => Some(Flow::union(a.into_iter().chain(b))),
        };
        doc
    }

    /// `$replaceRoot`: a document literal names its fields; anything else is opaque.
    fn replace_root(&mut self, doc: &Doc, root: &Value) -> Doc {
        match root.as_object() {
            Some(map) if !map.keys().any(|k| k.starts_with('$')) => {
                let mut out = Doc::closed(Vec::new());
                for (k, v) in map {
                    let flow = self.expr(doc, v);
                    out.set(k, flow);
                }
                out
            }
            _ => {
                let mut flow = self.expr(doc, root);
                flow.resolved = false;
                self.out
                    .note("fields after $replaceRoot are not resolved".into());
                Doc::opaque(flow)
            }
        }
    }

    fn outputs(&mut self, doc: Doc) -> Vec<OutputColumn> {
        let mut outputs: Vec<OutputColumn> = doc
            .fields
            .into_iter()
            .map(|(name, flow)| flow.into_output(name))
            .collect();
        if let Some(open) = doc.open {
            self.out
                .note("the output documents have unknown fields".into());
            outputs.push(open.into_output("*".into()));
        }
        outputs
    }
}

/// `$unset`: top-level names drop the field; dotted names change only part of it.
fn unset(mut doc: Doc, spec: &Value) -> Doc {
    let names: Vec<&str> = match spec {
        Value::String(s) => vec![s.as_str()],
        other => other
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect(),
    };
    doc.fields.retain(|(n, _)| !names.contains(&n.as_str()));
    doc.subdocs.retain(|(n, _)| !names.contains(&n.as_str()));
    doc
}

fn aggregated(arg: Flow) -> Flow {
    Flow::combine([arg], Transform::Aggregated)
}

/// `0` / `false` in a projection.
fn is_false(v: &Value) -> bool {
    matches!(v, Value::Bool(false)) || v.as_f64() == Some(0.0)
}

/// A projection flag (`1`, `true`, `0`, `false`; other numbers include too).
fn is_flag(v: &Value) -> bool {
    v.is_boolean() || v.is_number()
}
