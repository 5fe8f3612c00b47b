//! Template definitions (parsed once per chunk into flat lists of elements, attributes and
//! nodes, with placeholders) and template instances (whose substitution arrays are read in
//! place for each record). A BinXML stream that is not a template instance (a record's, or
//! a BinXML value's) is parsed the same way, as a template without substitutions.
//!
//! The token grammar and its corner cases follow the `evtx` crate's tree builder: attribute
//! values collect the nodes between an attribute token and the end of the element's start,
//! an attribute whose value is empty is dropped, text outside an attribute in an element's
//! start is ignored, and a template holds exactly one root element. Anything the crate would
//! refuse, and the shapes this decoder does not take (a template instance inside a template
//! or a stream of elements, a stream of several top-level elements), is a [`Fallback`].

use std::collections::HashMap;

use super::chunk::{u16_at, u32_at, NameId, NameKind, Names};
use super::sink::Memo;
use super::value::{read_sized, read_unsized, Text, Utf16, Val};
use super::{Fallback, Outcome};

/// Deepest element nesting within one template (the crate's limit for one stream).
const MAX_ELEMENT_DEPTH: usize = 512;

/// Most substitutions one instance may have here (the crate's compiled path caps them too).
const MAX_SUBSTITUTIONS: usize = 4096;

/// Deepest nesting of template instances in BinXML values taken here (the crate's is 64).
const MAX_INSTANCE_DEPTH: usize = 16;

/// The most substitution values (and instances) one record may hold, its nested instances'
/// included, as the crate bounds what one record may render.
const MAX_RECORD_VALUES: usize = 1 << 18;

/// An element of a record: element `elem` of the template of instance `inst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ERef {
    /// The instance, an index in the record's instances.
    pub(super) inst: u32,
    /// The element, an index in the instance's template's elements.
    pub(super) elem: u32,
    /// Which copy of the element this is, when a string array repeats it (one copy per
    /// item, as the crate expands arrays), or [`ERef::WHOLE`].
    pub(super) item: u32,
}

impl ERef {
    /// The `item` of an element that no array repeats.
    pub(super) const WHOLE: u32 = u32::MAX;
}

/// A node of a template (with placeholders) or of a record's resolved content (without).
#[derive(Debug, Clone, Copy)]
pub(super) enum Node<'c> {
    /// An element: in a template, `inst` is unused.
    Element(ERef),
    /// Text.
    Text(Text<'c>),
    /// A value other than a string.
    Value(Val<'c>),
    /// An entity reference (`&name;`).
    Entity(NameId),
    /// A character reference (`&#N;`).
    CharRef(u16),
    /// A CDATA section.
    CData(Utf16<'c>),
    /// A processing instruction's target (not rendered in JSON).
    PiTarget(NameId),
    /// A processing instruction's data (not rendered in JSON).
    PiData(Utf16<'c>),
    /// Substitution `id`, left out when `optional` and its value is empty.
    Placeholder {
        /// The index in the instance's values.
        id: u16,
        /// Whether an empty value leaves it out.
        optional: bool,
    },
}

impl PartialEq for Node<'_> {
    /// The crate's node equality, for telling repeated `Data` names apart. Elements never
    /// compare equal: a name holding one is left to the crate anyway.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Node::Text(a), Node::Text(b)) => a == b,
            (Node::Value(a), Node::Value(b)) => a == b,
            (Node::Entity(a), Node::Entity(b)) | (Node::PiTarget(a), Node::PiTarget(b)) => a == b,
            (Node::CharRef(a), Node::CharRef(b)) => a == b,
            (Node::CData(a), Node::CData(b)) | (Node::PiData(a), Node::PiData(b)) => a == b,
            _ => false,
        }
    }
}

/// An attribute of a template element.
pub(super) struct Attr {
    /// Its name.
    pub(super) name: NameId,
    /// Its value's nodes (never empty in a template), a range of [`Templates::nodes`].
    value: (u32, u32),
    /// Its path, the last time it was rendered.
    pub(super) memo: Memo,
}

