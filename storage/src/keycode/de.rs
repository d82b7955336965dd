//! The serde deserializer: order-preserving bytes back to values.

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Visitor};

use super::bytes::decode_bytes;
use super::error::{KeycodeError, Result};

/// Decodes a value encoded by [`super::serialize`]. Trailing bytes are an error.
pub fn deserialize<'de, T: Deserialize<'de>>(input: &'de [u8]) -> Result<T> {
    let mut de = Deserializer { input, pos: 0 };
    let value = T::deserialize(&mut de)?;
    if de.pos != input.len() {
        return Err(KeycodeError::Invalid {
            offset: de.pos,
            reason: format!("{} trailing bytes", input.len() - de.pos),
        });
    }
    Ok(value)
}

struct Deserializer<'de> {
    input: &'de [u8],
    pos: usize,
}

impl<'de> Deserializer<'de> {
    fn take(&mut self, n: usize) -> Result<&'de [u8]> {
        let end = self.pos.checked_add(n).ok_or(KeycodeError::Eof)?;
        let bytes = self.input.get(self.pos..end).ok_or(KeycodeError::Eof)?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn byte_string(&mut self) -> Result<Vec<u8>> {
        let (bytes, used) = decode_bytes(&self.input[self.pos..]).map_err(|e| match e {
            KeycodeError::Invalid { offset, reason } => KeycodeError::Invalid {
                offset: self.pos + offset,
                reason,
            },
            other => other,
        })?;
        self.pos += used;
        Ok(bytes)
    }

    fn invalid(&self, reason: impl Into<String>) -> KeycodeError {
        KeycodeError::Invalid {
            offset: self.pos,
            reason: reason.into(),
        }
    }
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = KeycodeError;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(KeycodeError::Unsupported(
            "self-describing decoding (deserialize_any)",
        ))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.take(1)?[0] {
            0 => visitor.visit_bool(false),
            1 => visitor.visit_bool(true),
            b => {
                self.pos -= 1;
                Err(self.invalid(format!("bool byte {b:#04x}")))
            }
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_i8((self.take(1)?[0] ^ 0x80) as i8)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_i16((u16::from_be_bytes(self.array()?) ^ (1 << 15)) as i16)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_i32((u32::from_be_bytes(self.array()?) ^ (1 << 31)) as i32)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_i64((u64::from_be_bytes(self.array()?) ^ (1 << 63)) as i64)
    }
    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_i128((u128::from_be_bytes(self.array()?) ^ (1 << 127)) as i128)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u8(self.take(1)?[0])
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u16(u16::from_be_bytes(self.array()?))
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u32(u32::from_be_bytes(self.array()?))
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u64(u64::from_be_bytes(self.array()?))
    }
    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u128(u128::from_be_bytes(self.array()?))
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let bits = u32::from_be_bytes(self.array()?);
        let bits = if bits >> 31 == 1 {
            bits ^ (1 << 31)
        } else {
            !bits
        };
        visitor.visit_f32(f32::from_bits(bits))
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let bits = u64::from_be_bytes(self.array()?);
        let bits = if bits >> 63 == 1 {
            bits ^ (1 << 63)
        } else {
            !bits
        };
        visitor.visit_f64(f64::from_bits(bits))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let start = self.pos;
        let code = u32::from_be_bytes(self.array()?);
        let c = char::from_u32(code).ok_or_else(|| KeycodeError::Invalid {
            offset: start,
            reason: format!("{code:#x} is not a char"),
        })?;
        visitor.visit_char(c)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_string(visitor)
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let start = self.pos;
        let bytes = self.byte_string()?;
        let s = String::from_utf8(bytes).map_err(|e| KeycodeError::Invalid {
            offset: start,
            reason: format!("string is not UTF-8: {e}"),
        })?;
        visitor.visit_string(s)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_byte_buf(visitor)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_byte_buf(self.byte_string()?)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.take(1)?[0] {
            0 => visitor.visit_none(),
            1 => visitor.visit_some(self),
            b => {
                self.pos -= 1;
                Err(self.invalid(format!("option tag {b:#04x}")))
            }
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    /// NB: sequences carry no length, so a sequence must be the last field of
    /// a key; it runs to the end of the input.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_seq(Rest { de: self })
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        visitor.visit_seq(Fixed {
            de: self,
            left: len,
        })
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_seq(Fixed {
            de: self,
            left: len,
        })
    }
    fn deserialize_map<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(KeycodeError::Unsupported("maps"))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_seq(Fixed {
            de: self,
            left: fields.len(),
        })
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_enum(self)
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(KeycodeError::Unsupported("identifiers"))
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(KeycodeError::Unsupported("ignored fields"))
    }
}

/// A fixed number of elements (tuples, structs, variant fields).
struct Fixed<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Fixed<'_, 'de> {
    type Error = KeycodeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// Elements until the input ends (a trailing sequence).
struct Rest<'a, 'de> {
    de: &'a mut Deserializer<'de>,
}

impl<'de> de::SeqAccess<'de> for Rest<'_, 'de> {
    type Error = KeycodeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if self.de.pos >= self.de.input.len() {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

impl<'de> de::EnumAccess<'de> for &mut Deserializer<'de> {
    type Error = KeycodeError;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self)> {
        let index = u32::from(self.take(1)?[0]);
        let value = seed.deserialize(de::value::U32Deserializer::<KeycodeError>::new(index))?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Deserializer<'de> {
    type Error = KeycodeError;
    fn unit_variant(self) -> Result<()> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        visitor.visit_seq(Fixed {
            de: self,
            left: len,
        })
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_seq(Fixed {
            de: self,
            left: fields.len(),
        })
    }
}
