//! Processing spans in their wire bytes: what the `resource`, `attributes` and `filter`
//! processors do to a raw traces payload ([`crate::pdata`]) without decoding it.
//!
//! Decoding every span into owned strings and attribute vectors, changing a few
//! attributes and encoding it all again cost about three times the CPU of receiving and
//! exporting the spans (`benches/loadgen.rs`, scenario `processors`: 358k spans per
//! CPU-second against 1.68M pass-through). Instead, [`rewrite`] copies the request into a
//! new buffer one field at a time, using the wire walker's field reader
//! ([`crate::pdata::wire`]): a span nothing changes is copied whole, a dropped one is
//! skipped, a changed one is written from its untouched fields' bytes plus the attributes
//! that changed, encoded by prost. Only what a processor reads is decoded: a resource and
//! a scope once per request (prost, merged as prost merges repeated occurrences of a
//! message field), the key of each span attribute, and the value of an attribute an
//! action or condition reads.
//!
//! The rule kept: **the output decodes to exactly what decoding the input, changing it
//! and encoding it gives** (property tests beside each processor check it on random
//! requests). The output need not be the same bytes: fields may keep a non-canonical
//! order or unknown fields the decoded path would drop, which decoders ignore. Attributes
//! are written where the first one was, in their decoded order, so a request in field
//! order stays in field order.

use std::borrow::Cow;
use std::ops::Range;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prost::Message as _;

use crate::consumer::ConsumeError;
use crate::pdata::Counts;
use crate::pdata::wire::{self, ITEMS_FIELD, LEN, RESOURCES_FIELD, RawField, SCOPES_FIELD};
use crate::processors::attrs::{AttrList, kv};

/// What happens to one span (or log record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemEdit {
    /// Copied as it is.
    Keep,
    /// Left out.
    Drop,
    /// The editor wrote its new encoding (the message body, without key and length).
    Rewritten,
}

/// What a processor does to a raw request, level by level.
pub(crate) trait Editor<'b> {
    /// What the editor keeps of a resource while it looks at its spans.
    type Resource;
    /// What the editor keeps of a scope while it looks at its spans.
    type Scope;
    /// Whether [`Editor::item`] is called; when not, scopes are copied whole.
    const VISITS_ITEMS: bool;
    /// Whether a scope left with no items is removed, and a resource left with no scopes
    /// (otelcol's filter processor does both).
    const DROPS_EMPTY: bool;

    /// Called once per resource with the value ranges of its `resource` field's
    /// occurrences (usually one, none when absent); returns a new encoding of the
    /// resource message to write instead of them, if any, and what the editor keeps.
    fn resource(
        &mut self,
        buf: &[u8],
        occurrences: &[Range<usize>],
    ) -> Result<(Option<Vec<u8>>, Self::Resource), ConsumeError>;

    /// Called once per scope with the value ranges of its `scope` field's occurrences.
    fn scope(&mut self, buf: &[u8], occurrences: &[Range<usize>]) -> Result<Self::Scope, ConsumeError>;

    /// Called per item with its encoding (the message body); writes a new body to `out`
    /// when it returns [`ItemEdit::Rewritten`].
    fn item(
        &mut self,
        resource: &Self::Resource,
        scope: &Self::Scope,
        item: &'b [u8],
        out: &mut Vec<u8>,
    ) -> Result<ItemEdit, ConsumeError>;
}

/// The fields of a message in bytes the receiver validated, read without the walker's
/// checks and error detail (the walker's [`wire::fields`] costs about 135 instructions a
/// field, this reader about 20; spans are read field by field up to three times per
/// processor). Bytes that do not read stop the iteration and mark it
/// [failed](Fields::check); groups, which no OTLP encoder writes, go through the walker.
#[derive(Clone)]
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
    failed: bool,
}

impl<'a> Fields<'a> {
    /// The fields of the message in `range` of `buf`.
    pub(crate) fn new(buf: &'a [u8], range: Range<usize>) -> Self {
        let end = range.end.min(buf.len());
        Fields {
            buf,
            pos: range.start.min(end),
            end,
            failed: false,
        }
    }