/// An element of a template.
pub(super) struct Elem {
    /// Its name.
    pub(super) name: NameId,
    /// The substitution whose `NullType` value leaves the element out.
    pub(super) dependency: Option<u16>,
    /// Its attributes, a range of [`Templates::attrs`].
    attrs: (u32, u32),
    /// Its children, a range of [`Templates::nodes`].
    children: (u32, u32),
    /// Whether its `Data` children's names are all literal and distinct, and no
    /// substitution is among its children: its `Data` names then never repeat, which saves
    /// numbering them.
    pub(super) distinct_data_names: bool,
    /// Whether its element children's names are all distinct and no substitution is among
    /// its children: a child's name then never repeats, which saves numbering them.
    pub(super) distinct_child_names: bool,
    /// When its first `Name` attribute's value is one literal, non-empty text, that text's
    /// index in [`Templates::nodes`] (else `u32::MAX`).
    literal_name: u32,
    /// Its path, the last time it was rendered.
    pub(super) memo: Memo,
}

/// The templates of a chunk (and the element streams of its records that are not template
/// instances), parsed on first use and kept by definition offset. All their elements,
/// attributes and nodes are in three lists, which a thread keeps from chunk to chunk.
#[derive(Default)]
pub(super) struct Templates<'c> {
    /// The root element of each template.
    roots: Vec<u32>,
    by_offset: HashMap<u32, u32, super::sink::MapHasher>,
    /// Every element; [`ERef::elem`] is an index here.
    elems: Vec<Elem>,
    /// Every attribute.
    attrs: Vec<Attr>,
    /// Every node of an element's children or an attribute's value.
    nodes: Vec<Node<'c>>,
    /// While parsing: the children so far of the open elements.
    pending: Vec<Node<'c>>,
    /// While parsing: the open elements and where their children start in `pending`.
    open: Vec<(u32, usize)>,
}

/// Empties `list`, keeping its allocation for items of another lifetime.
pub(super) fn recycle<T, U>(mut list: Vec<T>) -> Vec<U> {
    list.clear();
    // An in-place collect: no item, and the same layout, so the allocation is kept.
    list.into_iter().filter_map(|_| None).collect()
}

impl<'c> Templates<'c> {
    /// These templates emptied, their lists kept for another chunk.
    pub(super) fn recycle<'d>(mut self) -> Templates<'d> {
        self.roots.clear();
        self.by_offset.clear();
        self.elems.clear();
        self.attrs.clear();
        self.open.clear();
        Templates {
            roots: self.roots,
            by_offset: self.by_offset,
            elems: self.elems,
            attrs: self.attrs,
            nodes: recycle(self.nodes),
            pending: recycle(self.pending),
            open: self.open,
        }
    }

    /// The index of the template defined at `offset`, parsing it the first time.
    fn at(&mut self, data: &'c [u8], names: &mut Names, offset: u32) -> Outcome<u32> {
        if let Some(&id) = self.by_offset.get(&offset) {
            return Ok(id);
        }
        let id = self.parse_definition(data, names, offset)?;
        self.by_offset.insert(offset, id);
        Ok(id)
    }

    /// The root element of template `id`.
    pub(super) fn root(&self, id: u32) -> Outcome<u32> {
        self.roots
            .get(id as usize)
            .copied()
            .ok_or_else(|| Fallback::new("a template id out of range"))
    }

    /// Element `id`.
    pub(super) fn elem(&self, id: u32) -> Outcome<&Elem> {
        self.elems
            .get(id as usize)
            .ok_or_else(|| Fallback::new("an element id out of range"))
    }

    /// The children of `elem`.
    pub(super) fn children(&self, elem: &Elem) -> &[Node<'c>] {
        self.nodes
            .get(elem.children.0 as usize..elem.children.1 as usize)
            .unwrap_or_default()
    }

    /// The attributes of `elem`.
    pub(super) fn attrs(&self, elem: &Elem) -> &[Attr] {
        self.attrs
            .get(elem.attrs.0 as usize..elem.attrs.1 as usize)
            .unwrap_or_default()
    }

    /// The substitution that is the only child of `elem`, if one is: its id and whether it
    /// is optional.
    pub(super) fn single_placeholder(&self, elem: &Elem) -> Option<(u16, bool)> {
        match self.children(elem) {
            [Node::Placeholder { id, optional }] => Some((*id, *optional)),
            _ => None,
        }
    }

