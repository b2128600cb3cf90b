//! A walk of the protobuf wire format before the `protobuf` crate parses a model: it refuses
//! groups nested deeper than [`MAX_GROUP_DEPTH`]. ONNX has no groups, but the crate skips an
//! unknown group by recursion, with no depth limit (its limit of 100 is on messages), so a file of
//! nested group starts overflowed the stack: a 64 KB one under the fuzzer's sanitizer, and a few
//! MB would in any build (one level per byte).

/// Deepest group nesting accepted (real files have none).
pub const MAX_GROUP_DEPTH: usize = 32;

/// Deepest message nesting the crate parses (its recursion limit): regions below it are walked.
const MESSAGE_DEPTH: usize = 100;

/// `Err` (the byte offset) when the protobuf walk of `b`, or of any length-delimited field in it
/// read as a message, nests groups deeper than [`MAX_GROUP_DEPTH`]. A region that stops being
/// well-formed wire data is left there (it is bytes, such as tensor data, or the crate's parse
/// fails at that point too); groups before that point count. Iterative: no recursion here.
pub fn check_groups(b: &[u8]) -> Result<(), usize> {
    // (start, end, message depth) of the regions still to walk.
    let mut regions = vec![(0usize, b.len(), 0usize)];
    while let Some((mut i, end, depth)) = regions.pop() {
        let mut groups = 0usize;
        while i < end {
            let Some((tag, n)) = varint(&b[i..end]) else { break };
            let at = i;
            i += n;
            if tag >> 3 == 0 {
                break; // field number 0: not a message
            }
            match tag & 7 {
                0 => match varint(&b[i..end]) {
                    Some((_, n)) => i += n,
                    None => break,
                },
                1 if end - i >= 8 => i += 8,
                5 if end - i >= 4 => i += 4,
                2 => {
                    let Some((len, n)) = varint(&b[i..end]) else { break };
                    i += n;
                    let Ok(len) = usize::try_from(len) else { break };
                    if len > end - i {
                        break;
                    }
                    if depth < MESSAGE_DEPTH && len > 0 {
                        regions.push((i, i + len, depth + 1));
                    }
                    i += len;
                }
                3 => {
                    groups += 1;
                    if groups > MAX_GROUP_DEPTH {
                        return Err(at);
                    }
                }
                4 if groups > 0 => groups -= 1,
                _ => break,
            }
        }
    }
    Ok(())
}

/// A base-128 varint at the start of `b` (at most 10 bytes) and its length.
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (k, &byte) in b.iter().take(10).enumerate() {
        v |= u64::from(byte & 0x7f) << (7 * k);
        if byte & 0x80 == 0 {
            return Some((v, k + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_groups_are_refused_anywhere_shallow_ones_pass() {
        // Field 1, wire type 3 (start group) a million times: the stack overflow the fuzzer found.
        assert_eq!(check_groups(&vec![0x0b; 1 << 20]), Err(MAX_GROUP_DEPTH));
        // The same inside a length-delimited field of a length-delimited field.
        let inner = vec![0x0b; 100];
        let mut mid = vec![0x12, 100];
        mid.extend(&inner);
        let mut outer = vec![0x0a, mid.len() as u8];
        outer.extend(&mid);
        assert!(check_groups(&outer).is_err());
        // Nested groups within the limit, closed again, and ordinary fields.
        let mut ok = vec![0x0b; MAX_GROUP_DEPTH];
        ok.extend(vec![0x0c; MAX_GROUP_DEPTH]);
        ok.extend([0x08, 0x96, 0x01, 0x15, 1, 2, 3, 4]);
        assert_eq!(check_groups(&ok), Ok(()));
        assert_eq!(check_groups(&[]), Ok(()));
        // Bytes that are not wire data stop the walk of their region, not the check.
        assert_eq!(check_groups(&[0x0a, 3, 0xff, 0xff, 0xff]), Ok(()));
    }
}
