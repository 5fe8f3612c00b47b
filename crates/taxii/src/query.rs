//! The filters and paging of TAXII requests (sections 3.4 and 3.5): `added_after`,
//! `limit`, `next`, `match[id]`, `match[type]`, `match[version]` and
//! `match[spec_version]`, parsed from a URL query string into a [`Query`] with a clear
//! [`QueryError`] for each bad value (a 400 for the server).
//!
//! Parameters a request does not use, and unknown ones, are ignored, as the specification
//! asks of filters a server does not support. The `next` cursor is opaque to clients; here it
//! holds the date added of the last record of the page, which is unique per store, so
//! that paging with it returns each record exactly once even while objects are added.

use crate::time::parse_micros;

/// The prefix of every `next` cursor, so that a cursor from elsewhere is recognised.
const CURSOR_PREFIX: &str = "t";

/// How many records a page holds when the request does not say, and at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Records per page when `limit` is absent.
    pub default: usize,
    /// The most records per page; a larger `limit` is lowered to it.
    pub max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            default: 100,
            max: 1000,
        }
    }
}

/// Which versions of each object `match[version]` selects (the union of what is set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionFilter {
    /// The oldest version.
    pub first: bool,
    /// The newest version.
    pub last: bool,
    /// Every version.
    pub all: bool,
    /// Versions at exactly these instants (microseconds since the epoch).
    pub at: Vec<i64>,
}

impl VersionFilter {
    /// Only the newest version: the default of every endpoint but delete.
    pub fn last() -> Self {
        VersionFilter {
            last: true,
            ..VersionFilter::default()
        }
    }

    /// Every version: the default of delete.
    pub fn all() -> Self {
        VersionFilter {
            all: true,
            ..VersionFilter::default()
        }
    }
}

/// A request's filters and paging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Only records added after this instant (microseconds).
    pub added_after: Option<i64>,
    /// The most records on the page.
    pub limit: usize,
    /// Only records after this cursor (the date added of the previous page's last record).
    pub next: Option<i64>,
    /// Only these object ids (none: any).
    pub ids: Vec<String>,
    /// Only these object types (none: any).
    pub types: Vec<String>,
    /// Which versions; `None` lets the endpoint pick its default.
    pub versions: Option<VersionFilter>,
    /// Only these STIX versions (none: the latest of each object).
    pub spec_versions: Vec<String>,
}

impl Query {
    /// A query without filters, with the default page size of `limits`.
    pub fn new(limits: Limits) -> Self {
        Query {
            added_after: None,
            limit: limits.default,
            next: None,
            ids: Vec::new(),
            types: Vec::new(),
            versions: None,
            spec_versions: Vec::new(),
        }
    }

    /// The query of a URL query string (without the `?`).
    pub fn parse(query: Option<&str>, limits: Limits) -> Result<Self, QueryError> {
        let mut parsed = Query::new(limits);
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            parsed.set(&key, &value, limits)?;
        }
        Ok(parsed)
    }

    /// Sets one parameter.
    fn set(&mut self, key: &str, value: &str, limits: Limits) -> Result<(), QueryError> {
        let bad = |why: &str| QueryError {
            parameter: key.to_owned(),
            message: why.to_owned(),
        };
        match key {
            "added_after" => {
                let micros = parse_micros(value).ok_or_else(|| bad("not an RFC 3339 timestamp"))?;
                self.added_after = Some(micros);
            }
            "limit" => {
                self.limit =
                    parse_limit(value, limits).ok_or_else(|| bad("a positive whole number"))?
            }
            "next" => {
                self.next =
                    Some(parse_cursor(value).ok_or_else(|| bad("not a value this server gave"))?)
            }
            "match[id]" => self.ids = list(value).ok_or_else(|| bad("an empty value"))?,
            "match[type]" => self.types = list(value).ok_or_else(|| bad("an empty value"))?,
            "match[spec_version]" => {
                self.spec_versions = list(value).ok_or_else(|| bad("an empty value"))?
            }
            "match[version]" => {
                self.versions = Some(parse_versions(value).map_err(|why| bad(&why))?)
            }
            _ => {}
        }
        Ok(())
    }

    /// The version filter, or `default` when the request gave none.
    pub fn versions_or(&self, default: VersionFilter) -> VersionFilter {
        self.versions.clone().unwrap_or(default)
    }

    /// The lower bound (exclusive) on the date added: `added_after` and `next` together.
    pub fn after(&self) -> Option<i64> {
        match (self.added_after, self.next) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Why a query string cannot be used: which parameter, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct QueryError {
    /// The parameter.
    pub parameter: String,
    /// What is wrong with its value.
    pub message: String,
}

/// The `next` cursor that continues after a record added at `date_added`.
pub fn cursor(date_added: i64) -> String {
    format!("{CURSOR_PREFIX}{date_added}")
}

/// The date added a cursor holds.
fn parse_cursor(text: &str) -> Option<i64> {
    text.strip_prefix(CURSOR_PREFIX)?.parse().ok()
}

/// A page size: at least 1, lowered to the maximum.
fn parse_limit(text: &str, limits: Limits) -> Option<usize> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    // All digits: too many of them is simply more than the maximum.
    let limit: u64 = text.parse().unwrap_or(u64::MAX);
    (limit > 0).then(|| usize::try_from(limit).unwrap_or(usize::MAX).min(limits.max))
}

