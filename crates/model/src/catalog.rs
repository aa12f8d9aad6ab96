//! Event-code catalogs: CSV tables `code,name,category,description` that turn a numeric
//! `event_code` into an `event_type` name and an `event_group` category.
//!
//! Codes overlap between catalogs (102 is `UserGroupChange` in one and `User-login-failed` in
//! the other), so a code is resolved in the catalog named like the event's `source` when there
//! is one, else in the default catalog.

use std::collections::BTreeMap;
use std::path::Path;

use crate::event::TEXT_BYTES_MAX;

/// Name of the catalog used when an event's `source` names none: the file-transfer product's.
pub const DEFAULT_CATALOG: &str = "file-transfer";

/// Largest catalog file annal loads, in bytes; a catalog is a small table, not a data set.
pub const CATALOG_BYTES_MAX: usize = 4 << 20;

/// Name of annal's own catalog: the events the store appends about itself (prunes, legal
/// holds), with `source` "annal".
pub const ANNAL_CATALOG: &str = "annal";

const BUILT_IN: [(&str, &str); 3] = [
    (
        "file-transfer",
        include_str!("../catalogs/file-transfer.csv"),
    ),
    (
        "privileged-access",
        include_str!("../catalogs/privileged-access.csv"),
    ),
    (ANNAL_CATALOG, include_str!("../catalogs/annal.csv")),
];

/// A catalog could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("catalog {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line is not `code,name,category,description`.
    #[error("catalog {catalog} line {line}: {msg}")]
    Syntax {
        /// The catalog's name.
        catalog: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// No catalog has the name asked for as default.
    #[error("default catalog {0:?} is not loaded")]
    UnknownDefault(String),
}

/// One code of a catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The numeric code.
    pub code: i64,
    /// The event type name, e.g. `LoginFailed`.
    pub name: String,
    /// The category, e.g. `User Action`.
    pub category: String,
    /// Human description.
    pub description: String,
}

/// One catalog, named by its file stem.
#[derive(Clone, Debug)]
pub struct Catalog {
    name: String,
    entries: BTreeMap<i64, CatalogEntry>,
}

impl Catalog {
    /// Parses CSV text with the header `code,name,category,description`.
    pub fn parse(name: &str, text: &str) -> Result<Catalog, CatalogError> {
        let syntax = |line: usize, msg: String| CatalogError::Syntax {
            catalog: name.to_string(),
            line,
            msg,
        };
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, header)) if header.trim() == "code,name,category,description" => {}
            _ => {
                return Err(syntax(
                    1,
                    "header must be code,name,category,description".into(),
                ))
            }
        }
        let mut entries = BTreeMap::new();
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let cols = split_csv_line(line).map_err(|m| syntax(i + 1, m.into()))?;
            let [code, ename, category, description]: [String; 4] =
                cols.try_into().map_err(|c: Vec<String>| {
                    syntax(i + 1, format!("expected 4 columns, found {}", c.len()))
                })?;
            let code: i64 = code
                .trim()
                .parse()
                .map_err(|_| syntax(i + 1, format!("code {code:?} is not an integer")))?;
            if ename.trim().is_empty() {
                return Err(syntax(i + 1, "name is empty".into()));
            }
            // Names and categories become event_type and event_group values.
            if ename.len() > TEXT_BYTES_MAX || category.len() > TEXT_BYTES_MAX {
                return Err(syntax(
                    i + 1,
                    format!("name or category longer than {TEXT_BYTES_MAX} bytes"),
                ));
            }
            let entry = CatalogEntry {
                code,
                name: ename,
                category,
                description,
            };
            if entries.insert(code, entry).is_some() {
                return Err(syntax(i + 1, format!("code {code} appears twice")));
            }
        }
        Ok(Catalog {
            name: name.to_string(),
            entries,
        })
    }

    /// The catalog's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The entry for a code.
    pub fn get(&self, code: i64) -> Option<&CatalogEntry> {
        self.entries.get(&code)
    }

    /// All entries in code order.
    pub fn entries(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.entries.values()
    }
}

/// Splits one CSV line, honouring double quotes (`""` is a literal quote).
fn split_csv_line(line: &str) -> Result<Vec<String>, &'static str> {
    let mut cols = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, ',') => cols.push(std::mem::take(&mut cur)),
            (false, '"') if cur.is_empty() => quoted = true,
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (_, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote");
    }
    cols.push(cur);
    Ok(cols)
}

/// The set of catalogs a store resolves codes in.
#[derive(Clone, Debug)]
pub struct Catalogs {
    catalogs: Vec<Catalog>,
    default: usize,
}

