//! Bulk user operations, decided by pure functions: reading an import (CSV or JSON) into rows,
//! checking each row, planning what each row or username would do (quota, duplicates,
//! existing users, the caller's own account). The handlers in `mod.rs` read the store, call
//! these, and apply the plan through the write path.
use std::collections::{BTreeMap, HashMap, HashSet};

use nexbii_crds::{settings::PasswordPolicy, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::{Role, UserRecord};

/// Rows per import and usernames per bulk request, at most.
pub const MAX_ROWS: usize = 1000;

/// One user of an import. `password` is hashed (argon2) before it is stored and never echoed.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportRow {
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    pub role: Role,
    pub password: String,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl std::fmt::Debug for ImportRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportRow")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A row as read: the user, or why it could not be read.
pub type ReadRow = Result<ImportRow, FieldError>;

fn row_field(i: usize, field: &str) -> String {
    if field.is_empty() {
        format!("rows[{i}]")
    } else {
        format!("rows[{i}].{field}")
    }
}

/// Reads a JSON import: `{"users": [...]}` or a bare array. Each row is read on its own, so one
/// bad row does not hide the others.
pub fn read_json(body: &Value) -> Result<Vec<ReadRow>, FieldError> {
    let rows = match body {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("users") {
            Some(Value::Array(a)) => a,
            Some(_) => return Err(FieldError::new("users", "must be an array of users")),
            None => {
                return Err(FieldError::new(
                    "users",
                    "required: the users to import (or send a JSON array, or text/csv)",
                ))
            }
        },
        _ => return Err(FieldError::new("users", "must be an array of users")),
    };
    check_count(rows.len())?;
    Ok(rows.iter().enumerate().map(|(i, v)| row_of(i, v)).collect())
}

/// Reads one row field by field, so a problem names its field and never echoes a value (it
/// may be a password).
fn row_of(i: usize, v: &Value) -> ReadRow {
    let Value::Object(o) = v else {
        return Err(FieldError::new(row_field(i, ""), "must be an object"));
    };
    for (k, v) in o {
        let ok = match k.as_str() {
            "username" | "password" => v.is_string(),
            "email" => v.is_string() || v.is_null(),
            "role" => serde_json::from_value::<Role>(v.clone()).is_ok(),
            "disabled" => v.is_boolean(),
            "attributes" => v
                .as_object()
                .is_some_and(|a| a.values().all(Value::is_string)),
            _ => {
                return Err(FieldError::new(
                    row_field(i, k),
                    "unknown field (username, email, role, password, disabled, attributes)",
                ))
            }
        };
        if !ok {
            let want = match k.as_str() {
                "role" => "one of viewer, editor, admin",
                "disabled" => "true or false",
                "attributes" => "an object of text values",
                _ => "must be text",
            };
            return Err(FieldError::new(row_field(i, k), want));
        }
    }
    for required in ["username", "role", "password"] {
        if !o.contains_key(required) {
            return Err(FieldError::new(row_field(i, required), "required"));
        }
    }
    serde_json::from_value::<ImportRow>(v.clone())
        .map_err(|_| FieldError::new(row_field(i, ""), "not a user"))
}

fn check_count(n: usize) -> Result<(), FieldError> {
    if n == 0 {
        return Err(FieldError::new("users", "no users to import"));
    }
    if n > MAX_ROWS {
        return Err(FieldError::new(
            "users",
            format!("at most {MAX_ROWS} users per import ({n} given)"),
        ));
    }
    Ok(())
}

/// Splits CSV text (RFC 4180: quoted fields, doubled quotes, CRLF or LF) into records.
pub fn csv_records(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                line += 1;
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(format!("a quoted field is not closed (line {line})"));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    // Blank lines are not rows.
    records.retain(|r| !(r.len() == 1 && r[0].trim().is_empty()));
    Ok(records)
}

/// Reads a CSV import: a header row naming `username`, `role`, `password` (required), `email`,
/// `disabled` and `attr.<key>` columns (attributes), then one user per row.
pub fn read_csv(text: &str) -> Result<Vec<ReadRow>, FieldError> {
    let records = csv_records(text).map_err(|e| FieldError::new("csv", e))?;
    let Some((header, rows)) = records.split_first() else {
        return Err(FieldError::new("csv", "empty: a header row is required"));
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    for h in &header {
        let known = ["username", "email", "role", "password", "disabled"].contains(&h.as_str())
            || h.strip_prefix("attr.").is_some_and(|k| !k.is_empty());
        if !known {
            return Err(FieldError::new(
                format!("csv.header.{h}"),
                "unknown column (username, email, role, password, disabled, attr.<key>)",
            ));
        }
    }
    for required in ["username", "role", "password"] {
        if !header.iter().any(|h| h == required) {
            return Err(FieldError::new(
                format!("csv.header.{required}"),
                "required column missing",
            ));
        }
    }
    check_count(rows.len())?;
    Ok(rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if r.len() != header.len() {
                return Err(FieldError::new(
                    row_field(i, ""),
                    format!("{} fields where the header has {}", r.len(), header.len()),
                ));
            }
            let mut obj = serde_json::Map::new();
            let mut attrs = serde_json::Map::new();
            for (h, v) in header.iter().zip(r) {
                if let Some(k) = h.strip_prefix("attr.") {
                    if !v.is_empty() {
                        attrs.insert(k.to_string(), Value::String(v.clone()));
                    }
                    continue;
                }
                let value = match h.as_str() {
                    "disabled" => match v.trim().to_ascii_lowercase().as_str() {
                        "" | "false" | "no" | "0" => Value::Bool(false),
                        "true" | "yes" | "1" => Value::Bool(true),
                        _ => {
                            return Err(FieldError::new(row_field(i, "disabled"), "true or false"))
                        }
                    },
                    "email" if v.trim().is_empty() => continue,
                    "username" | "role" => Value::String(v.trim().to_string()),
                    _ => Value::String(v.clone()),
                };
                obj.insert(h.clone(), value);
            }
            obj.insert("attributes".into(), Value::Object(attrs));
            row_of(i, &Value::Object(obj))
        })
        .collect())
}

