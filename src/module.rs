//! Loading guests: read, recognise (binary or WAT, core module or component), validate and
//! compile off the JS thread, link once into an `InstancePre`, and describe the result.

use crate::cache::DiskCache;
use crate::engine::{EngineClass, StackClass, engines};
use crate::error::{ErrorCode, ProbeError, chain_message};
use crate::exec::state::{ComponentState, CoreState};
use crate::host::Linkers;
use once_cell::sync::Lazy;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use wasmtime::component::{Component, InstancePre as ComponentPre};
use wasmtime::{InstancePre, Module};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
  Module,
  Component,
}

impl ModuleKind {
  pub fn as_str(self) -> &'static str {
    match self {
      ModuleKind::Module => "module",
      ModuleKind::Component => "component",
    }
  }
}

/// Where a guest comes from.
pub enum GuestSource {
  /// Bytes of a binary or of WAT text.
  Bytes(Vec<u8>),
  /// A `.wasm` or `.wat` file.
  Path(PathBuf),
}

#[derive(Debug, Clone)]
pub struct ModuleInfo {
  pub kind: ModuleKind,
  pub name: String,
  pub size: u64,
  pub hash: String,
  pub exports: Vec<String>,
  pub imports: Vec<String>,
}

/// A guest compiled for one engine and linked against its host imports.
pub enum Prepared {
  Core(CorePre),
  Component(ComponentPre<ComponentState>),
}

/// A core module linked twice: with the real WASI filesystem calls, and with them refused for
/// executions that were granted no filesystem.
pub struct CorePre {
  pub with_fs: InstancePre<CoreState>,
  pub without_fs: InstancePre<CoreState>,
}

impl CorePre {
  pub fn for_grant(&self, fs_granted: bool) -> &InstancePre<CoreState> {
    if fs_granted { &self.with_fs } else { &self.without_fs }
  }

  pub fn module(&self) -> &Module {
    self.with_fs.module()
  }
}

pub struct Artifact {
  pub class: Arc<EngineClass>,
  pub prepared: Prepared,
}

static LINKERS: Lazy<Mutex<HashMap<StackClass, Arc<Linkers>>>> = Lazy::new(Default::default);

fn linkers(class: &EngineClass) -> Result<Arc<Linkers>, ProbeError> {
  let mut map = LINKERS.lock().unwrap_or_else(|p| p.into_inner());
  if let Some(found) = map.get(&class.class) {
    return Ok(found.clone());
  }
  let built = Arc::new(Linkers::new(class)?);
  map.insert(class.class, built.clone());
  Ok(built)
}

/// Compiled artifacts by (input hash, stack class), shared while anything holds them: loading the
/// same guest twice compiles it once.
type CompiledCache = HashMap<(String, StackClass), Weak<Artifact>>;
static COMPILED: Lazy<Mutex<CompiledCache>> = Lazy::new(Default::default);

fn compiled_lookup(hash: &str, class: StackClass) -> Option<Arc<Artifact>> {
  let map = COMPILED.lock().unwrap_or_else(|p| p.into_inner());
  map.get(&(hash.to_string(), class)).and_then(Weak::upgrade)
}

fn compiled_store(hash: &str, artifact: &Arc<Artifact>) {
  let mut map = COMPILED.lock().unwrap_or_else(|p| p.into_inner());
  map.retain(|_, weak| weak.strong_count() > 0);
  map.insert((hash.to_string(), artifact.class.class), Arc::downgrade(artifact));
}

fn kind_of(binary: &[u8]) -> Result<ModuleKind, ProbeError> {
  if binary.len() < 8 {
    return Err(ProbeError::invalid_module(format!(
      "truncated WebAssembly binary: {} bytes, but the header alone is 8",
      binary.len()
    )));
  }
  let header: [u8; 4] = [binary[4], binary[5], binary[6], binary[7]];
  match header {
    [1, 0, 0, 0] => Ok(ModuleKind::Module),
    [0x0d, 0, 1, 0] => Ok(ModuleKind::Component),
    [a, b, c, d] => Err(ProbeError::invalid_module(format!(
      "unsupported WebAssembly version/layer bytes {a:#04x} {b:#04x} {c:#04x} {d:#04x} (expected a core module, version 1, or a component, layer 1)"
    ))),
  }
}

