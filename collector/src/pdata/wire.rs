//! A protobuf wire walker for OTLP export requests: validates an encoded
//! `ExportTraceServiceRequest` or `ExportLogsServiceRequest` the way prost would while
//! decoding it, and counts its resources and items, without allocating.
//!
//! The rule the walker keeps: **if it accepts bytes, prost decodes them without error, and
//! the counts agree**. It may be stricter than prost, never looser. To keep that rule it
//! checks what prost checks at every nesting level of every known message:
//!
//! - keys: a varint of at most 32 bits, wire type 0–5, field number not 0 (prost's
//!   `decode_key`);
//! - varints: at most 10 bytes, the 10th at most 1 (no 64-bit overflow), as prost's
//!   `decode_varint` (itself following protobuf-go's `ConsumeVarint`);
//! - the wire type of every known field (prost's `check_wire_type`);
//! - lengths within the enclosing message: prost reads nested messages from the parent's
//!   buffer with a limit and fails with "delimited length exceeded" or "buffer underflow"
//!   when a field crosses it, so it accepts exactly when every field ends inside its
//!   message, which is what reading each message as a bounded range checks;
//! - UTF-8 of `string` fields (proto3 `string` must be valid UTF-8; prost checks it);
//! - prost's recursion limit of 100 nested messages (`RECURSION_LIMIT`), counted the way
//!   its `DecodeContext` counts, including while skipping groups;
//! - unknown fields skipped by wire type, groups included, as prost's `skip_field`.
//!
//! The field tables below mirror the messages `opentelemetry-proto` generates (OTLP
//! 1.9: `AnyValue.string_value_strindex`, `KeyValue.key_strindex`,
//! `Resource.entity_refs`), so a field prost decodes is never skipped unchecked here.
//!
//! The same reader, [`fields`], lists the top-level fields of a message, which the batch
//! processor uses to cut requests at item granularity.

mod fast;

use std::fmt;
use std::ops::Range;

/// What the walker counted in a valid request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `ResourceSpans` (or `ResourceLogs`) entries.
    pub resources: usize,
    /// Spans (or log records).
    pub items: usize,
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, other: Counts) -> Counts {
        Counts {
            resources: self.resources + other.resources,
            items: self.items + other.items,
        }
    }
}

/// The lengths of trace and span ids.
const TRACE_ID: usize = super::ids::TRACE_ID_LEN;
const SPAN_ID: usize = super::ids::SPAN_ID_LEN;

/// prost's `RECURSION_LIMIT`: how many messages deep a decode may nest.
const RECURSION_LIMIT: u32 = 100;

/// Protobuf wire types (protobuf encoding guide, "Message Structure").
pub(crate) const VARINT: u8 = 0;
pub(crate) const I64: u8 = 1;
pub(crate) const LEN: u8 = 2;
const SGROUP: u8 = 3;
const EGROUP: u8 = 4;
pub(crate) const I32: u8 = 5;

fn wire_type_name(wire_type: u8) -> &'static str {
    match wire_type {
        VARINT => "varint",
        I64 => "64-bit",
        LEN => "length-delimited",
        SGROUP => "start-group",
        EGROUP => "end-group",
        I32 => "32-bit",
        _ => "invalid",
    }
}

/// Why bytes are not a valid request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireReason {
    /// A varint longer than 10 bytes, overflowing 64 bits, or cut off by the end of its
    /// message.
    InvalidVarint,
    /// A field key over 32 bits.
    InvalidKey(u64),
    /// A wire type of 6 or 7.
    InvalidWireType(u8),
    /// Field number 0.
    TagZero,
    /// A known field sent with another wire type than its declared type uses.
    WrongWireType {
        /// The wire type found.
        actual: u8,
        /// The wire type of the field's declared type.
        expected: u8,
    },
    /// A length or fixed-size value that runs past the end of its enclosing message.
    PastEnd {
        /// The bytes the value needs.
        needed: u64,
        /// The bytes left in the enclosing message.
        left: usize,
    },
    /// A `string` field that is not valid UTF-8.
    InvalidUtf8,
    /// An end-group key without its start, or closing another group.
    UnexpectedEndGroup,
    /// Messages (or groups) nested deeper than prost's recursion limit.
    RecursionLimit,
    /// A trace or span id that is neither empty nor of its fixed length (16 or 8 bytes).
    /// prost takes any length; the OTel Collector's pdata refuses it, and so do we.
    IdLength {
        /// The length the id must have (or 0).
        expected: usize,
        /// The length it has.
        actual: usize,
    },
}

