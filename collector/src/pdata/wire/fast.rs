//! The walker's fast path: the same acceptance rule in a tighter loop, for the requests
//! real clients send.
//!
//! The hot messages (spans, log records, attributes and their values) are walked by
//! [`ordered!`] walkers that expect their fields in field-number order, as encoders write
//! them. Other messages, and whatever an ordered walker meets out of order, go through
//! one table lookup per field: a single-byte key (field numbers up to 15) indexes a
//! 128-entry table built from the message tables in `wire.rs`, giving what to do with
//! the value: skip a varint or fixed-size value, skip bytes, check a string's UTF-8, or
//! walk a nested message.
//!
//! The fast path keeps no error detail and gives up (`None`) on anything unusual: a
//! malformed field, a group, unknown fields at the request's top three levels, or
//! nesting deeper than [`DEPTH_LIMIT`]. The full walker then runs and either accepts
//! (the fast path is stricter than prost, never looser) or names the problem. On the
//! bench request (1000 spans of 253 bytes, `cargo bench --bench pipeline -- walk_only`)
//! the walk went from 295 µs with the full walker alone to 180 µs.

use std::sync::LazyLock;

use super::{Counts, I32, I64, Kind, LEN, LOG_RECORD, MESSAGES, Message, SPAN, Shape, VARINT};

/// How deep the fast path nests messages before leaving the request to the full
/// walker, well inside prost's recursion limit (100), so no budget needs tracking here.
const DEPTH_LIMIT: u32 = 64;

/// What a key byte means in a message: an action, or a nested message's index in
/// [`MESSAGES`] plus [`NESTED`].
const GIVE_UP: u8 = 0;
const SKIP_VARINT: u8 = 1;
const SKIP_4: u8 = 2;
const SKIP_8: u8 = 3;
const SKIP_BYTES: u8 = 4;
const UTF8: u8 = 5;
/// A span id: 8 bytes or none.
const ID8: u8 = 6;
/// A trace id: 16 bytes or none.
const ID16: u8 = 7;
const NESTED: u8 = 16;

struct Tables {
    /// Per message of [`MESSAGES`], per single-byte key.
    actions: [[u8; 128]; MESSAGES.len()],
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| Tables {
    actions: std::array::from_fn(|i| actions(MESSAGES[i])),
});

fn index_of(message: &Message) -> usize {
    MESSAGES
        .iter()
        .position(|m| std::ptr::eq(*m, message))
        .expect("every nested message is listed in MESSAGES")
}

fn actions(message: &Message) -> [u8; 128] {
    std::array::from_fn(|key| action_for(message, (key >> 3) as u32, (key & 7) as u8))
}

/// What to do with field `tag` of wire type `wire` in `message`.
fn action_for(message: &Message, tag: u32, wire: u8) -> u8 {
    if tag == 0 {
        return GIVE_UP;
    }
    match (message.field(tag).kind, wire) {
        (Kind::Unknown | Kind::Varint, VARINT) => SKIP_VARINT,
        (Kind::Unknown | Kind::Fixed32, I32) => SKIP_4,
        (Kind::Unknown | Kind::Fixed64, I64) => SKIP_8,
        (Kind::Unknown | Kind::Bytes, LEN) => SKIP_BYTES,
        (Kind::Str, LEN) => UTF8,
        (Kind::Id(8), LEN) => ID8,
        (Kind::Id(16), LEN) => ID16,
        (Kind::Message(nested), LEN) => NESTED + index_of(nested) as u8,
        _ => GIVE_UP,
    }
}

type FastWalker = fn(&Tables, &[u8], usize, usize, u32) -> bool;

/// [`message`] for each entry of [`MESSAGES`], by index.
const WALKERS: [FastWalker; MESSAGES.len()] = [
    message::<0>,
    message::<1>,
    message::<2>,
    message::<3>,
    message::<4>,
    message::<5>,
    message::<6>,
    message::<7>,
    message::<8>,
    message::<9>,
    message::<10>,
    message::<11>,
];

