//! Splitting objects into envelopes (section 3.7) no larger than an API root's
//! `max_content_length`, so that an add request is never refused with 413 for its size.

use serde_json::Value;

/// The bytes of `{"objects":[` and `]}`.
const FRAME_BYTES: usize = r#"{"objects":[]}"#.len();

/// One object that no envelope can hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectTooLarge {
    /// The object's id (empty if it has none).
    pub id: String,
    /// Its size as JSON, in bytes.
    pub bytes: usize,
}

/// The bodies of the envelopes that carry `objects`, in order, each at most `max` bytes
/// (`0`: no limit). Errs on the first object too large for any envelope.
pub fn split_into_envelopes(objects: &[Value], max: u64) -> Result<Vec<Vec<u8>>, ObjectTooLarge> {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let max = if max == 0 { usize::MAX } else { max };
    let mut bodies = Vec::new();
    let mut current: Vec<Vec<u8>> = Vec::new();
    let mut size = FRAME_BYTES;
    for object in objects {
        let json = serde_json::to_vec(object).unwrap_or_default();
        if FRAME_BYTES + json.len() > max {
            return Err(ObjectTooLarge {
                id: object
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
                bytes: json.len(),
            });
        }
        let comma = usize::from(!current.is_empty());
        if size + comma + json.len() > max {
            bodies.push(frame(&current));
            current.clear();
            size = FRAME_BYTES;
        }
        size += usize::from(!current.is_empty()) + json.len();
        current.push(json);
    }
    if !current.is_empty() {
        bodies.push(frame(&current));
    }
    Ok(bodies)
}

/// `{"objects":[a,b,...]}` of already serialised objects.
fn frame(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::with_capacity(FRAME_BYTES + objects.iter().map(Vec::len).sum::<usize>());
    body.extend_from_slice(br#"{"objects":["#);
    for (i, object) in objects.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(object);
    }
    body.extend_from_slice(b"]}");
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn objects(n: usize) -> Vec<Value> {
        (0..n)
            .map(|i| json!({"type": "indicator", "id": format!("indicator--{i:04}"), "pad": "x".repeat(50)}))
            .collect()
    }

    #[test]
    fn envelopes_stay_under_the_limit_and_keep_every_object_in_order() {
        let objects = objects(40);
        let one = serde_json::to_vec(&objects[0]).unwrap().len();
        let max = (FRAME_BYTES + 3 * one + 2) as u64;
        let bodies = split_into_envelopes(&objects, max).unwrap();
        assert_eq!(bodies.len(), 14);
        let mut back = Vec::new();
        for body in &bodies {
            assert!(body.len() as u64 <= max, "{} > {max}", body.len());
            let envelope: Value = serde_json::from_slice(body).unwrap();
            back.extend(envelope["objects"].as_array().unwrap().iter().cloned());
        }
        assert_eq!(back, objects);
    }

    #[test]
    fn no_limit_is_one_envelope_and_nothing_is_none() {
        assert_eq!(split_into_envelopes(&objects(100), 0).unwrap().len(), 1);
        assert!(split_into_envelopes(&[], 10).unwrap().is_empty());
    }

    #[test]
    fn an_object_larger_than_the_limit_is_named() {
        let error = split_into_envelopes(&objects(2), 40).unwrap_err();
        assert_eq!(error.id, "indicator--0000");
    }
}
