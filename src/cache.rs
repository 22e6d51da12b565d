//! The persistent compiled-code cache (`RuntimeOptions.cacheDir`).
//!
//! Deserialising compiled code is `unsafe` in Wasmtime: bytes that were not produced by a
//! compatible engine could be arbitrary machine code. So an entry is only ever read back when it
//! is intact: each file is `sha256(payload) ‖ payload`, written to a temporary file and renamed
//! into place, and checked before use. Entries are keyed by the input's hash, the guest kind and
//! the engine's compatibility hash, so a different Wasmtime or configuration never picks up
//! another's code. A damaged or incompatible entry is deleted and the guest compiled afresh.

use crate::error::ProbeError;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::Engine;

#[derive(Debug, Clone)]
pub struct DiskCache {
  dir: PathBuf,
}

const DIGEST_LEN: usize = 32;

impl DiskCache {
  /// Opens (creating it if needed) a cache directory.
  pub fn open(dir: &Path) -> Result<DiskCache, ProbeError> {
    std::fs::create_dir_all(dir)
      .map_err(|e| ProbeError::invalid_value("cacheDir", format!("cannot create {}: {e}", dir.display())))?;
    Ok(DiskCache { dir: dir.to_path_buf() })
  }

  fn path(&self, engine: &Engine, input_hash: &str, kind: &str) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let engine_key = hasher.finish();
    self.dir.join(format!("{input_hash}-{kind}-{engine_key:016x}.cwasm"))
  }

  /// The verified compiled bytes for this guest, if an intact entry exists.
  pub fn read(&self, engine: &Engine, input_hash: &str, kind: &str) -> Option<Vec<u8>> {
    let path = self.path(engine, input_hash, kind);
    let mut bytes = std::fs::read(&path).ok()?;
    if bytes.len() < DIGEST_LEN || Sha256::digest(&bytes[DIGEST_LEN..])[..] != bytes[..DIGEST_LEN] {
      let _ = std::fs::remove_file(&path);
      return None;
    }
    bytes.drain(..DIGEST_LEN);
    Some(bytes)
  }

  /// Forgets an entry that turned out unusable.
  pub fn discard(&self, engine: &Engine, input_hash: &str, kind: &str) {
    let _ = std::fs::remove_file(self.path(engine, input_hash, kind));
  }

  /// Stores compiled bytes atomically; a failure only means the next load compiles again.
  pub fn write(&self, engine: &Engine, input_hash: &str, kind: &str, payload: &[u8]) {
    let path = self.path(engine, input_hash, kind);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = (|| -> std::io::Result<()> {
      let mut file = std::fs::File::create(&tmp)?;
      file.write_all(&Sha256::digest(payload))?;
      file.write_all(payload)?;
      file.sync_all()?;
      std::fs::rename(&tmp, &path)
    })();
    if written.is_err() {
      let _ = std::fs::remove_file(&tmp);
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn entries_round_trip_and_damage_is_detected() {
    let dir = std::env::temp_dir().join(format!("wasm-probe-cache-test-{}", std::process::id()));
    let cache = DiskCache::open(&dir).unwrap();
    let engine = Engine::default();
    assert_eq!(cache.read(&engine, "abc", "module"), None);
    cache.write(&engine, "abc", "module", b"compiled code");
    assert_eq!(
      cache.read(&engine, "abc", "module").as_deref(),
      Some(&b"compiled code"[..])
    );
    assert_eq!(cache.read(&engine, "abc", "component"), None);

    let path = cache.path(&engine, "abc", "module");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(cache.read(&engine, "abc", "module"), None);
    assert!(!path.exists(), "a damaged entry is removed");
    std::fs::remove_dir_all(dir).unwrap();
  }
}
