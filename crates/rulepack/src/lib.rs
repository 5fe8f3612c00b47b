//! Installed Sigma rule packages: what `tocsin rules update` installs and what `tocsin hunt`
//! uses when no `--rules` are given.
//!
//! # Brief overview
//!
//! * [`Pack`]: SigmaHQ's release packages (core, core+, core++, emerging threats, all) and
//!   the address of each in the latest release.
//! * [`data_dir`]: where tocsin keeps its data (`$TOCSIN_DATA_DIR`, else
//!   `$XDG_DATA_HOME/tocsin`, else `~/.local/share/tocsin`).
//! * [`RuleStore`]: the installed set under `<data>/rules/`. [`RuleStore::install`] unpacks
//!   a zip ([`Source::Zip`]) or copies a folder ([`Source::Folder`]) into a new sibling
//!   folder, verifies it (checksum when one is given, then tocsin's own loader and
//!   compiler: a package with no loadable rule is refused), writes a [`Manifest`], and
//!   swaps it in by replacing one pointer file with a rename. Any failure before that rename
//!   leaves the installed set as it was.
//! * [`Inventory`] and [`Changes`]: the rules of a folder by id (or path, for a rule without
//!   one) and content hash, and what changed between two of them.
//!
//! The library never touches the network: the command line downloads a package to a file
//! and hands it over as a [`Source::Zip`], so the checks are the same for a download and a
//! local zip.
//!
//! ```
//! use tocsin_rulepack::{InstallOptions, RuleStore, Source};
//!
//! let data = tempfile::tempdir()?;
//! let rules = tempfile::tempdir()?;
//! std::fs::write(
//!     rules.path().join("whoami.yml"),
//!     "title: Whoami\nid: 1\nlogsource: {product: windows, category: process_creation}\n\
//!      detection: {sel: {Image|endswith: '\\whoami.exe'}, condition: sel}\n",
//! )?;
//! let store = RuleStore::new(data.path());
//! let report = store.install(&Source::Folder(rules.path()), &InstallOptions::new("my rules"))?;
//! assert_eq!(report.changes.added.len(), 1);
//! assert!(store.installed()?.is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod inventory;
mod pack;
mod store;
mod unpack;

pub use error::PackError;
pub use inventory::{Changes, Inventory, RuleEntry};
pub use pack::{data_dir, Pack, RELEASES_URL};
pub use store::{
    sha256_file, HeldSet, InstallOptions, Installed, Manifest, RuleStore, Source, UpdateReport,
    MANIFEST_FILE,
};
pub use unpack::Limits;
