//! Walks a record's templates with its values and emits the fields the `evtx` crate's JSON
//! would flatten to, without writing JSON.
//!
//! Each function mirrors one step of the crate's JSON renderer over its materialized tree
//! (`write_element_value`, `element_body`, `try_leaf_value`, `content_as_json_value`, ...):
//! where the crate writes a JSON object member, this appends the key to the path; where it
//! writes a scalar, this emits a field; an object that ends up with no member is one `null`
//! field, as the flattener makes it. The record's tree is never built: an element's children
//! are resolved (placeholders replaced by their values, left-out elements dropped, fragments
//! spliced in) onto a stack of nodes that is popped when the element is done.

use tocsin_event::Value;

use super::chunk::{NameId, NameKind, Names};
use super::sink::{KeyCode, Memo, Sink, ROOT};
use super::template::{recycle, Content, ERef, Elem, Node, Templates};
use super::value::{Text, Val};
use super::{Fallback, Outcome};

/// Deepest element nesting rendered here (the crate's is 512; deeper records are left to it).
const MAX_DEPTH: u32 = 100;

/// Most fields one record may give here (real records give a few hundred at most; the crate
/// caps a record's output, so a crafted record that would reach its caps is left to it).
pub(super) const MAX_FIELDS: usize = 20_000;

/// Most items of a string array that repeats its element here.
const MAX_COPIES: usize = 1024;

/// An attribute of an element, resolved: its name and its nodes on the node stack.
#[derive(Clone, Copy)]
struct RAttr {
    name: NameId,
    start: usize,
    end: usize,
    /// The element and the attribute's index in its template's attributes.
    elem: ERef,
    index: u32,
}

/// Reusable stacks for rendering a chunk's records.
#[derive(Default)]
pub(super) struct Stacks<'c> {
    /// Resolved nodes of the elements being rendered.
    nodes: Vec<Node<'c>>,
    /// Resolved attributes of the elements being rendered.
    attrs: Vec<RAttr>,
    /// Per object: how many times each element name was used (for `_N` suffixes).
    element_names: Vec<(NameId, u32)>,
    /// Per object: each named `Data` name used (its nodes in `data_nodes`) and how often.
    data_names: Vec<(usize, usize, u32)>,
    /// The nodes of the names in `data_names`.
    data_nodes: Vec<Node<'c>>,
    /// Text being put together.
    text: String,
}

impl<'c> Stacks<'c> {
    /// These stacks emptied, kept for another chunk.
    pub(super) fn recycle<'d>(mut self) -> Stacks<'d> {
        self.attrs.clear();
        self.element_names.clear();
        self.data_names.clear();
        self.text.clear();
        Stacks {
            nodes: recycle(self.nodes),
            attrs: self.attrs,
            element_names: self.element_names,
            data_names: self.data_names,
            data_nodes: recycle(self.data_nodes),
            text: self.text,
        }
    }
}

/// Renders one record.
pub(super) struct Renderer<'r, 'c> {
    /// The chunk's names.
    pub(super) names: &'r Names,
    /// The chunk's templates.
    pub(super) templates: &'r Templates<'c>,
    /// The record's instances and values.
    pub(super) content: &'r Content<'c>,
    /// Reusable stacks.
    pub(super) stacks: &'r mut Stacks<'c>,
    /// Where the fields go.
    pub(super) sink: &'r mut Sink,
    /// How many objects are open (see [`MAX_DEPTH`]).
    pub(super) depth: u32,
}

impl<'r, 'c> Renderer<'r, 'c> {
    /// Emits the record's fields: its root element's value under the root's name.
    pub(super) fn record(&mut self) -> Outcome<()> {
        let inst = self
            .content
            .insts
            .first()
            .ok_or_else(|| Fallback::new("a record without a template instance"))?;
        let root = self.templates.root(inst.template)?;
        let root = ERef {
            inst: 0,
            elem: root,
            item: ERef::WHOLE,
        };
        let name = self.elem_name(root)?;
        self.sink.current = ROOT;
        self.push_key(Some(KeyCode::Name(name)), self.names.text(name), 0);
        self.element_value(root, false)
    }