/// Validates and counts a request of `shape`, or `None` when the full walker must
/// decide.
pub(super) fn walk(shape: &Shape, buf: &[u8]) -> Option<Counts> {
    let tables = &*TABLES;
    let item: FastWalker = if std::ptr::eq(shape.item, &SPAN) {
        span
    } else if std::ptr::eq(shape.item, &LOG_RECORD) {
        log_record
    } else {
        WALKERS[index_of(shape.item)]
    };
    let mut counts = Counts::default();
    let mut pos = 0;
    // The request: resources (1).
    while pos < buf.len() {
        if buf[pos] != 0x0a {
            return None;
        }
        pos += 1;
        let len = delimited(buf, &mut pos, buf.len())?;
        let resource_end = pos + len;
        // A resource: its Resource (1), scopes (2), schema_url (3).
        while pos < resource_end {
            let key = buf[pos];
            pos += 1;
            let len = delimited(buf, &mut pos, resource_end)?;
            match key {
                0x0a if resource(tables, buf, pos, pos + len, 3) => {}
                0x12 => {
                    let scope_end = pos + len;
                    // A scope: its InstrumentationScope (1), items (2), schema_url (3).
                    while pos < scope_end {
                        let key = buf[pos];
                        pos += 1;
                        let len = delimited(buf, &mut pos, scope_end)?;
                        match key {
                            0x0a if scope(tables, buf, pos, pos + len, 4) => {}
                            0x12 if item(tables, buf, pos, pos + len, 4) => counts.items += 1,
                            0x1a if utf8(buf, pos, len) => {}
                            _ => return None,
                        }
                        pos += len;
                    }
                    continue;
                }
                0x1a if utf8(buf, pos, len) => {}
                _ => return None,
            }
            pos += len;
        }
        counts.resources += 1;
    }
    Some(counts)
}

/// The length prefix at `pos` of a value that must end by `end`; leaves `pos` at the
/// value.
#[inline(always)]
fn delimited(buf: &[u8], pos: &mut usize, end: usize) -> Option<usize> {
    let len = varint(buf, pos, end)?;
    if len > (end - *pos) as u64 {
        return None;
    }
    Some(len as usize)
}

/// A varint as prost accepts it: at most 10 bytes, the 10th at most 1.
#[inline(always)]
fn varint(buf: &[u8], pos: &mut usize, end: usize) -> Option<u64> {
    let mut p = *pos;
    if p >= end {
        return None;
    }
    let first = buf[p];
    if first < 0x80 {
        *pos = p + 1;
        return Some(u64::from(first));
    }
    let mut value = u64::from(first & 0x7f);
    for i in 1..10 {
        p += 1;
        if p >= end {
            return None;
        }
        let b = buf[p];
        if i == 9 {
            if b > 1 {
                return None;
            }
            *pos = p + 1;
            return Some(value | (u64::from(b) << 63));
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *pos = p + 1;
            return Some(value);
        }
    }
    None
}

/// Whether the `len` bytes at `start` of `buf` are UTF-8 (`start + len <= buf.len()`).
#[inline(always)]
fn utf8(buf: &[u8], start: usize, len: usize) -> bool {
    ascii(buf, start, len) || std::str::from_utf8(&buf[start..start + len]).is_ok()
}

/// Whether the `len` bytes at `start` are ASCII. Attribute keys and values are short
/// and mostly ASCII; `<[u8]>::is_ascii` checks fewer than 8 bytes one at a time, so
/// strings of up to 16 bytes are checked here with one or two 8-byte loads, reading
/// past the string's end (inside the request) and masking the extra bytes off.
#[inline(always)]
fn ascii(buf: &[u8], start: usize, len: usize) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = |at: usize| -> Option<u64> {
        let bytes: [u8; 8] = buf.get(at..at + 8)?.try_into().ok()?;
        Some(u64::from_le_bytes(bytes))
    };
    if len <= 8 {
        if let Some(w) = word(start) {
            let keep = if len == 8 {
                u64::MAX
            } else {
                (1u64 << (len * 8)) - 1
            };
            return w & keep & HIGH == 0;
        }
    } else if len <= 16
        && let (Some(head), Some(tail)) = (word(start), word(start + len - 8))
    {
        return (head | tail) & HIGH == 0;
    }
    buf[start..start + len].is_ascii()
}

