//! [`TimeSorted`]: items held for a replay in time order, in memory up to a budget and in
//! sorted runs on disk beyond it, so that a hunt over any amount of input keeps a bounded
//! amount of it in memory (issue 20, finding 17: a correlation kept every match of its
//! rules until the end, 12 MB of input grew to 530 MB).
//!
//! This is an external merge sort. Items are pushed in any order. When the ones held in
//! memory reach the budget they are sorted and written to an unnamed temporary file (a
//! run, deleted by the system when it is closed, even if the process is killed); reading
//! merges the runs and what is still in memory in one ordered pass, and may be repeated.
//!
//! Runs are written in a compact binary form of [`Event`]. Field names, sources and
//! logsources are shared by many events, so each is written once per buffer as a number
//! and a table kept in memory turns them back into the same shared names.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::sync::Arc;

use tocsin_event::{Event, Field, LogSource, Origin, Value};

use crate::correlation::KeptMatch;

/// The most runs kept on disk: at this many they are merged into one, so that a small
/// budget and a large input never run out of open files.
const MERGE_FAN_IN: usize = 64;

/// What can be held in a [`TimeSorted`]: ordered by event time, sized, and written to and
/// read from a run.
pub trait Spillable: Clone + Sized {
    /// The replay order (time first; equal times in a stable order that does not depend on
    /// the order items were pushed in).
    fn order(&self, other: &Self) -> Ordering;

    /// About how many bytes the item holds in memory (its own strings, not shared names).
    fn weight(&self) -> usize;

    /// Writes the item, naming shared strings through `table`.
    fn encode(&self, table: &mut Table, out: &mut impl Write) -> io::Result<()>;

    /// Reads an item [`Spillable::encode`] wrote with the same `table`.
    fn decode(table: &Table, input: &mut impl Read) -> io::Result<Self>;
}

/// Items in time order, spilled to disk beyond a memory budget.
pub struct TimeSorted<T> {
    budget: usize,
    held: Vec<T>,
    held_weight: usize,
    /// Whether `held` is sorted (it is after a read, until the next push).
    held_sorted: bool,
    runs: Vec<File>,
    table: Table,
    len: usize,
}

impl<T: Spillable> TimeSorted<T> {
    /// An empty buffer that holds about `budget` bytes in memory before it writes a run.
    pub fn new(budget: usize) -> Self {
        TimeSorted {
            budget: budget.max(1),
            held: Vec::new(),
            held_weight: 0,
            held_sorted: true,
            runs: Vec::new(),
            table: Table::default(),
            len: 0,
        }
    }

    /// How many items were pushed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many runs were written to disk.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Adds an item; writes a run when the budget is reached.
    ///
    /// # Errors
    ///
    /// The run cannot be written (no temporary folder, a full disk).
    pub fn push(&mut self, item: T) -> io::Result<()> {
        self.held_weight += item.weight();
        self.held.push(item);
        self.held_sorted = false;
        self.len += 1;
        if self.held_weight >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes what is held as one sorted run.
    fn spill(&mut self) -> io::Result<()> {
        self.held.sort_by(T::order);
        let mut out = BufWriter::new(tempfile::tempfile()?);
        for item in self.held.drain(..) {
            item.encode(&mut self.table, &mut out)?;
        }
        let mut file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.flush()?;
        self.runs.push(file);
        self.held_weight = 0;
        self.held_sorted = true;
        if self.runs.len() >= MERGE_FAN_IN {
            self.merge_runs()?;
        }
        Ok(())
    }

    /// Merges every run into one, so that the open files and the merge's width stay at
    /// most [`MERGE_FAN_IN`] however much is spilled.
    fn merge_runs(&mut self) -> io::Result<()> {
        // Items read back name only strings the table already holds: a copy reads them
        // while the table itself numbers them again for the merged run (same numbers).
        let reading = self.table.clone();
        let held = std::mem::take(&mut self.held);
        let runs = std::mem::take(&mut self.runs);
        let mut out = BufWriter::new(tempfile::tempfile()?);
        {
            let mut sorted = Sorted::<T>::over(&reading, &[], &runs)?;
            for item in sorted.by_ref() {
                item?.encode(&mut self.table, &mut out)?;
            }
        }
        let mut file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.flush()?;
        self.runs = vec![file];
        self.held = held;
        Ok(())
    }

    /// Every item in order: borrowed when still in memory, read back when spilled. May be
    /// called again for another pass.
    ///
    /// # Errors
    ///
    /// A run cannot be read back (the opening error here, later ones from the iterator).
    pub fn sorted(&mut self) -> io::Result<Sorted<'_, T>> {
        if !self.held_sorted {
            self.held.sort_by(T::order);
            self.held_sorted = true;
        }
        Sorted::over(&self.table, &self.held, &self.runs)
    }
}

