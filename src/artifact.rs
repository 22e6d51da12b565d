//! The sealed form of compiled code, shared by cache entries and precompiled artifacts.
//!
//! Deserialising compiled code is `unsafe` in Wasmtime: bytes that were not produced by a
//! compatible engine could be arbitrary machine code. So every artifact this crate writes is
//! Wasmtime's own serialised ELF image followed by a trailer:
//!
//! ```text
//! payload (Wasmtime's .cwasm, unchanged)
//! trailer: magic "WPROBE\0\x01" | kind u8 | tier u8 | 6 reserved | payload length u64 LE
//!          | BLAKE3(payload) 32 | SHA-256 of the source 32 | source size u64 LE
//! ```
//!
//! The trailer goes after the payload so that the file can still be mapped as it is (Wasmtime
//! parses the ELF by its own offsets and never reads past its sections), which keeps code and
//! memory images backed by the file. BLAKE3 rather than SHA-256: collision-resistant too, and over
//! a mapped 50 MB file on two cores several times faster, so checking is cheap next to mapping.
//! The source's SHA-256 rides along so a cache hit reports `WasmModule.hash` without hashing the
//! source. Wasmtime itself then refuses an artifact of another version, configuration or target.

use crate::engine::Tier;
use crate::error::ProbeError;
use crate::guest_kind::ModuleKind;
use std::io::Write;
use std::path::Path;

const MAGIC: [u8; 8] = *b"WPROBE\0\x01";
pub const TRAILER_LEN: usize = 8 + 1 + 1 + 6 + 8 + 32 + 32 + 8;

/// What the trailer says about a sealed artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
  pub kind: ModuleKind,
  pub tier: Tier,
  pub payload_len: usize,
  pub source_sha256: [u8; 32],
  pub source_size: u64,
}

/// Why an artifact cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsealed {
  /// No trailer: not something this crate wrote.
  Foreign,
  /// A trailer whose digest or length does not match: damaged or truncated.
  Damaged(String),
  Unreadable(String),
}

impl Unsealed {
  pub fn describe(&self) -> String {
    match self {
      Unsealed::Foreign => "it is not a wasm-probe precompiled artifact (no wasm-probe trailer)".into(),
      Unsealed::Damaged(why) => format!("it is damaged ({why})"),
      Unsealed::Unreadable(why) => format!("it cannot be read ({why})"),
    }
  }

  pub fn into_error(self, what: &str) -> ProbeError {
    ProbeError::invalid_module(format!("cannot load {what}: {}", self.describe()))
  }
}

fn kind_byte(kind: ModuleKind) -> u8 {
  match kind {
    ModuleKind::Module => 1,
    ModuleKind::Component => 2,
  }
}

fn tier_byte(tier: Tier) -> u8 {
  match tier {
    Tier::Baseline => 1,
    Tier::Optimized => 2,
  }
}

fn trailer(seal: &Seal, digest: &blake3::Hash) -> [u8; TRAILER_LEN] {
  let mut out = [0u8; TRAILER_LEN];
  out[..8].copy_from_slice(&MAGIC);
  out[8] = kind_byte(seal.kind);
  out[9] = tier_byte(seal.tier);
  out[16..24].copy_from_slice(&(seal.payload_len as u64).to_le_bytes());
  out[24..56].copy_from_slice(digest.as_bytes());
  out[56..88].copy_from_slice(&seal.source_sha256);
  out[88..96].copy_from_slice(&seal.source_size.to_le_bytes());
  out
}

/// Parses a trailer; `total` is the length of the whole artifact.
fn parse_trailer(bytes: &[u8], total: usize) -> Result<(Seal, [u8; 32]), Unsealed> {
  if bytes.len() != TRAILER_LEN || bytes[..8] != MAGIC {
    return Err(Unsealed::Foreign);
  }
  let kind = match bytes[8] {
    1 => ModuleKind::Module,
    2 => ModuleKind::Component,
    other => return Err(Unsealed::Damaged(format!("unknown kind byte {other}"))),
  };
  let tier = match bytes[9] {
    1 => Tier::Baseline,
    2 => Tier::Optimized,
    other => return Err(Unsealed::Damaged(format!("unknown tier byte {other}"))),
  };
  let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
  let payload_len = word(16);
  if payload_len != (total - TRAILER_LEN) as u64 {
    return Err(Unsealed::Damaged(format!(
      "its trailer names {payload_len} bytes of code but {} are present",
      total - TRAILER_LEN
    )));
  }
  let digest: [u8; 32] = bytes[24..56].try_into().expect("32 bytes");
  let seal = Seal {
    kind,
    tier,
    payload_len: payload_len as usize,
    source_sha256: bytes[56..88].try_into().expect("32 bytes"),
    source_size: word(88),
  };
  Ok((seal, digest))
}

