//! Judging an [`Event`] against every compiled indicator at once.
//!
//! Each value of the event (text, and numbers as text) is cut into tokens: the whole value;
//! its words between whitespace and quotes (URLs); its pieces between the common
//! delimiters `,;=|"'()<>[]{}` and whitespace (Sysmon's `SHA256=…,MD5=…`, an address in a
//! command line); and the parts of a piece that name something on their own (the account
//! of `DOMAIN\user`, both sides of `user@host`, the host of a URL or of `host:port`; the
//! folders of a file path are not split off, so a user's profile path is no account). Each token is looked up in hash maps
//! (lower-cased for the case-insensitive kinds; addresses parsed, IPv4-mapped IPv6 read as
//! IPv4, and blocks found by masking the address once per prefix length in use), so the
//! cost of an event does not grow with the number of indicators. `LIKE` and `MATCHES`
//! atoms are one [`RegexSet`] run over whole values and their last path component.
//!
//! An indicator whose alternative has several atoms matches when one event meets all of
//! them (in any fields).

use std::collections::HashMap;
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

use foldhash::fast::RandomState;
use regex::{RegexBuilder, RegexSet, RegexSetBuilder};
use tocsin_event::{Event, Value};

use crate::compile::{mask, Alternatives, Atom, Key, MAX_ATOMS};

/// The most `LIKE`/`MATCHES` comparisons a set holds; more are refused (one scan of every
/// value runs them all, and its automaton grows with them).
pub const MAX_REGEXES: usize = 1_000;

/// The most memory one regular expression may compile into.
const REGEX_SIZE: usize = 1 << 20;

/// The most memory the set of regular expressions may compile into.
const REGEX_SET_SIZE: usize = 256 << 20;

/// Where an atom sits: the indicator, its alternative and the atom's position in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    indicator: u32,
    alternative: u16,
    atom: u8,
}

type Map<K> = HashMap<K, Vec<Slot>, RandomState>;

/// One indicator matching one event: which indicator, in which field, on which value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit<'e> {
    /// The indicator's index in its [`IndicatorSet`](crate::IndicatorSet).
    pub indicator: usize,
    /// The name of the field that matched (its short name, else its path).
    pub field: &'e str,
    /// The piece of the value that matched (the whole value for a regular expression).
    pub value: String,
}

/// The lookup tables of every compiled indicator.
#[derive(Debug, Default)]
pub struct Matcher {
    folded: Map<Box<str>>,
    exact: Map<Box<str>>,
    addresses: Map<IpAddr>,
    blocks: Map<(IpAddr, u8)>,
    /// The prefix lengths of the blocks, IPv4 and IPv6 apart.
    prefixes: (Vec<u8>, Vec<u8>),
    patterns: Vec<(String, Slot)>,
    regexes: Option<RegexSet>,
    /// The atom count of each indicator's alternatives.
    sizes: Vec<Vec<u8>>,
}

impl Matcher {
    /// Adds the next indicator's alternatives; its index is the number added before.
    ///
    /// # Errors
    ///
    /// A regular expression that does not compile or too many of them; the indicator is
    /// then left out (nothing of it is kept).
    pub fn add(&mut self, alternatives: &Alternatives) -> Result<(), String> {
        let indicator = u32::try_from(self.sizes.len()).map_err(|_| "too many indicators")?;
        let regexes: usize = alternatives
            .iter()
            .flatten()
            .filter(|a| matches!(a, Atom::Regex(_)))
            .count();
        if self.patterns.len() + regexes > MAX_REGEXES {
            return Err(format!(
                "more than {MAX_REGEXES} LIKE/MATCHES comparisons in the set"
            ));
        }
        for atom in alternatives.iter().flatten() {
            if let Atom::Regex(pattern) = atom {
                let built = RegexBuilder::new(pattern).size_limit(REGEX_SIZE).build();
                built.map_err(|error| format!("regular expression {pattern:?}: {error}"))?;
            }
        }
        let mut sizes = Vec::with_capacity(alternatives.len());
        for (alternative, atoms) in alternatives.iter().enumerate().take(usize::from(u16::MAX)) {
            let count = atoms.len().min(MAX_ATOMS);
            sizes.push(u8::try_from(count).unwrap_or(u8::MAX));
            for (atom, condition) in atoms.iter().enumerate().take(count) {
                let slot = Slot {
                    indicator,
                    alternative: u16::try_from(alternative).unwrap_or(u16::MAX),
                    atom: u8::try_from(atom).unwrap_or(u8::MAX),
                };
                self.insert(condition, slot);
            }
        }
        self.sizes.push(sizes);
        Ok(())
    }