    /// Whether `elem` has attributes in its template.
    pub(super) fn has_attrs(&self, elem: &Elem) -> bool {
        elem.attrs.1 > elem.attrs.0
    }

    /// The literal text of the first `Name` attribute of `elem`, if it is one.
    pub(super) fn literal_name(&self, elem: &Elem) -> Option<Node<'c>> {
        self.nodes.get(elem.literal_name as usize).copied()
    }

    /// The value of `attr`.
    pub(super) fn value(&self, attr: &Attr) -> &[Node<'c>] {
        self.nodes
            .get(attr.value.0 as usize..attr.value.1 as usize)
            .unwrap_or_default()
    }

    /// Parses the template definition at `offset`: a 24-byte header (next offset, GUID,
    /// size) and the BinXML body it sizes.
    fn parse_definition(&mut self, data: &'c [u8], names: &mut Names, offset: u32) -> Outcome<u32> {
        let offset = offset as usize;
        let size = u32_at(data, offset + 20)? as usize;
        let start = offset + 24;
        let end = start
            .checked_add(size)
            .filter(|&end| end <= data.len())
            .ok_or_else(|| Fallback::new("a template definition past the chunk"))?;
        self.parse_body(data, names, start, end, true)
    }

    /// Places finished element `id` under the open one, or as the root.
    fn attach(&mut self, id: u32, root: &mut Option<u32>) -> Outcome<()> {
        if !self.open.is_empty() {
            self.pending.push(Node::Element(ERef {
                inst: 0,
                elem: id,
                item: ERef::WHOLE,
            }));
        } else if root.is_none() {
            *root = Some(id);
        } else {
            return Err(Fallback::new("a template with several root elements"));
        }
        Ok(())
    }

    /// Adds `node` where the stream is: the attribute being read, or the open element.
    fn push_node(&mut self, node: Node<'c>, start: &mut Option<Start>) -> Outcome<()> {
        if let Some(start) = start {
            // Text in an element's start outside an attribute is dropped, as the crate does.
            if start.attr.is_some() {
                self.pending.push(node);
            }
            return Ok(());
        }
        if self.open.is_empty() {
            return Err(Fallback::new("a node outside any element"));
        }
        self.pending.push(node);
        Ok(())
    }

    /// Ends the attribute being read: kept when its value is not empty.
    fn finish_attr(&mut self, start: &mut Start) {
        if let Some((name, from)) = start.attr.take() {
            if self.pending.len() > from {
                let value_start = len32(self.nodes.len());
                self.nodes.extend(self.pending.drain(from..));
                self.attrs.push(Attr {
                    name,
                    value: (value_start, len32(self.nodes.len())),
                    memo: Memo::default(),
                });
            }
        }
    }

    /// Ends an element's start: the element, its attributes read, its children to come.
    fn finish_start(&mut self, mut start: Start) -> u32 {
        self.finish_attr(&mut start);
        let id = len32(self.elems.len());
        self.elems.push(Elem {
            name: start.name,
            dependency: start.dependency,
            attrs: (start.attrs, len32(self.attrs.len())),
            children: (0, 0),
            distinct_data_names: false,
            distinct_child_names: false,
            literal_name: u32::MAX,
            memo: Memo::default(),
        });
        id
    }

    /// Parses the BinXML `data[start..end]` into a template, returning its id: a template
    /// definition's body (`definition`: element starts carry a dependency, substitutions
    /// are placeholders), or a record's own stream of elements (not `definition`: no
    /// dependencies, no substitutions).
    fn parse_body(
        &mut self,
        data: &'c [u8],
        names: &mut Names,
        from: usize,
        end: usize,
        definition: bool,
    ) -> Outcome<u32> {
        self.pending.clear();
        self.open.clear();
        let first_elem = self.elems.len();
        let mut current: Option<Start> = None;
        let mut root: Option<u32> = None;
        let bad = |what: &'static str| Fallback::new(what);

        let mut at = from;
        while at < end {
            let token = *data.get(at).ok_or_else(|| bad("a token past the chunk"))?;
            at += 1;
            match token {
                0x00 => break,
                0x01 | 0x41 => {
                    if current.is_some() {
                        return Err(bad("an element started inside another's start"));
                    }
                    let dependency = if definition {
                        at += 2;
                        u16_at(data, at - 2)?
                    } else {
                        0xffff
                    };
                    u32_at(data, at)?;
                    at += 4;
                    let name = name_ref(data, names, &mut at)?;
                    if token & 0x40 != 0 {
                        u32_at(data, at)?;
                        at += 4;
                    }
                    current = Some(Start {
                        name,
                        dependency: (dependency != 0xffff).then_some(dependency),
                        attrs: len32(self.attrs.len()),
                        attr: None,
                    });
                }
                0x02 => {
                    if self.open.len() >= MAX_ELEMENT_DEPTH {
                        return Err(bad("elements nested too deeply"));
                    }
                    let start = current
                        .take()
                        .ok_or_else(|| bad("an element start closed twice"))?;
                    let id = self.finish_start(start);
                    self.open.push((id, self.pending.len()));
                }
                0x03 => {
                    let start = current
                        .take()
                        .ok_or_else(|| bad("an empty element without a start"))?;
                    let id = self.finish_start(start);
                    self.attach(id, &mut root)?;
                }
                0x04 => {
                    if current.is_some() {
                        return Err(bad("an element closed inside its start"));
                    }
                    let (id, from) = self
                        .open
                        .pop()
                        .ok_or_else(|| bad("an element closed twice"))?;
                    let children_start = len32(self.nodes.len());
                    self.nodes
                        .extend(self.pending.drain(from.min(self.pending.len())..));
                    let children = (children_start, len32(self.nodes.len()));
                    if let Some(elem) = self.elems.get_mut(id as usize) {
                        elem.children = children;
                    }
                    self.attach(id, &mut root)?;
                }
                0x05 | 0x45 => {
                    let ty = *data.get(at).ok_or_else(|| bad("a value past the chunk"))?;
                    at += 1;
                    let node = match read_unsized(ty, data, &mut at)? {
                        Val::Str(text) => Node::Text(Text::Utf16(text)),
                        value => Node::Value(value),
                    };
                    self.push_node(node, &mut current)?;
                }
                0x06 | 0x46 => {
                    let name = name_ref(data, names, &mut at)?;
                    let mut start = current
                        .take()
                        .ok_or_else(|| bad("an attribute outside an element start"))?;
                    self.finish_attr(&mut start);
                    start.attr = Some((name, self.pending.len()));
                    current = Some(start);
                }
                0x07 | 0x47 => {
                    let text = utf16_prefixed(data, &mut at)?;
                    self.push_node(Node::CData(text), &mut current)?;
                }
                0x08 | 0x48 => {
                    let ch = u16_at(data, at)?;
                    at += 2;
                    self.push_node(Node::CharRef(ch), &mut current)?;
                }
                0x09 | 0x49 => {
                    let name = name_ref(data, names, &mut at)?;
                    self.push_node(Node::Entity(name), &mut current)?;
                }
                0x0a => {
                    let name = name_ref(data, names, &mut at)?;
                    self.push_node(Node::PiTarget(name), &mut current)?;
                }
                0x0b => {
                    let text = utf16_prefixed(data, &mut at)?;
                    self.push_node(Node::PiData(text), &mut current)?;
                }
                0x0d | 0x0e if definition => {
                    let id = u16_at(data, at)?;
                    let ty = *data
                        .get(at + 2)
                        .ok_or_else(|| bad("a substitution past the chunk"))?;
                    if !known_type(ty) {
                        return Err(bad("a substitution of an unknown type"));
                    }
                    at += 3;
                    let node = Node::Placeholder {
                        id,
                        optional: token == 0x0e,
                    };
                    self.push_node(node, &mut current)?;
                }
                0x0f => {
                    if at + 3 > data.len() {
                        return Err(bad("a fragment header past the chunk"));
                    }
                    at += 3;
                }
                _ => return Err(bad("a token this decoder leaves to the crate")),
            }
        }
        if current.is_some() || !self.open.is_empty() {
            return Err(bad("a template whose elements are not closed"));
        }
        let root = root.ok_or_else(|| bad("a template without a root element"))?;
        let mut seen = Vec::new();
        for id in first_elem..self.elems.len() {
            let distinct = self.distinct_data_names(id, names);
            let distinct_children = self.distinct_child_names(id, names, &mut seen);
            let literal = self.elems.get(id).and_then(|elem| {
                let attr = self
                    .attrs(elem)
                    .iter()
                    .find(|attr| names.is(attr.name, NameKind::Name))?;
                match self.value(attr) {
                    [Node::Text(Text::Utf16(text))] if !text.is_empty() => Some(attr.value.0),
                    _ => None,
                }
            });
            if let Some(elem) = self.elems.get_mut(id) {
                elem.distinct_data_names = distinct;
                elem.distinct_child_names = distinct_children;
                elem.literal_name = literal.unwrap_or(u32::MAX);
            }
        }
        let id = len32(self.roots.len());
        self.roots.push(root);
        Ok(id)
    }

    /// Whether the element children of element `id` have distinct names and no child is a
    /// substitution (see [`Elem::distinct_child_names`]).
    fn distinct_child_names(&self, id: usize, names: &Names, seen: &mut Vec<NameId>) -> bool {
        let Some(elem) = self.elems.get(id) else {
            return false;
        };
        seen.clear();
        for child in self.children(elem) {
            match child {
                Node::Placeholder { .. } => return false,
                Node::Element(r) => {
                    let Some(child) = self.elems.get(r.elem as usize) else {
                        return false;
                    };
                    seen.push(names.canon(child.name));
                }
                _ => {}
            }
        }
        seen.sort_unstable();
        seen.windows(2).all(|pair| pair.first() != pair.last())
    }

    /// Whether the `Data` children of element `id` have literal, distinct `Name`s and no
    /// child is a substitution (see [`Elem::distinct_data_names`]).
    fn distinct_data_names(&self, id: usize, names: &Names) -> bool {
        let Some(elem) = self.elems.get(id) else {
            return false;
        };
        let mut seen: Vec<&[Node<'_>]> = Vec::new();
        for child in self.children(elem) {
            match child {
                Node::Placeholder { .. } => return false,
                Node::Element(r) => {
                    let Some(child) = self.elems.get(r.elem as usize) else {
                        return false;
                    };
                    if !names.is(child.name, NameKind::Data) {
                        continue;
                    }
                    let Some(attr) = self
                        .attrs(child)
                        .iter()
                        .find(|a| names.is(a.name, NameKind::Name))
                    else {
                        continue;
                    };
                    let value = self.value(attr);
                    if value
                        .iter()
                        .any(|n| matches!(n, Node::Placeholder { .. } | Node::Element(_)))
                    {
                        return false;
                    }
                    if seen.iter().any(|other| {
                        other.len() == value.len() && other.iter().zip(value).all(|(a, b)| a == b)
                    }) {
                        return false;
                    }
                    seen.push(value);
                }
                _ => {}
            }
        }
        true
    }
}