/// Whether an id field of `len` bytes is valid: empty or exactly `expected`.
#[inline(always)]
fn id_len(len: usize, expected: usize) -> bool {
    len == 0 || len == expected
}

/// The fields of one message of `MESSAGES[M]` in `buf[pos..end]`, nested `depth` deep.
fn message<const M: usize>(tables: &Tables, buf: &[u8], mut pos: usize, end: usize, depth: u32) -> bool {
    if depth > DEPTH_LIMIT {
        return false;
    }
    let actions = &tables.actions[M];
    while pos < end {
        let key = buf[pos];
        let action = if key < 0x80 {
            pos += 1;
            actions[usize::from(key)]
        } else {
            // A key of two or more bytes: a field number over 15, such as a span's
            // `flags` (16), or an unknown field.
            match varint(buf, &mut pos, end) {
                Some(key) if key <= u64::from(u32::MAX) => {
                    action_for(MESSAGES[M], (key >> 3) as u32, (key & 7) as u8)
                }
                _ => return false,
            }
        };
        match action {
            SKIP_VARINT => {
                if varint(buf, &mut pos, end).is_none() {
                    return false;
                }
            }
            SKIP_4 | SKIP_8 => {
                let size = if action == SKIP_4 { 4 } else { 8 };
                if end - pos < size {
                    return false;
                }
                pos += size;
            }
            SKIP_BYTES | UTF8 => {
                let Some(len) = delimited(buf, &mut pos, end) else {
                    return false;
                };
                if action == UTF8 && !utf8(buf, pos, len) {
                    return false;
                }
                pos += len;
            }
            ID8 | ID16 => {
                let Some(len) = delimited(buf, &mut pos, end) else {
                    return false;
                };
                if !id_len(len, if action == ID8 { 8 } else { 16 }) {
                    return false;
                }
                pos += len;
            }
            GIVE_UP => return false,
            nested => {
                let Some(len) = delimited(buf, &mut pos, end) else {
                    return false;
                };
                let walk = WALKERS[usize::from(nested - NESTED)];
                if !walk(tables, buf, pos, pos + len, depth + 1) {
                    return false;
                }
                pos += len;
            }
        }
    }
    true
}

/// What an [`ordered!`] walker does with a field's value.
macro_rules! step {
    (varint, $t:ident, $buf:ident, $pos:ident, $end:ident, $depth:ident) => {
        varint($buf, &mut $pos, $end).is_some()
    };
    (fixed4, $t:ident, $buf:ident, $pos:ident, $end:ident, $depth:ident) => {
        $end - $pos >= 4 && {
            $pos += 4;
            true
        }
    };
    (fixed8, $t:ident, $buf:ident, $pos:ident, $end:ident, $depth:ident) => {
        $end - $pos >= 8 && {
            $pos += 8;
            true
        }
    };
    (bytes, $t:ident, $buf:ident, $pos:ident, $end:ident, $depth:ident) => {
        match delimited($buf, &mut $pos, $end) {
            Some(len) => {
                $pos += len;
                true
            }
            None => false,
        }
    };
    (id8, $t:ident, $buf:ident, $pos:ident, $end:ident, $depth:ident) => {
        match delimited($buf, &mut $pos, $end) {
            Some(len) if id_len(len, 8) => {
                $pos += len;
                true
            }
            _ => false,
        }
    };
    (id16, $t:ident, $buf:ident, $pos:ident, $end:ident, $depth:ident) => {
        match delimited($buf, &mut $pos, $end) {
            Some(len) if id_len(len, 16) => {
                $pos += len;
                true
            }
            _ => false,
        }
    };
    (utf8, $t:ident, $buf:ident, $pos:ident, $end:ident, $depth:ident) => {
        match delimited($buf, &mut $pos, $end) {
            Some(len) if utf8($buf, $pos, len) => {
                $pos += len;
                true
            }
            _ => false,
        }
    };
    ($walker:ident, $t:ident, $buf:ident, $pos:ident, $end:ident, $depth:ident) => {
        match delimited($buf, &mut $pos, $end) {
            Some(len) if $walker($t, $buf, $pos, $pos + len, $depth + 1) => {
                $pos += len;
                true
            }
            _ => false,
        }
    };
}