    fn insert(&mut self, atom: &Atom, slot: Slot) {
        let keys = match atom {
            Atom::Regex(pattern) => {
                self.patterns.push((pattern.clone(), slot));
                return;
            }
            Atom::Keys(keys) => keys,
        };
        for key in keys {
            let list = match key {
                Key::Folded(text) => self.folded.entry(text.as_str().into()).or_default(),
                Key::Exact(text) => self.exact.entry(text.as_str().into()).or_default(),
                Key::Ip(address) => self.addresses.entry(*address).or_default(),
                Key::Net(network, prefix) => {
                    let lengths = match network {
                        IpAddr::V4(_) => &mut self.prefixes.0,
                        IpAddr::V6(_) => &mut self.prefixes.1,
                    };
                    if !lengths.contains(prefix) {
                        lengths.push(*prefix);
                    }
                    self.blocks.entry((*network, *prefix)).or_default()
                }
            };
            list.push(slot);
        }
    }

    /// Compiles the regular expressions added; call once after the last [`Matcher::add`].
    ///
    /// # Errors
    ///
    /// The set is larger than its memory limit; its `LIKE`/`MATCHES` comparisons are then
    /// dropped (the error says how many).
    pub fn finish(&mut self) -> Result<(), String> {
        if self.patterns.is_empty() {
            return Ok(());
        }
        let built = RegexSetBuilder::new(self.patterns.iter().map(|(p, _)| p))
            .size_limit(REGEX_SET_SIZE)
            .build();
        match built {
            Ok(set) => {
                self.regexes = Some(set);
                Ok(())
            }
            Err(error) => {
                let count = self.patterns.len();
                self.patterns.clear();
                Err(format!("{count} LIKE/MATCHES comparisons dropped: {error}"))
            }
        }
    }

    /// How many indicators were added.
    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// Whether no indicator was added.
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// The indicators `event` matches, each once, in the order found.
    pub fn matches<'e>(&self, event: &'e Event) -> Vec<Hit<'e>> {
        let mut state = State::default();
        let mut number = String::new();
        for field in &event.fields {
            let text = match &field.value {
                Value::Str(text) => &**text,
                Value::Int(n) => render(&mut number, n),
                Value::Float(x) => render(&mut number, x),
                Value::Bool(_) | Value::Null => continue,
            };
            self.judge(text, field.name(), &mut state);
        }
        state.hits
    }

    /// Looks up every token of one value.
    fn judge<'e>(&self, text: &str, field: &'e str, state: &mut State<'e>) {
        let mut lookup = |token: &str| self.lookup(token, field, state);
        tokens(text, &mut lookup);
        if let Some(set) = &self.regexes {
            let last = text.rsplit(['\\', '/']).next().unwrap_or(text);
            for candidate in [Some(text), (last.len() < text.len()).then_some(last)]
                .into_iter()
                .flatten()
            {
                for index in set.matches(candidate).iter() {
                    if let Some((_, slot)) = self.patterns.get(index) {
                        state.meet(*slot, &self.sizes, field, candidate);
                    }
                }
            }
        }
    }

    /// Looks up one token in every table.
    fn lookup<'e>(&self, token: &str, field: &'e str, state: &mut State<'e>) {
        if token.is_empty() {
            return;
        }
        let mut found = |slots: &[Slot], state: &mut State<'e>| {
            for slot in slots {
                state.meet(*slot, &self.sizes, field, token);
            }
        };
        if let Some(slots) = self.exact.get(token) {
            found(slots, state);
        }
        if !self.folded.is_empty() {
            if let Some(slots) = self.folded.get(state.fold(token)) {
                found(slots, state);
            }
        }
        if let Some(address) = address(token) {
            self.lookup_address(address, &mut found, state);
        }
    }

    fn lookup_address<'e>(
        &self,
        address: IpAddr,
        found: &mut impl FnMut(&[Slot], &mut State<'e>),
        state: &mut State<'e>,
    ) {
        if let Some(slots) = self.addresses.get(&address) {
            found(slots, state);
        }
        let prefixes = match address {
            IpAddr::V4(_) => &self.prefixes.0,
            IpAddr::V6(_) => &self.prefixes.1,
        };
        for &prefix in prefixes {
            if let Some(slots) = self.blocks.get(&(mask(address, prefix), prefix)) {
                found(slots, state);
            }
        }
    }
}