impl fmt::Display for WireReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireReason::InvalidVarint => {
                f.write_str("invalid varint (over 10 bytes, over 64 bits, or cut off)")
            }
            WireReason::InvalidKey(key) => write!(f, "field key {key} does not fit 32 bits"),
            WireReason::InvalidWireType(wire) => write!(f, "invalid wire type {wire}"),
            WireReason::TagZero => f.write_str("field number 0 is not allowed"),
            WireReason::WrongWireType { actual, expected } => write!(
                f,
                "wire type {} ({}) where the field's type needs {} ({})",
                actual,
                wire_type_name(*actual),
                expected,
                wire_type_name(*expected)
            ),
            WireReason::PastEnd { needed, left } => write!(
                f,
                "value of {needed} bytes runs past the end of its message ({left} bytes left)"
            ),
            WireReason::InvalidUtf8 => f.write_str("invalid UTF-8"),
            WireReason::UnexpectedEndGroup => f.write_str("unexpected end-group tag"),
            WireReason::RecursionLimit => write!(
                f,
                "messages nested more than {RECURSION_LIMIT} deep (the decoder's recursion limit)"
            ),
            WireReason::IdLength { expected, actual } => write!(
                f,
                "{} must be {expected} bytes or empty, not {actual} bytes",
                if *expected == super::ids::TRACE_ID_LEN {
                    "a trace id"
                } else {
                    "a span id"
                }
            ),
        }
    }
}

/// Which item of the request tree an error is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Locator {
    /// The `resource`-th `ResourceSpans`.
    Resource { resource: usize },
    /// The `scope`-th `ScopeSpans` of a resource.
    Scope { resource: usize, scope: usize },
    /// A span: `index` within its scope, `global` within the request.
    Item {
        resource: usize,
        scope: usize,
        index: usize,
        global: usize,
    },
}

/// A request the walker rejected: where (byte offset, the item, the field path) and why.
///
/// Displayed as, for example, `span 12: field 5 (name) at byte 3171: invalid UTF-8`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct WireError {
    offset: usize,
    reason: WireReason,
    shape: &'static Shape,
    locator: Option<Locator>,
    /// Fields from the innermost outwards, up to (not including) the locator's level.
    frames: Vec<(u32, &'static str)>,
}

impl WireError {
    fn new(offset: usize, reason: WireReason) -> Box<WireError> {
        Box::new(WireError {
            offset,
            reason,
            shape: &TRACES,
            locator: None,
            frames: Vec::new(),
        })
    }

    /// The byte offset in the request where the problem is.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Why the bytes were rejected.
    pub fn reason(&self) -> &WireReason {
        &self.reason
    }

    /// The field path in the OTLP/JSON style of the receivers' errors, such as
    /// `resourceSpans[0].scopeSpans[1].spans[12].name` in proto field names:
    /// `resource_spans[0].scope_spans[1].spans[12].name`.
    pub fn field_path(&self) -> String {
        let s = self.shape;
        let mut path = match self.locator {
            None => String::new(),
            Some(Locator::Resource { resource }) => format!("{}[{resource}]", s.resource_field),
            Some(Locator::Scope { resource, scope }) => {
                format!("{}[{resource}].{}[{scope}]", s.resource_field, s.scope_field)
            }
            Some(Locator::Item {
                resource,
                scope,
                index,
                ..
            }) => format!(
                "{}[{resource}].{}[{scope}].{}[{index}]",
                s.resource_field, s.scope_field, s.item_field
            ),
        };
        for (_, name) in self.frames.iter().rev() {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(name);
        }
        path
    }

