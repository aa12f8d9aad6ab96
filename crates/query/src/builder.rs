//! One way from parameters to a [`Filter`]: the CLI's flags and every HTTP route's query
//! string map their own names and syntax onto a [`FilterBuilder`], which resolves event types
//! and categories through the catalogs, reads times, groups values and checks them, and
//! names the parameter at fault in every error.

use annal_model::{Catalogs, Field, TimeError, Timestamp, NANOS_PER_DAY};

use crate::filter::{codes_in_category, codes_named, parse_int, Clause, Filter};
use crate::QueryError;

/// What is wrong with one value given to a [`FilterBuilder`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterProblem {
    /// Neither a date nor an RFC 3339 date-time.
    #[error("{0}")]
    BadTime(TimeError),
    /// Not an integer, for an integer field.
    #[error("expected an integer for {}", .0.name())]
    NotInteger(Field),
    /// A field no filter can name (only text and integer fields can).
    #[error("{} cannot be filtered: only text and integer fields can", .0.name())]
    NotFilterable(Field),
    /// No catalog has an event type of this name.
    #[error("no catalog has an event type of this name (names such as LoginFailed, or codes such as 202)")]
    UnknownEventType,
    /// No catalog has this category.
    #[error("no catalog has this category")]
    UnknownCategory,
    /// An event code that the catalog bare codes refer to (see
    /// [`FilterBuilder::codes_of`]) does not hold.
    #[error("no event type {0:?}")]
    NoSuchCode(String),
    /// The end of the time range is before its start. [`FilterBuilder::build`] no longer
    /// refuses this (a reversed range is empty); `Filter::validate` still does for filters
    /// made by hand.
    #[error("the time range ends before it starts")]
    Reversed,
}

/// One refused value: the parameter or flag as the caller named it, the value, and what is
/// wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{param} {value:?}: {problem}")]
pub struct FilterError {
    /// The parameter or flag (`from`, `not.user_id`, `--type`, `filter[created_at]`).
    pub param: String,
    /// The value given.
    pub value: String,
    /// What is wrong.
    pub problem: FilterProblem,
}

impl FilterError {
    fn new(param: &str, value: &str, problem: FilterProblem) -> FilterError {
        FilterError {
            param: param.to_string(),
            value: value.to_string(),
            problem,
        }
    }

    /// The same refusal as the query engine words it (which names the field, or `from` for
    /// the range, rather than the parameter), for callers whose answers have always shown
    /// the engine's words; None for problems the engine has no words for.
    pub fn as_query_error(&self) -> Option<QueryError> {
        Some(match &self.problem {
            FilterProblem::NotInteger(field) => QueryError::BadValue {
                field: field.name().to_string(),
                value: self.value.clone(),
                msg: "expected an integer".into(),
            },
            FilterProblem::NotFilterable(field) => QueryError::BadField(field.name().to_string()),
            FilterProblem::UnknownEventType => QueryError::UnknownEventType(self.value.clone()),
            FilterProblem::UnknownCategory => QueryError::UnknownCategory(self.value.clone()),
            FilterProblem::Reversed => QueryError::BadRange,
            FilterProblem::BadTime(_) | FilterProblem::NoSuchCode(_) => return None,
        })
    }
}

/// Every value [`FilterBuilder::build`] refused, in the order given (never empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterErrors(Vec<FilterError>);

impl FilterErrors {
    /// The first refusal: what a caller that reports one problem reports.
    pub fn first(&self) -> &FilterError {
        // `build` makes a FilterErrors only from a non-empty list.
        &self.0[0]
    }

    /// Every refusal, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = &FilterError> {
        self.0.iter()
    }
}

impl std::fmt::Display for FilterErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FilterErrors {}

impl From<FilterError> for FilterErrors {
    fn from(e: FilterError) -> FilterErrors {
        FilterErrors(vec![e])
    }
}

/// Values of one field clause, each with the parameter that gave it.
struct ValueGroup {
    field: Field,
    negate: bool,
    /// True when [`FilterBuilder::value`] may add to it (a repeated parameter: any of).
    open: bool,
    values: Vec<(String, String)>,
}

/// (catalog, code) pairs of one clause.
struct CodesGroup {
    /// True when [`FilterBuilder::category`] may add to it.
    open: bool,
    codes: Vec<(String, i64)>,
}

