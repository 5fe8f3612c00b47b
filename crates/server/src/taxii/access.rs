//! Who may do what on a TAXII collection: the rights of a requester from its token's role
//! and name. `admin` and `analyst` read and write every collection, `viewer` reads every
//! collection, `ingest` has no part in TAXII, and a `partner` reads and writes only the
//! collections whose `readers` and `writers` name its token or user. A collection a requester may
//! neither read nor write is invisible to it: answered as absent (404), never 403.

use crate::auth::{Role, TokenInfo};

use super::CollectionConfig;

/// A requester's rights on one collection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rights {
    /// May get its objects, manifest and versions.
    pub read: bool,
    /// May add objects and delete them.
    pub write: bool,
}

impl Rights {
    /// Whether the collection exists for the requester at all.
    pub fn visible(self) -> bool {
        self.read || self.write
    }
}

/// Whether a token may use the TAXII server at all (discovery, API root).
pub fn may_use_taxii(token: &TokenInfo) -> bool {
    token.role != Role::Ingest
}

/// The rights of `token` on a collection; `config` is `None` for a collection the store
/// holds but the configuration no longer names (only the service's own roles see it).
pub fn rights(token: &TokenInfo, config: Option<&CollectionConfig>) -> Rights {
    match token.role {
        Role::Admin | Role::Analyst => Rights {
            read: true,
            write: true,
        },
        Role::Viewer => Rights {
            read: true,
            write: false,
        },
        Role::Ingest => Rights::default(),
        Role::Partner => config.map_or_else(Rights::default, |config| Rights {
            read: config.readers.contains(&token.name),
            write: config.writers.contains(&token.name),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, role: Role) -> TokenInfo {
        TokenInfo {
            id: "000000000000".into(),
            name: name.into(),
            role,
            created_micros: 0,
            revoked: false,
        }
    }

    #[test]
    fn rights_table() {
        let collection = CollectionConfig {
            alias: "cisa".into(),
            id: None,
            title: None,
            description: None,
            readers: vec!["cisa".into(), "fbi".into()],
            writers: vec!["cisa".into()],
        };
        let rw = Rights {
            read: true,
            write: true,
        };
        let r = Rights {
            read: true,
            write: false,
        };
        let table = [
            (token("a", Role::Admin), rw),
            (token("a", Role::Analyst), rw),
            (token("a", Role::Viewer), r),
            (token("cisa", Role::Ingest), Rights::default()),
            (token("cisa", Role::Partner), rw),
            (token("fbi", Role::Partner), r),
            (token("other", Role::Partner), Rights::default()),
        ];
        for (token, expected) in table {
            assert_eq!(rights(&token, Some(&collection)), expected, "{token:?}");
        }
        assert!(!rights(&token("cisa", Role::Partner), None).visible());
        assert!(rights(&token("x", Role::Viewer), None).visible());
        assert!(!may_use_taxii(&token("x", Role::Ingest)));
        assert!(may_use_taxii(&token("x", Role::Partner)));
    }
}
