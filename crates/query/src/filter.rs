//! What a query asks for: a time range, field clauses and free text, and how to decide it
//! for one event (the residual check, and the oracle the tests compare the indexes with).

use annal_model::{CatalogEntry, Catalogs, Event, Field, IntField, TextField, Timestamp};

use crate::error::{QueryError, Result};

/// One condition on events; clauses of a filter all have to hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clause {
    /// The field has one of these values (or, negated, none of them; events without the
    /// field pass a negated clause).
    Values {
        /// A text or integer field.
        field: Field,
        /// Values as given; integers in decimal.
        values: Vec<String>,
        /// True for `not`.
        negate: bool,
    },
    /// The event's code is one of these codes of these catalogs: what event type names and
    /// categories resolve to, since catalogs reuse numbers (202 is `LoginFailed` in one,
    /// `Role-modified` in another).
    Codes {
        /// (catalog, code) pairs.
        codes: Vec<(String, i64)>,
        /// True for `not`.
        negate: bool,
    },
}

/// Events to select: `from` ≤ `created_at` < `to`, every clause, and `q`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Inclusive lower bound of `created_at`.
    pub from: Option<Timestamp>,
    /// Exclusive upper bound of `created_at`.
    pub to: Option<Timestamp>,
    /// Conditions that all have to hold.
    pub clauses: Vec<Clause>,
    /// Free text, matched case-insensitively as a substring of `event_type`,
    /// `error_message`, `path`, `user_agent` or the catalog name of the event's code.
    pub q: Option<String>,
}

/// Fields `q` searches.
pub const TEXT_SEARCH_FIELDS: [TextField; 4] = [
    TextField::EventType,
    TextField::ErrorMessage,
    TextField::Path,
    TextField::UserAgent,
];

impl Filter {
    /// Adds "field is one of values".
    pub fn with(mut self, field: Field, values: &[&str]) -> Filter {
        self.clauses.push(Clause::Values {
            field,
            values: values.iter().map(|v| v.to_string()).collect(),
            negate: false,
        });
        self
    }

    /// Checks values against their fields' types and the time range's order.
    pub fn validate(&self) -> Result<()> {
        if let (Some(f), Some(t)) = (self.from, self.to) {
            if f > t {
                return Err(QueryError::BadRange);
            }
        }
        for c in &self.clauses {
            if let Clause::Values { field, values, .. } = c {
                check_field(*field)?;
                if let Field::Int(_) = field {
                    for v in values {
                        parse_int(*field, v)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// True when `event` matches.
    pub fn matches(&self, event: &Event, catalogs: &Catalogs) -> bool {
        let t = event.created_at;
        if self.from.is_some_and(|f| t < f) || self.to.is_some_and(|to| t >= to) {
            return false;
        }
        self.clauses.iter().all(|c| c.matches(event, catalogs))
            && self
                .q
                .as_deref()
                .is_none_or(|q| text_matches(event, &q.to_lowercase(), catalogs))
    }
}

impl Clause {
    /// True when `event` satisfies the clause.
    pub fn matches(&self, event: &Event, catalogs: &Catalogs) -> bool {
        match self {
            Clause::Values {
                field,
                values,
                negate,
            } => {
                let hit = match *field {
                    Field::Text(f) => event.text(f).is_some_and(|v| values.iter().any(|x| x == v)),
                    Field::Int(f) => event
                        .int(f)
                        .is_some_and(|v| values.iter().any(|x| x.parse() == Ok(v))),
                    _ => false,
                };
                hit != *negate
            }
            Clause::Codes { codes, negate } => {
                let hit = event.int(IntField::EventCode).is_some_and(|code| {
                    let catalog = catalogs.catalog_for(event.text(TextField::Source));
                    codes.iter().any(|(c, n)| *n == code && c == catalog.name())
                });
                hit != *negate
            }
        }
    }
}

/// `q` (lowercased) against the searched fields and the code's catalog name.
pub(crate) fn text_matches(event: &Event, q: &str, catalogs: &Catalogs) -> bool {
    let has = |s: &str| s.to_lowercase().contains(q);
    TEXT_SEARCH_FIELDS
        .iter()
        .any(|&f| event.text(f).is_some_and(has))
        || event.int(IntField::EventCode).is_some_and(|c| {
            catalogs
                .resolve(c, event.text(TextField::Source))
                .is_some_and(|e| has(&e.name))
        })
}

/// Refuses fields that are not text or integer fields.
pub fn check_field(field: Field) -> Result<()> {
    if field.is_filterable() {
        Ok(())
    } else {
        Err(QueryError::BadField(field.name().to_string()))
    }
}

pub(crate) fn parse_int(field: Field, v: &str) -> Result<i64> {
    v.trim().parse().map_err(|_| QueryError::BadValue {
        field: field.name().to_string(),
        value: v.to_string(),
        msg: "expected an integer".into(),
    })
}

/// A name with case and every character but letters and digits dropped: `Login Failed`,
/// `login-failed` and `LoginFailed` are the same name.
fn fold_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The (catalog, code) pairs of an event type given by name in any catalog.
pub fn codes_named(catalogs: &Catalogs, name: &str) -> Result<Vec<(String, i64)>> {
    let want = fold_name(name);
    let found = codes_where(catalogs, |e| fold_name(&e.name) == want);
    if found.is_empty() {
        return Err(QueryError::UnknownEventType(name.to_string()));
    }
    Ok(found)
}

/// The (catalog, code) pairs of a category (case-insensitive) in any catalog.
pub fn codes_in_category(catalogs: &Catalogs, category: &str) -> Result<Vec<(String, i64)>> {
    let want = fold_name(category);
    let found = codes_where(catalogs, |e| fold_name(&e.category) == want);
    if found.is_empty() {
        return Err(QueryError::UnknownCategory(category.to_string()));
    }
    Ok(found)
}

fn codes_where(catalogs: &Catalogs, pred: impl Fn(&CatalogEntry) -> bool) -> Vec<(String, i64)> {
    catalogs
        .iter()
        .flat_map(|c| c.entries().map(move |e| (c, e)))
        .filter(|(_, e)| pred(e))
        .map(|(c, e)| (c.name().to_string(), e.code))
        .collect()
}