/// Builds a [`Filter`] from parameters. Values that cannot be read (times, event types,
/// categories, fields no filter can name) are refused at once, in the order given; integer
/// values and the order of the range are checked by [`build`](FilterBuilder::build), which
/// reports every refusal.
///
/// Clauses all have to hold. Field clauses come first, then event type and category
/// clauses, each in the order first given: the order is part of a cursor's hash, so the
/// same parameters always give the same filter.
///
/// ```
/// use annal_model::{Catalogs, Field, TextField};
/// use annal_query::FilterBuilder;
/// let catalogs = Catalogs::builtin();
/// let mut b = FilterBuilder::new(&catalogs);
/// b.from("from", "2026-03-01").unwrap();
/// b.value("status", Field::Text(TextField::Status), false, "failure").unwrap();
/// b.value("status", Field::Text(TextField::Status), false, "error").unwrap();
/// b.category("category", "Authentication").unwrap();
/// let filter = b.build().unwrap();
/// assert_eq!(filter.clauses.len(), 2);
/// assert!(FilterBuilder::new(&catalogs).category("category", "nope").is_err());
/// ```
pub struct FilterBuilder<'c> {
    catalogs: &'c Catalogs,
    codes_of: Option<String>,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    q: Option<String>,
    values: Vec<ValueGroup>,
    codes: Vec<CodesGroup>,
}

impl<'c> FilterBuilder<'c> {
    /// A builder resolving names through `catalogs`; with nothing added it selects every event.
    pub fn new(catalogs: &'c Catalogs) -> FilterBuilder<'c> {
        FilterBuilder {
            catalogs,
            codes_of: None,
            from: None,
            to: None,
            q: None,
            values: Vec::new(),
            codes: Vec::new(),
        }
    }

    /// Bare codes given as event types name that catalog's event (refused when it has none),
    /// as a seed API that speaks of one catalog means them; by default a code is that code
    /// in every catalog.
    pub fn codes_of(mut self, catalog: &str) -> FilterBuilder<'c> {
        self.codes_of = Some(catalog.to_string());
        self
    }

    /// Events created at or after `value`: a date (its start, UTC) or an RFC 3339 time.
    pub fn from(&mut self, param: &str, value: &str) -> Result<(), FilterError> {
        self.from = Some(time(param, value)?);
        Ok(())
    }

    /// Events created before `value` (exclusive): a date (its start) or a time.
    pub fn to(&mut self, param: &str, value: &str) -> Result<(), FilterError> {
        self.to = Some(time(param, value)?);
        Ok(())
    }

    /// Events created on or before `value`: a date alone includes its whole day, a time is
    /// included itself. An end past the last representable time is the last representable
    /// time.
    pub fn to_inclusive(&mut self, param: &str, value: &str) -> Result<(), FilterError> {
        let t = time(param, value)?;
        let date_only = value.trim().len() == 10;
        let end = Timestamp(if date_only {
            t.0.saturating_add(NANOS_PER_DAY)
        } else {
            t.0.saturating_add(1)
        });
        self.to = Some(end);
        Ok(())
    }

    /// One parameter of the native query API: `from`, `to`, `q`, `category`, a filterable
    /// field's name, or `not.` and one (the HTTP routes' query strings and stored legal holds
    /// name filters so). Returns false, adding nothing, for a name it does not know.
    pub fn native_param(&mut self, name: &str, value: &str) -> Result<bool, FilterError> {
        match name {
            "from" => self.from(name, value)?,
            "to" => self.to(name, value)?,
            "q" => self.text(value),
            "category" => self.category(name, value)?,
            n => {
                let (field_name, negate) = match n.strip_prefix("not.") {
                    Some(f) => (f, true),
                    None => (n, false),
                };
                let Some(field) = Field::from_name(field_name).filter(|f| f.is_filterable()) else {
                    return Ok(false);
                };
                self.value(name, field, negate, value)?;
            }
        }
        Ok(true)
    }

    /// Free text (see [`Filter::q`]); given again, the last one counts.
    pub fn text(&mut self, q: &str) {
        self.q = Some(q.to_string());
    }

    /// `field` is `value` (negated: is not), joining the values given before for the same
    /// field and negation by this method: a repeated parameter means any of its values.
    pub fn value(
        &mut self,
        param: &str,
        field: Field,
        negate: bool,
        value: &str,
    ) -> Result<(), FilterError> {
        filterable(param, value, field)?;
        let given = (param.to_string(), value.to_string());
        let open = self
            .values
            .iter_mut()
            .find(|g| g.open && g.field == field && g.negate == negate);
        match open {
            Some(g) => g.values.push(given),
            None => self.values.push(ValueGroup {
                field,
                negate,
                open: true,
                values: vec![given],
            }),
        }
        Ok(())
    }

    /// A clause of its own: `field` is one of `values` (negated: none of them), whatever else
    /// is given for the field. Nothing when `values` is empty.
    pub fn values<S: AsRef<str>>(
        &mut self,
        param: &str,
        field: Field,
        negate: bool,
        values: &[S],
    ) -> Result<(), FilterError> {
        let Some(first) = values.first() else {
            return Ok(());
        };
        filterable(param, first.as_ref(), field)?;
        self.values.push(ValueGroup {
            field,
            negate,
            open: false,
            values: values
                .iter()
                .map(|v| (param.to_string(), v.as_ref().to_string()))
                .collect(),
        });
        Ok(())
    }

