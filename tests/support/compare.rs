//! "Expected is a subset of actual" with a readable first difference.

use serde_json::Value;

/// `Ok` when every key of `expected` is in `actual` with an equal value
/// (objects compared key by key, recursively; arrays and scalars whole).
/// An expected `null` also matches a missing key, so a scenario can say
/// "deck d1 is gone" (`"decks": {"d1": null}`).
/// `Err` names the JSON path of the first mismatch and both values.
pub fn subset(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{path}.{k}");
                match a.get(k) {
                    Some(av) => subset(ev, av, &p)?,
                    None if ev.is_null() => {}
                    None => return Err(format!("{p}: expected {}, but it is missing", short(ev))),
                }
            }
            Ok(())
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{path}: expected {}, got {}", short(e), short(a))),
    }
}

/// The first difference between two whole values, for convergence errors.
pub fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => {
                        if let Some(d) = first_difference(u, v, &p) {
                            return Some(d);
                        }
                    }
                    (u, v) => return Some(format!("{p}: {} vs {}", opt(u), opt(v))),
                }
            }
            None
        }
        (x, y) if x == y => None,
        (x, y) => Some(format!("{path}: {} vs {}", short(x), short(y))),
    }
}

fn opt(v: Option<&Value>) -> String {
    v.map_or_else(|| "(missing)".to_string(), short)
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_reports_the_path() {
        let actual =
            json!({"decks": {"d1": {"name": "Math", "emoji": "➕"}}, "starred": ["a", "b"]});
        assert!(subset(&json!({"decks": {"d1": {"name": "Math"}}}), &actual, "$").is_ok());
        let e = subset(&json!({"decks": {"d1": {"name": "Maths"}}}), &actual, "$").unwrap_err();
        assert!(e.starts_with("$.decks.d1.name: expected \"Maths\""), "{e}");
        assert!(subset(&json!({"starred": ["a"]}), &actual, "$").is_err());
        assert!(subset(&json!({"x": 1}), &actual, "$")
            .unwrap_err()
            .contains("missing"));
        assert!(subset(&json!({"decks": {"d2": null}}), &actual, "$").is_ok());
        assert!(subset(&json!({"decks": {"d1": null}}), &actual, "$").is_err());
    }
}
