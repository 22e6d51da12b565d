//! The persistent compiled-code cache (`RuntimeOptions.cacheDir`).
//!
//! An entry is a sealed artifact (see [`crate::artifact`]): Wasmtime's serialised code followed
//! by a trailer with its BLAKE3 digest. It is written to a temporary file and renamed into place,
//! checked before use, and then mapped, not read: code and memory images stay backed by the file.
//! Entries are keyed by the input's BLAKE3 hash, the guest kind, the compiler tier and the
//! engine's compatibility hash, so a different Wasmtime or configuration never picks up another's
//! code. A damaged or incompatible entry is deleted and the guest compiled afresh.

use crate::artifact::{self, Seal};
use crate::engine::Tier;
use crate::error::ProbeError;
use crate::guest_kind::ModuleKind;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;

#[derive(Debug, Clone)]
pub struct DiskCache {
  dir: PathBuf,
}

impl DiskCache {
  /// Opens (creating it if needed) a cache directory.
  pub fn open(dir: &Path) -> Result<DiskCache, ProbeError> {
    std::fs::create_dir_all(dir)
      .map_err(|e| ProbeError::invalid_value("cacheDir", format!("cannot create {}: {e}", dir.display())))?;
    Ok(DiskCache { dir: dir.to_path_buf() })
  }

  /// Where the entry for this guest, compiled by `tier` for `engine`, lives.
  pub fn path(&self, engine: &Engine, input_key: &str, kind: ModuleKind, tier: Tier) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let engine_key = hasher.finish();
    self.dir.join(format!(
      "{input_key}-{}-{}-{engine_key:016x}.cwasm",
      kind.as_str(),
      tier.as_str()
    ))
  }

  /// The path and seal of an intact entry, if there is one; a damaged one is removed.
  pub fn lookup(&self, path: &Path, kind: ModuleKind, tier: Tier) -> Option<Seal> {
    match artifact::open_file(path) {
      Ok(seal) if seal.kind == kind && seal.tier == tier => Some(seal),
      Err(artifact::Unsealed::Unreadable(_)) => None,
      _ => {
        self.discard(path);
        None
      }
    }
  }

  /// Forgets an entry that turned out unusable.
  pub fn discard(&self, path: &Path) {
    let _ = std::fs::remove_file(path);
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn entries_are_found_by_kind_and_tier_and_damage_is_removed() {
    let dir = std::env::temp_dir().join(format!("wasm-probe-cache-test-{}", std::process::id()));
    let cache = DiskCache::open(&dir).unwrap();
    let engine = Engine::default();
    let path = cache.path(&engine, "abc", ModuleKind::Module, Tier::Optimized);
    assert_ne!(path, cache.path(&engine, "abc", ModuleKind::Module, Tier::Baseline));
    assert_eq!(cache.lookup(&path, ModuleKind::Module, Tier::Optimized), None);
    let sealed = artifact::seal(
      b"compiled code".to_vec(),
      ModuleKind::Module,
      Tier::Optimized,
      [1; 32],
      3,
    );
    artifact::write_atomically(&path, &sealed).unwrap();
    assert_eq!(
      cache
        .lookup(&path, ModuleKind::Module, Tier::Optimized)
        .map(|s| s.payload_len),
      Some(13)
    );

    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(cache.lookup(&path, ModuleKind::Module, Tier::Optimized), None);
    assert!(!path.exists(), "a damaged entry is removed");
    std::fs::remove_dir_all(dir).unwrap();
  }
}
