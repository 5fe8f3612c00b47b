//! Scalar values held by events, owned ([`Value`]) and borrowed ([`FieldValue`]).

use std::fmt;

/// An owned scalar value of one event field.
///
/// Arrays are not a value: a decoder stores each element as its own field with the same
/// name, so that "any element matches" falls out of visiting every value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An explicit `null` (or an empty XML element).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer that fits in 64 signed bits.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// Text.
    Str(Box<str>),
}

impl Value {
    /// A borrowed view of this value.
    pub fn as_field_value(&self) -> FieldValue<'_> {
        match self {
            Value::Null => FieldValue::Null,
            Value::Bool(b) => FieldValue::Bool(*b),
            Value::Int(i) => FieldValue::Int(*i),
            Value::Float(f) => FieldValue::Float(*f),
            Value::Str(s) => FieldValue::Str(s),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s.into_boxed_str())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

/// A borrowed scalar value, as the engine sees it through [`crate::Fields`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    /// An explicit `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// Text.
    Str(&'a str),
}

impl<'a> FieldValue<'a> {
    /// The text if this value is a string.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            FieldValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a number, parsing decimal (or `0x` hexadecimal) text; `None` for
    /// anything that is not a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            FieldValue::Int(i) => Some(i as f64),
            FieldValue::Float(f) => Some(f),
            FieldValue::Str(s) => parse_number(s),
            FieldValue::Bool(_) | FieldValue::Null => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, FieldValue::Null)
    }

    /// An owned copy.
    pub fn to_value(&self) -> Value {
        match *self {
            FieldValue::Null => Value::Null,
            FieldValue::Bool(b) => Value::Bool(b),
            FieldValue::Int(i) => Value::Int(i),
            FieldValue::Float(f) => Value::Float(f),
            FieldValue::Str(s) => Value::Str(s.into()),
        }
    }
}

/// Parses decimal or `0x`-prefixed hexadecimal text as a number.
fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(|n| n as f64);
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

impl fmt::Display for FieldValue<'_> {
    /// Renders the value as text the way string matching sees it: numbers in decimal,
    /// booleans as `true`/`false`, `null` as the empty string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Null => Ok(()),
            FieldValue::Bool(b) => write!(f, "{b}"),
            FieldValue::Int(i) => write!(f, "{i}"),
            FieldValue::Float(x) => write!(f, "{x}"),
            FieldValue::Str(s) => f.write_str(s),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_field_value().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_from_text_and_hex() {
        assert_eq!(FieldValue::Str("42").as_f64(), Some(42.0));
        assert_eq!(FieldValue::Str("0x10").as_f64(), Some(16.0));
        assert_eq!(FieldValue::Str("abc").as_f64(), None);
        assert_eq!(FieldValue::Null.as_f64(), None);
    }

    #[test]
    fn display_matches_string_matching_view() {
        assert_eq!(FieldValue::Int(4688).to_string(), "4688");
        assert_eq!(FieldValue::Null.to_string(), "");
        assert_eq!(FieldValue::Bool(true).to_string(), "true");
    }
}