/// A walker for a hot message that takes its fields in field-number order, the order
/// encoders write them in, with one well-predicted comparison per field instead of the
/// table dispatch's indirect jump, which the CPU mispredicted about once per field.
/// Whatever is left when the order breaks (fields out of order, unknown fields) goes
/// to the table-driven [`message`] for the same message. `$index` is the message's
/// place in [`MESSAGES`]; a test checks every key and action against its table.
macro_rules! ordered {
    ($name:ident, $index:literal, $message:ident, [$($key:literal => $action:ident),* $(,)?]) => {
        // Inlined into the walkers that contain it: a span's attributes and their values
        // are walked without calls.
        #[inline(always)]
        fn $name(tables: &Tables, buf: &[u8], mut pos: usize, end: usize, depth: u32) -> bool {
            if depth > DEPTH_LIMIT {
                return false;
            }
            $(
                while pos < end && buf[pos] == $key {
                    pos += 1;
                    if !step!($action, tables, buf, pos, end, depth) {
                        return false;
                    }
                }
            )*
            pos == end || message::<$index>(tables, buf, pos, end, depth)
        }

        #[cfg(test)]
        impl OrderedKeys for Ordered<$index> {
            const MESSAGE: &'static Message = &super::$message;
            const KEYS: &'static [(u8, &'static str)] = &[$(($key, stringify!($action))),*];
        }
    };
}

ordered!(any_value, 0, ANY_VALUE, [
    0x0a => utf8,
    0x10 => varint,
    0x18 => varint,
    0x21 => fixed8,
    0x2a => array_value,
    0x32 => key_value_list,
    0x3a => bytes,
    0x40 => varint,
]);
ordered!(key_value, 3, KEY_VALUE, [0x0a => utf8, 0x12 => any_value, 0x18 => varint]);
ordered!(span, 7, SPAN, [
    0x0a => id16,
    0x12 => id8,
    0x1a => utf8,
    0x22 => id8,
    0x2a => utf8,
    0x30 => varint,
    0x39 => fixed8,
    0x41 => fixed8,
    0x4a => key_value,
    0x50 => varint,
    0x5a => event,
    0x60 => varint,
    0x6a => link,
    0x70 => varint,
    0x7a => status,
]);
ordered!(status, 10, STATUS, [0x12 => utf8, 0x18 => varint]);
ordered!(log_record, 11, LOG_RECORD, [
    0x09 => fixed8,
    0x10 => varint,
    0x1a => utf8,
    0x2a => any_value,
    0x32 => key_value,
    0x38 => varint,
    0x45 => fixed4,
    0x4a => id16,
    0x52 => id8,
    0x59 => fixed8,
    0x62 => utf8,
]);
ordered!(resource, 6, RESOURCE, [0x0a => key_value, 0x10 => varint, 0x1a => entity_ref]);
ordered!(scope, 4, INSTRUMENTATION_SCOPE, [
    0x0a => utf8,
    0x12 => utf8,
    0x1a => key_value,
    0x20 => varint,
]);

/// Walkers for messages walked by their table alone, by name for [`ordered!`] lists;
/// `$index` is the message's place in [`MESSAGES`], which a test checks.
macro_rules! tabled {
    ($($name:ident = $index:literal: $message:ident),* $(,)?) => {
        $(
            fn $name(tables: &Tables, buf: &[u8], pos: usize, end: usize, depth: u32) -> bool {
                message::<$index>(tables, buf, pos, end, depth)
            }
        )*

        #[cfg(test)]
        const TABLED: &[(usize, &Message)] = &[$(($index, &super::$message)),*];
    };
}

tabled!(
    array_value = 1: ARRAY_VALUE,
    key_value_list = 2: KEY_VALUE_LIST,
    entity_ref = 5: ENTITY_REF,
    event = 8: EVENT,
    link = 9: LINK,
);