/// `n` as a `u32` index (a chunk holds far fewer items).
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// An element being started: its name, where its attributes start in
/// [`Templates::attrs`], and the attribute being read (its name, and where its value
/// starts in [`Templates::pending`]).
struct Start {
    name: NameId,
    dependency: Option<u16>,
    attrs: u32,
    attr: Option<(NameId, usize)>,
}

/// Whether `ty` is a value type the crate knows (it refuses a descriptor of any other).
fn known_type(ty: u8) -> bool {
    matches!(ty, 0x00..=0x15 | 0x20 | 0x21 | 0x23 | 0x81..=0x95)
}

/// Reads a name reference at `*at` (skipping the name when it is defined right there).
fn name_ref(data: &[u8], names: &mut Names, at: &mut usize) -> Outcome<NameId> {
    let offset = u32_at(data, *at)?;
    *at += 4;
    if *at == offset as usize {
        u32_at(data, *at)?;
        u16_at(data, *at + 4)?;
        let len = usize::from(u16_at(data, *at + 6)?);
        let end = *at + 10 + len * 2;
        if end > data.len() {
            return Err(Fallback::new("a name past the chunk"));
        }
        *at = end;
    }
    names.at(data, offset)
}

/// Reads a length-prefixed UTF-16 string (without a NUL after it) at `*at`.
fn utf16_prefixed<'c>(data: &'c [u8], at: &mut usize) -> Outcome<Utf16<'c>> {
    let count = usize::from(u16_at(data, *at)?);
    *at += 2;
    if count == 0 {
        return Ok(Utf16::EMPTY);
    }
    let end = *at + count * 2;
    let bytes = data
        .get(*at..end)
        .ok_or_else(|| Fallback::new("a string past the chunk"))?;
    *at = end;
    Ok(Utf16::until_nul(bytes))
}

