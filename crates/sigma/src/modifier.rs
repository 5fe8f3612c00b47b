//! Value modifiers: names, and the validation of chains and of the values they apply to.
//!
//! The rules below implement the modifiers appendix, plus rejections of chains that the
//! appendix does not name but that cannot mean anything. A chain is checked in this order:
//!
//! 1. Each modifier appears at most once, and at most one of each family: position
//!    (`contains`, `startswith`, `endswith`), UTF-16 (`utf16le`, `utf16be`, `utf16`, `wide`),
//!    base64 (`base64`, `base64offset`), comparison (`lt`, `lte`, `gt`, `gte`) and time
//!    (`minute` ... `year`).
//! 2. `i`, `m`, `s` are only legal after `re`.
//! 3. `exists` stands alone and needs a field.
//! 4. `re` combines only with its flags, `all` and `neq` (`cased` is rejected: regular
//!    expressions are case-sensitive already; use `|re|i` for the opposite).
//! 5. Modifiers apply in the order written, so encodings come first: `windash` before any
//!    UTF-16 or base64 modifier, UTF-16 before base64, and a position modifier after both
//!    (`|wide|base64offset|contains`). `base64offset` needs `contains`: its shifted encodings
//!    only make sense inside a longer text.
//! 6. Time modifiers extract a number from the field's date, so they come first and may be
//!    followed only by one comparison (`lt` ... `gte`), `neq` or `all`; `|hour|gte: 20` is
//!    legal. Without a comparison the values must lie in the modifier's range
//!    (`hour` 0-23, ...).
//! 7. Comparisons take numbers and combine only with a time modifier and `all`.
//! 8. `cidr` combines only with `all` and `neq`; `fieldref` only with `neq`, `all`, `cased`
//!    and a position modifier; `expand` not with `re`, comparisons, time, `cidr` or
//!    `fieldref`.
//! 9. Keywords (no field) cannot use `exists`, `neq`, comparisons, time, `cidr`, `fieldref`.
//!
//! Values: `all` needs at least two values (the appendix forbids a single one, and no
//! SigmaHQ rule does it); `null` cannot share a list with other values (the specification
//! calls this invalid, and no SigmaHQ rule does it) and takes no modifier but `neq`.

use regex_syntax::ParserBuilder;

use crate::ast::{Modifier, SigmaValue};
use crate::error::ErrorKind;
use crate::string::SigmaString;

impl Modifier {
    /// Every modifier, in the order of the appendix.
    pub const ALL: [Modifier; 31] = [
        Modifier::All,
        Modifier::StartsWith,
        Modifier::EndsWith,
        Modifier::Contains,
        Modifier::Exists,
        Modifier::Cased,
        Modifier::Neq,
        Modifier::Windash,
        Modifier::Re,
        Modifier::ReIgnoreCase,
        Modifier::ReMultiLine,
        Modifier::ReDotAll,
        Modifier::Base64,
        Modifier::Base64Offset,
        Modifier::Utf16le,
        Modifier::Utf16be,
        Modifier::Utf16,
        Modifier::Wide,
        Modifier::Lt,
        Modifier::Lte,
        Modifier::Gt,
        Modifier::Gte,
        Modifier::Minute,
        Modifier::Hour,
        Modifier::Day,
        Modifier::Week,
        Modifier::Month,
        Modifier::Year,
        Modifier::Cidr,
        Modifier::Expand,
        Modifier::Fieldref,
    ];

