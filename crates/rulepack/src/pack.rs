//! SigmaHQ's release packages and where tocsin keeps its data.

use std::ffi::OsString;
use std::path::PathBuf;

/// Where SigmaHQ's latest release assets are downloaded from: `<RELEASES_URL>/<asset>`.
pub const RELEASES_URL: &str = "https://github.com/SigmaHQ/sigma/releases/latest/download";

/// One of the rule packages SigmaHQ attaches to each release, split by status, level and
/// type of rule. SigmaHQ publishes no checksum for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pack {
    /// Core: stable and test rules of level high or critical (SigmaHQ's default).
    Core,
    /// Core+: core rules of level medium too (rule review needed).
    CorePlus,
    /// Core++: core+ with experimental rules too.
    CorePlusPlus,
    /// The emerging-threats add-on: rules for specific actors and exploits.
    Emerging,
    /// Every rule: core and emerging threats, experimental to stable, medium to critical.
    All,
}

impl Pack {
    /// Every package, in the order above.
    pub const ALL: [Pack; 5] = [
        Pack::Core,
        Pack::CorePlus,
        Pack::CorePlusPlus,
        Pack::Emerging,
        Pack::All,
    ];

    /// The name the command line and the manifest use: `core`, `core+`, `core++`,
    /// `emerging` or `all`.
    pub fn name(self) -> &'static str {
        match self {
            Pack::Core => "core",
            Pack::CorePlus => "core+",
            Pack::CorePlusPlus => "core++",
            Pack::Emerging => "emerging",
            Pack::All => "all",
        }
    }

    /// The package with this [`name`](Pack::name).
    pub fn from_name(name: &str) -> Option<Pack> {
        Pack::ALL.into_iter().find(|pack| pack.name() == name)
    }

    /// The release asset's file name, such as `sigma_core.zip`.
    pub fn asset(self) -> &'static str {
        match self {
            Pack::Core => "sigma_core.zip",
            Pack::CorePlus => "sigma_core+.zip",
            Pack::CorePlusPlus => "sigma_core++.zip",
            Pack::Emerging => "sigma_emerging_threats_addon.zip",
            Pack::All => "sigma_all_rules.zip",
        }
    }

    /// The asset's address in SigmaHQ's latest release (`+` written `%2B`, as in a path).
    pub fn url(self) -> String {
        format!("{RELEASES_URL}/{}", self.asset().replace('+', "%2B"))
    }
}

/// The folder tocsin keeps its data in, from the environment `var` reads:
/// `$TOCSIN_DATA_DIR` if set, else `$XDG_DATA_HOME/tocsin`, else
/// `$HOME/.local/share/tocsin` (on Windows `%LOCALAPPDATA%\tocsin`). Empty values count as
/// unset, and so does a relative `XDG_DATA_HOME` (the XDG specification says to ignore
/// it). `None` when none of them is set.
///
/// Takes the lookup as a function so that tests need not change the process's environment.
pub fn data_dir(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |name: &str| {
        var(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = set("TOCSIN_DATA_DIR") {
        return Some(dir);
    }
    if let Some(xdg) = set("XDG_DATA_HOME").filter(|dir| dir.is_absolute()) {
        return Some(xdg.join("tocsin"));
    }
    if let Some(home) = set("HOME") {
        return Some(home.join(".local").join("share").join("tocsin"));
    }
    set("LOCALAPPDATA").map(|dir| dir.join("tocsin"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        }
    }

    #[test]
    fn data_dir_prefers_tocsin_then_xdg_then_home() {
        let all = [
            ("TOCSIN_DATA_DIR", "/t"),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(data_dir(env(&all)), Some(PathBuf::from("/t")));
        assert_eq!(data_dir(env(&all[1..])), Some(PathBuf::from("/x/tocsin")));
        assert_eq!(
            data_dir(env(&all[2..])),
            Some(PathBuf::from("/h/.local/share/tocsin"))
        );
        // Empty and relative values are ignored.
        let odd = [
            ("TOCSIN_DATA_DIR", ""),
            ("XDG_DATA_HOME", "rel"),
            ("HOME", "/h"),
        ];
        assert_eq!(
            data_dir(env(&odd)),
            Some(PathBuf::from("/h/.local/share/tocsin"))
        );
        assert_eq!(data_dir(env(&[])), None);
    }

    #[test]
    fn packs_name_sigmahq_assets() {
        for pack in Pack::ALL {
            assert_eq!(Pack::from_name(pack.name()), Some(pack));
        }
        assert_eq!(
            Pack::CorePlus.url(),
            "https://github.com/SigmaHQ/sigma/releases/latest/download/sigma_core%2B.zip"
        );
        assert_eq!(Pack::Emerging.asset(), "sigma_emerging_threats_addon.zip");
        assert_eq!(Pack::from_name("core+++"), None);
    }
}