    /// An error if the iteration stopped at bytes that do not read.
    pub(crate) fn check(&self) -> Result<(), ConsumeError> {
        if self.failed {
            Err(ConsumeError::Permanent(format!(
                "a validated request no longer reads at byte {}",
                self.pos
            )))
        } else {
            Ok(())
        }
    }

    #[inline(always)]
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            if self.pos >= self.end {
                return None;
            }
            let b = self.buf[self.pos];
            self.pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(value);
            }
        }
        None
    }

    #[inline(always)]
    fn skip(&mut self, n: u64) -> Option<()> {
        if n > (self.end - self.pos) as u64 {
            return None;
        }
        self.pos += n as usize;
        Some(())
    }

    #[inline(always)]
    fn read(&mut self) -> Option<RawField> {
        let start = self.pos;
        let key = self.varint().filter(|k| *k <= u64::from(u32::MAX))?;
        let (tag, wire) = ((key >> 3) as u32, (key & 7) as u8);
        let value = match wire {
            wire::VARINT => {
                let at = self.pos;
                self.varint()?;
                at..self.pos
            }
            wire::I64 => {
                self.skip(8)?;
                self.pos - 8..self.pos
            }
            wire::I32 => {
                self.skip(4)?;
                self.pos - 4..self.pos
            }
            LEN => {
                let len = self.varint()?;
                self.skip(len)?;
                self.pos - len as usize..self.pos
            }
            _ => {
                let field = wire::fields(self.buf, start..self.end).next()?.ok()?;
                self.pos = field.whole.end;
                return Some(field);
            }
        };
        Some(RawField {
            tag,
            wire,
            whole: start..self.pos,
            value,
        })
    }
}

impl Iterator for Fields<'_> {
    type Item = RawField;

    #[inline]
    fn next(&mut self) -> Option<RawField> {
        if self.pos >= self.end || self.failed {
            return None;
        }
        let at = self.pos;
        let field = self.read();
        if field.is_none() {
            self.failed = true;
            self.pos = at;
        }
        field
    }
}

/// The reader's error on bytes the receiver validated: a bug, refused as permanent
/// (see [`crate::processors::decode`]).
fn invalid(err: wire::WireError) -> ConsumeError {
    ConsumeError::Permanent(format!("a validated request no longer reads: {err}"))
}

/// The fields of the message in `range` of `buf`.
fn each_field(buf: &[u8], range: Range<usize>) -> impl Iterator<Item = Result<RawField, ConsumeError>> + '_ {
    wire::fields(buf, range).map(|f| f.map_err(invalid))
}

/// The value ranges of the length-delimited occurrences of field `tag` in `range`.
fn occurrences(
    buf: &[u8],
    range: Range<usize>,
    tag: u32,
    into: &mut Vec<Range<usize>>,
) -> Result<(), ConsumeError> {
    into.clear();
    for field in each_field(buf, range) {
        let field = field?;
        if field.tag == tag && field.wire == LEN {
            into.push(field.value);
        }
    }
    Ok(())
}

/// Rewrites the validated request `buf` (of `counts`) with `editor`; returns the new
/// encoding and its counts.
pub(crate) fn rewrite<'b, E: Editor<'b>>(
    buf: &'b [u8],
    counts: Counts,
    editor: &mut E,
) -> Result<(Vec<u8>, Counts), ConsumeError> {
    let mut out = Vec::with_capacity(buf.len() + buf.len() / 4);
    let mut written = Counts::default();
    let mut found = Vec::new();
    for field in each_field(buf, 0..buf.len()) {
        let field = field?;
        if field.tag != RESOURCES_FIELD || field.wire != LEN {
            out.extend_from_slice(&buf[field.whole]);
            continue;
        }
        let start = out.len();
        let open = Open::new(&mut out, RESOURCES_FIELD, field.value.len());
        occurrences(buf, field.value.clone(), 1, &mut found)?;
        let (replacement, resource) = editor.resource(buf, &found)?;
        if let Some(encoded) = &replacement {
            wire::put_len_prefix(&mut out, 1, encoded.len());
            out.extend_from_slice(encoded);
        }
        let mut scopes = 0;
        for field in each_field(buf, field.value) {
            let field = field?;
            match field.tag {
                1 if replacement.is_some() && field.wire == LEN => {}
                SCOPES_FIELD if E::VISITS_ITEMS && field.wire == LEN => {
                    let items = scope(buf, field.value, &resource, editor, &mut out, &mut found)?;
                    if items > 0 || !E::DROPS_EMPTY {
                        scopes += 1;
                        written.items += items;
                    }
                }
                _ => out.extend_from_slice(&buf[field.whole]),
            }
        }
        if E::VISITS_ITEMS && E::DROPS_EMPTY && scopes == 0 {
            out.truncate(start);
        } else {
            open.close(&mut out);
            written.resources += 1;
        }
    }
    // Without a visit of the items, their number is the input's.
    if !E::VISITS_ITEMS {
        written.items = counts.items;
    }
    Ok((out, written))
}