/// What the tenant's password policy (the same rules as every other password: length,
/// character classes, common passwords, the username) says of a password; `None` when it passes.
pub fn password_problem(policy: &PasswordPolicy, pw: &str, username: &str) -> Option<String> {
    let broken = crate::auth::password::broken_rules(policy, pw, username, "");
    (!broken.is_empty()).then(|| broken.join("; "))
}

/// Checks one row on its own (no store): username, email, password policy, attributes.
pub fn check_row(i: usize, row: &ImportRow, policy: &PasswordPolicy) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let prefixed = |e: crate::http::ApiError, errs: &mut Vec<FieldError>| {
        if let crate::http::ApiError::Invalid(list) = e {
            for f in list {
                errs.push(FieldError::new(row_field(i, &f.field), f.message));
            }
        }
    };
    if let Err(e) = crate::auth::users::check_username(&row.username) {
        prefixed(e, &mut errs);
    }
    if let Some(e) = &row.email {
        if e.len() > 254 || e.split('@').count() != 2 || e.starts_with('@') || e.ends_with('@') {
            errs.push(FieldError::new(
                row_field(i, "email"),
                "not an email address",
            ));
        }
    }
    if let Some(p) = password_problem(policy, &row.password, &row.username) {
        errs.push(FieldError::new(row_field(i, "password"), p));
    }
    if let Err(e) = crate::auth::users::check_attributes(&row.attributes) {
        prefixed(e, &mut errs);
    }
    errs
}

/// What one row of an import does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowPlan {
    Create,
    Fail(FieldError),
}

/// Plans an import: each row's own problems, then duplicates in the file, users that exist,
/// and the tenant's user quota (`existing_count` users now, at most `max_users`), in row order.
pub fn plan_import(
    rows: &[ReadRow],
    policy: &PasswordPolicy,
    exists: &HashSet<String>,
    existing_count: u64,
    max_users: u64,
) -> Vec<RowPlan> {
    let mut seen = HashSet::new();
    let mut room = max_users.saturating_sub(existing_count);
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let row = match r {
                Ok(row) => row,
                Err(e) => return RowPlan::Fail(e.clone()),
            };
            if let Some(e) = check_row(i, row, policy).into_iter().next() {
                return RowPlan::Fail(e);
            }
            if !seen.insert(row.username.clone()) {
                return RowPlan::Fail(FieldError::new(
                    row_field(i, "username"),
                    "appears earlier in this import",
                ));
            }
            if exists.contains(&row.username) {
                return RowPlan::Fail(FieldError::new(
                    row_field(i, "username"),
                    "a user with this name already exists",
                ));
            }
            if room == 0 {
                return RowPlan::Fail(FieldError::new(
                    row_field(i, ""),
                    format!(
                        "user quota of {max_users} reached (the Tenant's spec.limits.maxUsers)"
                    ),
                ));
            }
            room -= 1;
            RowPlan::Create
        })
        .collect()
}

