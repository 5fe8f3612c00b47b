//! TLP 2.0 markings, as the OASIS common objects define them (extension
//! `extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The TLP 2.0 extension's definition id.
const TLP_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// A Traffic Light Protocol 2.0 level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tlp {
    /// TLP:CLEAR, no limit.
    Clear,
    /// TLP:GREEN, the community.
    Green,
    /// TLP:AMBER, the recipient's organisation and its clients.
    Amber,
    /// TLP:AMBER+STRICT, the recipient's organisation only.
    #[serde(rename = "amber+strict")]
    AmberStrict,
    /// TLP:RED, the recipients only.
    Red,
}

impl Tlp {
    /// Every level, least restrictive first.
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// The word after `TLP:` in lower case, as the extension writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }

    /// The marking definition's fixed id.
    pub fn marking_id(self) -> &'static str {
        match self {
            Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
            Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        }
    }

    /// The marking definition object, as published by OASIS.
    pub(crate) fn definition(self) -> Value {
        json!({
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": self.marking_id(),
            "created": "2022-10-01T00:00:00.000Z",
            "name": format!("TLP:{}", self.as_str().to_uppercase()),
            "extensions": {
                TLP_EXTENSION: {
                    "extension_type": "property-extension",
                    "tlp_2_0": self.as_str(),
                }
            }
        })
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLP:{}", self.as_str().to_uppercase())
    }
}

impl FromStr for Tlp {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let word = text.trim().to_lowercase();
        let word = word.strip_prefix("tlp:").unwrap_or(&word);
        Tlp::ALL
            .into_iter()
            .find(|tlp| tlp.as_str() == word)
            .ok_or_else(|| {
                format!("'{text}' is not a TLP 2.0 level: clear, green, amber, amber+strict or red")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_their_names_and_the_tlp_prefix() {
        for tlp in Tlp::ALL {
            assert_eq!(tlp.as_str().parse::<Tlp>(), Ok(tlp));
            assert_eq!(tlp.to_string().parse::<Tlp>(), Ok(tlp));
        }
        assert!(
            "white".parse::<Tlp>().is_err(),
            "TLP 1.0's white is clear in 2.0"
        );
    }

    #[test]
    fn definitions_carry_the_extension() {
        let amber = Tlp::AmberStrict.definition();
        assert_eq!(amber["name"], "TLP:AMBER+STRICT");
        assert_eq!(
            amber["extensions"][TLP_EXTENSION]["tlp_2_0"],
            "amber+strict"
        );
    }
}
