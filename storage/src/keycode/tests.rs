//! Claims: every supported type round-trips, and encoded byte order equals
//! value order; garbage input is an error, never a panic.

use std::cmp::Ordering;
use std::fmt::Debug;

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::*;

/// Bytes that serialise with `serialize_bytes` (what `serde_bytes` does).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Bytes(Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> std::result::Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

/// A keyspace enum in the style the storage layer uses.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Key {
    Version(Bytes, u64),
    Intent(Bytes),
    Meta(String, Option<i64>),
    Unit,
    Named { table: u32, row: (i64, bool) },
}

fn key() -> impl Strategy<Value = Key> {
    let bytes = prop::collection::vec(prop::sample::select(vec![0u8, 1, 0xfe, 0xff, b'a']), 0..6)
        .prop_map(Bytes);
    prop_oneof![
        (bytes.clone(), any::<u64>()).prop_map(|(b, t)| Key::Version(b, t)),
        bytes.prop_map(Key::Intent),
        (".{0,4}", any::<Option<i64>>()).prop_map(|(s, o)| Key::Meta(s, o)),
        Just(Key::Unit),
        (any::<u32>(), any::<(i64, bool)>()).prop_map(|(table, row)| Key::Named { table, row }),
    ]
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(v: &T) {
    let enc = serialize(v).unwrap();
    let dec: T = deserialize(&enc).unwrap();
    assert_eq!(&dec, v);
}

fn order<T: Serialize + Debug>(a: &T, b: &T, cmp: Ordering) {
    let (ea, eb) = (serialize(a).unwrap(), serialize(b).unwrap());
    assert_eq!(ea.cmp(&eb), cmp, "{a:?} vs {b:?}: {ea:x?} vs {eb:x?}");
}

/// Total order on non-NaN floats with -0.0 < +0.0, matching the encoding.
fn float_cmp(a: f64, b: f64) -> Ordering {
    a.total_cmp(&b)
}

proptest! {
    #[test]
    fn ints_round_trip_and_order(a: i64, b: i64, c: u64, d: u64, e: i8, f: i8, g: i128, h: i128) {
        round_trip(&a); round_trip(&c); round_trip(&e); round_trip(&g);
        order(&a, &b, a.cmp(&b));
        order(&c, &d, c.cmp(&d));
        order(&e, &f, e.cmp(&f));
        order(&g, &h, g.cmp(&h));
    }

    #[test]
    fn u32_u16_i32_i16(a: u32, b: u32, c: i32, d: i32, e: u16, f: i16, g: i16) {
        round_trip(&a); round_trip(&c); round_trip(&e); round_trip(&f);
        order(&a, &b, a.cmp(&b));
        order(&c, &d, c.cmp(&d));
        order(&f, &g, f.cmp(&g));
    }

    #[test]
    fn floats_round_trip_and_order(a in any::<f64>().prop_filter("no NaN", |f| !f.is_nan()),
                                   b in any::<f64>().prop_filter("no NaN", |f| !f.is_nan()),
                                   c in any::<f32>().prop_filter("no NaN", |f| !f.is_nan())) {
        round_trip(&a); round_trip(&c);
        order(&a, &b, float_cmp(a, b));
    }

    #[test]
    fn bools_options_chars(a: bool, b: bool, c: Option<i64>, d: Option<i64>, e: char, f: char) {
        round_trip(&a); round_trip(&c); round_trip(&e);
        order(&a, &b, a.cmp(&b));
        order(&c, &d, c.cmp(&d));
        order(&e, &f, e.cmp(&f));
    }

    #[test]
    fn strings_and_bytes(a in ".{0,8}", b in ".{0,8}",
                         c in prop::collection::vec(prop::sample::select(vec![0u8, 1, 0xff]), 0..6),
                         d in prop::collection::vec(prop::sample::select(vec![0u8, 1, 0xff]), 0..6)) {
        round_trip(&a);
        round_trip(&Bytes(c.clone()));
        order(&a, &b, a.cmp(&b));
        order(&Bytes(c.clone()), &Bytes(d.clone()), c.cmp(&d));
    }

    #[test]
    fn tuples_order_field_by_field(a in (".{0,4}", any::<i64>()), b in (".{0,4}", any::<i64>()),
                                   c in (prop::collection::vec(0u8..3, 0..4), any::<u64>()),
                                   d in (prop::collection::vec(0u8..3, 0..4), any::<u64>())) {
        round_trip(&a);
        order(&a, &b, a.cmp(&b));
        let (c, d) = ((Bytes(c.0), c.1), (Bytes(d.0), d.1));
        round_trip(&c);
        order(&c, &d, c.cmp(&d));
    }

    #[test]
    fn enums_round_trip_and_order(a in key(), b in key()) {
        round_trip(&a);
        order(&a, &b, a.cmp(&b));
    }

    #[test]
    fn byte_prefix_sorts_first(a in prop::collection::vec(any::<u8>(), 0..6), tail in prop::collection::vec(any::<u8>(), 1..4)) {
        let mut b = a.clone();
        b.extend(tail);
        order(&Bytes(a), &Bytes(b), Ordering::Less);
    }

    #[test]
    fn prefix_range_holds_exactly_the_first_field(a in ".{0,3}", b in ".{0,3}", n: i64) {
        let prefix = serialize(&a).unwrap();
        let key = serialize(&(b.clone(), n)).unwrap();
        let (start, end) = prefix_range(&prefix);
        let inside = std::ops::RangeBounds::contains(&(start, end), &key);
        prop_assert_eq!(inside, a == b);
    }

    #[test]
    fn resume_after_splits_a_range_at_the_last_key_given(
        key in prop::collection::vec(any::<u8>(), 0..6),
        other in prop::collection::vec(any::<u8>(), 0..6),
    ) {
        // Forwards the rest `[resume, ..)` holds every key above `key` and
        // not `key`; backwards the rest `[.., resume)` every key below it.
        let forwards = resume_after(&key, false);
        prop_assert_eq!(&forwards, &key_after(&key));
        prop_assert_eq!(other.as_slice() >= forwards.as_slice(), other > key);
        let backwards = resume_after(&key, true);
        prop_assert_eq!(other.as_slice() < backwards.as_slice(), other < key);
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..24)) {
        let _ = deserialize::<Key>(&bytes);
        let _ = deserialize::<(String, Option<i64>, bool)>(&bytes);
        let _ = decode_bytes(&bytes);
    }
}

