//! Where the direct decoder's fields go: the event being built, with the shared names of
//! each path (its `Arc<str>`, its Sigma alias) and the event's time, exactly as
//! [`Flattener`](crate::flatten::Flattener) derives them.
//!
//! Paths are interned and kept across chunks (per thread), since a log repeats the same few
//! hundred paths: each has an id, and the renderer finds a path's child by a key that needs
//! no text (a name of the chunk, a fixed key) or through a [`Memo`] at the template place
//! it renders; the table is bounded like the flattener's cache.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

use tocsin_event::{Event, Value};

use super::{Fallback, Outcome};
use crate::flatten::{shipper_alias, timestamp_rank, windows_alias};

/// A path's shared name, its alias when it has one, and its timestamp rank.
type PathNames = (Arc<str>, Option<Arc<str>>, Option<u8>);

/// The hasher of the decoder's maps (paths, names, offsets): foldhash's fast one with a
/// fixed seed, as elsewhere in tocsin; the maps are bounded and cleared per chunk or path
/// budget, and names told apart by hash alone fall back on a collision (`chunk.rs`).
pub(super) type MapHasher = foldhash::fast::FixedState;

/// What a path's key is, as the renderer knows it within one chunk: a name of the chunk,
/// the text of a UTF-16 window of the chunk (a `Data` element's `Name`), or a fixed key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum KeyCode {
    /// A name of the chunk, by its id.
    Name(u32),
    /// A UTF-16 window of the chunk: its address and its code units.
    Window(usize, u32),
    /// `#attributes`.
    Attributes,
    /// `#text`.
    Text,
    /// `Data`.
    Data,
}

/// A path worked out at one place of a template, the last time it was rendered: the
/// paths' generation, the parent, key and suffix, and the path.
#[derive(Default)]
pub(super) struct Memo(Cell<Option<MemoEntry>>);

/// What a [`Memo`] holds: the paths' generation, the parent, key, suffix, and the path.
type MemoEntry = (u32, u32, KeyCode, u32, u32);

/// The parent path (an id), the key and its suffix: a path of the chunk.
type ChildKey = (u32, KeyCode, u32);

/// The id of the empty path, the parent of a record's root.
pub(super) const ROOT: u32 = 0;

/// Builds events from fields, kept (with its caches) from chunk to chunk on one thread.
///
/// Paths are interned: each has an id, an index in `paths`; the renderer walks them by id,
/// a path's child by key found in `children` (the chunk's keys, so emptied per chunk) or
/// else by its full text in `by_text` (kept across chunks, bounded).
pub(super) struct Sink {
    /// Every path known, by id (the first is the empty path).
    paths: Vec<PathNames>,
    /// The ids of the paths, by text.
    by_text: HashMap<Arc<str>, u32, MapHasher>,
    /// The ids of the paths by parent and key, for this chunk.
    children: HashMap<ChildKey, u32, MapHasher>,
    /// The ids of the `#attributes`, `#text` and `Data` children of each path (0: unknown).
    fixed: Vec<[u32; 3]>,
    /// Counts the times the paths were forgotten, which voids the [`Memo`]s.
    generation: u32,
    /// The path of the next field.
    pub(super) current: u32,
    /// A path being put together.
    scratch: String,
    event: Event,
    timestamp: Option<(u8, i64)>,
    /// How many fields the last event had: room for the next one's.
    last_fields: usize,
    /// The bytes of the paths known.
    path_bytes: usize,
    /// Whether this event met a path longer than [`Sink::MAX_PATH`] or more path bytes than
    /// [`Sink::MAX_PATH_BYTES`]: the chunk is then left to the crate.
    overflowed: bool,
    /// The string-array bytes read to find items in this chunk (see [`Sink::scan_array`]).
    array_bytes: usize,
}

impl Default for Sink {
    fn default() -> Self {
        let mut sink = Sink {
            paths: Vec::new(),
            by_text: HashMap::default(),
            children: HashMap::default(),
            fixed: Vec::new(),
            generation: 0,
            current: ROOT,
            scratch: String::new(),
            event: Event::default(),
            timestamp: None,
            last_fields: 0,
            path_bytes: 0,
            overflowed: false,
            array_bytes: 0,
        };
        sink.reset_paths();
        sink
    }
}