    /// A clause of its own: the event is of one of these types, each a name in any catalog
    /// (`LoginFailed`, `Login Failed`) or a code. Nothing when `specs` is empty.
    pub fn event_types<S: AsRef<str>>(
        &mut self,
        param: &str,
        specs: &[S],
    ) -> Result<(), FilterError> {
        let mut codes = Vec::new();
        for spec in specs {
            codes.extend(self.event_type_codes(param, spec.as_ref())?);
        }
        if !codes.is_empty() {
            self.codes.push(CodesGroup { open: false, codes });
        }
        Ok(())
    }

    /// The event's code is in category `name` of its catalog (case-insensitive), joining the
    /// categories given before by this method: a repeated parameter means any of them.
    pub fn category(&mut self, param: &str, name: &str) -> Result<(), FilterError> {
        let codes = self.category_codes(param, name)?;
        match self.codes.iter_mut().find(|g| g.open) {
            Some(g) => g.codes.extend(codes),
            None => self.codes.push(CodesGroup { open: true, codes }),
        }
        Ok(())
    }

    /// A clause of its own: the event's code is in one of these categories. Nothing when
    /// `names` is empty.
    pub fn categories<S: AsRef<str>>(
        &mut self,
        param: &str,
        names: &[S],
    ) -> Result<(), FilterError> {
        let mut codes = Vec::new();
        for name in names {
            codes.extend(self.category_codes(param, name.as_ref())?);
        }
        if !codes.is_empty() {
            self.codes.push(CodesGroup { open: false, codes });
        }
        Ok(())
    }

    /// The filter, or every value refused: integers that are not. A range that ends before it
    /// starts holds no time, so it matches nothing (as SQL's `BETWEEN` does): each bound is a
    /// valid time, and the API's document cannot say that one must follow the other.
    pub fn build(mut self) -> Result<Filter, FilterErrors> {
        let mut refused = Vec::new();
        if let (Some(from), Some(to)) = (self.from, &mut self.to) {
            if from > *to {
                *to = from;
            }
        }
        for g in &self.values {
            if let Field::Int(_) = g.field {
                for (param, v) in &g.values {
                    if parse_int(g.field, v).is_err() {
                        refused.push(FilterError::new(
                            param,
                            v,
                            FilterProblem::NotInteger(g.field),
                        ));
                    }
                }
            }
        }
        if !refused.is_empty() {
            return Err(FilterErrors(refused));
        }
        let values = self.values.into_iter().map(|g| Clause::Values {
            field: g.field,
            values: g.values.into_iter().map(|(_, v)| v).collect(),
            negate: g.negate,
        });
        let codes = self.codes.into_iter().map(|g| Clause::Codes {
            codes: g.codes,
            negate: false,
        });
        Ok(Filter {
            from: self.from,
            to: self.to,
            clauses: values.chain(codes).collect(),
            q: self.q,
        })
    }

    fn event_type_codes(&self, param: &str, spec: &str) -> Result<Vec<(String, i64)>, FilterError> {
        let Ok(code) = spec.trim().parse::<i64>() else {
            return codes_named(self.catalogs, spec)
                .map_err(|_| FilterError::new(param, spec, FilterProblem::UnknownEventType));
        };
        let codes: Vec<(String, i64)> = match &self.codes_of {
            // Every catalog, even one without the code: an event may carry a code its
            // catalog does not list, and "this code" still means it.
            None => self
                .catalogs
                .iter()
                .map(|c| (c.name().to_string(), code))
                .collect(),
            Some(only) => self
                .catalogs
                .iter()
                .filter(|c| c.name() == only && c.get(code).is_some())
                .map(|c| (c.name().to_string(), code))
                .collect(),
        };
        if codes.is_empty() {
            return Err(FilterError::new(
                param,
                spec,
                FilterProblem::NoSuchCode(spec.to_string()),
            ));
        }
        Ok(codes)
    }

    fn category_codes(&self, param: &str, name: &str) -> Result<Vec<(String, i64)>, FilterError> {
        codes_in_category(self.catalogs, name)
            .map_err(|_| FilterError::new(param, name, FilterProblem::UnknownCategory))
    }
}

/// A time bound; one outside the store's range is its nearest end (`Timestamp::parse_bound`).
fn time(param: &str, value: &str) -> Result<Timestamp, FilterError> {
    Timestamp::parse_bound(value)
        .map_err(|e| FilterError::new(param, value, FilterProblem::BadTime(e)))
}