    /// Adds the field the error happened in, unless an enclosing item is already named.
    fn within(mut self: Box<Self>, tag: u32, name: &'static str) -> Box<Self> {
        if self.locator.is_none() {
            self.frames.push((tag, name));
        }
        self
    }

    fn at(mut self: Box<Self>, locator: Locator) -> Box<Self> {
        if self.locator.is_none() {
            self.locator = Some(locator);
        }
        self
    }

    fn shaped(mut self: Box<Self>, shape: &'static Shape) -> Box<Self> {
        self.shape = shape;
        self
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.shape;
        match self.locator {
            None => f.write_str("request")?,
            Some(Locator::Resource { resource }) => write!(f, "{} {resource}", s.resource_field)?,
            Some(Locator::Scope { resource, scope }) => {
                write!(f, "{} {scope} of {} {resource}", s.scope_field, s.resource_field)?
            }
            Some(Locator::Item { global, .. }) => write!(f, "{} {global}", s.item_noun)?,
        }
        for (i, (tag, name)) in self.frames.iter().rev().enumerate() {
            let sep = if i == 0 { ": " } else { " > " };
            write!(f, "{sep}field {tag} ({name})")?;
        }
        write!(f, " at byte {}: {}", self.offset, self.reason)
    }
}

type Walk<T> = Result<T, Box<WireError>>;