impl Sink {
    /// As many paths as the flattener's cache keeps.
    const MAX_NAMES: usize = 4096;

    /// The longest path made here (real ones are a few dozen bytes; names nest up to 100
    /// deep and may be 1,024 characters long).
    const MAX_PATH: usize = 4096;

    /// The most path bytes known at once: past it the paths are forgotten before the next
    /// event, and an event that alone needs more is left to the crate.
    const MAX_PATH_BYTES: usize = 8 << 20;

    fn reset_paths(&mut self) {
        self.paths.clear();
        self.by_text.clear();
        self.children.clear();
        self.fixed.clear();
        self.generation = self.generation.wrapping_add(1);
        self.paths.push((Arc::from(""), None, None));
        self.path_bytes = 0;
    }

    /// Starts a new chunk: its keys are new.
    pub(super) fn start_chunk(&mut self) {
        self.children.clear();
        self.array_bytes = 0;
    }

    /// The most string-array bytes read to find items in one chunk: each copy of an
    /// element an array repeats looks its item up from the array's start, so a chunk
    /// whose many elements repeat one long array would cost its size times its items.
    const MAX_ARRAY_BYTES: usize = 64 << 20;

    /// Counts `bytes` of string array read to find an item; past
    /// [`Sink::MAX_ARRAY_BYTES`] in this chunk, the chunk is left to the crate.
    pub(super) fn scan_array(&mut self, bytes: usize) -> Outcome<()> {
        self.array_bytes = self.array_bytes.saturating_add(bytes);
        if self.array_bytes > Self::MAX_ARRAY_BYTES {
            return Err(super::Fallback::new("string arrays too costly to expand"));
        }
        Ok(())
    }

    /// Starts a new event.
    pub(super) fn start(&mut self) {
        if self.paths.len() >= Self::MAX_NAMES || self.path_bytes > Self::MAX_PATH_BYTES / 2 {
            self.reset_paths();
        }
        self.overflowed = false;
        self.event = Event::default();
        self.event.fields.reserve(self.last_fields.clamp(16, 256));
        self.timestamp = None;
        self.current = ROOT;
    }

    /// The id of the child of path `parent` under `key` (numbered when `suffix` is not 0),
    /// if `memo` or this chunk has met it before.
    pub(super) fn known_child(
        &self,
        memo: &Memo,
        parent: u32,
        key: KeyCode,
        suffix: u32,
    ) -> Option<u32> {
        if let Some((generation, p, k, s, id)) = memo.0.get() {
            if generation == self.generation && p == parent && k == key && s == suffix {
                return Some(id);
            }
        }
        self.children.get(&(parent, key, suffix)).copied()
    }

    /// The id of the child of path `parent` under `key`, whose text is `text` (numbered
    /// when `suffix` is not 0).
    pub(super) fn child(
        &mut self,
        parent: u32,
        key: Option<KeyCode>,
        text: &str,
        suffix: u32,
    ) -> u32 {
        let fixed = match key {
            Some(KeyCode::Attributes) => Some(0),
            Some(KeyCode::Text) => Some(1),
            Some(KeyCode::Data) => Some(2),
            _ => None,
        };
        if let Some(slot) = fixed.filter(|_| suffix == 0) {
            if let Some(&id) = self
                .fixed
                .get(parent as usize)
                .and_then(|ids| ids.get(slot))
            {
                if id != ROOT {
                    return id;
                }
            }
            let id = self.child_by_text(parent, None, text, suffix);
            if self.fixed.len() <= parent as usize {
                self.fixed.resize(parent as usize + 1, [ROOT; 3]);
            }
            if let Some(ids) = self.fixed.get_mut(parent as usize) {
                if let Some(at) = ids.get_mut(slot) {
                    *at = id;
                }
            }
            return id;
        }
        if let Some(key) = key {
            if let Some(&id) = self.children.get(&(parent, key, suffix)) {
                return id;
            }
        }
        self.child_by_text(parent, key, text, suffix)
    }