#[test]
fn examples() {
    assert_eq!(
        serialize(&Bytes(vec![0, 1])).unwrap(),
        vec![0x00, 0xff, 0x01, 0x00, 0x00]
    );
    assert_eq!(
        serialize(&-1i64).unwrap(),
        vec![0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
    );
    assert_eq!(serialize(&Option::<u8>::None).unwrap(), vec![0x00]);
    assert_eq!(serialize(&Key::Unit).unwrap(), vec![3]);
    order(&-0.0f64, &0.0f64, Ordering::Less);
    order(&f64::NEG_INFINITY, &f64::MIN, Ordering::Less);
    order(&f64::MAX, &f64::INFINITY, Ordering::Less);
    order(&f64::INFINITY, &f64::NAN, Ordering::Less);
    assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
    assert_eq!(prefix_end(&[0xff, 0xff]), None);
}

#[test]
fn errors_are_specific() {
    assert_eq!(
        deserialize::<bool>(&[2]),
        Err(KeycodeError::Invalid {
            offset: 0,
            reason: "bool byte 0x02".into()
        })
    );
    assert_eq!(deserialize::<u64>(&[1, 2]), Err(KeycodeError::Eof));
    assert!(matches!(
        deserialize::<u8>(&[1, 2]),
        Err(KeycodeError::Invalid { offset: 1, .. })
    ));
    assert!(matches!(
        decode_bytes(&[b'a', 0x00, 0x01]),
        Err(KeycodeError::Invalid { offset: 2, .. })
    ));
    assert_eq!(decode_bytes(b"a"), Err(KeycodeError::Eof));
    let map: std::collections::HashMap<u8, u8> = [(1, 2)].into();
    assert_eq!(serialize(&map), Err(KeycodeError::Unsupported("maps")));
}