/// A template instance of a record: its template and its values.
#[derive(Clone, Copy)]
pub(super) struct Inst {
    /// The template, an index in the chunk's templates.
    pub(super) template: u32,
    /// Where its values start in the record's values.
    pub(super) values_start: u32,
    /// Where they end.
    pub(super) values_end: u32,
}

/// What one record's stream holds: its template instances (the first is the record's own,
/// the others those that its BinXML values hold) and all their values.
#[derive(Default)]
pub(super) struct Content<'c> {
    /// The instances.
    pub(super) insts: Vec<Inst>,
    /// The values of every instance.
    pub(super) values: Vec<Val<'c>>,
    /// Whether a value is a string array of several items (which repeats its element).
    pub(super) has_arrays: bool,
}

impl<'c> Content<'c> {
    /// This content emptied, its lists kept for another chunk.
    pub(super) fn recycle<'d>(mut self) -> Content<'d> {
        self.insts.clear();
        Content {
            insts: self.insts,
            values: recycle(self.values),
            has_arrays: false,
        }
    }

    /// The values of instance `inst`.
    pub(super) fn values(&self, inst: u32) -> &[Val<'c>] {
        self.insts
            .get(inst as usize)
            .and_then(|i| {
                self.values
                    .get(i.values_start as usize..i.values_end as usize)
            })
            .unwrap_or_default()
    }
}