/// Writes one scope (key, length and body) to `out`; returns its items. A scope left
/// empty is taken out again when the editor drops empty scopes.
fn scope<'b, E: Editor<'b>>(
    buf: &'b [u8],
    range: Range<usize>,
    resource: &E::Resource,
    editor: &mut E,
    out: &mut Vec<u8>,
    found: &mut Vec<Range<usize>>,
) -> Result<usize, ConsumeError> {
    let start = out.len();
    let open = Open::new(out, SCOPES_FIELD, range.len());
    occurrences(buf, range.clone(), 1, found)?;
    let scope = editor.scope(buf, found)?;
    let mut items = 0;
    let mut fields = Fields::new(buf, range);
    for field in fields.by_ref() {
        if field.tag != ITEMS_FIELD || field.wire != LEN {
            out.extend_from_slice(&buf[field.whole]);
            continue;
        }
        let item_start = out.len();
        let item = Open::new(out, ITEMS_FIELD, field.value.len());
        match editor.item(resource, &scope, &buf[field.value], out)? {
            ItemEdit::Keep => {
                out.truncate(item_start);
                out.extend_from_slice(&buf[field.whole]);
                items += 1;
            }
            ItemEdit::Drop => out.truncate(item_start),
            ItemEdit::Rewritten => {
                item.close(out);
                items += 1;
            }
        }
    }
    fields.check()?;
    if items == 0 && E::DROPS_EMPTY {
        out.truncate(start);
    } else {
        open.close(out);
    }
    Ok(items)
}

/// A length-delimited field being written: its key is out, its length is written when
/// it is closed. Room for the length is reserved for the size the field had in the input
/// (its new length usually needs as many bytes); the body moves only when it does not.
struct Open {
    /// Where the length goes.
    at: usize,
    /// The bytes reserved for it.
    reserved: usize,
}

impl Open {
    fn new(out: &mut Vec<u8>, tag: u32, guess: usize) -> Open {
        wire::put_varint(out, u64::from((tag << 3) | u32::from(LEN)));
        let at = out.len();
        let reserved = wire::varint_len(guess as u64);
        out.resize(at + reserved, 0);
        Open { at, reserved }
    }

    fn close(self, out: &mut Vec<u8>) {
        let body = self.at + self.reserved;
        let len = out.len() - body;
        let mut prefix = Vec::with_capacity(10);
        wire::put_varint(&mut prefix, len as u64);
        if prefix.len() == self.reserved {
            out[self.at..body].copy_from_slice(&prefix);
        } else {
            out.splice(self.at..body, prefix);
        }
    }
}

/// Reads a varint value from the bytes of a validated varint field.
pub(crate) fn varint(bytes: &[u8]) -> u64 {
    let mut value = 0u64;
    for (i, b) in bytes.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
    }
    value
}

/// Reads a fixed 64-bit value (little-endian); 0 when the field is not 8 bytes.
pub(crate) fn fixed64(bytes: &[u8]) -> u64 {
    bytes.try_into().map_or(0, u64::from_le_bytes)
}

/// Text the walker validated as UTF-8.
pub(crate) fn text(bytes: &[u8]) -> &str {
    // Validated by the receiver's walk; an empty string if not is the safe reading.
    std::str::from_utf8(bytes).unwrap_or_default()
}

/// One message's fields, read as prost reads them: scalars and strings by their last
/// occurrence, nested messages by all of theirs (merged).
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    buf: &'a [u8],
}