/// One run being read back.
struct RunReader {
    input: BufReader<File>,
}

impl RunReader {
    /// The next item of the run, `None` at its end.
    fn next<T: Spillable>(&mut self, table: &Table) -> io::Result<Option<T>> {
        if self.input.fill_buf()?.is_empty() {
            return Ok(None);
        }
        T::decode(table, &mut self.input).map(Some)
    }
}

/// The first unread item of a run, ordered for a min-heap.
struct Head<T> {
    item: T,
    run: usize,
}

impl<T: Spillable> PartialEq for Head<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T: Spillable> Eq for Head<T> {}

impl<T: Spillable> PartialOrd for Head<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Spillable> Ord for Head<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: `BinaryHeap` pops the greatest.
        other.item.order(&self.item).then(other.run.cmp(&self.run))
    }
}

/// The items of a [`TimeSorted`] in order (see [`TimeSorted::sorted`]).
pub struct Sorted<'a, T> {
    table: &'a Table,
    held: &'a [T],
    next_held: usize,
    readers: Vec<RunReader>,
    heads: BinaryHeap<Head<T>>,
    /// A run's read error, yielded after the item read before it.
    error: Option<io::Error>,
    /// Whether an error was yielded: nothing follows it.
    failed: bool,
}

impl<'a, T: Spillable> Sorted<'a, T> {
    /// The items of `held` (sorted) and of `runs` in order, names read through `table`.
    fn over(table: &'a Table, held: &'a [T], runs: &[File]) -> io::Result<Self> {
        let mut readers = Vec::with_capacity(runs.len());
        for run in runs {
            let mut file = run.try_clone()?;
            file.rewind()?;
            readers.push(RunReader {
                input: BufReader::new(file),
            });
        }
        let mut sorted = Sorted {
            table,
            held,
            next_held: 0,
            readers,
            heads: BinaryHeap::new(),
            error: None,
            failed: false,
        };
        for run in 0..sorted.readers.len() {
            if let Some(item) = sorted.readers[run].next(sorted.table)? {
                sorted.heads.push(Head { item, run });
            }
        }
        Ok(sorted)
    }
}

impl<'a, T: Spillable> Iterator for Sorted<'a, T> {
    type Item = io::Result<Cow<'a, T>>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(error) = self.error.take() {
            self.failed = true;
            return Some(Err(error));
        }
        if self.failed {
            return None;
        }
        let held = self.held.get(self.next_held);
        let from_run = match (held, self.heads.peek()) {
            (None, None) => return None,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            // Equal items: the run's first, as it was pushed earlier.
            (Some(held), Some(head)) => head.item.order(held) != Ordering::Greater,
        };
        if !from_run {
            self.next_held += 1;
            return held.map(|item| Ok(Cow::Borrowed(item)));
        }
        let Head { item, run } = self.heads.pop()?;
        match self.readers[run].next(self.table) {
            Ok(Some(next)) => self.heads.push(Head { item: next, run }),
            Ok(None) => {}
            // The item read before is good: it comes first, the error next.
            Err(error) => self.error = Some(error),
        }
        Some(Ok(Cow::Owned(item)))
    }
}

/// The shared strings and logsources of a buffer's runs, each written as its number.
#[derive(Default, Clone)]
pub struct Table {
    names: Vec<Arc<str>>,
    name_ids: HashMap<Arc<str>, u32>,
    logsources: Vec<Arc<LogSource>>,
    logsource_ids: HashMap<Arc<LogSource>, u32>,
}

impl Table {
    fn name_id(&mut self, name: &Arc<str>) -> u32 {
        if let Some(&id) = self.name_ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(Arc::clone(name));
        self.name_ids.insert(Arc::clone(name), id);
        id
    }

    fn name(&self, id: u32) -> io::Result<Arc<str>> {
        self.names
            .get(id as usize)
            .cloned()
            .ok_or_else(|| corrupt("an unknown name"))
    }