#[cfg(test)]
struct Ordered<const M: usize>;

#[cfg(test)]
trait OrderedKeys {
    const MESSAGE: &'static Message;
    const KEYS: &'static [(u8, &'static str)];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: OrderedKeys, const M: usize>() {
        assert!(std::ptr::eq(MESSAGES[M], T::MESSAGE), "index {M}");
        let table = actions(T::MESSAGE);
        for &(key, action) in T::KEYS {
            let expected = match table[usize::from(key)] {
                SKIP_VARINT => "varint",
                SKIP_4 => "fixed4",
                SKIP_8 => "fixed8",
                SKIP_BYTES => "bytes",
                UTF8 => "utf8",
                ID8 => "id8",
                ID16 => "id16",
                GIVE_UP => "give up",
                nested => match usize::from(nested - NESTED) {
                    0 => "any_value",
                    1 => "array_value",
                    2 => "key_value_list",
                    3 => "key_value",
                    4 => "scope",
                    5 => "entity_ref",
                    6 => "resource",
                    7 => "span",
                    8 => "event",
                    9 => "link",
                    10 => "status",
                    11 => "log_record",
                    _ => "another message",
                },
            };
            assert_eq!(action, expected, "message {M}, key {key:#04x}");
        }
        // Every known field of the message is in the list, in field-number order.
        let known: Vec<u8> = (1..T::MESSAGE.fields.len() as u32)
            .filter_map(|tag| {
                let wire = match T::MESSAGE.field(tag).kind {
                    Kind::Unknown => return None,
                    Kind::Varint => VARINT,
                    Kind::Fixed32 => I32,
                    Kind::Fixed64 => I64,
                    Kind::Bytes | Kind::Id(_) | Kind::Str | Kind::Message(_) => LEN,
                };
                u8::try_from(tag << 3 | u32::from(wire))
                    .ok()
                    .filter(|&key| key < 0x80)
            })
            .collect();
        let listed: Vec<u8> = T::KEYS.iter().map(|&(key, _)| key).collect();
        assert_eq!(listed, known, "message {M}");
    }

    use crate::pdata::OtlpRequest as _;
    use crate::pdata::arb;
    use proptest::prelude::*;
    use prost::Message as _;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The fast path takes what real encoders write (it would be a slow path
        /// otherwise), with the same counts.
        #[test]
        fn the_fast_path_takes_encoded_requests(req in arb::traces(), logs in arb::logs()) {
            prop_assert_eq!(walk(&super::super::TRACES, &req.encode_to_vec()), Some(req.counts()));
            prop_assert_eq!(walk(&super::super::LOGS, &logs.encode_to_vec()), Some(logs.counts()));
        }
    }

    #[test]
    fn the_word_ascii_check_agrees_with_the_standard_one() {
        // Strings of every length up to 24 with one high byte anywhere in them or just
        // outside, at the start, middle and end of the buffer.
        for len in 0..=24 {
            for high in 0..len + 2 {
                for (before, after) in [(0, 0), (3, 0), (0, 3), (9, 9)] {
                    let mut buf = vec![b'a'; before + len + after];
                    let at = before + high;
                    if high > 0 && at - 1 < buf.len() {
                        buf[at - 1] = 0xc3;
                    }
                    let text = &buf[before..before + len];
                    assert_eq!(
                        ascii(&buf, before, len),
                        text.is_ascii(),
                        "len {len}, high byte {high}, {before}+{after}"
                    );
                }
            }
        }
    }

    #[test]
    fn table_walkers_walk_the_message_they_are_named_for() {
        for &(index, message) in TABLED {
            assert!(std::ptr::eq(MESSAGES[index], message), "index {index}");
        }
    }

    #[test]
    fn ordered_walkers_follow_the_message_tables() {
        check::<Ordered<0>, 0>();
        check::<Ordered<3>, 3>();
        check::<Ordered<4>, 4>();
        check::<Ordered<6>, 6>();
        check::<Ordered<7>, 7>();
        check::<Ordered<10>, 10>();
        check::<Ordered<11>, 11>();
    }
}