impl<'a> View<'a> {
    /// The message encoded in `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        View { buf }
    }

    /// The fields, in order; stops at the first unreadable one (none in validated bytes).
    pub(crate) fn fields(self) -> impl Iterator<Item = RawField> + 'a {
        Fields::new(self.buf, 0..self.buf.len())
    }

    /// The bytes of a field's value.
    pub(crate) fn bytes(self, field: &RawField) -> &'a [u8] {
        &self.buf[field.value.clone()]
    }

    /// The value of the last occurrence of field `tag`.
    pub(crate) fn last(self, tag: u32) -> Option<&'a [u8]> {
        self.fields()
            .filter(|f| f.tag == tag)
            .last()
            .map(|f| self.bytes(&f))
    }

    /// A string field (empty when absent).
    pub(crate) fn string(self, tag: u32) -> &'a str {
        self.last(tag).map_or("", text)
    }

    /// A varint field (0 when absent).
    pub(crate) fn varint(self, tag: u32) -> u64 {
        self.last(tag).map_or(0, varint)
    }

    /// A fixed 64-bit field (0 when absent).
    pub(crate) fn fixed64(self, tag: u32) -> u64 {
        self.last(tag).map_or(0, fixed64)
    }

    /// The occurrences of a message field, to read as one merged message.
    pub(crate) fn messages(self, tag: u32) -> impl Iterator<Item = View<'a>> + 'a {
        self.fields()
            .filter(move |f| f.tag == tag && f.wire == LEN)
            .map(move |f| View::new(self.bytes(&f)))
    }
}

/// A scalar attribute value read from its encoding, as the filter's conditions see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scalar<'a> {
    /// No value, or a value with no field set.
    None,
    /// `string_value`.
    Str(&'a str),
    /// `bool_value`.
    Bool(bool),
    /// `int_value`.
    Int(i64),
    /// `double_value`.
    Double(f64),
    /// An array, a map, bytes or a string-table index.
    Other,
}

/// The value of an encoded `KeyValue`: its `value` occurrences merged (prost merges them
/// into one `AnyValue`), where the last field of the `value` oneof wins.
pub(crate) fn scalar(key_value: View<'_>) -> Scalar<'_> {
    let mut last = None;
    for value in key_value.messages(2) {
        for field in value.fields() {
            if (1..=8).contains(&field.tag) {
                last = Some((field.tag, value.bytes(&field)));
            }
        }
    }
    match last {
        None => Scalar::None,
        Some((1, b)) => Scalar::Str(text(b)),
        Some((2, b)) => Scalar::Bool(varint(b) != 0),
        Some((3, b)) => Scalar::Int(varint(b) as i64),
        Some((4, b)) => Scalar::Double(f64::from_bits(fixed64(b))),
        Some(_) => Scalar::Other,
    }
}

/// The key of an encoded `KeyValue`, as bytes.
fn key(key_value: View<'_>) -> &[u8] {
    key_value.last(1).unwrap_or_default()
}

/// The first attribute named `name` among the `KeyValue` occurrences of field `tag`.
pub(crate) fn attribute<'a>(message: View<'a>, tag: u32, name: &str) -> Option<View<'a>> {
    message.messages(tag).find(|kv| key(*kv) == name.as_bytes())
}

/// One attribute of a [`RawAttrs`] list.
#[derive(Debug, Clone)]
enum Entry<'b> {
    /// Still its encoding in the span: the whole field, its value, and the key.
    Wire {
        whole: Range<usize>,
        value: Range<usize>,
        key: &'b str,
    },
    /// Changed or added.
    Owned(KeyValue),
}

/// The attributes (field `tag`) of one encoded message as an [`AttrList`]: keys are read
/// from the bytes, values decoded only when an action reads or changes them.
pub(crate) struct RawAttrs<'s, 'b> {
    buf: &'b [u8],
    tag: u32,
    entries: &'s mut Vec<Entry<'b>>,
    changed: bool,
}

/// Reusable room for [`RawAttrs`] lists, so a span's attributes cost no allocation.
#[derive(Debug, Default)]
pub(crate) struct AttrsScratch<'b>(Vec<Entry<'b>>);

