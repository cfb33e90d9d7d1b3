//! Money as JSON. Both services send amounts as JSON numbers, sometimes as strings; serde_json
//! (without `arbitrary_precision`) hands numbers over as `f64`, so a number is read through its
//! shortest decimal form (`12345.67`, never `12345.6699999…`).

use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Deserializer, Serializer};
use serde_json::{Number, Value};

/// A decimal from a JSON number or numeric string; `None` for anything else.
pub(crate) fn from_value(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                Some(Decimal::from(int))
            } else if let Some(uint) = number.as_u64() {
                Some(Decimal::from(uint))
            } else {
                // `f64`'s Display is the shortest text that reads back as the same float.
                number.as_f64().and_then(|float| parse(&float.to_string()))
            }
        }
        Value::String(text) => parse(text.trim()),
        _ => None,
    }
}

fn parse(text: &str) -> Option<Decimal> {
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

/// A decimal as a JSON number: exact for whole amounts, `f64` precision otherwise.
pub(crate) fn to_value(value: Decimal) -> Value {
    if value.fract().is_zero()
        && let Some(int) = value.to_i64()
    {
        return Value::from(int);
    }
    value
        .to_f64()
        .and_then(Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// Serde helpers for `Option<Decimal>` written as a JSON number, read from a number or a string.
pub(crate) mod option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serde::Serialize::serialize(&to_value(*value), serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        match Option::<Value>::deserialize(deserializer)? {
            None | Some(Value::Null) => Ok(None),
            Some(value) => from_value(&value).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("expected a decimal amount, got {value}"))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn reads_numbers_and_strings_exactly() {
        assert_eq!(from_value(&json!(12345.67)), Some(dec("12345.67")));
        assert_eq!(from_value(&json!(0.1)), Some(dec("0.1")));
        assert_eq!(from_value(&json!(250000)), Some(dec("250000")));
        assert_eq!(from_value(&json!("99999.9999")), Some(dec("99999.9999")));
        assert_eq!(from_value(&json!("1e3")), Some(dec("1000")));
        assert_eq!(from_value(&json!("ten")), None);
        assert_eq!(from_value(&json!(true)), None);
    }

    #[test]
    fn writes_numbers() {
        assert_eq!(to_value(dec("250000.00")), json!(250000));
        assert_eq!(to_value(dec("12345.67")), json!(12345.67));
    }
}