fn filterable(param: &str, value: &str, field: Field) -> Result<(), FilterError> {
    if field.is_filterable() {
        Ok(())
    } else {
        Err(FilterError::new(
            param,
            value,
            FilterProblem::NotFilterable(field),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use annal_model::{IntField, TextField};

    const STATUS: Field = Field::Text(TextField::Status);
    const USER: Field = Field::Int(IntField::UserId);

    #[test]
    fn repeated_values_are_any_of_and_separate_clauses_all_hold() {
        let catalogs = Catalogs::builtin();
        let mut b = FilterBuilder::new(&catalogs);
        b.value("status", STATUS, false, "a").unwrap();
        b.value("not.status", STATUS, true, "b").unwrap();
        b.value("status", STATUS, false, "c").unwrap();
        b.values("--status", STATUS, false, &["d"]).unwrap();
        b.value("status", STATUS, false, "e").unwrap();
        b.category("category", "Authentication").unwrap();
        b.category("category", "Configuration").unwrap();
        let f = b.build().unwrap();
        let values: Vec<_> = f
            .clauses
            .iter()
            .filter_map(|c| match c {
                Clause::Values { values, negate, .. } => Some((values.clone(), *negate)),
                Clause::Codes { .. } => None,
            })
            .collect();
        assert_eq!(
            values,
            [
                (vec!["a".to_string(), "c".into(), "e".into()], false),
                (vec!["b".to_string()], true),
                (vec!["d".to_string()], false),
            ]
        );
        assert!(matches!(f.clauses.last(), Some(Clause::Codes { .. })));
        assert_eq!(f.clauses.len(), 4, "both categories in one clause");
    }

    #[test]
    fn every_refusal_names_its_parameter() {
        let catalogs = Catalogs::builtin();
        let mut b = FilterBuilder::new(&catalogs);
        let e = b.from("--from", "2026-13-01").unwrap_err();
        assert_eq!(
            (e.param.as_str(), e.value.as_str()),
            ("--from", "2026-13-01")
        );
        assert!(matches!(e.problem, FilterProblem::BadTime(_)));
        let e = b.event_types("--type", &["NoSuchEvent"]).unwrap_err();
        assert_eq!(e.problem, FilterProblem::UnknownEventType);
        let e = b.value("seq", Field::Seq, false, "1").unwrap_err();
        assert_eq!(e.problem, FilterProblem::NotFilterable(Field::Seq));

        b.from("from", "2026-03-02").unwrap();
        b.to("to", "2026-03-01").unwrap();
        b.value("not.user_id", USER, true, "abc").unwrap();
        b.value("user_id", USER, false, "7").unwrap();
        let errors = b.build().unwrap_err();
        let located: Vec<_> = errors
            .iter()
            .map(|e| (e.param.as_str(), e.problem.clone()))
            .collect();
        // A reversed range is not refused: it is empty (its end moved to its start).
        assert_eq!(located, [("not.user_id", FilterProblem::NotInteger(USER))]);
        assert_eq!(errors.first().param, "not.user_id");
        assert!(errors.to_string().contains("not.user_id \"abc\""));
        let mut reversed = FilterBuilder::new(&catalogs);
        reversed.from("from", "2026-03-02").unwrap();
        reversed.to("to", "2026-03-01").unwrap();
        let f = reversed.build().unwrap();
        assert_eq!(f.from, f.to, "an empty range");
        assert!(f.from.is_some());
    }

    #[test]
    fn codes_mean_every_catalog_unless_one_is_named() {
        let catalogs = Catalogs::builtin();
        let mut every = FilterBuilder::new(&catalogs);
        every.event_types("--type", &["202"]).unwrap();
        let f = every.build().unwrap();
        let Some(Clause::Codes { codes, .. }) = f.clauses.first() else {
            panic!("{f:?}")
        };
        assert_eq!(codes.len(), catalogs.iter().count());

        let mut one = FilterBuilder::new(&catalogs).codes_of("file-transfer");
        one.event_types("eventType", &["202"]).unwrap();
        let e = one.event_types("eventType", &["999999"]).unwrap_err();
        assert_eq!(e.problem, FilterProblem::NoSuchCode("999999".into()));
        assert_eq!(
            e.to_string(),
            "eventType \"999999\": no event type \"999999\""
        );
    }

    #[test]
    fn an_inclusive_end_on_the_last_representable_day_is_the_end_of_time() {
        let catalogs = Catalogs::builtin();
        for end in ["2262-04-11", "2262-04-11T23:47:16.854775807Z"] {
            let mut b = FilterBuilder::new(&catalogs);
            b.to_inclusive("endDate", end).unwrap();
            assert_eq!(b.build().unwrap().to, Some(Timestamp(i64::MAX)), "{end}");
        }
        let mut b = FilterBuilder::new(&catalogs);
        b.to_inclusive("endDate", "2026-03-01").unwrap();
        let next_day = Timestamp::parse_date_or_time("2026-03-02").unwrap();
        assert_eq!(b.build().unwrap().to, Some(next_day));
    }
}
