//! `json.get` / `json_get`: the value at an RFC 6901 JSON Pointer, as JSON text.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonGetError {
  InvalidDocument(String),
  InvalidPointer(String),
}

impl std::fmt::Display for JsonGetError {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match self {
      JsonGetError::InvalidDocument(why) => write!(f, "invalid JSON document: {why}"),
      JsonGetError::InvalidPointer(why) => write!(f, "invalid JSON pointer: {why}"),
    }
  }
}

/// Splits a pointer into its unescaped reference tokens.
fn tokens(pointer: &str) -> Result<Vec<String>, JsonGetError> {
  if pointer.is_empty() {
    return Ok(Vec::new());
  }
  let Some(rest) = pointer.strip_prefix('/') else {
    return Err(JsonGetError::InvalidPointer(format!(
      "{pointer:?} must be empty or start with '/'"
    )));
  };
  rest
    .split('/')
    .map(|raw| {
      let mut out = String::with_capacity(raw.len());
      let mut chars = raw.chars();
      while let Some(c) = chars.next() {
        if c != '~' {
          out.push(c);
          continue;
        }
        match chars.next() {
          Some('0') => out.push('~'),
          Some('1') => out.push('/'),
          _ => {
            return Err(JsonGetError::InvalidPointer(format!(
              "{pointer:?} has a '~' not followed by '0' or '1'"
            )));
          }
        }
      }
      Ok(out)
    })
    .collect()
}

fn array_index(token: &str) -> Option<usize> {
  let canonical = token == "0" || (!token.starts_with('0') && token.bytes().all(|b| b.is_ascii_digit()));
  if token.is_empty() || !canonical {
    return None;
  }
  token.parse().ok()
}

/// The value at `pointer` in `document` as compact JSON text; `None` when nothing is there.
pub fn get(document: &str, pointer: &str) -> Result<Option<String>, JsonGetError> {
  let tokens = tokens(pointer)?;
  let root: Value = serde_json::from_str(document).map_err(|e| JsonGetError::InvalidDocument(e.to_string()))?;
  let mut at = &root;
  for token in &tokens {
    let next = match at {
      Value::Object(map) => map.get(token.as_str()),
      Value::Array(items) => array_index(token).and_then(|i| items.get(i)),
      _ => None,
    };
    match next {
      Some(v) => at = v,
      None => return Ok(None),
    }
  }
  Ok(Some(at.to_string()))
}

#[cfg(test)]
mod tests {
  use super::*;

  const DOC: &str = r#"{"a":{"b":[10,{"c":"x"}]},"m~n":1,"s/t":2,"":3}"#;

  #[test]
  fn rfc6901_lookups() {
    assert_eq!(
      get(DOC, "").unwrap().unwrap(),
      serde_json::from_str::<Value>(DOC).unwrap().to_string()
    );
    assert_eq!(get(DOC, "/a/b/0").unwrap().as_deref(), Some("10"));
    assert_eq!(get(DOC, "/a/b/1/c").unwrap().as_deref(), Some("\"x\""));
    assert_eq!(get(DOC, "/m~0n").unwrap().as_deref(), Some("1"));
    assert_eq!(get(DOC, "/s~1t").unwrap().as_deref(), Some("2"));
    assert_eq!(get(DOC, "/").unwrap().as_deref(), Some("3"));
  }

  #[test]
  fn absent_values() {
    assert_eq!(get(DOC, "/nope").unwrap(), None);
    assert_eq!(get(DOC, "/a/b/2").unwrap(), None);
    assert_eq!(get(DOC, "/a/b/-").unwrap(), None);
    assert_eq!(get(DOC, "/a/b/01").unwrap(), None);
    assert_eq!(get(DOC, "/a/b/0/deeper").unwrap(), None);
  }

  #[test]
  fn invalid_inputs() {
    assert!(matches!(get("{", "/a"), Err(JsonGetError::InvalidDocument(_))));
    assert!(matches!(get(DOC, "a"), Err(JsonGetError::InvalidPointer(_))));
    assert!(matches!(get(DOC, "/a~2"), Err(JsonGetError::InvalidPointer(_))));
  }
}
