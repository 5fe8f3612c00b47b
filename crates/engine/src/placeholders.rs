//! Loading `expand` placeholder values from a YAML file.
//!
//! ```yaml
//! Administrators: [admin, 'adm_*']
//! DomainControllers:
//!   - dc01
//!   - dc02
//! ```
//!
//! Names are written without the surrounding `%`. Values may hold Sigma wildcards.

use saphyr::{LoadableYamlNode, ScalarOwned, YamlOwned};

use crate::compile::Placeholders;

/// An error in a placeholder file.
#[derive(Debug, thiserror::Error)]
#[error("placeholders: {0}")]
pub struct PlaceholderError(String);

/// Parses a placeholder file: a map from name to a value or a list of values.
pub fn parse_placeholders(text: &str) -> Result<Placeholders, PlaceholderError> {
    let docs = YamlOwned::load_from_str(text).map_err(|e| PlaceholderError(e.to_string()))?;
    let mut out = Placeholders::new();
    let Some(doc) = docs.into_iter().next() else {
        return Ok(out);
    };
    let map = doc
        .as_mapping()
        .ok_or_else(|| PlaceholderError("expected a map of name: [values]".into()))?;
    for (key, value) in map {
        let name = scalar(key).ok_or_else(|| PlaceholderError("names must be text".into()))?;
        let name = name.trim_matches('%').to_string();
        let values = match value {
            YamlOwned::Sequence(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>(),
            single => scalar(single).map(|v| vec![v]),
        }
        .ok_or_else(|| PlaceholderError(format!("{name}: values must be text or numbers")))?;
        out.insert(name, values);
    }
    Ok(out)
}

fn scalar(node: &YamlOwned) -> Option<String> {
    match node {
        YamlOwned::Value(ScalarOwned::String(s)) => Some(s.clone()),
        YamlOwned::Value(ScalarOwned::Integer(i)) => Some(i.to_string()),
        YamlOwned::Value(ScalarOwned::FloatingPoint(f)) => Some(f.into_inner().to_string()),
        YamlOwned::Value(ScalarOwned::Boolean(b)) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_single_values() {
        let p =
            parse_placeholders("Admins: [root, 'adm_*']\n'%Servers%': srv01\n").expect("parses");
        assert_eq!(p["Admins"], ["root", "adm_*"]);
        assert_eq!(p["Servers"], ["srv01"]);
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(parse_placeholders("- a\n- b\n").is_err());
        assert!(parse_placeholders("A: {x: 1}\n").is_err());
    }
}