/// A number written into `buffer`.
fn render<'b>(buffer: &'b mut String, value: &impl std::fmt::Display) -> &'b str {
    buffer.clear();
    let _ = write!(buffer, "{value}");
    buffer
}

/// What one event has met so far.
#[derive(Default)]
struct State<'e> {
    hits: Vec<Hit<'e>>,
    /// Alternatives partly met: indicator, alternative, atoms met (a bit each).
    partial: Vec<(u32, u16, u64)>,
    /// The lower-cased token (reused).
    folded: String,
}

impl<'e> State<'e> {
    /// `token` in ASCII lower case, without a DNS root dot.
    fn fold(&mut self, token: &str) -> &str {
        let token = token.strip_suffix('.').unwrap_or(token);
        self.folded.clear();
        self.folded.push_str(token);
        self.folded.make_ascii_lowercase();
        &self.folded
    }

    /// Records that `slot`'s atom holds; a hit when its alternative is complete.
    fn meet(&mut self, slot: Slot, sizes: &[Vec<u8>], field: &'e str, value: &str) {
        if self
            .hits
            .iter()
            .any(|hit| hit.indicator == slot.indicator as usize)
        {
            return;
        }
        let size = sizes
            .get(slot.indicator as usize)
            .and_then(|s| s.get(usize::from(slot.alternative)))
            .copied()
            .unwrap_or(1);
        let complete = match size {
            0 | 1 => true,
            _ => self.partly(slot, size),
        };
        if complete {
            self.hits.push(Hit {
                indicator: slot.indicator as usize,
                field,
                value: value.to_owned(),
            });
        }
    }

    /// Adds the atom to its alternative's partial match; whether it is now complete.
    fn partly(&mut self, slot: Slot, size: u8) -> bool {
        let bit = 1u64 << (slot.atom % 64);
        let full = u64::MAX >> (64 - u32::from(size.min(64)));
        let at = self
            .partial
            .iter()
            .position(|(i, a, _)| *i == slot.indicator && *a == slot.alternative);
        let met = match at.and_then(|at| self.partial.get_mut(at)) {
            Some(entry) => {
                entry.2 |= bit;
                entry.2
            }
            None => {
                self.partial.push((slot.indicator, slot.alternative, bit));
                bit
            }
        };
        met == full
    }
}

/// Whether `c` separates the pieces of a value.
fn is_delimiter(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ',' | ';' | '=' | '|' | '"' | '\'' | '(' | ')' | '<' | '>' | '[' | ']' | '{' | '}'
        )
}

/// Hands every token of `text` to `lookup` (see the module documentation).
fn tokens(text: &str, lookup: &mut impl FnMut(&str)) {
    let whole = text.trim();
    lookup(whole);
    let words = whole.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'));
    for word in words.filter(|w| w.len() < whole.len()) {
        lookup(word);
    }
    for piece in whole.split(is_delimiter).filter(|p| !p.is_empty()) {
        if piece.len() < whole.len() {
            lookup(piece);
        }
        parts(piece, lookup);
    }
}

/// The parts of one piece that name something on their own: the account of `DOMAIN\user`
/// (one backslash: a file path's folders are not accounts), both sides of `user@host`,
/// the host (and port) of a URL, the host of `host:port`.
fn parts(piece: &str, lookup: &mut impl FnMut(&str)) {
    if piece.matches('\\').count() == 1 {
        piece.split('\\').for_each(&mut *lookup);
    }
    if piece.contains('@') {
        piece.split('@').for_each(&mut *lookup);
    }
    if let Some((_, rest)) = piece.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        let host = authority.rsplit('@').next().unwrap_or(authority);
        lookup(host);
        if let Some((name, _port)) = host.rsplit_once(':') {
            lookup(name);
        }
    } else if piece.matches(':').count() == 1 {
        piece.split(':').for_each(&mut *lookup);
    }
}

/// The address a token names (`1.2.3.4`, `::ffff:1.2.3.4`, `1.2.3.4:443`, `[::1]:443`),
/// IPv4-mapped addresses as IPv4.
fn address(token: &str) -> Option<IpAddr> {
    let first = token.chars().next()?;
    if token.len() > 64 || !(first.is_ascii_hexdigit() || first == ':' || first == '[') {
        return None;
    }
    let parsed = token
        .parse::<IpAddr>()
        .ok()
        .or_else(|| token.parse::<SocketAddr>().ok().map(|s| s.ip()));
    parsed.map(|address| address.to_canonical())
}

#[cfg(test)]
mod tests;