/// A bulk action on existing users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum BulkAction {
    SetRole,
    Disable,
    Enable,
    Delete,
}

/// What a bulk action does to one user.
#[derive(Clone, Debug)]
pub enum UserPlan {
    /// Write the user as changed (role or disabled flag).
    Update(Box<UserRecord>),
    Delete,
    /// Already as asked.
    Unchanged,
    Fail(FieldError),
}

/// Plans a bulk action over `usernames` given the users found. The caller cannot demote,
/// disable or delete themselves (so an enabled admin always remains).
pub fn plan_bulk(
    action: BulkAction,
    role: Option<Role>,
    usernames: &[String],
    found: &HashMap<String, UserRecord>,
    caller: &str,
) -> Vec<UserPlan> {
    let mut seen = HashSet::new();
    usernames
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let field = format!("usernames[{i}]");
            if !seen.insert(name.as_str()) {
                return UserPlan::Fail(FieldError::new(field, "listed twice"));
            }
            let Some(user) = found.get(name) else {
                return UserPlan::Fail(FieldError::new(field, format!("no user {name}")));
            };
            let harms_self = name == caller
                && match action {
                    BulkAction::SetRole => role != Some(Role::Admin),
                    BulkAction::Disable | BulkAction::Delete => true,
                    BulkAction::Enable => false,
                };
            if harms_self {
                return UserPlan::Fail(FieldError::new(
                    field,
                    "admins cannot demote, disable or delete themselves",
                ));
            }
            let mut changed = user.clone();
            match action {
                BulkAction::Delete => return UserPlan::Delete,
                BulkAction::SetRole => changed.role = role.unwrap_or(user.role),
                BulkAction::Disable => changed.disabled = true,
                BulkAction::Enable => changed.disabled = false,
            }
            if changed.role == user.role && changed.disabled == user.disabled {
                UserPlan::Unchanged
            } else {
                UserPlan::Update(Box::new(changed))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> PasswordPolicy {
        PasswordPolicy {
            min_length: 12,
            ..Default::default()
        }
    }

    #[test]
    fn csv_reads_quotes_crlf_and_attributes() {
        let text = "username,role,password,email,attr.region,disabled\r\n\
            ann,viewer,\"pass,word \"\"1\"\"2\",ann@x.io,emea,\r\n\
            \n\
            bob,editor,long-password-2,,,yes\n";
        let rows = read_csv(text).unwrap();
        assert_eq!(rows.len(), 2);
        let ann = rows[0].as_ref().unwrap();
        assert_eq!(ann.password, "pass,word \"1\"2");
        assert_eq!(ann.email.as_deref(), Some("ann@x.io"));
        assert_eq!(ann.attributes["region"], "emea");
        assert!(!ann.disabled);
        let bob = rows[1].as_ref().unwrap();
        assert_eq!(bob.role, Role::Editor);
        assert!(bob.disabled && bob.email.is_none() && bob.attributes.is_empty());
    }

    #[test]
    fn csv_problems_name_the_column_or_row() {
        let e = read_csv("username,role\nann,viewer\n").unwrap_err();
        assert_eq!(e.field, "csv.header.password");
        let e = read_csv("username,role,password,shoe\n").unwrap_err();
        assert_eq!(e.field, "csv.header.shoe");
        let rows =
            read_csv("username,role,password\nann,boss,secret-password-1\nbob,viewer\n").unwrap();
        assert_eq!(rows[0].as_ref().unwrap_err().field, "rows[0].role");
        assert_eq!(rows[1].as_ref().unwrap_err().field, "rows[1]");
        assert!(read_csv("username,role,password\n\"open,viewer,x\n").is_err());
    }

    #[test]
    fn json_rows_are_read_one_by_one_without_echoing_values() {
        let rows = read_json(&json!({"users": [
            {"username": "ann", "role": "viewer", "password": "p"},
            {"username": "bob", "role": "chief", "password": "hunter2-secret"},
            {"username": "cy", "role": "viewer"},
        ]}))
        .unwrap();
        assert!(rows[0].is_ok());
        let e = rows[1].as_ref().unwrap_err();
        assert_eq!(e.field, "rows[1].role");
        assert!(!e.message.contains("hunter2"), "{}", e.message);
        assert_eq!(rows[2].as_ref().unwrap_err().field, "rows[2].password");
        assert_eq!(read_json(&json!({})).unwrap_err().field, "users");
        assert_eq!(read_json(&json!([])).unwrap_err().field, "users");
    }

    #[test]
    fn import_plan_checks_rows_duplicates_existing_and_quota() {
        let row = |u: &str, pw: &str| -> ReadRow {
            Ok(ImportRow {
                username: u.into(),
                email: None,
                role: Role::Viewer,
                password: pw.into(),
                disabled: false,
                attributes: Default::default(),
            })
        };
        let rows = vec![
            row("ann", "long-password-1"),
            row("bob", "short"),
            row("ann", "long-password-1"),
            row("old", "long-password-1"),
            row("cy", "long-password-1"),
            row("dee", "long-password-1"),
            row("-bad", "long-password-1"),
        ];
        let exists: HashSet<String> = ["old".to_string()].into();
        // 8 users now, room for 2 more.
        let plan = plan_import(&rows, &policy(), &exists, 8, 10);
        let fields: Vec<String> = plan
            .iter()
            .map(|p| match p {
                RowPlan::Create => "create".to_string(),
                RowPlan::Fail(e) => e.field.clone(),
            })
            .collect();
        assert_eq!(
            fields,
            [
                "create",
                "rows[1].password",
                "rows[2].username",
                "rows[3].username",
                "create",
                "rows[5]",
                "rows[6].username"
            ]
        );
    }

    #[test]
    fn password_policy_classes() {
        let mut p = policy();
        assert!(password_problem(&p, "short", "x").is_some());
        assert_eq!(password_problem(&p, "long-enough-pw", "x"), None);
        p.require_digit = true;
        p.require_uppercase = true;
        assert_eq!(
            password_problem(&p, "long-enough-pw", "x").as_deref(),
            Some("must contain an uppercase letter; must contain a digit")
        );
        assert_eq!(
            password_problem(&p, "Long-enough-pw", "x").as_deref(),
            Some("must contain a digit")
        );
        assert_eq!(password_problem(&p, "Long-enough-pw1", "x"), None);
    }

    fn user(name: &str, role: Role, disabled: bool) -> UserRecord {
        UserRecord {
            username: name.into(),
            email: None,
            role,
            password_hash: String::new(),
            disabled,
            last_login_at: None,
            attributes: Default::default(),
            security: Default::default(),
            meta: Default::default(),
        }
    }

    #[test]
    fn bulk_plans_spare_the_caller_and_report_each_user() {
        let found: HashMap<String, UserRecord> = [
            user("root", Role::Admin, false),
            user("ann", Role::Viewer, false),
            user("bob", Role::Editor, true),
        ]
        .into_iter()
        .map(|u| (u.username.clone(), u))
        .collect();
        let names = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let plan = plan_bulk(
            BulkAction::SetRole,
            Some(Role::Editor),
            &names(&["ann", "bob", "root", "zed", "ann"]),
            &found,
            "root",
        );
        assert!(matches!(&plan[0], UserPlan::Update(u) if u.role == Role::Editor));
        assert!(matches!(plan[1], UserPlan::Unchanged));
        assert!(matches!(&plan[2], UserPlan::Fail(e) if e.field == "usernames[2]"));
        assert!(matches!(&plan[3], UserPlan::Fail(e) if e.message.contains("no user zed")));
        assert!(matches!(&plan[4], UserPlan::Fail(e) if e.message.contains("twice")));
        let plan = plan_bulk(
            BulkAction::Enable,
            None,
            &names(&["bob", "ann", "root"]),
            &found,
            "root",
        );
        assert!(matches!(&plan[0], UserPlan::Update(u) if !u.disabled));
        assert!(matches!(plan[1], UserPlan::Unchanged));
        assert!(matches!(plan[2], UserPlan::Unchanged));
        let plan = plan_bulk(
            BulkAction::Delete,
            None,
            &names(&["ann", "root"]),
            &found,
            "root",
        );
        assert!(matches!(plan[0], UserPlan::Delete));
        assert!(matches!(&plan[1], UserPlan::Fail(_)));
    }
}