/// A comma-separated list without empty items, or `None` when it has none.
fn list(text: &str) -> Option<Vec<String>> {
    let items: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect();
    (!items.is_empty()).then_some(items)
}

/// `first`, `last`, `all` and timestamps, comma-separated.
fn parse_versions(text: &str) -> Result<VersionFilter, String> {
    let mut filter = VersionFilter::default();
    for item in list(text).ok_or("an empty value")? {
        match item.as_str() {
            "first" => filter.first = true,
            "last" => filter.last = true,
            "all" => filter.all = true,
            timestamp => filter.at.push(parse_micros(timestamp).ok_or_else(|| {
                format!("{timestamp:?} is not first, last, all or an RFC 3339 timestamp")
            })?),
        }
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Query, QueryError> {
        Query::parse(Some(text), Limits::default())
    }

    #[test]
    fn nothing_is_the_defaults() {
        let query = Query::parse(None, Limits::default()).unwrap();
        assert_eq!(query, Query::new(Limits::default()));
        assert_eq!(query.limit, 100);
        assert_eq!(
            query.versions_or(VersionFilter::last()),
            VersionFilter::last()
        );
    }

    #[test]
    fn every_filter_is_read() {
        let query = parse(
            "added_after=2016-01-01T00:00:00Z&limit=5&match[id]=a--1,b--2\
             &match%5Btype%5D=indicator&match[version]=first,2016-01-01T00:00:00.000Z\
             &match[spec_version]=2.1&next=t42&unknown=1",
        )
        .unwrap();
        assert_eq!(query.limit, 5);
        assert_eq!(query.ids, ["a--1", "b--2"]);
        assert_eq!(query.types, ["indicator"]);
        assert_eq!(query.spec_versions, ["2.1"]);
        let versions = query.versions.clone().unwrap();
        assert!(versions.first && !versions.last && !versions.all);
        assert_eq!(versions.at, [1_451_606_400_000_000]);
        assert_eq!(query.after(), Some(1_451_606_400_000_000));
        assert_eq!(parse("next=t42").unwrap().after(), Some(42));
    }

    #[test]
    fn a_large_limit_is_lowered() {
        assert_eq!(parse("limit=100000").unwrap().limit, 1000);
        assert_eq!(parse("limit=99999999999999999999").unwrap().limit, 1000);
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (text, parameter) in [
            ("limit=0", "limit"),
            ("limit=-1", "limit"),
            ("limit=ten", "limit"),
            ("added_after=yesterday", "added_after"),
            ("next=42", "next"),
            ("next=tx", "next"),
            ("match[version]=newest", "match[version]"),
            ("match[id]=,", "match[id]"),
            ("match[type]=", "match[type]"),
        ] {
            let error = parse(text).unwrap_err();
            assert_eq!(error.parameter, parameter, "{text}: {error}");
        }
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(
            parse_cursor(&cursor(1_733_000_000_000_001)),
            Some(1_733_000_000_000_001)
        );
    }
}
