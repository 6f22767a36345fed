//! JSON values in Automerge, both ways.
//!
//! Objects become maps, arrays lists, numbers keep their integer or float
//! form (`45` stays `45`, `100.0` stays `100.0`), so what the app wrote comes
//! back unchanged. Writes reconcile at the narrowest path: unchanged leaves
//! are not written, nested objects are descended into, so an edit of one
//! field is one operation. Arrays are small in this data (tags, cards,
//! card results) and are replaced whole when they differ.
//!
//! Reads merge conflicts: when two devices created the same map key
//! concurrently, Automerge keeps both objects and [`read_prop`] merges them
//! key by key (the winning object's keys last), so neither device's fields
//! disappear.

use automerge::transaction::Transactable;
use automerge::{
    AutomergeError, ObjId, ObjType, ReadDoc, ScalarValue, ScalarValueRef, Value as AmValue,
    ValueRef,
};
use serde_json::{Map, Number, Value};

/// The JSON value of `obj[key]`, merging conflicting objects; `None` when
/// the key is absent.
pub fn read_prop<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    key: &str,
) -> Result<Option<Value>, AutomergeError> {
    let all = doc.get_all(obj, key)?;
    let Some((winner, _)) = all.last() else {
        return Ok(None);
    };
    if matches!(winner, AmValue::Object(ObjType::Map)) {
        let mut merged = Map::new();
        for (v, id) in &all {
            if matches!(v, AmValue::Object(ObjType::Map)) {
                if let Value::Object(m) = read_obj(doc, id, ObjType::Map)? {
                    merge_into(&mut merged, m);
                }
            }
        }
        return Ok(Some(Value::Object(merged)));
    }
    let (v, id) = &all[all.len() - 1];
    Ok(Some(read_value(doc, v, id)?))
}

/// Recursive key-wise merge: objects merge, anything else is replaced.
fn merge_into(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge_into(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

fn read_value<D: ReadDoc>(doc: &D, v: &AmValue<'_>, id: &ObjId) -> Result<Value, AutomergeError> {
    match v {
        AmValue::Object(t) => read_obj(doc, id, *t),
        AmValue::Scalar(s) => Ok(scalar_to_json(s)),
    }
}

/// The JSON value of a whole object (a map, a list or a text).
pub fn read_obj<D: ReadDoc>(doc: &D, obj: &ObjId, t: ObjType) -> Result<Value, AutomergeError> {
    match t {
        ObjType::Map | ObjType::Table => {
            // One pass over the map; only conflicting maps need the slower
            // merge of every candidate that `read_prop` does.
            let mut out = Map::new();
            for item in doc.map_range(obj, ..) {
                let key = item.key.to_string();
                if item.conflict && matches!(item.value, automerge::ValueRef::Object(ObjType::Map))
                {
                    if let Some(v) = read_prop(doc, obj, &key)? {
                        out.insert(key, v);
                    }
                    continue;
                }
                out.insert(key, read_item(doc, &item.value, || item.id())?);
            }
            Ok(Value::Object(out))
        }
        ObjType::List => {
            // One pass over the list: reading by index costs a seek each.
            let mut out = Vec::new();
            for item in doc.list_range(obj, ..) {
                out.push(read_item(doc, &item.value, || item.id())?);
            }
            Ok(Value::Array(out))
        }
        ObjType::Text => Ok(Value::String(doc.text(obj)?)),
    }
}

/// The JSON value of an item met while iterating an object; `id` (an
/// owned id costs a copy) is asked for only when the item is an object.
fn read_item<D: ReadDoc>(
    doc: &D,
    value: &ValueRef<'_>,
    id: impl FnOnce() -> ObjId,
) -> Result<Value, AutomergeError> {
    match value {
        ValueRef::Object(t) => read_obj(doc, &id(), *t),
        ValueRef::Scalar(s) => Ok(scalar_ref_to_json(s)),
    }
}

/// [`scalar_to_json`] of a borrowed scalar (a string is copied once).
fn scalar_ref_to_json(s: &ScalarValueRef<'_>) -> Value {
    match s {
        ScalarValueRef::Str(s) => Value::String(s.to_string()),
        ScalarValueRef::Int(i) | ScalarValueRef::Timestamp(i) | ScalarValueRef::Counter(i) => {
            Value::from(*i)
        }
        ScalarValueRef::Uint(u) => Value::from(*u),
        ScalarValueRef::F64(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        ScalarValueRef::Boolean(b) => Value::Bool(*b),
        ScalarValueRef::Bytes(_) | ScalarValueRef::Unknown { .. } | ScalarValueRef::Null => {
            Value::Null
        }
    }
}

/// JSON for an Automerge scalar; counters read as their current value,
/// bytes and unknown types as `null` (this layout never writes them).
pub fn scalar_to_json(s: &ScalarValue) -> Value {
    match s {
        ScalarValue::Str(s) => Value::String(s.to_string()),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Value::from(*i),
        ScalarValue::Uint(u) => Value::from(*u),
        ScalarValue::F64(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        ScalarValue::Counter(c) => Value::from(i64::from(c)),
        ScalarValue::Boolean(b) => Value::Bool(*b),
        ScalarValue::Bytes(_) | ScalarValue::Unknown { .. } | ScalarValue::Null => Value::Null,
    }
}

/// The Automerge scalar for a JSON scalar; `None` for arrays and objects.
pub fn json_to_scalar(v: &Value) -> Option<ScalarValue> {
    Some(match v {
        Value::Null => ScalarValue::Null,
        Value::Bool(b) => ScalarValue::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) if !n.is_f64() => ScalarValue::Int(i),
            (_, Some(u), _) if !n.is_f64() => ScalarValue::Uint(u),
            (_, _, Some(f)) => ScalarValue::F64(f),
            _ => ScalarValue::Null,
        },
        Value::String(s) => ScalarValue::Str(s.as_str().into()),
        Value::Array(_) | Value::Object(_) => return None,
    })
}

/// Writes `v` at `obj[key]`, touching only what differs from the current
/// (winning) value. With `prune`, keys of nested maps that `v` lacks are
/// deleted; without it they are left alone (a partial update).
pub fn reconcile_prop<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    v: &Value,
    prune: bool,
) -> Result<(), AutomergeError> {
    let current = tx.get(obj, key)?.map(|(cv, id)| (cv.into_owned(), id));
    // A write of the value already shown still resolves a conflict
    // (Automerge then deletes the other values).
    let settled = current.is_none() || tx.get_all(obj, key)?.len() < 2;
    match (v, current) {
        (Value::Object(m), Some((AmValue::Object(ObjType::Map), id))) => {
            reconcile_map(tx, &id, m, prune)
        }
        (Value::Object(m), _) => {
            let id = tx.put_object(obj, key, ObjType::Map)?;
            reconcile_map(tx, &id, m, prune)
        }
        (Value::Array(a), current) => {
            if let Some((cv, id)) = &current {
                if settled && read_value(tx, cv, id)? == *v {
                    return Ok(());
                }
            }
            let id = tx.put_object(obj, key, ObjType::List)?;
            fill_list(tx, &id, a)
        }
        (scalar, current) => {
            let new = json_to_scalar(scalar).unwrap_or(ScalarValue::Null);
            if let Some((AmValue::Scalar(old), _)) = &current {
                if settled && scalar_to_json(old) == *scalar {
                    return Ok(());
                }
            }
            tx.put(obj, key, new)
        }
    }
}

/// Reconciles every key of `m` into the map `obj` (see [`reconcile_prop`]).
pub fn reconcile_map<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    m: &Map<String, Value>,
    prune: bool,
) -> Result<(), AutomergeError> {
    if prune {
        let stale: Vec<String> = tx.keys(obj).filter(|k| !m.contains_key(k)).collect();
        for k in stale {
            tx.delete(obj, k.as_str())?;
        }
    }
    for (k, v) in m {
        reconcile_prop(tx, obj, k, v, prune)?;
    }
    Ok(())
}

