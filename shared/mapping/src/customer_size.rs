//! `customerProfile.size`: Microsoft's published values (partner-rest referral-resources,
//! "Customer Size"), from an account column holding either a number of employees — bucketed —
//! or one of the values itself.

/// The published values, as referral-resources lists them (two overlapping sets: the older
/// three coarse ones first).
pub const PUBLISHED: &[&str] = &[
    "1to50employees",
    "51to500employees",
    "Morethan500employees",
    "1to9employees",
    "10to50employees",
    "51to250employees",
    "251to1000employees",
    "1001to5000employees",
    "5001to10000employees",
    "10001to20000employees",
    "Morethan20000employees",
];

/// The fine-grained bucket holding `employees`; `None` for none or fewer.
pub fn of_employees(employees: i64) -> Option<&'static str> {
    Some(match employees {
        i64::MIN..=0 => return None,
        1..=9 => "1to9employees",
        10..=50 => "10to50employees",
        51..=250 => "51to250employees",
        251..=1000 => "251to1000employees",
        1001..=5000 => "1001to5000employees",
        5001..=10_000 => "5001to10000employees",
        10_001..=20_000 => "10001to20000employees",
        _ => "Morethan20000employees",
    })
}

/// A column's value as a size: a whole number of employees (JSON number or digits), or a
/// published value in any case. `None` for anything else.
pub fn read(value: &serde_json::Value) -> Option<&'static str> {
    match value {
        serde_json::Value::Number(n) => n.as_i64().and_then(of_employees),
        serde_json::Value::String(text) => {
            let text = text.trim();
            match text.parse::<i64>() {
                Ok(employees) => of_employees(employees),
                Err(_) => PUBLISHED
                    .iter()
                    .find(|value| value.eq_ignore_ascii_case(text))
                    .copied(),
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn numbers_fall_in_the_published_buckets() {
        assert_eq!(read(&json!(0)), None);
        assert_eq!(read(&json!(9)), Some("1to9employees"));
        assert_eq!(read(&json!(10)), Some("10to50employees"));
        assert_eq!(read(&json!(" 250 ")), Some("51to250employees"));
        assert_eq!(read(&json!(20_000)), Some("10001to20000employees"));
        assert_eq!(read(&json!(20_001)), Some("Morethan20000employees"));
        for employees in [1, 9, 50, 51, 1000, 5000, 10_000, 1_000_000] {
            let size = of_employees(employees).unwrap();
            assert!(PUBLISHED.contains(&size), "{size}");
        }
    }

    #[test]
    fn a_published_value_is_taken_in_any_case_and_nothing_else_is() {
        assert_eq!(read(&json!("51TO500EMPLOYEES")), Some("51to500employees"));
        assert_eq!(read(&json!("about 40")), None);
        assert_eq!(read(&json!(12.5)), None);
        assert_eq!(read(&json!(true)), None);
    }
}
