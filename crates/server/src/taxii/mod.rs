//! The TAXII 2.1 server of `tocsin serve`: partners read and add STIX 2.1 objects in
//! collections (sections 4 and 5 of the TAXII 2.1 specification), each seeing only the
//! collections it is allowed to.
//!
//! # Brief overview
//!
//! * [`TaxiiConfig`] (`[taxii]` and `[[taxii.collections]]`) names the API root, the
//!   collections and who may read and write each.
//! * [`access`]: a requester's rights on a collection, from the role and name of its token
//!   or user.
//! * [`http`]: the protocol's HTTP rules: the media type on every answer, content
//!   negotiation, HTTP Basic and bearer authentication, TAXII error messages.
//! * [`routes`]: the endpoints, over the collection store of `tocsin-taxii`
//!   (`<data>/taxii.sqlite`).
//! * [`publish`]: incidents exported with `tocsin-stix` and added to a collection, by hand
//!   (`POST /api/v1/incidents/{id}/publish`) or by rule (`[[taxii.publish]]`).

pub mod access;
pub mod http;
pub mod publish;
pub mod routes;

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;
use tocsin_taxii::{CollectionRecord, CollectionStore, Limits, StoreError};

pub use publish::PublishRule;

/// The namespace of the UUIDv5 ids of collections configured without an `id`.
const COLLECTION_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x0b5e_1f3c_7d2a_4e6b_8c9d_1a2b_3c4d_5e6f);

/// Path segments an API root may not take: they belong to the rest of the service.
const RESERVED_ROOTS: [&str; 6] = ["api", "taxii2", "metrics", "healthz", "readyz", "status"];

/// The TAXII server's settings (`[taxii]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaxiiConfig {
    /// Whether the TAXII endpoints are served at all.
    pub enabled: bool,
    /// The server's name in the discovery resource.
    pub title: String,
    /// What the server offers, in the discovery resource.
    pub description: Option<String>,
    /// Whom partners contact, in the discovery resource.
    pub contact: Option<String>,
    /// The API root's path segment (`/{api_root}/`).
    pub api_root: String,
    /// The server's address as partners reach it (`https://taxii.example.org`), used in
    /// the discovery resource; without it the request's `Host` header is (fine when
    /// partners reach the service directly, wrong behind a proxy that rewrites it).
    pub public_url: Option<String>,
    /// The largest request body, in bytes; larger ones get 413.
    pub max_content_length: usize,
    /// The most objects one page holds (a larger `limit` is lowered to it); a request
    /// without `limit` gets at most 100.
    pub page_limit: usize,
    /// The producing organisation named in published bundles (the `identity` of
    /// `created_by_ref`); publishing needs it.
    pub organisation: Option<String>,
    /// The collections (`[[taxii.collections]]`).
    pub collections: Vec<CollectionConfig>,
    /// Rules that publish incidents to collections as they change (`[[taxii.publish]]`).
    pub publish: Vec<PublishRule>,
}

impl Default for TaxiiConfig {
    fn default() -> Self {
        TaxiiConfig {
            enabled: true,
            title: "tocsin TAXII server".into(),
            description: None,
            contact: None,
            api_root: "tocsin".into(),
            public_url: None,
            max_content_length: 10 << 20,
            page_limit: 1000,
            organisation: None,
            collections: Vec::new(),
            publish: Vec::new(),
        }
    }
}

/// One collection (`[[taxii.collections]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionConfig {
    /// Its short name, usable in URLs in place of the id.
    pub alias: String,
    /// Its UUID; left out, a UUIDv5 of the alias, so that it is stable across restarts.
    #[serde(default)]
    pub id: Option<String>,
    /// Its human-readable name (the alias when left out).
    #[serde(default)]
    pub title: Option<String>,
    /// What it holds.
    #[serde(default)]
    pub description: Option<String>,
    /// Names of `partner` tokens or users that may read it.
    #[serde(default)]
    pub readers: Vec<String>,
    /// Names of `partner` tokens or users that may add objects to it and delete them.
    #[serde(default)]
    pub writers: Vec<String>,
}

impl CollectionConfig {
    /// The collection's UUID: the configured one, else a UUIDv5 of the alias.
    pub fn uuid(&self) -> String {
        match &self.id {
            Some(id) => id.to_ascii_lowercase(),
            None => uuid::Uuid::new_v5(&COLLECTION_NAMESPACE, self.alias.as_bytes()).to_string(),
        }
    }

    fn record(&self) -> CollectionRecord {
        CollectionRecord {
            id: self.uuid(),
            alias: Some(self.alias.clone()),
            title: self.title.clone().unwrap_or_else(|| self.alias.clone()),
            description: self.description.clone(),
        }
    }
}