fn fill_list<T: Transactable>(
    tx: &mut T,
    list: &ObjId,
    items: &[Value],
) -> Result<(), AutomergeError> {
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::Object(m) => {
                let id = tx.insert_object(list, i, ObjType::Map)?;
                reconcile_map(tx, &id, m, false)?;
            }
            Value::Array(a) => {
                let id = tx.insert_object(list, i, ObjType::List)?;
                fill_list(tx, &id, a)?;
            }
            scalar => tx.insert(list, i, json_to_scalar(scalar).unwrap_or(ScalarValue::Null))?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{Automerge, ROOT};
    use serde_json::json;

    #[test]
    fn json_round_trips_with_number_forms() {
        let v = json!({"a": 45, "b": 100.0, "c": -3, "d": [1, {"x": "y"}, [true, null]], "e": {"f": {"g": "h"}}, "u": 18446744073709551615u64});
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        reconcile_prop(&mut tx, &ROOT, "v", &v, true).unwrap();
        tx.commit();
        let back = read_prop(&doc, &ROOT, "v").unwrap().unwrap();
        assert_eq!(back, v);
        assert_eq!(
            serde_json::to_string(&back).unwrap(),
            serde_json::to_string(&v).unwrap()
        );
    }

    #[test]
    fn unchanged_values_write_nothing() {
        let v = json!({"a": 1, "b": {"c": [1, 2]}});
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        reconcile_prop(&mut tx, &ROOT, "v", &v, true).unwrap();
        tx.commit();
        let mut tx = doc.transaction();
        reconcile_prop(&mut tx, &ROOT, "v", &v, true).unwrap();
        assert_eq!(tx.pending_ops(), 0);
        reconcile_prop(
            &mut tx,
            &ROOT,
            "v",
            &json!({"a": 2, "b": {"c": [1, 2]}}),
            true,
        )
        .unwrap();
        assert_eq!(tx.pending_ops(), 1);
    }

    #[test]
    fn concurrent_maps_under_one_key_are_merged_on_read() {
        let mut a = Automerge::new();
        let mut b = Automerge::new();
        for (doc, field) in [(&mut a, "x"), (&mut b, "y")] {
            let mut tx = doc.transaction();
            reconcile_prop(
                &mut tx,
                &ROOT,
                "m",
                &json!({ field: 1, "shared": field }),
                false,
            )
            .unwrap();
            tx.commit();
        }
        a.merge(&mut b).unwrap();
        let m = read_prop(&a, &ROOT, "m").unwrap().unwrap();
        assert_eq!(m["x"], 1);
        assert_eq!(m["y"], 1);
        assert!(m["shared"] == "x" || m["shared"] == "y");
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e9..1e9f64).prop_map(Value::from),
            "[a-z🐙é]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map("[a-d]{1,3}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Writing any JSON value, then any other over it, reads back the
        /// last one exactly (numbers keep their integer or float form).
        #[test]
        fn reconcile_then_read_is_the_identity(a in arb_json(), b in arb_json()) {
            let mut doc = Automerge::new();
            for v in [&a, &b] {
                let mut tx = doc.transaction();
                reconcile_prop(&mut tx, &ROOT, "v", v, true).unwrap();
                tx.commit();
                let back = read_prop(&doc, &ROOT, "v").unwrap();
                proptest::prop_assert_eq!(back.as_ref(), Some(v));
            }
        }
    }
}
