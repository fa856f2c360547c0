//! JSON helpers several doors share.

use serde_json::Value;

/// `value` with every object's keys in sorted order, so that two encodings of the same
/// request compare equal (idempotency fingerprints, signed bodies).
pub fn canonical_json(value: &Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|key| (key.clone(), canonical_json(&object[key])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical_json).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let value = json!({ "b": [ { "z": 1, "a": 2 } ], "a": { "d": 1, "c": 2 } });
        assert_eq!(
            canonical_json(&value).to_string(),
            r#"{"a":{"c":2,"d":1},"b":[{"a":2,"z":1}]}"#
        );
    }
}