impl TaxiiConfig {
    /// Checks what the types do not: the API root's name, the limits, the collections'
    /// aliases and ids (well formed and unique) and the publishing rules.
    pub fn check(&self) -> Result<(), String> {
        if !is_segment(&self.api_root) || RESERVED_ROOTS.contains(&self.api_root.as_str()) {
            return Err(format!(
                "taxii.api_root = {:?}: letters, digits, '-' and '_', not one of {RESERVED_ROOTS:?}",
                self.api_root
            ));
        }
        if let Some(url) = &self.public_url {
            let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
            if !scheme_ok || url.contains(char::is_whitespace) || url.contains(['?', '#']) {
                return Err(format!(
                    "taxii.public_url = {url:?}: an http:// or https:// address without query"
                ));
            }
        }
        if self.max_content_length == 0 || self.page_limit == 0 {
            return Err("taxii.max_content_length and taxii.page_limit must be above 0".into());
        }
        let (mut aliases, mut ids) = (HashSet::new(), HashSet::new());
        for collection in &self.collections {
            if !is_segment(&collection.alias) {
                return Err(format!(
                    "taxii.collections alias {:?}: letters, digits, '-' and '_'",
                    collection.alias
                ));
            }
            if let Some(id) = &collection.id {
                uuid::Uuid::try_parse(id).map_err(|_| {
                    format!(
                        "taxii.collections {}: id {id:?} is not a UUID",
                        collection.alias
                    )
                })?;
            }
            if !aliases.insert(collection.alias.clone()) || !ids.insert(collection.uuid()) {
                return Err(format!(
                    "taxii.collections {}: alias or id given twice",
                    collection.alias
                ));
            }
        }
        for rule in &self.publish {
            rule.check(self)?;
        }
        Ok(())
    }

    /// The page sizes: 100 by default, at most `page_limit`.
    pub fn limits(&self) -> Limits {
        Limits {
            default: self.page_limit.min(100),
            max: self.page_limit,
        }
    }

    /// The configured collection with this id or alias.
    pub fn collection(&self, id_or_alias: &str) -> Option<&CollectionConfig> {
        self.collections
            .iter()
            .find(|c| c.alias == id_or_alias || c.uuid() == id_or_alias.to_ascii_lowercase())
    }
}

/// Whether `text` can be a URL path segment as is (1 to 64 letters, digits, `-`, `_`).
fn is_segment(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// The running TAXII server: its settings and its store.
#[derive(Debug)]
pub struct Taxii {
    /// The settings.
    pub config: TaxiiConfig,
    /// The collections and their objects.
    pub store: CollectionStore,
    /// Whether the service answers over HTTPS (for the URLs of the discovery resource).
    pub https: bool,
}

impl Taxii {
    /// Opens the store at `path` and creates or updates the configured collections in it.
    pub fn open(config: TaxiiConfig, path: &Path, https: bool) -> Result<Taxii, StoreError> {
        let store = CollectionStore::open(path)?;
        for collection in &config.collections {
            store.put_collection(&collection.record())?;
        }
        Ok(Taxii {
            config,
            store,
            https,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> TaxiiConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn collection_ids_default_to_a_stable_uuid_of_the_alias() {
        let taxii = config("[[collections]]\nalias = \"cisa\"\n");
        let id = taxii.collections[0].uuid();
        assert_eq!(
            id,
            config("[[collections]]\nalias = \"cisa\"\n").collections[0].uuid()
        );
        assert!(uuid::Uuid::try_parse(&id).is_ok());
        assert_eq!(taxii.collection(&id).unwrap().alias, "cisa");
        assert_eq!(taxii.collection("cisa").unwrap().uuid(), id);
        assert!(taxii.check().is_ok());
    }

    #[test]
    fn bad_settings_are_refused() {
        for text in [
            "api_root = \"api\"",
            "api_root = \"a/b\"",
            "api_root = \"\"",
            "page_limit = 0",
            "[[collections]]\nalias = \"a b\"",
            "[[collections]]\nalias = \"a\"\nid = \"not-a-uuid\"",
            "[[collections]]\nalias = \"a\"\n[[collections]]\nalias = \"a\"",
            "public_url = \"ftp://taxii.example\"",
            "public_url = \"https://taxii.example/?x=1\"",
        ] {
            assert!(config(text).check().is_err(), "{text}");
        }
        assert!(config("public_url = \"https://taxii.example/\"")
            .check()
            .is_ok());
    }

    #[test]
    fn collections_are_put_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let taxii = config("[[collections]]\nalias = \"cisa\"\ntitle = \"CISA\"\n");
        let opened = Taxii::open(taxii, &dir.path().join("taxii.sqlite"), false).unwrap();
        let stored = opened.store.collection("cisa").unwrap().unwrap();
        assert_eq!(stored.title, "CISA");
    }
}