/// Where the instance starts in `stream` when it is a single template instance (after an
/// optional fragment header), as the crate decides: the offset of the byte after the token.
fn single_instance_offset(stream: &[u8]) -> Option<usize> {
    match stream {
        [0x0f, _, _, _, 0x0c, _, ..] => Some(5),
        [0x0c, ..] => Some(1),
        _ => None,
    }
}

/// Reads the content of the record whose BinXML is `data[start..end]`: a single template
/// instance, whose BinXML values are single instances too, or a stream of elements holding
/// no template instance. Other shapes are left to the crate.
pub(super) fn read_record<'c>(
    data: &'c [u8],
    names: &mut Names,
    templates: &mut Templates<'c>,
    start: usize,
    end: usize,
    content: &mut Content<'c>,
) -> Outcome<()> {
    content.insts.clear();
    content.values.clear();
    content.has_arrays = false;
    read_stream(data, names, templates, start, end, content, 0)?;
    Ok(())
}

/// Reads the stream `data[start..end]` (a single template instance, or elements without
/// one) into `content`, returning the index of its instance.
fn read_stream<'c>(
    data: &'c [u8],
    names: &mut Names,
    templates: &mut Templates<'c>,
    start: usize,
    end: usize,
    content: &mut Content<'c>,
    depth: usize,
) -> Outcome<u32> {
    if depth > MAX_INSTANCE_DEPTH {
        return Err(Fallback::new("template instances nested too deeply"));
    }
    let stream = data
        .get(start..end)
        .ok_or_else(|| Fallback::new("a record past the chunk"))?;
    let Some(offset) = single_instance_offset(stream) else {
        // A stream of elements, not a template instance: read as a template of its own,
        // without substitutions (one with several top-level elements is left to the crate).
        let id = templates.parse_body(data, names, start, end, false)?;
        let inst = u32::try_from(content.insts.len()).unwrap_or(u32::MAX);
        let values = u32::try_from(content.values.len()).unwrap_or(u32::MAX);
        content.insts.push(Inst {
            template: id,
            values_start: values,
            values_end: values,
        });
        return Ok(inst);
    };
    let (inst, after) = read_instance(data, names, templates, start + offset, content, depth)?;
    // A BinXML value's instance must lie within the value: otherwise sibling values could
    // share their nested instances, and the work would grow exponentially with the depth.
    if depth > 0 && after > end {
        return Err(Fallback::new("a BinXML value whose instance runs past it"));
    }
    // The crate takes it only when nothing but EOF follows (or the instance ran past).
    if let Some(rest) = stream.get(after - start..) {
        if rest.first().is_some_and(|&b| b != 0) {
            return Err(Fallback::new("a BinXML stream with more than one instance"));
        }
    }
    Ok(inst)
}