    /// `0` for none, else the logsource's number plus one.
    fn logsource_id(&mut self, logsource: Option<&Arc<LogSource>>) -> u32 {
        let Some(logsource) = logsource else { return 0 };
        if let Some(&id) = self.logsource_ids.get(logsource) {
            return id;
        }
        self.logsources.push(Arc::clone(logsource));
        let id = self.logsources.len() as u32;
        self.logsource_ids.insert(Arc::clone(logsource), id);
        id
    }

    fn logsource(&self, id: u32) -> io::Result<Option<Arc<LogSource>>> {
        match id {
            0 => Ok(None),
            id => self
                .logsources
                .get(id as usize - 1)
                .cloned()
                .map(Some)
                .ok_or_else(|| corrupt("an unknown logsource")),
        }
    }
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("a replay spill file holds {what}"),
    )
}

/// The replay order of events: time, then source, then record.
fn event_order(a: &Event, b: &Event) -> Ordering {
    (a.timestamp_micros, &a.origin.source, a.origin.record).cmp(&(
        b.timestamp_micros,
        &b.origin.source,
        b.origin.record,
    ))
}

fn event_weight(event: &Event) -> usize {
    let strings: usize = event
        .fields
        .iter()
        .map(|field| match &field.value {
            Value::Str(text) => text.len(),
            _ => 0,
        })
        .sum();
    std::mem::size_of::<Event>() + event.fields.len() * std::mem::size_of::<Field>() + strings
}

const NO_ALIAS: u32 = u32::MAX;

fn write_u32(out: &mut impl Write, n: u32) -> io::Result<()> {
    out.write_all(&n.to_le_bytes())
}

fn write_u64(out: &mut impl Write, n: u64) -> io::Result<()> {
    out.write_all(&n.to_le_bytes())
}

fn read_u8(input: &mut impl Read) -> io::Result<u8> {
    let mut bytes = [0; 1];
    input.read_exact(&mut bytes)?;
    Ok(bytes[0])
}