/// The binary form of `input`: itself when it is a binary, else its WAT text assembled.
fn to_binary(input: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, ProbeError> {
  if input.starts_with(b"\0asm") {
    return Ok(input.into());
  }
  let Ok(text) = std::str::from_utf8(input) else {
    return Err(ProbeError::invalid_module(
      "neither a WebAssembly binary (no \\0asm magic) nor WAT text (not UTF-8)",
    ));
  };
  wat::parse_str(text)
    .map(Into::into)
    .map_err(|e| ProbeError::invalid_module(format!("invalid WAT text: {e}")))
}

fn read_file(path: &Path) -> Result<Vec<u8>, ProbeError> {
  std::fs::read(path).map_err(|e| ProbeError::invalid_module(format!("cannot read {}: {e}", path.display())))
}

fn link_error(kind: ModuleKind, e: &wasmtime::Error) -> ProbeError {
  let what = kind.as_str();
  ProbeError::new(
    ErrorCode::Link,
    format!(
      "the {what} imports something this runtime does not provide: {}",
      chain_message(e)
    ),
  )
}

/// Compiled code before linking.
enum Compiled {
  Core(Module),
  Component(Component),
}

impl Compiled {
  fn compile(kind: ModuleKind, engine: &wasmtime::Engine, binary: &[u8]) -> Result<Compiled, ProbeError> {
    let invalid = |e: wasmtime::Error| {
      ProbeError::invalid_module(format!("invalid WebAssembly {}: {}", kind.as_str(), chain_message(&e)))
    };
    Ok(match kind {
      ModuleKind::Module => Compiled::Core(Module::new(engine, binary).map_err(invalid)?),
      ModuleKind::Component => Compiled::Component(Component::new(engine, binary).map_err(invalid)?),
    })
  }

  /// SAFETY: `bytes` must come from `Compiled::serialize` of a compatible engine: produced in
  /// this process, or read back from a verified cache entry.
  unsafe fn deserialize(kind: ModuleKind, engine: &wasmtime::Engine, bytes: &[u8]) -> wasmtime::Result<Compiled> {
    // SAFETY: as the caller promised.
    Ok(match kind {
      ModuleKind::Module => Compiled::Core(unsafe { Module::deserialize(engine, bytes) }?),
      ModuleKind::Component => Compiled::Component(unsafe { Component::deserialize(engine, bytes) }?),
    })
  }

  fn of(prepared: &Prepared) -> Compiled {
    match prepared {
      Prepared::Core(pre) => Compiled::Core(pre.module().clone()),
      Prepared::Component(pre) => Compiled::Component(pre.component().clone()),
    }
  }

  fn kind(&self) -> ModuleKind {
    match self {
      Compiled::Core(_) => ModuleKind::Module,
      Compiled::Component(_) => ModuleKind::Component,
    }
  }

  fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
    match self {
      Compiled::Core(m) => m.serialize(),
      Compiled::Component(c) => c.serialize(),
    }
  }

  /// Links against the host imports of `class`'s engine.
  fn prepare(self, class: &Arc<EngineClass>) -> Result<Prepared, ProbeError> {
    let linkers = linkers(class)?;
    let kind = self.kind();
    let link = |e: wasmtime::Error| link_error(kind, &e);
    Ok(match self {
      Compiled::Core(m) => Prepared::Core(CorePre {
        with_fs: linkers.core.instantiate_pre(&m).map_err(link)?,
        without_fs: linkers.core_without_fs.instantiate_pre(&m).map_err(link)?,
      }),
      Compiled::Component(c) => Prepared::Component(linkers.component.instantiate_pre(&c).map_err(link)?),
    })
  }
}

fn describe(prepared: &Prepared, class: &EngineClass) -> (Vec<String>, Vec<String>) {
  match prepared {
    Prepared::Core(pre) => {
      let m = pre.module();
      let exports = m.exports().map(|e| e.name().to_string()).collect();
      let imports = m.imports().map(|i| format!("{}::{}", i.module(), i.name())).collect();
      (exports, imports)
    }
    Prepared::Component(pre) => {
      let ty = pre.component().component_type();
      let exports = ty.exports(&class.engine).map(|(name, _)| name.to_string()).collect();
      let imports = ty.imports(&class.engine).map(|(name, _)| name.to_string()).collect();
      (exports, imports)
    }
  }
}

/// Result of a load: what the guest is, its artifact, and whether it came from the cache.
pub struct Loaded {
  pub info: ModuleInfo,
  pub artifact: Arc<Artifact>,
  pub cache_hit: bool,
}