/// Reads a template instance whose body starts at `at` (after its token), returning its
/// index in `content` and where it ends.
fn read_instance<'c>(
    data: &'c [u8],
    names: &mut Names,
    templates: &mut Templates<'c>,
    mut at: usize,
    content: &mut Content<'c>,
    depth: usize,
) -> Outcome<(u32, usize)> {
    // An unknown byte, the template id, then its definition's offset.
    data.get(at)
        .ok_or_else(|| Fallback::new("an instance past the chunk"))?;
    at += 1;
    u32_at(data, at)?;
    at += 4;
    let definition = u32_at(data, at)?;
    at += 4;
    if at == definition as usize {
        // The definition is right here: skip it.
        let size = u32_at(data, at + 20)? as usize;
        at = (at + 24)
            .checked_add(size)
            .filter(|&end| end <= data.len())
            .ok_or_else(|| Fallback::new("a template definition past the chunk"))?;
    }
    let template = templates.at(data, names, definition)?;
    let count = u32_at(data, at)? as usize;
    at += 4;
    if count > MAX_SUBSTITUTIONS {
        return Err(Fallback::new("too many substitutions"));
    }
    let descriptors = data
        .get(at..at + count * 4)
        .ok_or_else(|| Fallback::new("substitution descriptors past the chunk"))?;
    at += count * 4;

    let inst = u32::try_from(content.insts.len()).unwrap_or(u32::MAX);
    let values_start = content.values.len();
    content.insts.push(Inst {
        template,
        values_start: values_start as u32,
        values_end: values_start as u32,
    });
    for descriptor in descriptors.chunks_exact(4) {
        let size = usize::from(u16::from_le_bytes([descriptor[0], descriptor[1]]));
        let ty = descriptor[2];
        if !known_type(ty) {
            return Err(Fallback::new("a substitution of an unknown type"));
        }
        let value = if ty == 0x21 {
            if data.get(at..at + size).is_none() {
                return Err(Fallback::new("a BinXML value past the chunk"));
            }
            if size == 0 {
                Val::Null
            } else {
                Val::Fragment(0)
            }
        } else {
            read_sized(ty, data, at, size)?
        };
        if let Val::StrArray(items) = value {
            content.has_arrays |= items.count() > 1;
        }
        content.values.push(value);
        at += size;
    }
    let values_end = content.values.len();
    if values_end > MAX_RECORD_VALUES || content.insts.len() > MAX_RECORD_VALUES {
        return Err(Fallback::new("too many values in one record"));
    }
    if let Some(inst) = content.insts.get_mut(inst as usize) {
        inst.values_end = values_end as u32;
    }
    // The BinXML values: each a nested single instance (read after this one's values, as
    // their instances go after this one in `content`).
    let mut value_at = at
        - descriptors
            .chunks_exact(4)
            .map(size_of_descriptor)
            .sum::<usize>();
    for (i, descriptor) in descriptors.chunks_exact(4).enumerate() {
        let size = size_of_descriptor(descriptor);
        if descriptor[2] == 0x21 && size > 0 {
            let nested = read_stream(
                data,
                names,
                templates,
                value_at,
                value_at + size,
                content,
                depth + 1,
            )?;
            if let Some(slot) = content.values.get_mut(values_start + i) {
                *slot = Val::Fragment(nested);
            }
        }
        value_at += size;
    }
    Ok((inst, at))
}

/// The size a substitution descriptor gives its value.
fn size_of_descriptor(descriptor: &[u8]) -> usize {
    match descriptor {
        [lo, hi, ..] => usize::from(u16::from_le_bytes([*lo, *hi])),
        _ => 0,
    }
}
