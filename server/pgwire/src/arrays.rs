//! Arrays in PostgreSQL's binary format (`array_send`/`array_recv`): the
//! number of dimensions, a NULL flag, the element type's OID, each
//! dimension's length and lower bound, then every element as a length
//! (-1 for NULL) and its binary value. One dimension only, as Spanlite's
//! arrays have.

use spanlite_sql::{SqlError, Value, Width};

use super::types::{TEXT, decode_binary, encode_declared, oid_of_declared};

/// The OID of the array type of the type with OID `elem` (`text[]` for a
/// type without one: an enum type's arrays are text for now).
pub fn array_of(elem: u32) -> u32 {
    spanlite_sql::compat::array_type_oid(i64::from(elem))
        .and_then(|o| u32::try_from(o).ok())
        .unwrap_or(1009)
}

/// The element type's OID when `oid` is an array type's.
pub fn element_of(oid: u32) -> Option<u32> {
    spanlite_sql::compat::array_element_oid(i64::from(oid)).and_then(|o| u32::try_from(o).ok())
}

/// `items` (elements of a column declared with element width `width`) in
/// the binary format.
pub fn encode(items: &[Value], width: Option<Width>) -> Vec<u8> {
    let elem = items
        .iter()
        .find_map(Value::data_type)
        .map_or(TEXT, |t| oid_of_declared(Some(t), width).0);
    let mut out = Vec::new();
    let dims: i32 = i32::from(!items.is_empty());
    out.extend(dims.to_be_bytes());
    out.extend(i32::from(items.iter().any(Value::is_null)).to_be_bytes());
    out.extend(elem.to_be_bytes());
    if dims == 1 {
        out.extend(i32::try_from(items.len()).unwrap_or(i32::MAX).to_be_bytes());
        out.extend(1i32.to_be_bytes());
    }
    for item in items {
        match encode_declared(item, 1, width) {
            None => out.extend((-1i32).to_be_bytes()),
            Some(bytes) => {
                out.extend(i32::try_from(bytes.len()).unwrap_or(i32::MAX).to_be_bytes());
                out.extend(bytes);
            }
        }
    }
    out
}

/// A binary parameter of array type `oid`: 22P03 for a malformed one,
/// 0A000 for more than one dimension.
pub fn decode(raw: &[u8], oid: u32) -> Result<Value, SqlError> {
    let bad = |why: &str| {
        SqlError::invalid_binary_representation(format!(
            "a binary array parameter of {} bytes: {why}",
            raw.len()
        ))
    };
    let mut rest = raw;
    let int = |rest: &mut &[u8]| -> Result<i32, SqlError> {
        let (head, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| bad("it ends early"))?;
        *rest = tail;
        Ok(i32::from_be_bytes(*head))
    };
    let dims = int(&mut rest)?;
    let _has_null = int(&mut rest)?;
    let elem = int(&mut rest)? as u32;
    if Some(elem) != element_of(oid) {
        return Err(bad(&format!(
            "elements of type OID {elem} in an array of type OID {oid}"
        )));
    }
    let n = match dims {
        0 => 0,
        1 => {
            let n = int(&mut rest)?;
            let _lower = int(&mut rest)?;
            usize::try_from(n).map_err(|_| bad("a negative length"))?
        }
        d if d > 1 => {
            return Err(SqlError::not_supported("arrays of more than one dimension"));
        }
        _ => return Err(bad("a negative number of dimensions")),
    };
    let mut items = Vec::with_capacity(n.min(rest.len() / 4));
    for _ in 0..n {
        let len = int(&mut rest)?;
        if len < 0 {
            items.push(Value::Null);
            continue;
        }
        let len = usize::try_from(len).map_err(|_| bad("a bad length"))?;
        if len > rest.len() {
            return Err(bad("an element past its end"));
        }
        let (bytes, tail) = rest.split_at(len);
        rest = tail;
        items.push(decode_binary(bytes, elem)?);
    }
    if !rest.is_empty() {
        return Err(bad("bytes after its last element"));
    }
    Ok(Value::Array(items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_round_trip_in_the_binary_format() {
        let items = vec![Value::Int(1), Value::Null, Value::Int(-7)];
        let bytes = encode(&items, Some(Width::Int4));
        assert_eq!(&bytes[8..12], &23u32.to_be_bytes(), "int4 elements");
        assert_eq!(decode(&bytes, 1007).unwrap(), Value::Array(items));
        let empty = encode(&[], None);
        assert_eq!(decode(&empty, 1009).unwrap(), Value::Array(Vec::new()));
        assert_eq!(
            decode(&bytes[..bytes.len() - 1], 1007).unwrap_err().code,
            "22P03"
        );
        assert_eq!(decode(&bytes, 1016).unwrap_err().code, "22P03");
    }
}