    fn elem_name(&self, e: ERef) -> Outcome<NameId> {
        Ok(self.elem(e)?.name)
    }

    /// The root element of instance `inst`'s template.
    fn root_of(&self, inst: u32) -> Outcome<u32> {
        let inst = self
            .content
            .insts
            .get(inst as usize)
            .ok_or_else(|| Fallback::new("an instance id out of range"))?;
        self.templates.root(inst.template)
    }

    fn node(&self, i: usize) -> Node<'c> {
        self.stacks
            .nodes
            .get(i)
            .copied()
            .unwrap_or(Node::PiTarget(0))
    }

    fn mark(&self) -> (usize, usize) {
        (self.stacks.nodes.len(), self.stacks.attrs.len())
    }

    fn reset(&mut self, (nodes, attrs): (usize, usize)) {
        self.stacks.nodes.truncate(nodes);
        self.stacks.attrs.truncate(attrs);
    }

    /// How many copies of template element `element` a string array among its children
    /// makes (the crate repeats an element once per item of an array of several), if one
    /// does. Two such arrays, or one in an attribute, are left to the crate.
    fn copies(&mut self, values: &[Val<'_>], element: &Elem) -> Outcome<Option<u32>> {
        let scanned = std::cell::Cell::new(0usize);
        let several = |node: &Node<'_>| match node {
            Node::Placeholder { id, .. } => match values.get(usize::from(*id)) {
                Some(Val::StrArray(items)) => {
                    scanned.set(scanned.get().saturating_add(items.byte_len()));
                    Some(items.count()).filter(|&n| n > 1)
                }
                _ => None,
            },
            _ => None,
        };
        let mut copies = None;
        for node in self.templates.children(element) {
            if let Some(count) = several(node) {
                if copies.is_some() {
                    return Err(Fallback::new("an element with two string arrays"));
                }
                if count > MAX_COPIES {
                    return Err(Fallback::new("a string array of too many items"));
                }
                copies = Some(u32::try_from(count).unwrap_or(u32::MAX));
            }
        }
        let templates = self.templates;
        if templates.attrs(element).iter().any(|attr| {
            templates
                .value(attr)
                .iter()
                .any(|node| several(node).is_some())
        }) {
            return Err(Fallback::new("a string array in an attribute"));
        }
        self.sink.scan_array(scanned.get())?;
        Ok(copies)
    }

    /// Pushes the resolved form of template node `node` of copy `item` of an element of
    /// instance `inst`.
    fn resolve(&mut self, inst: u32, item: u32, node: &Node<'c>) -> Outcome<()> {
        let content = self.content;
        let values = content.values(inst);
        match *node {
            Node::Placeholder { id, optional } => match values.get(usize::from(id)) {
                None => {}
                Some(&Val::Fragment(nested)) => {
                    let root = self.root_of(nested)?;
                    self.stacks.nodes.push(Node::Element(ERef {
                        inst: nested,
                        elem: root,
                        item: ERef::WHOLE,
                    }));
                }
                Some(value) if optional && value.is_optional_empty() => {}
                Some(&Val::StrArray(items)) if items.count() > 1 => {
                    if item == ERef::WHOLE {
                        return Err(Fallback::new("a string array no element repeats"));
                    }
                    // Counting and finding the item each read the array (twice at most).
                    self.sink.scan_array(2 * items.byte_len())?;
                    // The copy's item; an empty one leaves the copy empty.
                    let text = items
                        .item(item as usize)
                        .ok_or_else(|| Fallback::new("an array item out of range"))?;
                    if !text.is_empty() {
                        self.stacks.nodes.push(Node::Text(Text::Utf16(text)));
                    }
                }
                Some(&Val::Str(text)) => {
                    self.stacks
                        .nodes
                        .push(Node::Text(super::value::Text::Utf16(text)));
                }
                Some(&Val::Ansi(bytes)) => {
                    self.stacks
                        .nodes
                        .push(Node::Text(super::value::Text::Ansi(bytes)));
                }
                Some(&value) => self.stacks.nodes.push(Node::Value(value)),
            },
            Node::Element(child) => {
                let element = self.templates.elem(child.elem)?;
                // An element whose dependency is a NullType value is left out.
                let left_out = element
                    .dependency
                    .and_then(|d| values.get(usize::from(d)))
                    .is_some_and(|v| matches!(v, Val::Null));
                let copies = if left_out || !content.has_arrays {
                    None
                } else {
                    self.copies(values, element)?
                };
                if let Some(copies) = copies {
                    for item in 0..copies {
                        self.stacks.nodes.push(Node::Element(ERef {
                            inst,
                            elem: child.elem,
                            item,
                        }));
                    }
                } else if !left_out {
                    self.stacks.nodes.push(Node::Element(ERef {
                        inst,
                        elem: child.elem,
                        item: ERef::WHOLE,
                    }));
                }
            }
            other => self.stacks.nodes.push(other),
        }
        if self.stacks.nodes.len() > 4 * MAX_FIELDS {
            return Err(Fallback::new("a record too large"));
        }
        Ok(())
    }

    /// Pushes the resolved children of `e`, returning their range on the node stack.
    fn children(&mut self, e: ERef) -> Outcome<(usize, usize)> {
        let templates = self.templates;
        let element = templates.elem(e.elem)?;
        let start = self.stacks.nodes.len();
        for node in templates.children(element) {
            self.resolve(e.inst, e.item, node)?;
        }
        Ok((start, self.stacks.nodes.len()))
    }

    /// Pushes the resolved attributes of `e` (those whose value is not empty once resolved),
    /// returning their range on the attribute stack.
    fn attrs(&mut self, e: ERef) -> Outcome<(usize, usize)> {
        let templates = self.templates;
        let element = templates.elem(e.elem)?;
        let first = self.stacks.attrs.len();
        for (index, attr) in templates.attrs(element).iter().enumerate() {
            let start = self.stacks.nodes.len();
            for node in templates.value(attr) {
                self.resolve(e.inst, e.item, node)?;
            }
            let end = self.stacks.nodes.len();
            if end > start {
                self.stacks.attrs.push(RAttr {
                    name: attr.name,
                    start,
                    end,
                    elem: e,
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                });
            }
        }
        Ok((first, self.stacks.attrs.len()))
    }

    /// Pushes the nodes of the first `Name` attribute of `Data` element `e`, if it has one.
    fn data_name(&mut self, e: ERef) -> Outcome<Option<(usize, usize)>> {
        let templates = self.templates;
        if let Some(name) = templates.literal_name(templates.elem(e.elem)?) {
            // The first `Name` is literal text: it is the name, whatever the others hold.
            let start = self.stacks.nodes.len();
            self.stacks.nodes.push(name);
            return Ok(Some((start, start + 1)));
        }
        let (first, end) = self.attrs(e)?;
        for i in first..end {
            let Some(attr) = self.stacks.attrs.get(i).copied() else {
                break;
            };
            if self.names.is(attr.name, NameKind::Name) {
                return Ok(Some((attr.start, attr.end)));
            }
        }
        Ok(None)
    }

    /// Whether `node` is text content (the crate's `node_is_content`).
    fn is_content(node: &Node<'_>) -> bool {
        match node {
            Node::Text(text) => !text.is_empty(),
            Node::CData(text) => !text.is_empty(),
            Node::Entity(_) | Node::CharRef(_) => true,
            Node::Value(value) => !value.is_optional_empty(),
            Node::Element(_) | Node::PiTarget(_) | Node::PiData(_) | Node::Placeholder { .. } => {
                false
            }
        }
    }

    fn has_content(&self, (start, end): (usize, usize)) -> bool {
        self.stacks
            .nodes
            .get(start..end)
            .is_some_and(|nodes| nodes.iter().any(Self::is_content))
    }

    /// `(has_text, has_element_child)` of the nodes.
    fn layout(&self, (start, end): (usize, usize)) -> (bool, bool) {
        let nodes = self.stacks.nodes.get(start..end).unwrap_or_default();
        let (mut has_text, mut has_element) = (false, false);
        for node in nodes {
            if matches!(node, Node::Element(_)) {
                has_element = true;
            } else if !has_text && Self::is_content(node) {
                has_text = true;
            }
        }
        (has_text, has_element)
    }

    /// Appends `text` (and `_suffix` when it is not 0) to the path, returning the path
    /// before; `key` names it within the chunk, when it can be.
    fn push_key(&mut self, key: Option<KeyCode>, text: &str, suffix: u32) -> u32 {
        let before = self.sink.current;
        self.sink.current = self.sink.child(before, key, text, suffix);
        before
    }

    /// [`Renderer::push_key`] for a key of a place of a template, which remembers it.
    fn push_key_memo(&mut self, memo: &Memo, key: KeyCode, text: &str, suffix: u32) -> u32 {
        let before = self.sink.current;
        self.sink.current = self.sink.child_memo(memo, before, key, text, suffix);
        before
    }

    /// Element `e` of its template.
    fn elem(&self, e: ERef) -> Outcome<&'r Elem> {
        let templates = self.templates;
        templates.elem(e.elem)
    }

    fn pop_key(&mut self, before: u32) {
        self.sink.current = before;
    }

    fn leaf(&mut self, value: Value) -> Outcome<()> {
        self.sink.leaf(value)
    }

    /// The text of the nodes (the crate's `write_json_text_content`), into `stacks.text`.
    fn text_content(&mut self, (start, end): (usize, usize), skip_elements: bool) -> Outcome<()> {
        for i in start..end {
            let node = self.node(i);
            let text = &mut self.stacks.text;
            match node {
                Node::Text(t) => t.push_to(text),
                Node::CData(t) => t.push_to(text),
                Node::Value(value) => value.push_text(text)?,
                Node::CharRef(ch) => match char::from_u32(u32::from(ch)) {
                    Some(c) => text.push(c),
                    None => {
                        text.push_str("&#");
                        Val::U16(ch).push_text(text)?;
                        text.push(';');
                    }
                },
                Node::Entity(name) => match self.names.text(name) {
                    "quot" => text.push('"'),
                    "apos" => text.push('\''),
                    "amp" => text.push('&'),
                    "lt" => text.push('<'),
                    "gt" => text.push('>'),
                    other => {
                        text.push('&');
                        text.push_str(other);
                        text.push(';');
                    }
                },
                Node::PiTarget(_) | Node::PiData(_) => {}
                Node::Element(_) if skip_elements => {}
                Node::Element(_) | Node::Placeholder { .. } => {
                    return Err(Fallback::new("an element inside text"));
                }
            }
            if text.len() > 8 << 20 {
                return Err(Fallback::new("a record too large"));
            }
        }
        Ok(())
    }

    /// Emits the nodes' text as one string field.
    fn text_leaf(&mut self, range: (usize, usize), skip_elements: bool) -> Outcome<()> {
        if range.1 == range.0 + 1 {
            if let Node::Text(text) = self.node(range.0) {
                return self.leaf(Value::Str(text.to_boxed()));
            }
        }
        self.stacks.text.clear();
        self.text_content(range, skip_elements)?;
        let text: Box<str> = Box::from(self.stacks.text.as_str());
        self.leaf(Value::Str(text))
    }

    /// Emits the nodes as a bare number when the crate writes them as one (the crate's
    /// `try_write_as_number`); `false` when it does not.
    fn try_number(&mut self, (start, end): (usize, usize), skip: bool) -> Outcome<bool> {
        let mut single: Option<Node<'c>> = None;
        for i in start..end {
            let node = self.node(i);
            match node {
                Node::Element(_) => {
                    if skip {
                        continue;
                    }
                    return Ok(false);
                }
                Node::Text(_) | Node::CData(_) => {
                    let empty = match node {
                        Node::Text(t) => t.is_empty(),
                        Node::CData(t) => t.is_empty(),
                        _ => true,
                    };
                    if skip {
                        if !empty {
                            return Ok(false);
                        }
                    } else if single.is_some() || !empty {
                        return Ok(false);
                    } else {
                        single = Some(node);
                    }
                }
                Node::Value(value) => {
                    if skip && value.is_optional_empty() {
                        continue;
                    }
                    if single.is_some() {
                        return Ok(false);
                    }
                    single = Some(node);
                }
                Node::CharRef(_) | Node::Entity(_) => return Ok(false),
                Node::PiTarget(_) | Node::PiData(_) => {
                    if !skip {
                        if single.is_some() {
                            return Ok(false);
                        }
                        single = Some(node);
                    }
                }
                Node::Placeholder { .. } => {
                    return Err(Fallback::new("an unresolved placeholder"));
                }
            }
        }
        if let Some(Node::Value(value)) = single {
            if let Some(bare) = value.bare() {
                self.leaf(bare)?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The crate's `content_as_json_value`: a bare number, or the text as a string.
    fn content_value(&mut self, range: (usize, usize), skip: bool) -> Outcome<()> {
        if self.try_number(range, skip)? {
            return Ok(());
        }
        self.text_leaf(range, skip)
    }

    /// The crate's `try_write_leaf_value`: an element whose only child is text or a value.
    fn try_leaf(&mut self, (start, end): (usize, usize), empty_as_string: bool) -> Outcome<bool> {
        if end != start + 1 {
            return Ok(false);
        }
        self.leaf_node(self.node(start), empty_as_string)
    }

    /// [`Renderer::try_leaf`] of one node.
    fn leaf_node(&mut self, node: Node<'c>, empty_as_string: bool) -> Outcome<bool> {
        let empty = || {
            if empty_as_string {
                Value::Str("".into())
            } else {
                Value::Null
            }
        };
        match node {
            Node::Text(text) => {
                if text.is_empty() {
                    self.leaf(empty())?;
                } else {
                    self.leaf(Value::Str(text.to_boxed()))?;
                }
                Ok(true)
            }
            Node::Value(value) => {
                if value.is_optional_empty() {
                    self.leaf(empty())?;
                } else if let Some(bare) = value.bare() {
                    self.leaf(bare)?;
                } else {
                    self.stacks.text.clear();
                    value.push_text(&mut self.stacks.text)?;
                    let text: Box<str> = Box::from(self.stacks.text.as_str());
                    self.leaf(Value::Str(text))?;
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The value of element `e` when its template gives it one substitution as its only
    /// child (and, unless `data`, no attribute): what [`Renderer::element_value_at`] (or,
    /// with `data`, [`Renderer::data_value_at`]) gives for it, without resolving it onto the
    /// stacks; `false` (nothing done) for any other element or value.
    fn single_value(&mut self, e: ERef, data: bool) -> Outcome<bool> {
        let templates = self.templates;
        let element = templates.elem(e.elem)?;
        let Some((id, optional)) = templates.single_placeholder(element) else {
            return Ok(false);
        };
        if e.item != ERef::WHOLE || (!data && templates.has_attrs(element)) {
            return Ok(false);
        }
        let content = self.content;
        let value = content.values(e.inst).get(usize::from(id));
        if let Some(Val::StrArray(items)) = value {
            self.sink.scan_array(items.byte_len())?;
        }
        let node = match value {
            None => None,
            Some(Val::Fragment(_)) => return Ok(false),
            Some(Val::StrArray(items)) if items.count() > 1 => return Ok(false),
            Some(value) if optional && value.is_optional_empty() => None,
            Some(&Val::Str(text)) => Some(Node::Text(Text::Utf16(text))),
            Some(&Val::Ansi(bytes)) => Some(Node::Text(Text::Ansi(bytes))),
            Some(&value) => Some(Node::Value(value)),
        };
        match node {
            Some(node) => self.leaf_node(node, data),
            None => {
                // No child: `null`, or `""` for a `Data` value.
                self.leaf(if data {
                    Value::Str("".into())
                } else {
                    Value::Null
                })?;
                Ok(true)
            }
        }
    }

    /// The crate's `write_element_value`: element `e`'s value at the current path.
    fn element_value(&mut self, e: ERef, container: bool) -> Outcome<()> {
        if self.single_value(e, false)? {
            return Ok(());
        }
        let mark = self.mark();
        let result = self.element_value_at(e, container);
        self.reset(mark);
        result
    }

    fn element_value_at(&mut self, e: ERef, container: bool) -> Outcome<()> {
        let children = self.children(e)?;
        let (first, end) = self.attrs(e)?;
        if first == end && self.try_leaf(children, false)? {
            return Ok(());
        }
        let (has_text, has_element) = self.layout(children);
        let has_attr_text = (first..end).any(|i| {
            self.stacks
                .attrs
                .get(i)
                .is_some_and(|a| self.has_content((a.start, a.end)))
        });
        if !has_element && !has_text && !has_attr_text {
            self.leaf(Value::Null)
        } else if !has_element && !has_attr_text {
            self.content_value(children, false)
        } else {
            self.body(e, children, Some((first, end)), container, has_text)
        }
    }

    /// The crate's `render_data_element_value`: a `Data` element's value (`""` when empty;
    /// its attributes are not written).
    fn data_value(&mut self, e: ERef) -> Outcome<()> {
        if self.single_value(e, true)? {
            return Ok(());
        }
        let mark = self.mark();
        let result = self.data_value_at(e);
        self.reset(mark);
        result
    }

    fn data_value_at(&mut self, e: ERef) -> Outcome<()> {
        let children = self.children(e)?;
        if self.try_leaf(children, true)? {
            return Ok(());
        }
        let (has_text, has_element) = self.layout(children);
        if !has_text && !has_element {
            self.leaf(Value::Str("".into()))
        } else if has_element {
            self.body(e, children, None, false, has_text)
        } else {
            self.content_value(children, false)
        }
    }

    /// Whether named-`Data` nodes `a` and `b` (ranges of the node stack or of `data_nodes`)
    /// are equal.
    fn same_nodes(a: &[Node<'_>], b: &[Node<'_>]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
    }

    /// The crate's `element_body`: an object of `e`'s attributes (unless `attrs` is `None`),
    /// its text and its child elements.
    fn body(
        &mut self,
        e: ERef,
        children: (usize, usize),
        attrs: Option<(usize, usize)>,
        in_data_container: bool,
        has_text: bool,
    ) -> Outcome<()> {
        if self.depth >= MAX_DEPTH {
            return Err(Fallback::new("elements nested too deeply"));
        }
        self.depth += 1;
        let before = self.sink.fields_len();
        let (start, end) = children;

        // One `Data` with a non-empty `Name` selects the named form.
        let mut named = false;
        if in_data_container {
            for i in start..end {
                let Node::Element(child) = self.node(i) else {
                    continue;
                };
                if !self.names.is(self.elem_name(child)?, NameKind::Data) {
                    continue;
                }
                let mark = self.mark();
                let name = self.data_name(child)?;
                let has = name.is_some_and(|range| self.has_content(range));
                self.reset(mark);
                if has {
                    named = true;
                    break;
                }
            }
        }

        if let Some((first, last)) = attrs {
            let any = (first..last).any(|i| {
                self.stacks
                    .attrs
                    .get(i)
                    .is_some_and(|a| self.has_content((a.start, a.end)))
            });
            if any {
                let key = self.push_key(Some(KeyCode::Attributes), "#attributes", 0);
                for i in first..last {
                    let Some(attr) = self.stacks.attrs.get(i).copied() else {
                        break;
                    };
                    let range = (attr.start, attr.end);
                    if !self.has_content(range) {
                        continue;
                    }
                    let name = self.names.text(attr.name);
                    let templates = self.templates;
                    let memo = templates
                        .attrs(templates.elem(attr.elem.elem)?)
                        .get(attr.index as usize);
                    let at = match memo {
                        Some(memo) => {
                            self.push_key_memo(&memo.memo, KeyCode::Name(attr.name), name, 0)
                        }
                        None => self.push_key(Some(KeyCode::Name(attr.name)), name, 0),
                    };
                    if !self.try_number(range, false)? {
                        self.text_leaf(range, false)?;
                    }
                    self.pop_key(at);
                }
                self.pop_key(key);
            }
        }

        if has_text {
            let key = self.push_key(Some(KeyCode::Text), "#text", 0);
            self.content_value(children, true)?;
            self.pop_key(key);
        }

        let positional = if in_data_container && !named {
            let mut count = 0usize;
            for i in start..end {
                if let Node::Element(child) = self.node(i) {
                    if self.names.is(self.elem_name(child)?, NameKind::Data) {
                        count += 1;
                    }
                }
            }
            count
        } else {
            0
        };
        let mut positional_done = false;
        // Copies of an element repeat its `Data` name.
        let copies = (start..end)
            .any(|i| matches!(self.node(i), Node::Element(child) if child.item != ERef::WHOLE));
        let element = self.elem(e)?;
        let distinct = element.distinct_data_names && !copies;
        // Children whose names never repeat are never numbered.
        let unique_members = element.distinct_child_names && !copies;
        let names_mark = self.stacks.element_names.len();
        let data_mark = (self.stacks.data_names.len(), self.stacks.data_nodes.len());
        let mut skip = 0usize;

        for i in start..end {
            let Node::Element(child) = self.node(i) else {
                continue;
            };
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let child_name = self.elem_name(child)?;
            let child_text = self.names.text(child_name);
            if in_data_container && self.names.is(child_name, NameKind::Data) {
                if named {
                    self.named_data(child, i, end, &mut skip, data_mark, distinct)?;
                    continue;
                }
                if positional_done || positional == 0 {
                    continue;
                }
                positional_done = true;
                let key = self.push_key(Some(KeyCode::Data), "Data", 0);
                let text_key = self.push_key(Some(KeyCode::Text), "#text", 0);
                if positional == 1 {
                    self.data_value(child)?;
                } else {
                    for j in start..end {
                        let Node::Element(other) = self.node(j) else {
                            continue;
                        };
                        if self.names.is(self.elem_name(other)?, NameKind::Data) {
                            self.data_value(other)?;
                        }
                    }
                }
                self.pop_key(text_key);
                self.pop_key(key);
                continue;
            }
            // An ordinary member, numbered when its name repeats.
            let names = self.names;
            let suffix = if unique_members {
                0
            } else {
                let seen = self
                    .stacks
                    .element_names
                    .get_mut(names_mark..)
                    .unwrap_or_default()
                    .iter_mut()
                    .find(|(id, _)| names.same(*id, child_name));
                match seen {
                    Some((_, count)) => {
                        *count += 1;
                        *count - 1
                    }
                    None => {
                        self.stacks.element_names.push((child_name, 1));
                        0
                    }
                }
            };
            let memo = &self.elem(child)?.memo;
            let key = self.push_key_memo(memo, KeyCode::Name(child_name), child_text, suffix);
            let container = self.names.is(child_name, NameKind::Container);
            self.element_value(child, container)?;
            self.pop_key(key);
        }
        self.stacks.element_names.truncate(names_mark);
        self.stacks.data_names.truncate(data_mark.0);
        self.stacks.data_nodes.truncate(data_mark.1);

        if self.sink.fields_len() == before {
            // `{}`: the flattener keeps the field, as null.
            self.leaf(Value::Null)?;
        }
        self.depth -= 1;
        Ok(())
    }

    /// A named `Data` child at node `i` of a data container whose children end at `end`:
    /// its name (numbered when it repeats) and its value, or with the `Data` elements right
    /// after it that share its name, all their values.
    fn named_data(
        &mut self,
        child: ERef,
        i: usize,
        end: usize,
        skip: &mut usize,
        data_mark: (usize, usize),
        distinct: bool,
    ) -> Outcome<()> {
        let mark = self.mark();
        let Some(name) = self.data_name(child)? else {
            self.reset(mark);
            return Ok(());
        };
        if !self.has_content(name) {
            self.reset(mark);
            return Ok(());
        }
        // The run of `Data` elements right after it with the same name.
        let mut run = 1usize;
        for j in (i + 1..end).take_while(|_| !distinct) {
            let Node::Element(other) = self.node(j) else {
                continue;
            };
            if !self.names.is(self.elem_name(other)?, NameKind::Data) {
                break;
            }
            let inner = self.mark();
            let other_name = self.data_name(other)?;
            let same = other_name.is_some_and(|(s, e)| {
                let nodes = &self.stacks.nodes;
                Self::same_nodes(
                    nodes.get(s..e).unwrap_or_default(),
                    nodes.get(name.0..name.1).unwrap_or_default(),
                )
            });
            self.reset(inner);
            if !same {
                break;
            }
            run += 1;
        }
        *skip = run - 1;

        // Its number among the names of this container.
        let suffix = if distinct {
            0
        } else {
            let stacks = &mut *self.stacks;
            let name_nodes = stacks.nodes.get(name.0..name.1).unwrap_or_default();
            let data_nodes = &stacks.data_nodes;
            let seen = stacks
                .data_names
                .get_mut(data_mark.0..)
                .unwrap_or_default()
                .iter_mut()
                .find(|(s, e, _)| {
                    Self::same_nodes(data_nodes.get(*s..*e).unwrap_or_default(), name_nodes)
                });
            match seen {
                Some((_, _, count)) => {
                    *count += 1;
                    *count - 1
                }
                None => {
                    let s = stacks.data_nodes.len();
                    stacks.data_nodes.extend_from_slice(name_nodes);
                    let e = stacks.data_nodes.len();
                    stacks.data_names.push((s, e, 1));
                    0
                }
            }
        };

        // A name that is one window of the chunk is known by it after its first time.
        let code = match (name.1 == name.0 + 1, self.node(name.0)) {
            (true, Node::Text(Text::Utf16(window))) if !window.is_empty() => Some(KeyCode::Window(
                window.bytes.as_ptr() as usize,
                window.units,
            )),
            _ => None,
        };
        let key = self.sink.current;
        let memo = &self.elem(child)?.memo;
        let path = match code.and_then(|code| self.sink.known_child(memo, key, code, suffix)) {
            Some(path) => path,
            None => {
                self.stacks.text.clear();
                self.text_content(name, false)?;
                match code {
                    Some(code) => self
                        .sink
                        .child_memo(memo, key, code, &self.stacks.text, suffix),
                    None => self.sink.child(key, None, &self.stacks.text, suffix),
                }
            }
        };
        self.reset(mark);
        self.sink.current = path;
        self.data_value(child)?;
        let mut left = run - 1;
        for j in i + 1..end {
            if left == 0 {
                break;
            }
            if let Node::Element(other) = self.node(j) {
                self.data_value(other)?;
                left -= 1;
            }
        }
        self.pop_key(key);
        Ok(())
    }
}