/// BLAKE3 of `payload`, on both cores when it is large.
pub fn digest(payload: &[u8]) -> blake3::Hash {
  // One thread is as fast below a few MiB; above, the two cores halve the time.
  if payload.len() >= 4 << 20 {
    blake3::Hasher::new().update_rayon(payload).finalize()
  } else {
    blake3::hash(payload)
  }
}

fn check(payload: &[u8], expected: &[u8; 32]) -> Result<(), Unsealed> {
  if digest(payload).as_bytes() == expected {
    Ok(())
  } else {
    Err(Unsealed::Damaged("its code does not match its digest".into()))
  }
}

/// `payload` with its trailer appended.
pub fn seal(payload: Vec<u8>, kind: ModuleKind, tier: Tier, source_sha256: [u8; 32], source_size: u64) -> Vec<u8> {
  let mut out = payload;
  let seal = Seal {
    kind,
    tier,
    payload_len: out.len(),
    source_sha256,
    source_size,
  };
  let digest = digest(&out);
  out.extend_from_slice(&trailer(&seal, &digest));
  out
}

/// Checks an artifact held in memory; on success the payload is `&bytes[..seal.payload_len]`.
pub fn open_bytes(bytes: &[u8]) -> Result<Seal, Unsealed> {
  if bytes.len() < TRAILER_LEN {
    return Err(Unsealed::Foreign);
  }
  let (seal, expected) = parse_trailer(&bytes[bytes.len() - TRAILER_LEN..], bytes.len())?;
  check(&bytes[..seal.payload_len], &expected)?;
  Ok(seal)
}

/// Checks an artifact file without reading it into memory: it is mapped, hashed and unmapped, so
/// the check adds nothing to the process's resident memory once it returns.
pub fn open_file(path: &Path) -> Result<Seal, Unsealed> {
  let file = std::fs::File::open(path).map_err(|e| Unsealed::Unreadable(e.to_string()))?;
  let len = file.metadata().map_err(|e| Unsealed::Unreadable(e.to_string()))?.len() as usize;
  if len < TRAILER_LEN {
    return Err(Unsealed::Foreign);
  }
  // SAFETY: the mapping is read-only and dropped before this function returns; the files this
  // crate reads are replaced by rename, never rewritten in place.
  let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Unsealed::Unreadable(e.to_string()))?;
  let (seal, expected) = parse_trailer(&map[len - TRAILER_LEN..], len)?;
  check(&map[..seal.payload_len], &expected)?;
  Ok(seal)
}

/// Writes `bytes` to `path` atomically (a temporary file renamed into place), so a reader sees
/// either the old file or the whole new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
  static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
  let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
  let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
  let written = (|| -> std::io::Result<()> {
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
  })();
  if written.is_err() {
    let _ = std::fs::remove_file(&tmp);
  }
  written
}

#[cfg(test)]
mod tests {
  use super::*;

  fn sealed() -> Vec<u8> {
    seal(
      b"compiled code".to_vec(),
      ModuleKind::Component,
      Tier::Baseline,
      [7; 32],
      12,
    )
  }

  #[test]
  fn a_sealed_artifact_opens_with_what_it_was_sealed_with() {
    let bytes = sealed();
    let seal = open_bytes(&bytes).unwrap();
    assert_eq!(seal.kind, ModuleKind::Component);
    assert_eq!(seal.tier, Tier::Baseline);
    assert_eq!(&bytes[..seal.payload_len], b"compiled code");
    assert_eq!(seal.source_sha256, [7; 32]);
    assert_eq!(seal.source_size, 12);
  }

  #[test]
  fn damage_truncation_and_foreign_bytes_are_refused() {
    let mut flipped = sealed();
    flipped[3] ^= 1;
    assert!(matches!(open_bytes(&flipped), Err(Unsealed::Damaged(_))));
    let bytes = sealed();
    let mut truncated = bytes[..2].to_vec();
    truncated.extend_from_slice(&bytes[bytes.len() - TRAILER_LEN..]);
    assert!(matches!(open_bytes(&truncated), Err(Unsealed::Damaged(_))));
    assert_eq!(open_bytes(&bytes[..bytes.len() - 1]), Err(Unsealed::Foreign));
    assert_eq!(open_bytes(b"\0asm\x01\0\0\0"), Err(Unsealed::Foreign));
  }

  #[test]
  fn files_are_checked_like_bytes() {
    let dir = std::env::temp_dir().join(format!("wasm-probe-artifact-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a.cwasm");
    write_atomically(&path, &sealed()).unwrap();
    assert_eq!(open_file(&path).unwrap().payload_len, 13);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    assert!(matches!(open_file(&path), Err(Unsealed::Damaged(_))));
    std::fs::remove_dir_all(dir).unwrap();
  }
}
