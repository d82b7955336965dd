//! NUMERIC: exact decimals (`rust_decimal`: 28 significant digits, the
//! limit here where PostgreSQL's is far larger), stored by their 16-byte
//! form, ordered in keys by a memcomparable encoding.

use std::fmt;

use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Result, SqlError};

/// An exact decimal value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Numeric(pub Decimal);

impl Serialize for Numeric {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Numeric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        <[u8; 16]>::deserialize(d).map(|b| Numeric(Decimal::deserialize(b)))
    }
}

impl fmt::Display for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

fn overflow() -> SqlError {
    SqlError::numeric_out_of_range("value overflows numeric format")
}

/// The weight of `d`'s first non-zero digit in base 10,000 (PostgreSQL's
/// numeric digits) and that digit; (0, 0) for zero.
fn weight_and_first_digit(d: Decimal) -> (i64, u128) {
    if d.is_zero() {
        return (0, 0);
    }
    let m = d.mantissa().unsigned_abs();
    let digits = i64::from(m.ilog10()) + 1;
    // The decimal exponent of the leading digit, its base-10,000 weight,
    // and how many leading decimal digits make that base-10,000 digit.
    let exponent = digits - 1 - i64::from(d.scale());
    let weight = exponent.div_euclid(4);
    let width = exponent - 4 * weight + 1;
    let first = if width >= digits {
        m * 10u128.pow(u32::try_from(width - digits).unwrap_or(0))
    } else {
        m / 10u128.pow(u32::try_from(digits - width).unwrap_or(0))
    };
    (weight, first)
}

/// The scale PostgreSQL gives `a / b` (`select_div_scale`): at least 16
/// significant digits, and no fewer decimals than either operand shows
/// (`10.00 / 3` is 3.3333333333333333, `1.0 / 3` 0.33333333333333333333);
/// here at most 28.
fn division_scale(a: Decimal, b: Decimal) -> u32 {
    let (w1, f1) = weight_and_first_digit(a);
    let (w2, f2) = weight_and_first_digit(b);
    let mut qweight = w1 - w2;
    if f1 <= f2 {
        qweight -= 1;
    }
    let scale = (16 - qweight * 4)
        .max(i64::from(a.scale()))
        .max(i64::from(b.scale()))
        .clamp(0, 28);
    u32::try_from(scale).unwrap_or(28)
}

impl Numeric {
    /// Text as PostgreSQL reads a numeric (`1.50`, `-3`, `1e5`).
    pub fn parse(s: &str) -> Result<Numeric> {
        let t = s.trim();
        let d = if t.contains(['e', 'E']) {
            Decimal::from_scientific(t)
        } else {
            Decimal::from_str_exact(t)
        };
        d.map(Numeric).map_err(|e| {
            if matches!(
                e,
                rust_decimal::Error::ExceedsMaximumPossibleValue
                    | rust_decimal::Error::LessThanMinimumPossibleValue
                    | rust_decimal::Error::Underflow
            ) {
                overflow()
            } else {
                SqlError::invalid_text(format!("invalid input syntax for type numeric: \"{s}\""))
            }
        })
    }

    /// An integer, exactly.
    pub fn from_int(i: i64) -> Numeric {
        Numeric(Decimal::from(i))
    }

    /// A float, as its shortest decimal text reads (0.1 is 0.1).
    pub fn from_float(x: f64) -> Result<Numeric> {
        if !x.is_finite() {
            return Err(SqlError::not_supported(format!(
                "{x} as a numeric (NaN and infinities)"
            )));
        }
        Numeric::parse(&x.to_string())
    }

    /// As a float (nearest).
    pub fn to_float(self) -> f64 {
        self.0.to_f64().unwrap_or(f64::NAN)
    }

    /// Rounded to an integer (half away from zero), if it fits.
    pub fn to_int(self) -> Result<i64> {
        self.0
            .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
            .to_i64()
            .ok_or_else(|| SqlError::numeric_out_of_range("bigint out of range"))
    }

    /// `self op other`; 22003 on overflow, 22012 on a zero divisor.
    pub fn arith(self, op: char, other: Numeric) -> Result<Numeric> {
        let (a, b) = (self.0, other.0);
        if matches!(op, '/' | '%') && b.is_zero() {
            return Err(SqlError::division_by_zero("division by zero"));
        }
        match op {
            '+' => a.checked_add(b),
            '-' => a.checked_sub(b),
            '*' => a.checked_mul(b),
            '/' => a.checked_div(b).map(|q| {
                let scale = division_scale(a, b);
                let mut q = q.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
                q.rescale(scale);
                q
            }),
            _ => a.checked_rem(b),
        }
        .map(Numeric)
        .ok_or_else(overflow)
    }