/// Reads, validates, compiles and links a guest. Blocking: call it off the JS thread.
pub fn load(
  source: GuestSource,
  name: Option<String>,
  class: StackClass,
  disk: Option<&DiskCache>,
) -> Result<Loaded, ProbeError> {
  let (input, default_name) = match source {
    GuestSource::Bytes(bytes) => (bytes, "module".to_string()),
    GuestSource::Path(path) => {
      let bytes = read_file(&path)?;
      let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "module".into());
      (bytes, file_name)
    }
  };
  let hash = hex(&Sha256::digest(&input));
  let binary = to_binary(&input)?;
  let kind = kind_of(&binary)?;
  let engine_class = engines().class(class)?;
  let (artifact, cache_hit) = match compiled_lookup(&hash, class) {
    Some(found) => (found, true),
    None => {
      let engine = &engine_class.engine;
      let cached = disk
        .and_then(|d| d.read(engine, &hash, kind.as_str()))
        .and_then(|bytes| {
          // SAFETY: the entry was verified against its digest, and its key includes the engine's
          // compatibility hash; Wasmtime still rejects an incompatible artifact with an error.
          let found = unsafe { Compiled::deserialize(kind, engine, &bytes) };
          if found.is_err()
            && let Some(d) = disk
          {
            d.discard(engine, &hash, kind.as_str());
          }
          found.ok()
        });
      let from_disk = cached.is_some();
      let compiled = match cached {
        Some(c) => c,
        None => {
          let c = Compiled::compile(kind, engine, &binary)?;
          if let Some(d) = disk
            && let Ok(bytes) = c.serialize()
          {
            d.write(engine, &hash, kind.as_str(), &bytes);
          }
          c
        }
      };
      let artifact = Arc::new(Artifact {
        class: engine_class.clone(),
        prepared: compiled.prepare(&engine_class)?,
      });
      compiled_store(&hash, &artifact);
      (artifact, from_disk)
    }
  };
  let (exports, imports) = describe(&artifact.prepared, &engine_class);
  Ok(Loaded {
    info: ModuleInfo {
      kind,
      name: name.unwrap_or(default_name),
      size: input.len() as u64,
      hash,
      exports,
      imports,
    },
    artifact,
    cache_hit,
  })
}

fn hex(bytes: &[u8]) -> String {
  bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A loaded guest as the runtime holds it: its description, and its artifacts per stack class
/// (the one it was loaded with, others derived on first use).
pub struct LoadedModule {
  pub info: ModuleInfo,
  pub runtime_id: u64,
  artifacts: Mutex<Vec<Arc<Artifact>>>,
  _alive: crate::runtime::ModuleCount,
}

impl LoadedModule {
  pub fn new(loaded: Loaded, runtime_id: u64, alive: crate::runtime::ModuleCount) -> LoadedModule {
    LoadedModule {
      info: loaded.info,
      runtime_id,
      artifacts: Mutex::new(vec![loaded.artifact]),
      _alive: alive,
    }
  }

  /// The artifact for an execution with this stack class. Deriving one for a new class moves the
  /// compiled code to that engine by serialisation (no recompilation); it blocks, so callers run
  /// it off the async workers.
  pub fn artifact(&self, class: StackClass) -> Result<Arc<Artifact>, ProbeError> {
    let mut list = self.artifacts.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = list.iter().find(|a| a.class.class == class) {
      return Ok(found.clone());
    }
    let source = Compiled::of(&list[0].prepared);
    let target = engines().class(class)?;
    let moved = |e: wasmtime::Error| {
      ProbeError::new(
        ErrorCode::Host,
        format!(
          "cannot move compiled code to the {} KiB stack engine: {}",
          class.bytes() / 1024,
          chain_message(&e)
        ),
      )
    };
    let bytes = source.serialize().map_err(moved)?;
    // SAFETY: these bytes were produced by `serialize` in this process, from an engine with the
    // same configuration apart from the stack size, and never left memory.
    let compiled = unsafe { Compiled::deserialize(source.kind(), &target.engine, &bytes) }.map_err(moved)?;
    let prepared = compiled.prepare(&target)?;
    let artifact = Arc::new(Artifact {
      class: target,
      prepared,
    });
    list.push(artifact.clone());
    Ok(artifact)
  }

  /// [`LoadedModule::artifact`] from async code: a class not derived yet is derived on a
  /// blocking thread.
  pub async fn artifact_for(self: &Arc<Self>, class: StackClass) -> Result<Arc<Artifact>, ProbeError> {
    if self.has_artifact(class) {
      return self.artifact(class);
    }
    let module = self.clone();
    tokio::task::spawn_blocking(move || module.artifact(class))
      .await
      .map_err(|e| ProbeError::new(ErrorCode::Host, format!("preparing the guest failed: {e}")))?
  }

  pub fn has_artifact(&self, class: StackClass) -> bool {
    let list = self.artifacts.lock().unwrap_or_else(|p| p.into_inner());
    list.iter().any(|a| a.class.class == class)
  }
}