    /// [`Sink::child`], remembered in `memo` (a place of a template) for the next time.
    pub(super) fn child_memo(
        &mut self,
        memo: &Memo,
        parent: u32,
        key: KeyCode,
        text: &str,
        suffix: u32,
    ) -> u32 {
        if let Some((generation, p, k, s, id)) = memo.0.get() {
            if generation == self.generation && p == parent && k == key && s == suffix {
                return id;
            }
        }
        let id = self.child(parent, Some(key), text, suffix);
        memo.0.set(Some((self.generation, parent, key, suffix, id)));
        id
    }

    /// The path under `parent` named `text` (and `suffix`), found or made by its text.
    fn child_by_text(&mut self, parent: u32, key: Option<KeyCode>, text: &str, suffix: u32) -> u32 {
        let mut path = std::mem::take(&mut self.scratch);
        path.clear();
        let parent_text = self
            .paths
            .get(parent as usize)
            .map_or("", |names| &*names.0);
        path.push_str(parent_text);
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(text);
        if suffix > 0 {
            path.push('_');
            let _ = super::value::Val::U32(suffix).push_text(&mut path);
        }
        let id = match self.by_text.get(path.as_str()) {
            Some(&id) => id,
            None if path.len() > Self::MAX_PATH
                || self.path_bytes + path.len() > Self::MAX_PATH_BYTES =>
            {
                // Not kept: the chunk goes to the crate (see `overflowed`).
                self.overflowed = true;
                self.scratch = path;
                return parent;
            }
            None => {
                self.path_bytes += path.len();
                let mut alias = windows_alias(&path);
                if alias.is_empty() {
                    alias = shipper_alias(&path);
                }
                let shared: Arc<str> = Arc::from(path.as_str());
                let names: PathNames = (
                    Arc::clone(&shared),
                    (!alias.is_empty() && alias != path.as_str()).then(|| Arc::from(&*alias)),
                    timestamp_rank(&path),
                );
                let id = u32::try_from(self.paths.len()).unwrap_or(u32::MAX);
                self.paths.push(names);
                self.by_text.insert(shared, id);
                id
            }
        };
        self.scratch = path;
        if let Some(key) = key {
            self.children.insert((parent, key, suffix), id);
        }
        id
    }

    /// Whether the event being made needed a path too long, or too many path bytes, to be
    /// made here.
    pub(super) fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// How many fields the event has so far.
    pub(super) fn fields_len(&self) -> usize {
        self.event.fields.len()
    }

    /// Adds a field at the current path.
    pub(super) fn leaf(&mut self, value: Value) -> Outcome<()> {
        if self.event.fields.len() >= super::render::MAX_FIELDS {
            return Err(Fallback::new("a record with too many fields"));
        }
        let Some((path, alias, rank)) = self.paths.get(self.current as usize) else {
            return Err(Fallback::new("a path id out of range"));
        };
        if let Some(rank) = *rank {
            if self.timestamp.is_none_or(|(best, _)| rank < best) {
                if let Some(micros) = crate::timestamp::from_value(&value) {
                    self.timestamp = Some((rank, micros));
                }
            }
        }
        self.event
            .push_named(Arc::clone(path), alias.clone(), value);
        Ok(())
    }

    /// The event built, with its time.
    pub(super) fn finish(&mut self) -> Event {
        let mut event = std::mem::take(&mut self.event);
        self.last_fields = event.fields.len();
        event.timestamp_micros = self.timestamp.take().map(|(_, micros)| micros);
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_too_long_is_not_made_and_marks_the_event() {
        let mut sink = Sink::default();
        sink.start();
        let child = sink.child_by_text(ROOT, None, "Event", 0);
        assert_ne!(child, ROOT);
        assert!(!sink.overflowed());
        let long = "x".repeat(Sink::MAX_PATH);
        assert_eq!(sink.child_by_text(child, None, &long, 0), child);
        assert!(sink.overflowed());
        // The next event starts afresh.
        sink.start();
        assert!(!sink.overflowed());
    }

    #[test]
    fn expanding_string_arrays_has_a_budget_per_chunk() {
        let mut sink = Sink::default();
        sink.start_chunk();
        assert!(sink.scan_array(Sink::MAX_ARRAY_BYTES).is_ok());
        assert!(sink.scan_array(1).is_err());
        sink.start_chunk();
        assert!(sink.scan_array(1).is_ok());
    }
}
