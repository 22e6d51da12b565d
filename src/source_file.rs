//! Reading a file a caller named (a guest source, a precompiled artifact): it must be a regular
//! file no larger than [`MAX_FILE_BYTES`], checked on the open handle before anything is read,
//! and it is read into memory — never mapped, so rewriting or truncating it later cannot reach
//! code that is running (a mapped file cut short faults the process with SIGBUS).

use crate::error::ProbeError;
use std::io::Read;
use std::path::Path;

/// The largest guest source or artifact read from a path (a componentize-js guest is ~12 MB).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

fn open(path: &Path) -> std::io::Result<std::fs::File> {
  let mut options = std::fs::OpenOptions::new();
  options.read(true);
  // A FIFO opened for reading blocks until a writer comes; without blocking it opens at once and
  // is then refused as not a regular file.
  #[cfg(unix)]
  std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
  options.open(path)
}

/// The whole of the regular file at `path`; `what` names it in errors ("the guest", ...).
pub fn read(path: &Path, what: &str) -> Result<Vec<u8>, ProbeError> {
  let shown = path.display();
  let unreadable = |e: std::io::Error| ProbeError::invalid_module(format!("cannot read {what} {shown}: {e}"));
  let file = open(path).map_err(unreadable)?;
  let meta = file.metadata().map_err(unreadable)?;
  if !meta.is_file() {
    let kind = if meta.is_dir() {
      "a directory"
    } else {
      "not a regular file"
    };
    return Err(ProbeError::invalid_module(format!(
      "cannot read {what} {shown}: it is {kind}"
    )));
  }
  let too_large = |size: u64| {
    ProbeError::invalid_module(format!(
      "cannot read {what} {shown}: it has {size} bytes, more than the {} MiB a file may have",
      MAX_FILE_BYTES >> 20
    ))
  };
  if meta.len() > MAX_FILE_BYTES {
    return Err(too_large(meta.len()));
  }
  let mut bytes = Vec::with_capacity(meta.len() as usize);
  // The file may grow between the check and the read: never read past the bound.
  file
    .take(MAX_FILE_BYTES + 1)
    .read_to_end(&mut bytes)
    .map_err(unreadable)?;
  if bytes.len() as u64 > MAX_FILE_BYTES {
    return Err(too_large(bytes.len() as u64));
  }
  Ok(bytes)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn refuses_what_is_not_a_regular_file() {
    let dir = std::env::temp_dir();
    let e = read(&dir, "the guest").unwrap_err();
    assert!(e.message.contains("it is a directory"), "{}", e.message);
    let e = read(Path::new("/dev/zero"), "the guest").unwrap_err();
    assert!(e.message.contains("not a regular file"), "{}", e.message);
  }

  #[cfg(unix)]
  #[test]
  fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let path = std::env::temp_dir().join(format!("wasm-probe-fifo-{}", std::process::id()));
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let e = read(&path, "the guest").unwrap_err();
    let _ = std::fs::remove_file(&path);
    assert!(e.message.contains("not a regular file"), "{}", e.message);
  }

  #[test]
  fn reads_a_file_whole() {
    let path = std::env::temp_dir().join(format!("wasm-probe-read-{}", std::process::id()));
    std::fs::write(&path, b"\0asm").unwrap();
    assert_eq!(read(&path, "the guest").unwrap(), b"\0asm");
    let _ = std::fs::remove_file(&path);
  }
}