fn read_u32(input: &mut impl Read) -> io::Result<u32> {
    let mut bytes = [0; 4];
    input.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

fn read_u64(input: &mut impl Read) -> io::Result<u64> {
    let mut bytes = [0; 8];
    input.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// Reads a string written as its length (`u32`) and UTF-8 bytes, without trusting the
/// length to allocate (a damaged length fails at the end of the input instead).
fn read_text(input: &mut impl Read) -> io::Result<String> {
    let len = u64::from(read_u32(input)?);
    let mut bytes = Vec::new();
    input.take(len).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    String::from_utf8(bytes).map_err(|_| corrupt("a string not UTF-8"))
}

fn write_text(out: &mut impl Write, text: &str) -> io::Result<()> {
    let len = u32::try_from(text.len()).map_err(|_| corrupt("a string over 4 GiB"))?;
    write_u32(out, len)?;
    out.write_all(text.as_bytes())
}

fn write_optional_text(out: &mut impl Write, text: Option<&str>) -> io::Result<()> {
    match text {
        None => out.write_all(&[0]),
        Some(text) => {
            out.write_all(&[1])?;
            write_text(out, text)
        }
    }
}

fn read_optional_text(input: &mut impl Read) -> io::Result<Option<String>> {
    match read_u8(input)? {
        0 => Ok(None),
        1 => read_text(input).map(Some),
        _ => Err(corrupt("a bad optional string")),
    }
}

/// Writes `items` self-contained (the names they share first), for state kept beyond the
/// process, such as a live service's correlation windows saved in its store; read it back
/// with [`decode_items`].
///
/// # Errors
///
/// An item holds a string over 4 GiB.
pub fn encode_items<T: Spillable>(items: &[T]) -> io::Result<Vec<u8>> {
    let mut table = Table::default();
    let mut body = Vec::new();
    for item in items {
        item.encode(&mut table, &mut body)?;
    }
    let mut out = Vec::with_capacity(body.len() + 1024);
    write_u32(&mut out, table.names.len() as u32)?;
    for name in &table.names {
        write_text(&mut out, name)?;
    }
    write_u32(&mut out, table.logsources.len() as u32)?;
    for logsource in &table.logsources {
        write_optional_text(&mut out, logsource.product.as_deref())?;
        write_optional_text(&mut out, logsource.service.as_deref())?;
        write_optional_text(&mut out, logsource.category.as_deref())?;
    }
    write_u32(&mut out, items.len() as u32)?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reads what [`encode_items`] wrote.
///
/// # Errors
///
/// The bytes are truncated or damaged (`InvalidData` or `UnexpectedEof`).
pub fn decode_items<T: Spillable>(mut bytes: &[u8]) -> io::Result<Vec<T>> {
    let input = &mut bytes;
    let mut table = Table::default();
    for _ in 0..read_u32(input)? {
        let name: Arc<str> = read_text(input)?.into();
        table.name_id(&name);
    }
    for _ in 0..read_u32(input)? {
        let logsource = LogSource {
            product: read_optional_text(input)?.map(String::into_boxed_str),
            service: read_optional_text(input)?.map(String::into_boxed_str),
            category: read_optional_text(input)?.map(String::into_boxed_str),
        };
        table.logsource_id(Some(&Arc::new(logsource)));
    }
    let count = read_u32(input)? as usize;
    let mut items = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        items.push(T::decode(&table, input)?);
    }
    if !input.is_empty() {
        return Err(corrupt("bytes after its last item"));
    }
    Ok(items)
}

fn encode_value(value: &Value, out: &mut impl Write) -> io::Result<()> {
    match value {
        Value::Null => out.write_all(&[0]),
        Value::Bool(b) => out.write_all(&[1, u8::from(*b)]),
        Value::Int(i) => {
            out.write_all(&[2])?;
            out.write_all(&i.to_le_bytes())
        }
        Value::Float(f) => {
            out.write_all(&[3])?;
            write_u64(out, f.to_bits())
        }
        Value::Str(text) => {
            out.write_all(&[4])?;
            write_text(out, text)
        }
    }
}

fn decode_value(input: &mut impl Read) -> io::Result<Value> {
    Ok(match read_u8(input)? {
        0 => Value::Null,
        1 => Value::Bool(read_u8(input)? != 0),
        2 => Value::Int(read_u64(input)? as i64),
        3 => Value::Float(f64::from_bits(read_u64(input)?)),
        4 => {
            let text = read_text(input)?;
            Value::Str(text.into_boxed_str())
        }
        _ => return Err(corrupt("an unknown value kind")),
    })
}

impl Spillable for Event {
    fn order(&self, other: &Self) -> Ordering {
        event_order(self, other)
    }

    fn weight(&self) -> usize {
        event_weight(self)
    }

    fn encode(&self, table: &mut Table, out: &mut impl Write) -> io::Result<()> {
        match self.timestamp_micros {
            None => out.write_all(&[0])?,
            Some(at) => {
                out.write_all(&[1])?;
                out.write_all(&at.to_le_bytes())?;
            }
        }
        write_u32(out, table.name_id(&self.origin.source))?;
        write_u64(out, self.origin.record)?;
        write_u32(out, table.logsource_id(self.logsource.as_ref()))?;
        let count = u32::try_from(self.fields.len()).map_err(|_| corrupt("too many fields"))?;
        write_u32(out, count)?;
        for field in &self.fields {
            write_u32(out, table.name_id(&field.path))?;
            let alias = match &field.alias {
                Some(alias) => table.name_id(alias),
                None => NO_ALIAS,
            };
            write_u32(out, alias)?;
            encode_value(&field.value, out)?;
        }
        Ok(())
    }

    fn decode(table: &Table, input: &mut impl Read) -> io::Result<Self> {
        let timestamp_micros = match read_u8(input)? {
            0 => None,
            1 => Some(read_u64(input)? as i64),
            _ => return Err(corrupt("a bad time")),
        };
        let source = table.name(read_u32(input)?)?;
        let record = read_u64(input)?;
        let logsource = table.logsource(read_u32(input)?)?;
        let count = read_u32(input)? as usize;
        let mut fields = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            let path = table.name(read_u32(input)?)?;
            let alias = match read_u32(input)? {
                NO_ALIAS => None,
                id => Some(table.name(id)?),
            };
            let value = decode_value(input)?;
            fields.push(Field { path, alias, value });
        }
        Ok(Event {
            fields,
            origin: Origin { source, record },
            timestamp_micros,
            logsource,
        })
    }
}

impl Spillable for KeptMatch {
    fn order(&self, other: &Self) -> Ordering {
        event_order(&self.event, &other.event).then(self.rule.cmp(&other.rule))
    }

    fn weight(&self) -> usize {
        event_weight(&self.event) + std::mem::size_of::<KeptMatch>()
    }

    fn encode(&self, table: &mut Table, out: &mut impl Write) -> io::Result<()> {
        write_u32(out, self.rule)?;
        self.event.encode(table, out)
    }

    fn decode(table: &Table, input: &mut impl Read) -> io::Result<Self> {
        let rule = read_u32(input)?;
        let event = Event::decode(table, input)?;
        Ok(KeptMatch { rule, event })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at: Option<i64>, source: &str, record: u64) -> Event {
        let mut event = Event {
            origin: Origin {
                source: source.into(),
                record,
            },
            timestamp_micros: at,
            logsource: record
                .is_multiple_of(2)
                .then(|| Arc::new(LogSource::new("linux", "sshd"))),
            ..Event::default()
        };
        event.push(
            "Event.EventData.User",
            "User",
            Value::from(format!("user{record}")),
        );
        event.push("n", "", Value::Int(record as i64 * -3));
        event.push("f", "", Value::Float(0.5));
        event.push("b", "", Value::Bool(true));
        event.push("z", "", Value::Null);
        event
    }

    /// Pushes the events in a scrambled order, reads them back twice, and checks both
    /// passes against a plain sort.
    fn round_trip(budget: usize) -> (usize, Vec<Event>) {
        let mut pushed: Vec<Event> = (0..500u64)
            .map(|i| {
                let at = (i % 7 != 0).then_some(((i * 7919) % 97) as i64);
                event(at, ["b.evtx", "a.json"][(i % 2) as usize], i)
            })
            .collect();
        let mut buffer = TimeSorted::new(budget);
        for event in &pushed {
            buffer.push(event.clone()).expect("push");
        }
        pushed.sort_by(event_order);
        for _ in 0..2 {
            let read: Vec<Event> = buffer
                .sorted()
                .expect("sorted")
                .map(|item| item.expect("read back").into_owned())
                .collect();
            assert_eq!(read, pushed);
        }
        (buffer.runs(), pushed)
    }

    #[test]
    fn spilled_items_come_back_equal_and_in_order() {
        let (runs, _) = round_trip(2_000);
        assert!(runs > 10, "a small budget spills: {runs} runs");
        let (runs, _) = round_trip(usize::MAX);
        assert_eq!(runs, 0, "a large budget keeps everything in memory");
    }

    #[test]
    fn many_runs_are_merged_and_still_come_back_in_order() {
        let (runs, pushed) = round_trip(1);
        assert!(
            runs < MERGE_FAN_IN,
            "{runs} runs for {} items",
            pushed.len()
        );
    }

    #[test]
    fn shared_names_stay_shared_after_a_spill() {
        let mut buffer = TimeSorted::new(1);
        buffer.push(event(Some(1), "a", 1)).expect("push");
        buffer.push(event(Some(2), "a", 3)).expect("push");
        let read: Vec<Event> = buffer
            .sorted()
            .expect("sorted")
            .map(|item| item.expect("read back").into_owned())
            .collect();
        assert!(Arc::ptr_eq(
            &read[0].fields[0].path,
            &read[1].fields[0].path
        ));
    }

    #[test]
    fn kept_matches_order_by_rule_at_equal_events() {
        let mut buffer = TimeSorted::new(1);
        for rule in [3, 1, 2] {
            let kept = KeptMatch {
                rule,
                event: event(Some(5), "a", 1),
            };
            buffer.push(kept).expect("push");
        }
        let rules: Vec<u32> = buffer
            .sorted()
            .expect("sorted")
            .map(|item| item.expect("read back").rule)
            .collect();
        assert_eq!(rules, [1, 2, 3]);
    }

    #[test]
    fn a_damaged_run_is_an_error_not_a_panic() {
        let mut buffer = TimeSorted::new(usize::MAX);
        buffer.push(event(Some(1), "a", 1)).expect("push");
        buffer.push(event(Some(2), "a", 2)).expect("push");
        buffer.spill().expect("spill");
        let run = &buffer.runs[0];
        let len = run.metadata().expect("metadata").len();
        run.set_len(len - 3).expect("truncate");
        let read: Vec<_> = buffer.sorted().expect("the first item reads").collect();
        assert_eq!(read.len(), 2, "the first item, then the error");
        assert!(read[0].is_ok() && read[1].is_err());
        buffer.runs[0].set_len(7).expect("truncate");
        assert!(buffer.sorted().is_err());
    }
}