    /// `sqrt(numeric)` at PostgreSQL's scale: at least 16 significant
    /// digits, and no fewer decimals than the argument shows
    /// (`sqrt(2::numeric)` is 1.414213562373095, `sqrt(0.0001)`
    /// 0.01000000000000000); 2201F for a negative number.
    pub fn sqrt(self) -> Result<Numeric> {
        let (weight, _) = weight_and_first_digit(self.0);
        // The base-10,000 weight of the root, in decimal digits.
        let root_weight = (weight + 1) * 4 / 2 - 1;
        let scale = (16 - root_weight)
            .max(i64::from(self.0.scale()))
            .clamp(0, 28);
        self.sqrt_at(u32::try_from(scale).unwrap_or(28))
    }

    /// The square root rounded to `scale` decimals (half away from zero);
    /// 2201F for a negative number. Newton's method from the float root,
    /// to the 28 significant digits of the representation.
    pub fn sqrt_at(self, scale: u32) -> Result<Numeric> {
        let v = self.0;
        if v.is_sign_negative() && !v.is_zero() {
            return Err(SqlError::invalid_argument_for_power(
                "cannot take square root of a negative number",
            ));
        }
        let mut root = Decimal::ZERO;
        if !v.is_zero() {
            root = v
                .to_f64()
                .and_then(|x| Decimal::from_f64(x.sqrt()))
                .filter(|r| !r.is_zero())
                .unwrap_or(Decimal::ONE);
            for _ in 0..64 {
                let quotient = v.checked_div(root).ok_or_else(overflow)?;
                let next = root
                    .checked_add(quotient)
                    .and_then(|t| t.checked_div(Decimal::TWO))
                    .ok_or_else(overflow)?;
                if next == root {
                    break;
                }
                root = next;
            }
        }
        let mut r = root.round_dp_with_strategy(scale, RoundingStrategy::MidpointAwayFromZero);
        r.rescale(scale);
        Ok(Numeric(r))
    }