/// The declared type of a field, as far as decoding checks it. (No `Debug`: the message
/// tables are cyclic, AnyValue → ArrayValue → AnyValue.)
#[derive(Clone, Copy)]
enum Kind {
    /// Not a field of this message: skipped by wire type.
    Unknown,
    /// int32, int64, uint32, bool, enum.
    Varint,
    /// fixed32.
    Fixed32,
    /// fixed64, double.
    Fixed64,
    /// bytes.
    Bytes,
    /// A trace (16) or span (8) id: bytes of exactly this length, or none.
    Id(usize),
    /// string (UTF-8 checked).
    Str,
    /// A nested message.
    Message(&'static Message),
}

struct Field {
    name: &'static str,
    kind: Kind,
}

/// A message's fields, indexed by field number (index 0 is unused), and its walker.
struct Message {
    fields: &'static [Field],
    /// [`Cursor::fields_of`] instantiated for this message. Each message gets its own copy
    /// of the dispatch on field kind, whose branches the CPU then predicts per message: a
    /// single shared dispatch made mispredicted jumps most of the walk's time.
    walk: Walker,
}

type Walker = fn(&mut Cursor<'_>, usize, u32) -> Walk<()>;

/// A [`Walker`] for the message table `$msg`.
macro_rules! walker {
    ($name:ident, $msg:ident) => {
        fn $name(cursor: &mut Cursor<'_>, end: usize, budget: u32) -> Walk<()> {
            cursor.fields_of(&$msg, end, budget)
        }
    };
}
walker!(walk_any_value, ANY_VALUE);
walker!(walk_array_value, ARRAY_VALUE);
walker!(walk_key_value_list, KEY_VALUE_LIST);
walker!(walk_key_value, KEY_VALUE);
walker!(walk_instrumentation_scope, INSTRUMENTATION_SCOPE);
walker!(walk_entity_ref, ENTITY_REF);
walker!(walk_resource, RESOURCE);
walker!(walk_span, SPAN);
walker!(walk_event, EVENT);
walker!(walk_link, LINK);
walker!(walk_status, STATUS);
walker!(walk_log_record, LOG_RECORD);

impl Message {
    #[inline]
    fn field(&self, tag: u32) -> &Field {
        self.fields.get(tag as usize).unwrap_or(&UNKNOWN)
    }
}

const fn f(name: &'static str, kind: Kind) -> Field {
    Field { name, kind }
}
const HOLE: Field = f("unknown", Kind::Unknown);
static UNKNOWN: Field = HOLE;

// opentelemetry/proto/common/v1/common.proto
static ANY_VALUE: Message = Message {
    fields: &[
        HOLE,
        f("string_value", Kind::Str),
        f("bool_value", Kind::Varint),
        f("int_value", Kind::Varint),
        f("double_value", Kind::Fixed64),
        f("array_value", Kind::Message(&ARRAY_VALUE)),
        f("kvlist_value", Kind::Message(&KEY_VALUE_LIST)),
        f("bytes_value", Kind::Bytes),
        f("string_value_strindex", Kind::Varint),
    ],
    walk: walk_any_value,
};
static ARRAY_VALUE: Message = Message {
    fields: &[HOLE, f("values", Kind::Message(&ANY_VALUE))],
    walk: walk_array_value,
};
static KEY_VALUE_LIST: Message = Message {
    fields: &[HOLE, f("values", Kind::Message(&KEY_VALUE))],
    walk: walk_key_value_list,
};
static KEY_VALUE: Message = Message {
    fields: &[
        HOLE,
        f("key", Kind::Str),
        f("value", Kind::Message(&ANY_VALUE)),
        f("key_strindex", Kind::Varint),
    ],
    walk: walk_key_value,
};
static INSTRUMENTATION_SCOPE: Message = Message {
    fields: &[
        HOLE,
        f("name", Kind::Str),
        f("version", Kind::Str),
        f("attributes", Kind::Message(&KEY_VALUE)),
        f("dropped_attributes_count", Kind::Varint),
    ],
    walk: walk_instrumentation_scope,
};
static ENTITY_REF: Message = Message {
    fields: &[
        HOLE,
        f("schema_url", Kind::Str),
        f("type", Kind::Str),
        f("id_keys", Kind::Str),
        f("description_keys", Kind::Str),
    ],
    walk: walk_entity_ref,
};
// opentelemetry/proto/resource/v1/resource.proto
static RESOURCE: Message = Message {
    fields: &[
        HOLE,
        f("attributes", Kind::Message(&KEY_VALUE)),
        f("dropped_attributes_count", Kind::Varint),
        f("entity_refs", Kind::Message(&ENTITY_REF)),
    ],
    walk: walk_resource,
};
// opentelemetry/proto/trace/v1/trace.proto
static SPAN: Message = Message {
    fields: &[
        HOLE,
        f("trace_id", Kind::Id(TRACE_ID)),
        f("span_id", Kind::Id(SPAN_ID)),
        f("trace_state", Kind::Str),
        f("parent_span_id", Kind::Id(SPAN_ID)),
        f("name", Kind::Str),
        f("kind", Kind::Varint),
        f("start_time_unix_nano", Kind::Fixed64),
        f("end_time_unix_nano", Kind::Fixed64),
        f("attributes", Kind::Message(&KEY_VALUE)),
        f("dropped_attributes_count", Kind::Varint),
        f("events", Kind::Message(&EVENT)),
        f("dropped_events_count", Kind::Varint),
        f("links", Kind::Message(&LINK)),
        f("dropped_links_count", Kind::Varint),
        f("status", Kind::Message(&STATUS)),
        f("flags", Kind::Fixed32),
    ],
    walk: walk_span,
};
static EVENT: Message = Message {
    fields: &[
        HOLE,
        f("time_unix_nano", Kind::Fixed64),
        f("name", Kind::Str),
        f("attributes", Kind::Message(&KEY_VALUE)),
        f("dropped_attributes_count", Kind::Varint),
    ],
    walk: walk_event,
};
static LINK: Message = Message {
    fields: &[
        HOLE,
        f("trace_id", Kind::Id(TRACE_ID)),
        f("span_id", Kind::Id(SPAN_ID)),
        f("trace_state", Kind::Str),
        f("attributes", Kind::Message(&KEY_VALUE)),
        f("dropped_attributes_count", Kind::Varint),
        f("flags", Kind::Fixed32),
    ],
    walk: walk_link,
};
static STATUS: Message = Message {
    // Field 1 is reserved (the deprecated `deprecated_code`): unknown, skipped.
    fields: &[HOLE, HOLE, f("message", Kind::Str), f("code", Kind::Varint)],
    walk: walk_status,
};
// opentelemetry/proto/logs/v1/logs.proto
static LOG_RECORD: Message = Message {
    fields: &[
        HOLE,
        f("time_unix_nano", Kind::Fixed64),
        f("severity_number", Kind::Varint),
        f("severity_text", Kind::Str),
        // Field 4 is reserved.
        HOLE,
        f("body", Kind::Message(&ANY_VALUE)),
        f("attributes", Kind::Message(&KEY_VALUE)),
        f("dropped_attributes_count", Kind::Varint),
        f("flags", Kind::Fixed32),
        f("trace_id", Kind::Id(TRACE_ID)),
        f("span_id", Kind::Id(SPAN_ID)),
        f("observed_time_unix_nano", Kind::Fixed64),
        f("event_name", Kind::Str),
    ],
    walk: walk_log_record,
};

/// Every message table, for the fast path's per-message tables ([`fast`]).
static MESSAGES: [&Message; 12] = [
    &ANY_VALUE,
    &ARRAY_VALUE,
    &KEY_VALUE_LIST,
    &KEY_VALUE,
    &INSTRUMENTATION_SCOPE,
    &ENTITY_REF,
    &RESOURCE,
    &SPAN,
    &EVENT,
    &LINK,
    &STATUS,
    &LOG_RECORD,
];

/// The three-level tree every OTLP export request of a signal has: the request holds
/// resources (field 1), a resource holds its `Resource` (1), scopes (2) and `schema_url`
/// (3), a scope its `InstrumentationScope` (1), items (2) and `schema_url` (3). Traces
/// and logs share the field numbers and differ in the item message.
#[derive(PartialEq, Eq)]
pub struct Shape {
    resource_field: &'static str,
    scope_field: &'static str,
    item_field: &'static str,
    item_noun: &'static str,
    item: &'static Message,
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shape({})", self.resource_field)
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}
impl Eq for Message {}

/// `ExportTraceServiceRequest`.
pub static TRACES: Shape = Shape {
    resource_field: "resource_spans",
    scope_field: "scope_spans",
    item_field: "spans",
    item_noun: "span",
    item: &SPAN,
};

/// `ExportLogsServiceRequest`.
pub static LOGS: Shape = Shape {
    resource_field: "resource_logs",
    scope_field: "scope_logs",
    item_field: "log_records",
    item_noun: "log record",
    item: &LOG_RECORD,
};

/// The field number of the request's resources, a resource's scopes and a scope's items.
pub(crate) const RESOURCES_FIELD: u32 = 1;
/// See [`RESOURCES_FIELD`].
pub(crate) const SCOPES_FIELD: u32 = 2;
/// See [`RESOURCES_FIELD`].
pub(crate) const ITEMS_FIELD: u32 = 2;

/// Validates `bytes` as an encoded request of `shape` and counts its resources and items.
pub fn walk(shape: &'static Shape, bytes: &[u8]) -> Result<Counts, WireError> {
    if let Some(counts) = fast::walk(shape, bytes) {
        return Ok(counts);
    }
    walk_fully(shape, bytes)
}

/// [`walk`] without its fast path: the walker that names what is wrong.
pub(crate) fn walk_fully(shape: &'static Shape, bytes: &[u8]) -> Result<Counts, WireError> {
    let mut cursor = Cursor { buf: bytes, pos: 0 };
    cursor.request(shape).map_err(|err| *err.shaped(shape))
}

/// A position in the request being walked. Positions are absolute, so errors name the
/// byte offset in the whole request; every method takes the end of the enclosing message
/// and never reads past it (`end <= buf.len()` always holds).
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    #[inline(always)]
    fn varint(&mut self, end: usize) -> Walk<u64> {
        if self.pos < end {
            let b = self.buf[self.pos];
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_long(end)
    }

    /// A varint of two or more bytes: at most 10 bytes, and the 10th byte at most 1, or
    /// the value would overflow 64 bits (protobuf-go's `ConsumeVarint`, which prost
    /// follows).
    fn varint_long(&mut self, end: usize) -> Walk<u64> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            if self.pos >= end {
                break;
            }
            let b = self.buf[self.pos];
            self.pos += 1;
            if i == 9 {
                if b >= 0x02 {
                    break;
                }
                return Ok(value | (u64::from(b) << 63));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError::new(start, WireReason::InvalidVarint))
    }

    /// A field key: `(field number, wire type)`, checked as prost's `decode_key`.
    #[inline(always)]
    fn key(&mut self, end: usize) -> Walk<(u32, u8)> {
        let at = self.pos;
        let key = self.varint(end)?;
        if key > u64::from(u32::MAX) {
            return Err(WireError::new(at, WireReason::InvalidKey(key)));
        }
        let wire = (key & 7) as u8;
        if wire > I32 {
            return Err(WireError::new(at, WireReason::InvalidWireType(wire)));
        }
        let tag = (key >> 3) as u32;
        if tag == 0 {
            return Err(WireError::new(at, WireReason::TagZero));
        }
        Ok((tag, wire))
    }

    /// The byte range of a length-delimited value, whose length prefix is at the cursor.
    #[inline(always)]
    fn delimited(&mut self, end: usize) -> Walk<Range<usize>> {
        let at = self.pos;
        let len = self.varint(end)?;
        let left = end - self.pos;
        if len > left as u64 {
            return Err(WireError::new(at, WireReason::PastEnd { needed: len, left }));
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(start..self.pos)
    }

    /// An id field's value: `expected` bytes or none.
    fn id(&mut self, expected: usize, end: usize) -> Walk<()> {
        let at = self.pos;
        let range = self.delimited(end)?;
        if range.is_empty() || range.len() == expected {
            Ok(())
        } else {
            Err(WireError::new(
                at,
                WireReason::IdLength {
                    expected,
                    actual: range.len(),
                },
            ))
        }
    }

    /// Reads the length prefix of a nested message and returns where the message ends,
    /// leaving the cursor at its first field.
    #[inline(always)]
    fn enter(&mut self, end: usize) -> Walk<usize> {
        let range = self.delimited(end)?;
        self.pos = range.start;
        Ok(range.end)
    }

    #[inline(always)]
    fn fixed(&mut self, size: usize, end: usize) -> Walk<()> {
        let left = end - self.pos;
        if size > left {
            return Err(WireError::new(
                self.pos,
                WireReason::PastEnd {
                    needed: size as u64,
                    left,
                },
            ));
        }
        self.pos += size;
        Ok(())
    }

    /// Checks a known field's wire type; `at` is the offset of its key.
    #[inline(always)]
    fn expect(at: usize, actual: u8, expected: u8) -> Walk<()> {
        if actual == expected {
            Ok(())
        } else {
            Err(WireError::new(at, WireReason::WrongWireType { actual, expected }))
        }
    }

    /// Before decoding a nested message (or skipping a field), prost checks that its
    /// remaining recursion budget is not exhausted; the nested fields get one less.
    #[inline(always)]
    fn budget(at: usize, budget: u32) -> Walk<u32> {
        if budget == 0 {
            Err(WireError::new(at, WireReason::RecursionLimit))
        } else {
            Ok(budget - 1)
        }
    }

    /// The whole request: `repeated Resource* resources = 1`.
    fn request(&mut self, shape: &'static Shape) -> Walk<Counts> {
        let end = self.buf.len();
        let budget = RECURSION_LIMIT;
        let mut counts = Counts::default();
        while self.pos < end {
            let at = self.pos;
            let (tag, wire) = self.key(end)?;
            if tag == RESOURCES_FIELD {
                let resource = counts.resources;
                let located = |e: Box<WireError>| e.at(Locator::Resource { resource });
                let inner = Self::expect(at, wire, LEN)
                    .and_then(|()| Self::budget(at, budget))
                    .map_err(|e| e.within(tag, shape.resource_field))?;
                let inner_end = self.enter(end).map_err(|e| e.within(tag, shape.resource_field))?;
                counts.items += self
                    .resource(shape, inner_end, inner, resource, counts.items)
                    .map_err(located)?;
                counts.resources += 1;
            } else {
                self.skip(tag, wire, end, budget)
                    .map_err(|e| e.within(tag, "unknown"))?;
            }
        }
        Ok(counts)
    }

    /// One `ResourceSpans`: returns its item count. `first` is the request-wide index of
    /// its first item, for error messages.
    fn resource(
        &mut self,
        shape: &'static Shape,
        end: usize,
        budget: u32,
        resource: usize,
        first: usize,
    ) -> Walk<usize> {
        let mut items = 0;
        let mut scope = 0;
        while self.pos < end {
            let at = self.pos;
            let (tag, wire) = self.key(end)?;
            match tag {
                1 => self
                    .message_field(&RESOURCE, at, wire, end, budget)
                    .map_err(|e| e.within(tag, "resource"))?,
                SCOPES_FIELD => {
                    let inner = Self::expect(at, wire, LEN)
                        .and_then(|()| Self::budget(at, budget))
                        .map_err(|e| e.within(tag, shape.scope_field))?;
                    let inner_end = self.enter(end).map_err(|e| e.within(tag, shape.scope_field))?;
                    items += self
                        .scope(shape, inner_end, inner, resource, scope, first + items)
                        .map_err(|e| e.at(Locator::Scope { resource, scope }))?;
                    scope += 1;
                }
                3 => self
                    .string_field(at, wire, end)
                    .map_err(|e| e.within(tag, "schema_url"))?,
                _ => self
                    .skip(tag, wire, end, budget)
                    .map_err(|e| e.within(tag, "unknown"))?,
            }
        }
        Ok(items)
    }

    /// One `ScopeSpans`: returns its item count.
    fn scope(
        &mut self,
        shape: &'static Shape,
        end: usize,
        budget: u32,
        resource: usize,
        scope: usize,
        first: usize,
    ) -> Walk<usize> {
        let mut items = 0;
        while self.pos < end {
            let at = self.pos;
            let (tag, wire) = self.key(end)?;
            match tag {
                1 => self
                    .message_field(&INSTRUMENTATION_SCOPE, at, wire, end, budget)
                    .map_err(|e| e.within(tag, "scope"))?,
                ITEMS_FIELD => {
                    let inner = Self::expect(at, wire, LEN)
                        .and_then(|()| Self::budget(at, budget))
                        .map_err(|e| e.within(tag, shape.item_field))?;
                    let inner_end = self.enter(end).map_err(|e| e.within(tag, shape.item_field))?;
                    (shape.item.walk)(self, inner_end, inner).map_err(|e| {
                        e.at(Locator::Item {
                            resource,
                            scope,
                            index: items,
                            global: first + items,
                        })
                    })?;
                    items += 1;
                }
                3 => self
                    .string_field(at, wire, end)
                    .map_err(|e| e.within(tag, "schema_url"))?,
                _ => self
                    .skip(tag, wire, end, budget)
                    .map_err(|e| e.within(tag, "unknown"))?,
            }
        }
        Ok(items)
    }

    /// The fields of one message of type `message`, which ends at `end`; `budget` is the
    /// recursion budget its fields are decoded with. Called through each message's
    /// [`Message::walk`], so that it is inlined once per message type.
    #[inline(always)]
    fn fields_of(&mut self, message: &'static Message, end: usize, budget: u32) -> Walk<()> {
        while self.pos < end {
            let at = self.pos;
            let (tag, wire) = self.key(end)?;
            let field = message.field(tag);
            let checked = match field.kind {
                Kind::Unknown => self.skip(tag, wire, end, budget),
                Kind::Varint => Self::expect(at, wire, VARINT).and_then(|()| self.varint(end).map(drop)),
                Kind::Fixed32 => Self::expect(at, wire, I32).and_then(|()| self.fixed(4, end)),
                Kind::Fixed64 => Self::expect(at, wire, I64).and_then(|()| self.fixed(8, end)),
                Kind::Bytes => Self::expect(at, wire, LEN).and_then(|()| self.delimited(end).map(drop)),
                Kind::Id(len) => Self::expect(at, wire, LEN).and_then(|()| self.id(len, end)),
                Kind::Str => self.string_field(at, wire, end),
                Kind::Message(nested) => self.message_field(nested, at, wire, end, budget),
            };
            checked.map_err(|e| e.within(tag, field.name))?;
        }
        Ok(())
    }

    fn message_field(
        &mut self,
        message: &'static Message,
        at: usize,
        wire: u8,
        end: usize,
        budget: u32,
    ) -> Walk<()> {
        Self::expect(at, wire, LEN)?;
        let inner = Self::budget(at, budget)?;
        let inner_end = self.enter(end)?;
        (message.walk)(self, inner_end, inner)
    }

    #[inline(always)]
    fn string_field(&mut self, at: usize, wire: u8, end: usize) -> Walk<()> {
        Self::expect(at, wire, LEN)?;
        let range = self.delimited(end)?;
        let start = range.start;
        let text = &self.buf[range];
        // Attribute keys and most values are ASCII, which `is_ascii` checks a word at a
        // time, faster than the general UTF-8 state machine on short strings.
        if text.is_ascii() {
            return Ok(());
        }
        match std::str::from_utf8(text) {
            Ok(_) => Ok(()),
            Err(err) => Err(WireError::new(start + err.valid_up_to(), WireReason::InvalidUtf8)),
        }
    }

    /// Skips a field this message does not declare, as prost's `skip_field` does.
    fn skip(&mut self, tag: u32, wire: u8, end: usize, budget: u32) -> Walk<()> {
        let at = self.pos;
        let inner = Self::budget(at, budget)?;
        match wire {
            VARINT => self.varint(end).map(drop),
            I64 => self.fixed(8, end),
            I32 => self.fixed(4, end),
            LEN => self.delimited(end).map(drop),
            SGROUP => loop {
                let key_at = self.pos;
                let (inner_tag, inner_wire) = self.key(end)?;
                if inner_wire == EGROUP {
                    if inner_tag != tag {
                        return Err(WireError::new(key_at, WireReason::UnexpectedEndGroup));
                    }
                    return Ok(());
                }
                self.skip(inner_tag, inner_wire, end, inner)?;
            },
            _ => Err(WireError::new(at, WireReason::UnexpectedEndGroup)),
        }
    }
}

/// One field of a message, as [`fields`] lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawField {
    /// The field number.
    pub tag: u32,
    /// The wire type.
    pub wire: u8,
    /// The whole field: key, length prefix (if any) and value.
    pub whole: Range<usize>,
    /// The value; for length-delimited fields without the length prefix.
    pub value: Range<usize>,
}

/// Lists the fields of the message in `range` of `buf`, in order, without looking inside
/// them. For requests already validated by [`walk`]; on bytes that are not, it stops at
/// the first malformed field with its error.
pub(crate) fn fields(buf: &[u8], range: Range<usize>) -> impl Iterator<Item = Result<RawField, WireError>> {
    let end = range.end.min(buf.len());
    let mut cursor = Cursor {
        buf,
        pos: range.start.min(end),
    };
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || cursor.pos >= end {
            return None;
        }
        let field = cursor.next_field(end);
        failed = field.is_err();
        Some(field.map_err(|e| *e))
    })
}