    /// The name as written in a rule (`contains`, `re`, `i`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Modifier::Contains => "contains",
            Modifier::StartsWith => "startswith",
            Modifier::EndsWith => "endswith",
            Modifier::All => "all",
            Modifier::Exists => "exists",
            Modifier::Cased => "cased",
            Modifier::Neq => "neq",
            Modifier::Windash => "windash",
            Modifier::Re => "re",
            Modifier::ReIgnoreCase => "i",
            Modifier::ReMultiLine => "m",
            Modifier::ReDotAll => "s",
            Modifier::Base64 => "base64",
            Modifier::Base64Offset => "base64offset",
            Modifier::Utf16le => "utf16le",
            Modifier::Utf16be => "utf16be",
            Modifier::Utf16 => "utf16",
            Modifier::Wide => "wide",
            Modifier::Lt => "lt",
            Modifier::Lte => "lte",
            Modifier::Gt => "gt",
            Modifier::Gte => "gte",
            Modifier::Minute => "minute",
            Modifier::Hour => "hour",
            Modifier::Day => "day",
            Modifier::Week => "week",
            Modifier::Month => "month",
            Modifier::Year => "year",
            Modifier::Cidr => "cidr",
            Modifier::Expand => "expand",
            Modifier::Fieldref => "fieldref",
        }
    }

    /// The modifier of that name (exact, lowercase), if Sigma defines one.
    pub fn from_name(name: &str) -> Option<Modifier> {
        Modifier::ALL.into_iter().find(|m| m.name() == name)
    }

    /// `contains`, `startswith` or `endswith`.
    pub fn is_position(self) -> bool {
        matches!(
            self,
            Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith
        )
    }

    /// `utf16le`, `utf16be`, `utf16` or `wide`.
    pub fn is_utf16(self) -> bool {
        matches!(
            self,
            Modifier::Utf16le | Modifier::Utf16be | Modifier::Utf16 | Modifier::Wide
        )
    }

    /// `base64` or `base64offset`.
    pub fn is_base64(self) -> bool {
        matches!(self, Modifier::Base64 | Modifier::Base64Offset)
    }

    /// `lt`, `lte`, `gt` or `gte`.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            Modifier::Lt | Modifier::Lte | Modifier::Gt | Modifier::Gte
        )
    }

    /// `minute`, `hour`, `day`, `week`, `month` or `year`.
    pub fn is_time(self) -> bool {
        matches!(
            self,
            Modifier::Minute
                | Modifier::Hour
                | Modifier::Day
                | Modifier::Week
                | Modifier::Month
                | Modifier::Year
        )
    }

    /// `i`, `m` or `s` (after `re`).
    pub fn is_re_flag(self) -> bool {
        matches!(
            self,
            Modifier::ReIgnoreCase | Modifier::ReMultiLine | Modifier::ReDotAll
        )
    }

    /// The legal values of a time modifier compared for equality, if bounded.
    fn time_range(self) -> Option<(i64, i64)> {
        match self {
            Modifier::Minute => Some((0, 59)),
            Modifier::Hour => Some((0, 23)),
            Modifier::Day => Some((1, 31)),
            Modifier::Week => Some((1, 53)),
            Modifier::Month => Some((1, 12)),
            _ => None,
        }
    }
}