impl Catalogs {
    /// The two built-in catalogs, `file-transfer` (default) and `privileged-access`.
    pub fn builtin() -> Catalogs {
        let catalogs = BUILT_IN
            .iter()
            .map(|(name, text)| Catalog::parse(name, text))
            .collect::<Result<Vec<_>, _>>();
        // The built-in CSVs are compiled in and covered by tests; a parse failure here is a
        // build defect, not an input error.
        let catalogs = catalogs.unwrap_or_else(|e| panic!("built-in catalog is malformed: {e}"));
        Catalogs {
            catalogs,
            default: 0,
        }
    }

    /// Adds (or replaces, by name) a catalog read from a CSV file; its name is the file stem.
    pub fn load_file(&mut self, path: &Path) -> Result<(), CatalogError> {
        let io = |source| CatalogError::Io {
            path: path.display().to_string(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.len() > CATALOG_BYTES_MAX as u64 {
            return Err(CatalogError::Syntax {
                catalog: path.display().to_string(),
                line: 0,
                msg: format!("file is larger than {CATALOG_BYTES_MAX} bytes"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("custom");
        self.insert(Catalog::parse(name, &text)?);
        Ok(())
    }

    /// Adds or replaces a catalog by name.
    pub fn insert(&mut self, catalog: Catalog) {
        match self.catalogs.iter().position(|c| c.name == catalog.name) {
            Some(i) => self.catalogs[i] = catalog,
            None => self.catalogs.push(catalog),
        }
    }

    /// Makes the catalog with this name the default.
    pub fn set_default(&mut self, name: &str) -> Result<(), CatalogError> {
        self.default = self
            .catalogs
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| CatalogError::UnknownDefault(name.to_string()))?;
        Ok(())
    }

    /// The default catalog.
    pub fn default_catalog(&self) -> &Catalog {
        &self.catalogs[self.default]
    }

    /// All catalogs.
    pub fn iter(&self) -> impl Iterator<Item = &Catalog> {
        self.catalogs.iter()
    }

    /// Resolves a code: in the catalog named like `source` if there is one, else the default.
    pub fn resolve(&self, code: i64, source: Option<&str>) -> Option<&CatalogEntry> {
        self.catalog_for(source).get(code)
    }

    /// The catalog an event's code belongs to: the one named like its `source` if there is
    /// one, else the default.
    pub fn catalog_for(&self, source: Option<&str>) -> &Catalog {
        let by_source = source.and_then(|s| self.catalogs.iter().find(|c| c.name == s));
        by_source.unwrap_or(self.default_catalog())
    }
}

impl Default for Catalogs {
    fn default() -> Self {
        Catalogs::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogs_load_every_code() {
        let c = Catalogs::builtin();
        let names: Vec<_> = c
            .iter()
            .map(|c| (c.name().to_string(), c.entries().count()))
            .collect();
        assert_eq!(
            names,
            [
                ("file-transfer".into(), 36),
                ("privileged-access".into(), 145),
                ("annal".into(), 3)
            ]
        );
    }

    #[test]
    fn overlapping_codes_resolve_by_source() {
        let c = Catalogs::builtin();
        assert_eq!(c.resolve(102, None).unwrap().name, "UserGroupChange");
        assert_eq!(
            c.resolve(102, Some("privileged-access")).unwrap().name,
            "User-login-failed"
        );
        assert_eq!(
            c.resolve(202, Some("some-app")).unwrap().name,
            "LoginFailed"
        );
        assert!(c.resolve(999_999, None).is_none());
    }

    #[test]
    fn quoted_commas_survive() {
        let c = Catalogs::builtin();
        let e = c.resolve(251, Some("privileged-access")).unwrap();
        assert_eq!(
            e.description,
            "RoleContext limitations were violated, role blocked."
        );
    }

    #[test]
    fn malformed_catalogs_name_the_line() {
        let err =
            Catalog::parse("x", "code,name,category,description\n1,A,B,C\nzz,B,C,D\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "catalog x line 3: code \"zz\" is not an integer"
        );
        let long = format!(
            "code,name,category,description\n1,{},B,C\n",
            "n".repeat(TEXT_BYTES_MAX + 1)
        );
        assert!(Catalog::parse("x", &long)
            .unwrap_err()
            .to_string()
            .contains("longer than"));
        let err = Catalog::parse("x", "code,name,category,description\n1,A,B\n").unwrap_err();
        assert!(
            err.to_string().contains("line 2: expected 4 columns"),
            "{err}"
        );
        let err =
            Catalog::parse("x", "code,name,category,description\n1,A,B,C\n1,D,E,F\n").unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
        assert!(Catalog::parse("x", "id,name\n").is_err());
    }
}