impl Cursor<'_> {
    fn next_field(&mut self, end: usize) -> Walk<RawField> {
        let start = self.pos;
        let (tag, wire) = self.key(end)?;
        let value = match wire {
            LEN => self.delimited(end)?,
            _ => {
                let value_start = self.pos;
                // A field skipped with the full budget: groups are walked to their end.
                self.skip(tag, wire, end, RECURSION_LIMIT)?;
                value_start..self.pos
            }
        };
        Ok(RawField {
            tag,
            wire,
            whole: start..self.pos,
            value,
        })
    }
}

/// Appends a varint to `out` (protobuf encoding guide, "Base 128 Varints").
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The encoded size of a varint.
pub(crate) fn varint_len(value: u64) -> usize {
    // 7 bits per byte; 0 takes one byte.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends the key of a length-delimited field `tag` and the length `len`.
pub(crate) fn put_len_prefix(out: &mut Vec<u8>, tag: u32, len: usize) {
    put_varint(out, u64::from((tag << 3) | u32::from(LEN)));
    put_varint(out, len as u64);
}

/// The size of a length-delimited field `tag` holding `len` bytes.
pub(crate) fn len_field_size(tag: u32, len: usize) -> usize {
    varint_len(u64::from((tag << 3) | u32::from(LEN))) + varint_len(len as u64) + len
}