impl<'s, 'b> RawAttrs<'s, 'b> {
    /// The attributes in field `tag` of the message encoded in `buf`.
    pub(crate) fn read(buf: &'b [u8], tag: u32, scratch: &'s mut AttrsScratch<'b>) -> Self {
        let entries = &mut scratch.0;
        entries.clear();
        for field in View::new(buf).fields() {
            if field.tag == tag && field.wire == LEN {
                let mut key = "";
                for inner in Fields::new(buf, field.value.clone()) {
                    if inner.tag == 1 && inner.wire == LEN {
                        key = text(&buf[inner.value]);
                    }
                }
                entries.push(Entry::Wire {
                    whole: field.whole,
                    value: field.value,
                    key,
                });
            }
        }
        RawAttrs {
            buf,
            tag,
            entries,
            changed: false,
        }
    }

    /// Whether an action changed the list.
    pub(crate) fn changed(&self) -> bool {
        self.changed
    }

    /// The decoded attribute `i`.
    fn decoded(&self, i: usize) -> Option<KeyValue> {
        match &self.entries[i] {
            // Validated bytes decode; `None` (no change) is the safe reading if not.
            Entry::Wire { value, .. } => KeyValue::decode(&self.buf[value.clone()]).ok(),
            Entry::Owned(kv) => Some(kv.clone()),
        }
    }

    /// Writes the message with the list in place of its attributes: every other field
    /// as it was, the attributes where the first one was (or before the first field
    /// numbered after them, or at the end), in the list's order.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        let mut pending = true;
        for field in View::new(self.buf).fields() {
            if pending && field.tag >= self.tag {
                self.write_entries(out);
                pending = false;
            }
            if field.tag != self.tag || field.wire != LEN {
                out.extend_from_slice(&self.buf[field.whole]);
            }
        }
        if pending {
            self.write_entries(out);
        }
    }

    fn write_entries(&self, out: &mut Vec<u8>) {
        for entry in self.entries.iter() {
            match entry {
                Entry::Wire { whole, .. } => out.extend_from_slice(&self.buf[whole.clone()]),
                Entry::Owned(kv) => {
                    wire::put_len_prefix(out, self.tag, kv.encoded_len());
                    kv.encode_raw(out);
                }
            }
        }
    }
}

impl AttrList for RawAttrs<'_, '_> {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn key(&self, i: usize) -> &str {
        match &self.entries[i] {
            Entry::Wire { key, .. } => key,
            Entry::Owned(kv) => &kv.key,
        }
    }

    fn value(&self, i: usize) -> Option<Cow<'_, AnyValue>> {
        match &self.entries[i] {
            Entry::Wire { .. } => self.decoded(i).and_then(|kv| kv.value).map(Cow::Owned),
            Entry::Owned(kv) => kv.value.as_ref().map(Cow::Borrowed),
        }
    }

    fn set_value(&mut self, i: usize, value: AnyValue) {
        // The rest of the pair (its key, `key_strindex`) stays as decoded.
        if let Some(mut kv) = self.decoded(i) {
            kv.value = Some(value);
            self.entries[i] = Entry::Owned(kv);
            self.changed = true;
        }
    }

    fn push(&mut self, key: &str, value: AnyValue) {
        self.entries.push(Entry::Owned(kv(key, value)));
        self.changed = true;
    }

    fn retain_keys(&mut self, keep: &mut dyn FnMut(&str) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|entry| match entry {
            Entry::Wire { key, .. } => keep(key),
            Entry::Owned(kv) => keep(&kv.key),
        });
        self.changed |= self.entries.len() != before;
    }
}

/// A message merged from the occurrences of a message field, as prost decodes it; `None`
/// when the field is absent.
pub(crate) fn merged<M: prost::Message + Default>(
    buf: &[u8],
    occurrences: &[Range<usize>],
) -> Result<Option<M>, ConsumeError> {
    if occurrences.is_empty() {
        return Ok(None);
    }
    let mut message = M::default();
    for range in occurrences {
        message.merge(&buf[range.clone()]).map_err(|err| {
            ConsumeError::Permanent(format!("a validated request no longer decodes: {err}"))
        })?;
    }
    Ok(Some(message))
}

#[cfg(test)]
mod tests;