/// A family of mutually exclusive modifiers: membership test and names for messages.
type Family = (fn(Modifier) -> bool, &'static str);

/// Formats a chain as written: `|contains|all`.
pub(crate) fn chain_text(mods: &[Modifier]) -> String {
    mods.iter().map(|m| format!("|{}", m.name())).collect()
}

/// Checks a modifier chain on its own. `keyword` is true when there is no field name.
/// Returns the reason for rejecting it.
pub(crate) fn check_chain(mods: &[Modifier], keyword: bool) -> Result<(), String> {
    let pos = |m: Modifier| mods.iter().position(|&x| x == m);
    let has = |m: Modifier| mods.contains(&m);
    let first = |f: fn(Modifier) -> bool| mods.iter().position(|&m| f(m));

    // 1. Repetitions and families.
    for (i, m) in mods.iter().enumerate() {
        if mods[..i].contains(m) {
            return Err(format!("'{}' appears more than once", m.name()));
        }
    }
    let families: [Family; 5] = [
        (Modifier::is_position, "contains, startswith, endswith"),
        (Modifier::is_utf16, "utf16le, utf16be, utf16, wide"),
        (Modifier::is_base64, "base64, base64offset"),
        (Modifier::is_comparison, "lt, lte, gt, gte"),
        (Modifier::is_time, "minute, hour, day, week, month, year"),
    ];
    for (family, names) in families {
        let members: Vec<_> = mods.iter().filter(|&&m| family(m)).collect();
        if let [a, b, ..] = members.as_slice() {
            return Err(format!(
                "'{}' and '{}' cannot be combined (at most one of {names})",
                a.name(),
                b.name()
            ));
        }
    }

    // 2. Regular expression flags.
    for (i, m) in mods.iter().enumerate() {
        if m.is_re_flag() && !mods[..i].contains(&Modifier::Re) {
            return Err(format!("'{}' is only allowed after 're'", m.name()));
        }
    }

    // 3. exists.
    if has(Modifier::Exists) {
        if mods.len() > 1 {
            return Err("'exists' cannot be combined with other modifiers".into());
        }
        if keyword {
            return Err("'exists' needs a field name".into());
        }
    }

    // 4. re.
    if has(Modifier::Re) {
        if has(Modifier::Cased) {
            return Err(
                "'re' cannot be combined with 'cased': regular expressions are \
                        case-sensitive by default (use '|re|i' for the opposite)"
                    .into(),
            );
        }
        if let Some(other) = mods.iter().find(|&&m| {
            !matches!(m, Modifier::Re | Modifier::All | Modifier::Neq) && !m.is_re_flag()
        }) {
            return Err(format!("'re' cannot be combined with '{}'", other.name()));
        }
    }

    // 5. Encodings in order.
    let position = first(Modifier::is_position);
    let utf16 = first(Modifier::is_utf16);
    let base64 = first(Modifier::is_base64);
    let name_at = |i: usize| mods.get(i).map_or("", |m| m.name());
    if let (Some(u), Some(b)) = (utf16, base64) {
        if u > b {
            return Err(format!(
                "'{}' must come before '{}' (the text is encoded to UTF-16 first, then to base64)",
                name_at(u),
                name_at(b)
            ));
        }
    }
    if let Some(p) = position {
        for encoding in [utf16, base64].into_iter().flatten() {
            if p < encoding {
                return Err(format!(
                    "'{}' must come after '{}' (otherwise its wildcards would be encoded too)",
                    name_at(p),
                    name_at(encoding)
                ));
            }
        }
    }
    if let Some(w) = pos(Modifier::Windash) {
        for encoding in [utf16, base64].into_iter().flatten() {
            if w > encoding {
                return Err(format!(
                    "'windash' must come before '{}' (dashes are replaced in the plain text)",
                    name_at(encoding)
                ));
            }
        }
    }
    if has(Modifier::Base64Offset) && !has(Modifier::Contains) {
        return Err(
            "'base64offset' needs 'contains' (its shifted encodings only match \
                    inside a longer text)"
                .into(),
        );
    }

    // 6. Time modifiers.
    if let Some(t) = first(Modifier::is_time) {
        if t != 0 {
            return Err(format!(
                "'{}' must come first (it extracts a number from the field's date)",
                name_at(t)
            ));
        }
        if let Some(other) = mods[1..]
            .iter()
            .find(|&&m| !(m.is_comparison() || matches!(m, Modifier::Neq | Modifier::All)))
        {
            return Err(format!(
                "'{}' can only be followed by lt, lte, gt, gte, neq or all, not '{}'",
                name_at(t),
                other.name()
            ));
        }
    }

    // 7. Comparisons.
    if let Some(c) = first(Modifier::is_comparison) {
        if let Some(other) = mods
            .iter()
            .find(|&&m| !(m.is_comparison() || m.is_time() || m == Modifier::All))
        {
            return Err(format!(
                "'{}' cannot be combined with '{}'",
                name_at(c),
                other.name()
            ));
        }
    }

    // 8. cidr, fieldref, expand.
    if has(Modifier::Cidr) {
        if let Some(other) = mods
            .iter()
            .find(|&&m| !matches!(m, Modifier::Cidr | Modifier::All | Modifier::Neq))
        {
            return Err(format!("'cidr' cannot be combined with '{}'", other.name()));
        }
    }
    if has(Modifier::Fieldref) {
        if let Some(other) = mods.iter().find(|&&m| {
            !(m.is_position()
                || matches!(
                    m,
                    Modifier::Fieldref | Modifier::Neq | Modifier::All | Modifier::Cased
                ))
        }) {
            return Err(format!(
                "'fieldref' cannot be combined with '{}'",
                other.name()
            ));
        }
    }

    // 9. Keywords.
    if keyword {
        if let Some(m) = mods.iter().find(|&&m| {
            m.is_comparison()
                || m.is_time()
                || matches!(m, Modifier::Neq | Modifier::Cidr | Modifier::Fieldref)
        }) {
            return Err(format!("'{}' needs a field name", m.name()));
        }
    }
    Ok(())
}

/// Checks the values of a field match against its (already checked) modifier chain.
pub(crate) fn check_values(mods: &[Modifier], values: &[SigmaValue]) -> Result<(), ErrorKind> {
    let invalid = |msg: String| Err(ErrorKind::InvalidValue(msg));
    let has = |m: Modifier| mods.contains(&m);

    if has(Modifier::All) && values.len() < 2 {
        return invalid(
            "'all' needs at least two values (the specification forbids it on a single value)"
                .into(),
        );
    }
    if has(Modifier::Exists) {
        return match values {
            [SigmaValue::Bool(_)] => Ok(()),
            _ => invalid("'exists' takes a single true or false".into()),
        };
    }
    if values.len() > 1 && values.iter().any(|v| matches!(v, SigmaValue::Null)) {
        return invalid("null cannot be part of a list of values; use a separate selection".into());
    }
    let typed = mods
        .iter()
        .find(|&&m| !matches!(m, Modifier::All | Modifier::Neq));
    let Some(&typed) = typed else {
        return Ok(());
    };
    for value in values {
        match value {
            SigmaValue::Null => {
                return invalid(format!("null cannot be used with '{}'", typed.name()))
            }
            SigmaValue::Bool(b) => {
                return invalid(format!(
                    "a boolean ({b}) cannot be used with '{}'",
                    typed.name()
                ))
            }
            _ => {}
        }
    }

    if let Some(&time) = mods.iter().find(|m| m.is_time()) {
        let compared = mods.iter().any(|m| m.is_comparison());
        for value in values {
            let SigmaValue::Int(n) = value else {
                return invalid(format!(
                    "'{}' compares whole numbers, found {}",
                    time.name(),
                    describe(value)
                ));
            };
            if let (false, Some((lo, hi))) = (compared, time.time_range()) {
                if !(lo..=hi).contains(n) {
                    return invalid(format!(
                        "'{}' yields {lo} to {hi}, so {n} can never match",
                        time.name()
                    ));
                }
            }
        }
        return Ok(());
    }
    if let Some(&cmp) = mods.iter().find(|m| m.is_comparison()) {
        for value in values {
            if !matches!(value, SigmaValue::Int(_) | SigmaValue::Float(_)) {
                return invalid(format!(
                    "'{}' needs a number, found {}",
                    cmp.name(),
                    describe(value)
                ));
            }
        }
        return Ok(());
    }

    let needs_string = [
        Modifier::Re,
        Modifier::Cidr,
        Modifier::Fieldref,
        Modifier::Expand,
    ];
    for m in needs_string.into_iter().filter(|&m| has(m)) {
        for value in values {
            let SigmaValue::String(text) = value else {
                return invalid(format!(
                    "'{}' needs a string, found {}",
                    m.name(),
                    describe(value)
                ));
            };
            match m {
                Modifier::Re => check_regex(text, mods)?,
                Modifier::Cidr => check_cidr(text)?,
                Modifier::Fieldref if text.is_empty() => {
                    return invalid("'fieldref' needs a field name, found ''".into())
                }
                Modifier::Expand if SigmaString::parse(text, true).placeholders().is_empty() => {
                    return invalid(format!(
                        "'expand' needs a %placeholder%, found none in '{text}'"
                    ))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// "string 'x'", "integer 5", ... for messages.
fn describe(value: &SigmaValue) -> String {
    match value {
        SigmaValue::Null => "null".into(),
        SigmaValue::Bool(b) => format!("boolean {b}"),
        SigmaValue::Int(i) => format!("integer {i}"),
        SigmaValue::Float(f) => format!("number {f}"),
        SigmaValue::String(s) => format!("string '{s}'"),
    }
}

/// Parses a `re` value with the chain's flags: its syntax is checked here, where the error
/// can name the rule's line; compiling it to an automaton is the engine's job (doing it
/// twice would double the cost of loading a rule set).
fn check_regex(pattern: &str, mods: &[Modifier]) -> Result<(), ErrorKind> {
    let result = ParserBuilder::new()
        .case_insensitive(mods.contains(&Modifier::ReIgnoreCase))
        .multi_line(mods.contains(&Modifier::ReMultiLine))
        .dot_matches_new_line(mods.contains(&Modifier::ReDotAll))
        .build()
        .parse(pattern);
    match result {
        Ok(_) => Ok(()),
        Err(err) => {
            let text = err.to_string();
            // Syntax errors span several lines (pattern, caret, "error: ..."); keep the
            // explanation.
            let message = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("error: "))
                .unwrap_or(text.trim())
                .to_owned();
            Err(ErrorKind::InvalidRegex {
                pattern: pattern.to_owned(),
                message,
            })
        }
    }
}

/// Checks a `cidr` value: an IPv4 or IPv6 network (`10.0.0.0/8`, `fe80::/10`) or a single
/// address.
fn check_cidr(text: &str) -> Result<(), ErrorKind> {
    let text = text.trim();
    let ok = text.parse::<ipnet::IpNet>().is_ok() || text.parse::<std::net::IpAddr>().is_ok();
    if ok {
        Ok(())
    } else {
        Err(ErrorKind::InvalidCidr(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SigmaValue::{Bool, Float, Int, Null};

    fn parse(chain: &str) -> Vec<Modifier> {
        chain
            .split('|')
            .filter(|s| !s.is_empty())
            .map(|n| Modifier::from_name(n).unwrap_or_else(|| panic!("unknown modifier {n}")))
            .collect()
    }

    fn s(text: &str) -> SigmaValue {
        SigmaValue::String(text.into())
    }

    #[test]
    fn names_round_trip() {
        for m in Modifier::ALL {
            assert_eq!(Modifier::from_name(m.name()), Some(m));
        }
        assert_eq!(Modifier::from_name("contians"), None);
        assert_eq!(Modifier::from_name("Contains"), None);
    }

    #[test]
    fn legal_chains() {
        for chain in [
            "",
            "contains",
            "startswith",
            "endswith",
            "all",
            "exists",
            "contains|all",
            "all|contains",
            "wide|base64offset|contains",
            "base64offset|contains",
            "utf16le|base64|contains",
            "base64",
            "wide",
            "fieldref",
            "fieldref|neq",
            "fieldref|startswith",
            "windash|contains",
            "contains|windash",
            "endswith|windash",
            "windash|base64offset|contains",
            "re",
            "re|i",
            "re|i|m|s",
            "re|all",
            "cidr",
            "cidr|neq",
            "expand",
            "contains|expand",
            "expand|contains",
            "contains|cased",
            "neq",
            "gt",
            "lte",
            "hour",
            "hour|gte",
            "month|neq",
            "year|lt",
            "contains|neq",
        ] {
            assert_eq!(check_chain(&parse(chain), false), Ok(()), "chain {chain}");
        }
        for chain in ["all", "contains|all", "re|i", "base64offset|contains"] {
            assert_eq!(
                check_chain(&parse(chain), true),
                Ok(()),
                "keyword chain {chain}"
            );
        }
    }

    fn check_rejected(chain: &str, keyword: bool, expected: &str) {
        match check_chain(&parse(chain), keyword) {
            Ok(()) => panic!("chain {chain} should be rejected"),
            Err(reason) => assert!(
                reason.contains(expected),
                "chain {chain}: {reason:?} does not mention {expected:?}"
            ),
        }
    }

    #[test]
    fn illegal_chains() {
        check_rejected(
            "contains|contains",
            false,
            "'contains' appears more than once",
        );
        check_rejected("contains|endswith", false, "at most one of contains");
        check_rejected("wide|utf16le|base64", false, "at most one of utf16le");
        check_rejected(
            "base64|base64offset|contains",
            false,
            "at most one of base64",
        );
        check_rejected("gt|lt", false, "at most one of lt");
        check_rejected("hour|day", false, "at most one of minute");
        check_rejected("i", false, "'i' is only allowed after 're'");
        check_rejected("s|re", false, "'s' is only allowed after 're'");
        check_rejected("exists|contains", false, "'exists' cannot be combined");
        check_rejected("exists", true, "'exists' needs a field name");
        check_rejected(
            "re|contains",
            false,
            "'re' cannot be combined with 'contains'",
        );
        check_rejected(
            "re|windash",
            false,
            "'re' cannot be combined with 'windash'",
        );
        check_rejected("re|base64", false, "'re' cannot be combined with 'base64'");
        check_rejected("re|wide", false, "'re' cannot be combined with 'wide'");
        check_rejected("re|cased", false, "case-sensitive by default");
        check_rejected(
            "base64offset|wide|contains",
            false,
            "'wide' must come before",
        );
        check_rejected(
            "contains|base64",
            false,
            "'contains' must come after 'base64'",
        );
        check_rejected("contains|wide", false, "'contains' must come after 'wide'");
        check_rejected(
            "base64|windash",
            false,
            "'windash' must come before 'base64'",
        );
        check_rejected("base64offset", false, "'base64offset' needs 'contains'");
        check_rejected(
            "base64offset|endswith",
            false,
            "'base64offset' needs 'contains'",
        );
        check_rejected("gte|hour", false, "'hour' must come first");
        check_rejected("hour|contains", false, "can only be followed by");
        check_rejected(
            "gt|contains",
            false,
            "'gt' cannot be combined with 'contains'",
        );
        check_rejected("gt|neq", false, "'gt' cannot be combined with 'neq'");
        check_rejected("gt|cased", false, "'gt' cannot be combined with 'cased'");
        check_rejected(
            "cidr|contains",
            false,
            "'cidr' cannot be combined with 'contains'",
        );
        check_rejected("fieldref|re", false, "cannot be combined");
        check_rejected(
            "fieldref|base64",
            false,
            "'fieldref' cannot be combined with",
        );
        check_rejected("neq", true, "'neq' needs a field name");
        check_rejected("gt", true, "'gt' needs a field name");
        check_rejected("cidr", true, "'cidr' needs a field name");
    }

    fn values_err(chain: &str, values: &[SigmaValue]) -> String {
        match check_values(&parse(chain), values) {
            Ok(()) => panic!("values {values:?} with {chain} should be rejected"),
            Err(kind) => kind.to_string(),
        }
    }

    #[test]
    fn legal_values() {
        let ok: &[(&str, &[SigmaValue])] = &[
            ("", &[Null]),
            ("", &[Int(4688), s("x")]),
            ("", &[Bool(true)]),
            ("neq", &[Null]),
            ("exists", &[Bool(false)]),
            ("contains|all", &[s("a"), s("b")]),
            ("contains", &[Int(46)]),
            ("gt", &[Int(5), Float(2.5)]),
            ("hour", &[Int(23)]),
            ("hour|gte", &[Int(20)]),
            ("year", &[Int(2024)]),
            ("week|lt", &[Int(60)]),
            ("re", &[s(r"^\d+$")]),
            ("re|i", &[s("(?s)abc.*")]),
            ("cidr", &[s("10.0.0.0/8"), s("fe80::/10"), s("192.168.1.1")]),
            ("expand", &[s("%Servers%")]),
            ("fieldref", &[s("TargetUserName")]),
        ];
        for (chain, values) in ok {
            assert_eq!(
                check_values(&parse(chain), values),
                Ok(()),
                "{chain} {values:?}"
            );
        }
    }

    #[test]
    fn illegal_values() {
        assert!(values_err("all", &[s("a")]).contains("'all' needs at least two values"));
        assert!(values_err("contains|all", &[s("a")]).contains("at least two"));
        assert!(values_err("exists", &[s("yes")]).contains("true or false"));
        assert!(values_err("exists", &[Bool(true), Bool(false)]).contains("true or false"));
        assert!(values_err("", &[s(""), Null]).contains("null cannot be part of a list"));
        assert!(values_err("contains", &[Null]).contains("null cannot be used with 'contains'"));
        assert!(values_err("endswith", &[Bool(true)]).contains("a boolean"));
        assert!(values_err("gt", &[s("5")]).contains("'gt' needs a number, found string '5'"));
        assert!(values_err("hour", &[Int(24)]).contains("0 to 23"));
        assert!(values_err("month", &[Int(0)]).contains("1 to 12"));
        assert!(values_err("hour|gt", &[Float(1.5)]).contains("whole numbers"));
        assert!(values_err("re", &[s("(abc")]).contains("invalid regular expression '(abc'"));
        assert!(values_err("re", &[Int(5)]).contains("'re' needs a string"));
        assert!(values_err("cidr", &[s("10.0.0.0/33")]).contains("invalid CIDR network"));
        assert!(values_err("cidr", &[s("not-an-ip")]).contains("not-an-ip"));
        assert!(values_err("expand", &[s("plain")]).contains("needs a %placeholder%"));
        assert!(values_err("fieldref", &[s("")]).contains("needs a field name"));
    }

    #[test]
    fn regex_errors_with_flags() {
        assert!(values_err("re|i|m", &[s(r"\p{Unknown}")]).contains("invalid regular expression"));
        assert_eq!(check_values(&parse("re|m|s"), &[s("^a.$")]), Ok(()));
    }
}