    /// Rounded to `scale` decimals (half away from zero, as PostgreSQL).
    pub fn round(self, scale: i64) -> Numeric {
        let dp = u32::try_from(scale.clamp(0, 28)).unwrap_or(0);
        Numeric(
            self.0
                .round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero),
        )
    }

    /// Fitted to NUMERIC(`precision`, `scale`): rounded to the scale
    /// (and shown with it), 22003 if its integer digits exceed
    /// `precision - scale`.
    pub fn fit(self, precision: u32, scale: u32) -> Result<Numeric> {
        let mut d = self
            .0
            .round_dp_with_strategy(scale.min(28), RoundingStrategy::MidpointAwayFromZero);
        d.rescale(scale.min(28));
        let integer_digits = d.trunc().abs().to_string().trim_start_matches('0').len() as u32;
        if integer_digits + scale > precision {
            return Err(SqlError::numeric_out_of_range(format!(
                "numeric field overflow: a field with precision {precision}, scale {scale} must round to an absolute value less than 10^{}",
                precision.saturating_sub(scale)
            )));
        }
        Ok(Numeric(d))
    }

    /// The memcomparable key encoding: a sign byte (negative, zero,
    /// positive), then for non-zero values the decimal exponent and the
    /// significant digits (each digit + 1, then 0), all inverted when
    /// negative.
    pub fn encode_key(self, out: &mut Vec<u8>) {
        let d = self.0.normalize();
        if d.is_zero() {
            out.push(0x02);
            return;
        }
        let digits = d.mantissa().unsigned_abs().to_string();
        // d = 0.digits × 10^exponent
        let exponent = digits.len() as i32 - d.scale() as i32;
        let mut body = Vec::with_capacity(digits.len() + 2);
        body.push((exponent + 128).clamp(0, 255) as u8);
        body.extend(digits.bytes().map(|b| b - b'0' + 1));
        body.push(0);
        if d.is_sign_negative() {
            out.push(0x01);
            out.extend(body.iter().map(|b| !b));
        } else {
            out.push(0x03);
            out.extend(body);
        }
    }

    /// A numeric from PostgreSQL's binary form (see [`Self::to_pg_binary`]),
    /// shown with its display scale; `None` when it is malformed, NaN or
    /// an infinity, or beyond 28 digits.
    pub fn from_pg_binary(raw: &[u8]) -> Option<Numeric> {
        let word = |i: usize| {
            raw.get(2 * i..2 * i + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
        };
        let ndigits = usize::from(word(0)?);
        let weight = i64::from(word(1)? as i16);
        let negative = match word(2)? {
            0 => false,
            0x4000 => true,
            _ => return None,
        };
        let dscale = u32::from(word(3)?);
        if raw.len() != 8 + 2 * ndigits || weight > 8 || dscale > 28 {
            return None;
        }
        let digits: Vec<u16> = (0..ndigits).map(|i| word(4 + i)).collect::<Option<_>>()?;
        if digits.iter().any(|d| *d > 9999) {
            return None;
        }
        // The base-10,000 digit of weight `w` (zero outside those sent).
        let digit = |w: i64| {
            usize::try_from(weight - w)
                .ok()
                .and_then(|i| digits.get(i))
                .copied()
                .unwrap_or(0)
        };
        let mut text = String::from(if negative { "-" } else { "" });
        text.push('0');
        for w in (0..=weight).rev() {
            text.push_str(&format!("{:04}", digit(w)));
        }
        let fraction_groups = (i64::try_from(ndigits).ok()? - 1 - weight).max(0);
        if fraction_groups > 0 {
            text.push('.');
            for k in 1..=fraction_groups.min(8) {
                text.push_str(&format!("{:04}", digit(-k)));
            }
        }
        let mut d = Decimal::from_str_exact(&text).ok()?;
        d = d.round_dp_with_strategy(dscale, RoundingStrategy::MidpointAwayFromZero);
        d.rescale(dscale);
        Some(Numeric(d))
    }

    /// PostgreSQL's binary numeric: digit count, weight, sign and display
    /// scale (16 bits each), then base-10000 digits.
    pub fn to_pg_binary(self) -> Vec<u8> {
        let d = self.0;
        let scale = d.scale();
        let text = d.abs().to_string();
        let (int_part, frac_part) = match text.split_once('.') {
            Some((i, f)) => (i.to_string(), f.to_string()),
            None => (text, String::new()),
        };
        let int_part = int_part.trim_start_matches('0');
        // Integer digits in groups of four from the right, the fraction
        // in groups of four from the left.
        let pad = (4 - int_part.len() % 4) % 4;
        let int_padded = format!("{}{int_part}", "0".repeat(pad));
        let frac_pad = (4 - frac_part.len() % 4) % 4;
        let frac_padded = format!("{frac_part}{}", "0".repeat(frac_pad));
        let group = |s: &str| -> Vec<i16> {
            s.as_bytes()
                .chunks(4)
                .map(|c| {
                    std::str::from_utf8(c)
                        .ok()
                        .and_then(|g| g.parse().ok())
                        .unwrap_or(0)
                })
                .collect()
        };
        let int_groups = group(&int_padded);
        let frac_groups = group(&frac_padded);
        let mut weight = int_groups.len() as i16 - 1;
        let mut groups: Vec<i16> = int_groups.into_iter().chain(frac_groups).collect();
        // Leading zero groups move the weight; trailing ones are dropped.
        while groups.first() == Some(&0) {
            groups.remove(0);
            weight -= 1;
        }
        while groups.last() == Some(&0) {
            groups.pop();
        }
        if groups.is_empty() {
            weight = 0;
        }
        let sign: u16 = if d.is_sign_negative() && !d.is_zero() {
            0x4000
        } else {
            0
        };
        let mut out = Vec::with_capacity(8 + 2 * groups.len());
        out.extend((groups.len() as i16).to_be_bytes());
        out.extend(weight.to_be_bytes());
        out.extend(sign.to_be_bytes());
        out.extend((scale as u16).to_be_bytes());
        for g in groups {
            out.extend(g.to_be_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Numeric {
        Numeric::parse(s).unwrap()
    }

    #[test]
    fn keys_sort_as_the_numbers_do() {
        let values = [
            "-1000", "-12.5", "-12.45", "-1", "-0.5", "-0.05", "0", "0.001", "0.01", "0.1", "1",
            "1.5", "2", "10", "12.45", "12.5", "99.99", "100", "1e20",
        ];
        let keys: Vec<Vec<u8>> = values
            .iter()
            .map(|s| {
                let mut k = Vec::new();
                n(s).encode_key(&mut k);
                k
            })
            .collect();
        for w in keys.windows(2) {
            assert!(w[0] < w[1], "{w:?}");
        }
        // Equal values, equal keys, whatever their scale.
        let (mut a, mut b) = (Vec::new(), Vec::new());
        n("1.50").encode_key(&mut a);
        n("1.5").encode_key(&mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn square_roots_have_postgresqls_scale() {
        // PostgreSQL 15's answers.
        for (v, root) in [
            ("2", "1.414213562373095"),
            ("100", "10.000000000000000"),
            ("10000", "100.0000000000000"),
            ("0.0001", "0.01000000000000000"),
            ("2.00000000000000000000", "1.41421356237309504880"),
            ("0", "0.000000000000000"),
            ("123456789", "11111.11106055556"),
        ] {
            assert_eq!(n(v).sqrt().unwrap().to_string(), root, "sqrt({v})");
        }
        assert_eq!(
            n("1.6666666666666667").sqrt_at(16).unwrap().to_string(),
            "1.2909944487358056"
        );
        let e = n("-1").sqrt().unwrap_err();
        assert_eq!(e.code, "2201F");
    }

    #[test]
    fn quotients_have_postgresqls_scale() {
        // PostgreSQL 15's results.
        for (a, b, want) in [
            ("10.00", "3", "3.3333333333333333"),
            ("7.0", "2", "3.5000000000000000"),
            ("1.0", "3", "0.33333333333333333333"),
            ("1", "30000.0", "0.000033333333333333333333"),
            ("123456.789", "7", "17636.684142857143"),
            ("0.005", "3", "0.00166666666666666667"),
            ("2.5", "0.5", "5.0000000000000000"),
            ("-1.0", "3", "-0.33333333333333333333"),
            ("0", "3.0", "0.00000000000000000000"),
            ("100000", "3", "33333.333333333333"),
        ] {
            assert_eq!(
                n(a).arith('/', n(b)).unwrap().to_string(),
                want,
                "{a} / {b}"
            );
        }
    }

    #[test]
    fn precision_and_scale_round_and_refuse_as_postgresql() {
        assert_eq!(n("1.005").fit(5, 2).unwrap().to_string(), "1.01");
        assert_eq!(n("-1.005").fit(5, 2).unwrap().to_string(), "-1.01");
        assert_eq!(n("3").fit(5, 2).unwrap().to_string(), "3.00");
        assert_eq!(n("999.994").fit(5, 2).unwrap().to_string(), "999.99");
        assert!(n("999.995").fit(5, 2).is_err());
        assert!(n("1000").fit(5, 2).is_err());
        assert!(Numeric::parse("1.2.3").is_err());
        assert_eq!(n("1e3").to_string(), "1000");
    }

    #[test]
    fn binary_form_is_postgresqls() {
        // 12345.678: digits 1, 2345, 6780; weight 1; scale 3.
        assert_eq!(
            n("12345.678").to_pg_binary(),
            [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]
        );
        // -0.05: one digit 500 at weight -1.
        assert_eq!(
            n("-0.05").to_pg_binary(),
            [0, 1, 0xff, 0xff, 0x40, 0, 0, 2, 0x01, 0xf4]
        );
        assert_eq!(n("0").to_pg_binary(), [0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn binary_form_reads_back_with_its_scale() {
        for s in [
            "12345.678",
            "-0.05",
            "0",
            "0.00",
            "1.50",
            "10000",
            "99999999.99990000",
            "-123456789012345678.9",
            "0.0000123",
        ] {
            let back = Numeric::from_pg_binary(&n(s).to_pg_binary()).unwrap();
            assert_eq!(back.to_string(), s, "{s}");
        }
        // As PostgreSQL sends 2.5 with a display scale of 2; NaN; a digit
        // past 9999; a length that disagrees with the digit count.
        assert_eq!(
            Numeric::from_pg_binary(&[0, 2, 0, 0, 0, 0, 0, 2, 0, 2, 0x13, 0x88])
                .unwrap()
                .to_string(),
            "2.50"
        );
        assert!(Numeric::from_pg_binary(&[0, 0, 0, 0, 0xc0, 0, 0, 0]).is_none());
        assert!(Numeric::from_pg_binary(&[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10]).is_none());
        assert!(Numeric::from_pg_binary(&[0, 2, 0, 0, 0, 0, 0, 0, 0, 1]).is_none());
    }
}
