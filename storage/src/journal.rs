//! The record format of the batch journal (see `Engine::apply`).
//!
//! A multi-write batch is first written as one journal record — a single key, so the
//! database stores it whole or not at all — then applied write by write, then the record
//! is removed. A record still present when the database opens belongs to a batch a crash
//! interrupted; replaying it (every write is a blind put or delete, so replay is
//! idempotent) completes the batch.
//!
//! Layout: a sequence of writes, each `op (1 byte: 1 put, 0 delete) | tree name length
//! (u32 BE) | tree name | key length (u32 BE) | key | [value length (u32 BE) | value]`.

/// One write of a journaled batch: (tree name, key, value or `None` for a delete).
pub(crate) type JournalOp<'a> = (&'a [u8], &'a [u8], Option<&'a [u8]>);

const PUT: u8 = 1;
const DELETE: u8 = 0;

/// Encodes the writes of one batch as a journal record.
pub(crate) fn encode<'a>(ops: impl Iterator<Item = JournalOp<'a>> + Clone) -> Vec<u8> {
    let size: usize = ops
        .clone()
        .map(|(tree, key, value)| 9 + tree.len() + key.len() + value.map_or(0, |v| 4 + v.len()))
        .sum();
    let mut out = Vec::with_capacity(size);
    for (tree, key, value) in ops {
        out.push(if value.is_some() { PUT } else { DELETE });
        push_field(&mut out, tree);
        push_field(&mut out, key);
        if let Some(value) = value {
            push_field(&mut out, value);
        }
    }
    out
}

fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    // Keys and values are far below 4 GiB (request bodies are capped at megabytes).
    out.extend_from_slice(&(field.len() as u32).to_be_bytes());
    out.extend_from_slice(field);
}

/// Decodes a journal record; `None` when it is not one (a damaged record is reported
/// by the caller, never half-applied).
pub(crate) fn decode(record: &[u8]) -> Option<Vec<JournalOp<'_>>> {
    let mut ops = Vec::new();
    let mut rest = record;
    while let Some((&op, tail)) = rest.split_first() {
        let (tree, tail) = take_field(tail)?;
        let (key, tail) = take_field(tail)?;
        let (value, tail) = match op {
            PUT => {
                let (value, tail) = take_field(tail)?;
                (Some(value), tail)
            }
            DELETE => (None, tail),
            _ => return None,
        };
        ops.push((tree, key, value));
        rest = tail;
    }
    Some(ops)
}

fn take_field(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*len) as usize;
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_puts_and_deletes() {
        let ops: Vec<JournalOp<'_>> = vec![
            (b"events", b"k1", Some(b"v1")),
            (b"index", b"", None),
            (b"events", b"k2", Some(b"")),
        ];
        let record = encode(ops.iter().copied());
        assert_eq!(decode(&record), Some(ops));
        assert_eq!(decode(&[]), Some(vec![]));
    }

    #[test]
    fn rejects_damaged_records() {
        let record = encode([(&b"t"[..], &b"key"[..], Some(&b"value"[..]))].into_iter());
        for cut in 1..record.len() {
            assert_eq!(decode(&record[..cut]), None, "cut at {cut}");
        }
        let mut bad_op = record.clone();
        bad_op[0] = 7;
        assert_eq!(decode(&bad_op), None);
    }
}
