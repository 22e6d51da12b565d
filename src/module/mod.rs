//! Loading guests: read, recognise (binary or WAT, core module or component), validate and
//! compile off the JS thread, link once into an `InstancePre`, and describe the result; and the
//! tier-up of a guest that started on baseline code.

use crate::cache::DiskCache;
use crate::compile::{self, CompileWorker, Compiled, Priority};
use crate::engine::{EngineClass, Placement, StackClass, Tier, engines};
use crate::error::{ErrorCode, ProbeError, chain_message};
use crate::exec::link::{self, Artifact, Prepared};
use crate::guest_kind::ModuleKind;
use crate::host::context::ScriptText;
use crate::typed::reflect::{self, Reflection};
use once_cell::sync::Lazy;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

mod code;

pub use code::{Code, TierState};
use code::{code_lookup, code_store};

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

/// Which compilers a runtime uses (`RuntimeOptions.compiler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompilerChoice {
  /// Large guests start on baseline code and move to optimized code built in the background;
  /// small ones are compiled optimized at once (it takes milliseconds).
  #[default]
  Auto,
  Baseline,
  Optimizing,
}

impl CompilerChoice {
  pub fn parse(text: &str) -> Option<CompilerChoice> {
    match text {
      "auto" => Some(CompilerChoice::Auto),
      "baseline" => Some(CompilerChoice::Baseline),
      "optimizing" => Some(CompilerChoice::Optimizing),
      _ => None,
    }
  }
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
  crate::source_file::read(path, "the guest")
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

/// How a runtime loads: its default stack class, disk cache, compiler choice and compile worker.
#[derive(Clone)]
pub struct LoadConfig {
  pub class: StackClass,
  pub disk: Option<DiskCache>,
  pub compiler: CompilerChoice,
  pub worker: Option<CompileWorker>,
}

/// Result of a load: what the guest is, its code, and whether it came from a cache.
pub struct Loaded {
  pub info: ModuleInfo,
  pub code: Arc<Code>,
  pub cache_hit: bool,
}

fn hex(bytes: &[u8]) -> String {
  bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What `ModuleInfo.hash` holds for a source of `bytes`: their SHA-256, in hex.
pub fn source_hash(bytes: &[u8]) -> String {
  hex(&Sha256::digest(bytes))
}

fn read_source(source: GuestSource) -> Result<(Vec<u8>, String), ProbeError> {
  Ok(match source {
    GuestSource::Bytes(bytes) => (bytes, "module".to_string()),
    GuestSource::Path(path) => {
      let bytes = read_file(&path)?;
      (bytes, file_name(&path))
    }
  })
}

fn file_name(path: &Path) -> String {
  path
    .file_name()
    .map(|n| n.to_string_lossy().into_owned())
    .unwrap_or_else(|| "module".into())
}

fn info(code: &Code, name: String, size: u64) -> ModuleInfo {
  let artifact = code.lock()[0].clone();
  let (exports, imports) = describe(&artifact.prepared, &artifact.class);
  ModuleInfo {
    kind: code.kind,
    name,
    size,
    hash: hex(&code.source_sha256),
    exports,
    imports,
  }
}

fn artifact_of(compiled: Compiled, tier: Tier, class: StackClass) -> Result<Arc<Artifact>, ProbeError> {
  let engine_class = engines().class(tier, class)?;
  Ok(Arc::new(Artifact {
    prepared: link::prepare(compiled, &engine_class)?,
    class: engine_class,
  }))
}

/// The tiers to look for in the disk cache, best first.
fn cached_tiers(choice: CompilerChoice, large: bool) -> &'static [Tier] {
  match choice {
    CompilerChoice::Optimizing => &[Tier::Optimized],
    CompilerChoice::Baseline => &[Tier::Baseline],
    CompilerChoice::Auto if large => &[Tier::Optimized, Tier::Baseline],
    CompilerChoice::Auto => &[Tier::Optimized],
  }
}

/// The cache entry of this guest for `tier`, if the runtime has a disk cache.
fn entry_path(
  config: &LoadConfig,
  input_key: &str,
  kind: ModuleKind,
  tier: Tier,
) -> Result<Option<PathBuf>, ProbeError> {
  let Some(d) = &config.disk else { return Ok(None) };
  if !tier.available() {
    return Ok(None);
  }
  let engine = engines().class(tier, config.class)?;
  Ok(Some(d.path(&engine.engine, input_key, kind, tier)))
}

/// Maps the first intact disk cache entry among `tiers`.
fn disk_lookup(
  config: &LoadConfig,
  tiers: &[Tier],
  input_key: &str,
  kind: ModuleKind,
) -> Result<Option<(Tier, Compiled, [u8; 32])>, ProbeError> {
  let Some(d) = &config.disk else { return Ok(None) };
  for &tier in tiers {
    let Some(path) = entry_path(config, input_key, kind, tier)? else {
      continue;
    };
    let Some(seal) = d.lookup(&path, kind, tier) else {
      continue;
    };
    let engine = engines().class(tier, config.class)?;
    // SAFETY: the entry's digest matched, and its key includes the engine's compatibility hash;
    // Wasmtime still refuses an incompatible artifact with an error.
    match unsafe { Compiled::deserialize_file(kind, &engine.engine, &path) } {
      Ok(compiled) => return Ok(Some((tier, compiled, seal.source_sha256))),
      Err(_) => d.discard(&path),
    }
  }
  Ok(None)
}

/// A finished load from code that needs nothing more: no compile, no tier-up.
fn settled(code: Arc<Code>, name: String, size: u64) -> Loaded {
  Loaded {
    info: info(&code, name, size),
    code,
    cache_hit: true,
  }
}

/// Reads, validates, compiles and links a guest. Blocking: call it off the JS thread.
pub fn load(source: GuestSource, name: Option<String>, config: &LoadConfig) -> Result<Loaded, ProbeError> {
  let (input, default_name) = read_source(source)?;
  let input_key = crate::artifact::digest(&input).to_hex().to_string();
  let binary = to_binary(&input)?;
  let kind = kind_of(&binary)?;
  let class = config.class;
  let memo_key = (input_key.clone(), class, config.compiler);
  let size = input.len() as u64;
  let name = name.unwrap_or(default_name);
  if let Some(code) = code_lookup(&memo_key) {
    return Ok(settled(code, name, size));
  }
  let large = binary.len() >= compile::large_guest_bytes();
  let entry = |tier: Tier| entry_path(config, &input_key, kind, tier);
  let found = disk_lookup(config, cached_tiers(config.compiler, large), &input_key, kind)?;
  let cache_hit = found.is_some();
  let (tier, compiled, sha, fallback) = match found {
    Some((tier, compiled, sha)) => (tier, compiled, sha, None),
    None => {
      let sha: [u8; 32] = Sha256::digest(&input).into();
      let tier = match config.compiler {
        CompilerChoice::Optimizing => Tier::Optimized,
        CompilerChoice::Baseline => Tier::Baseline,
        CompilerChoice::Auto if large => Tier::Baseline,
        CompilerChoice::Auto => Tier::Optimized,
      };
      let keep_at = if tier.available() {
        entry(tier)?
      } else {
        entry(Tier::Optimized)?
      };
      let request = compile::Request {
        kind,
        binary: &binary,
        class,
        tier,
        priority: Priority::Foreground,
        source_sha256: sha,
        source_size: size,
        keep_at,
      };
      let out = compile::compile(&request, config.worker.as_ref())?;
      // A fallback to Cranelift wrote its entry under the baseline name; move it where the
      // optimized lookup finds it.
      if out.tier != tier
        && let (Some(from), Some(to)) = (entry(tier)?, entry(out.tier)?)
      {
        let _ = std::fs::rename(from, to);
      }
      (out.tier, out.compiled, sha, out.fallback)
    }
  };
  let state = match (tier, config.compiler) {
    (Tier::Optimized, _) => TierState::Optimized,
    (Tier::Baseline, CompilerChoice::Baseline) => TierState::Baseline,
    (Tier::Baseline, _) => TierState::Optimizing,
  };
  let artifact = artifact_of(compiled, tier, class)?;
  let code = Arc::new(Code::new(kind, sha, artifact, state.clone(), fallback, Some(&binary)));
  code_store(memo_key, &code);
  if state == TierState::Optimizing {
    let keep_at = entry(Tier::Optimized)?;
    let replaces = entry(Tier::Baseline)?;
    tier_up(TierUp {
      replaces,
      code: Arc::downgrade(&code),
      binary: binary.into_owned(),
      kind,
      class,
      source_sha256: sha,
      source_size: size,
      keep_at,
      worker: config.worker.clone(),
    });
  }
  Ok(Loaded {
    info: info(&code, name, size),
    code,
    cache_hit,
  })
}

/// Loads a sealed artifact made by `precompile`, from bytes or from a file (read whole).
pub fn load_precompiled(source: GuestSource, name: Option<String>) -> Result<Loaded, ProbeError> {
  let (seal, compiled, default_name) = match &source {
    GuestSource::Bytes(bytes) => {
      let (seal, compiled) = compile::load_precompiled(bytes, "the precompiled artifact")?;
      (seal, compiled, "module".to_string())
    }
    GuestSource::Path(path) => {
      // Read, not mapped: the file may be rebuilt or cut short while its code runs.
      let bytes = crate::source_file::read(path, "the precompiled artifact")?;
      let what = format!("the precompiled artifact {}", path.display());
      let (seal, compiled) = compile::load_precompiled(&bytes, &what)?;
      (seal, compiled, file_name(path))
    }
  };
  let artifact = artifact_of(compiled, Tier::Optimized, crate::engine::Engines::default_class())?;
  let code = Arc::new(Code::new(
    seal.kind,
    seal.source_sha256,
    artifact,
    TierState::Optimized,
    None,
    None,
  ));
  Ok(Loaded {
    info: info(&code, name.unwrap_or(default_name), seal.source_size),
    code,
    cache_hit: false,
  })
}

/// Reads a guest source for `precompile`: its kind, binary, SHA-256 and size.
pub fn precompile(source: GuestSource, target: Option<&str>) -> Result<Vec<u8>, ProbeError> {
  let (input, _) = read_source(source)?;
  let binary = to_binary(&input)?;
  let kind = kind_of(&binary)?;
  let sha: [u8; 32] = Sha256::digest(&input).into();
  compile::precompile(kind, &binary, target, sha, input.len() as u64)
}

/// A guest waiting for its optimized code.
struct TierUp {
  code: Weak<Code>,
  binary: Vec<u8>,
  kind: ModuleKind,
  class: StackClass,
  source_sha256: [u8; 32],
  source_size: u64,
  keep_at: Option<PathBuf>,
  /// The baseline cache entry, removed once the optimized one is written.
  replaces: Option<PathBuf>,
  worker: Option<CompileWorker>,
}

/// Queues a tier-up. One thread for the whole process works through them one at a time, so
/// background compiles never take more than their share of the machine, whatever is loaded.
fn tier_up(job: TierUp) {
  static QUEUE: Lazy<Mutex<std::sync::mpsc::Sender<TierUp>>> = Lazy::new(|| {
    let (tx, rx) = std::sync::mpsc::channel::<TierUp>();
    std::thread::Builder::new()
      .name("wasm-probe-tier-up".into())
      .spawn(move || {
        for job in rx {
          let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| optimize(job)));
        }
      })
      .expect("spawning the tier-up thread");
    Mutex::new(tx)
  });
  let queue = QUEUE.lock().unwrap_or_else(|p| p.into_inner());
  if let Err(std::sync::mpsc::SendError(job)) = queue.send(job)
    && let Some(code) = job.code.upgrade()
  {
    code
      .state
      .send_replace(TierState::Failed("the tier-up thread is gone".into()));
  }
}

fn optimize(job: TierUp) {
  // The job holds its guest only weakly: a guest every module has dropped is not compiled, and
  // one dropped during the compile gets nothing installed.
  if job.code.strong_count() == 0 {
    return;
  }
  let request = compile::Request {
    kind: job.kind,
    binary: &job.binary,
    class: job.class,
    tier: Tier::Optimized,
    priority: Priority::Background,
    source_sha256: job.source_sha256,
    source_size: job.source_size,
    keep_at: job.keep_at.clone(),
  };
  let built = compile::compile(&request, job.worker.as_ref())
    .and_then(|out| artifact_of(out.compiled, Tier::Optimized, job.class));
  let Some(code) = job.code.upgrade() else { return };
  match built {
    Ok(artifact) => {
      // The optimized entry supersedes the baseline one. Mapped baseline code stays valid after
      // its file is gone (on Windows the removal fails while it is mapped, and the entry is
      // simply never looked up again, as optimized entries are looked up first).
      if let (Some(old), Some(new)) = (&job.replaces, &job.keep_at)
        && new.exists()
      {
        let _ = std::fs::remove_file(old);
      }
      code.install(artifact);
    }
    Err(e) => {
      code.state.send_replace(TierState::Failed(format!(
        "building optimized code failed: {}",
        e.message
      )));
    }
  }
}

/// A loaded guest as the runtime holds it: its description and its code.
pub struct LoadedModule {
  pub info: ModuleInfo,
  pub runtime_id: u64,
  pub code: Arc<Code>,
  /// For a script module (`loadScript`): the script; `code` is then the built-in engine's.
  pub script: Option<Arc<ScriptText>>,
  /// Held while the module lives (the owner's count of loaded modules).
  _alive: Box<dyn Send + Sync>,
}

impl LoadedModule {
  pub fn new(loaded: Loaded, runtime_id: u64, alive: Box<dyn Send + Sync>) -> LoadedModule {
    LoadedModule {
      info: loaded.info,
      runtime_id,
      code: loaded.code,
      script: None,
      _alive: alive,
    }
  }

  /// A script module: this module's code (the built-in engine's) running `script`, described by
  /// `info`.
  pub fn with_script(&self, info: ModuleInfo, script: Arc<ScriptText>, alive: Box<dyn Send + Sync>) -> LoadedModule {
    LoadedModule {
      info,
      runtime_id: self.runtime_id,
      code: self.code.clone(),
      script: Some(script),
      _alive: alive,
    }
  }

  /// The artifact for a store with this stack class and placement, at the current tier.
  /// Deriving one for another engine moves the compiled code there by serialisation (no
  /// recompilation); it blocks, so callers run it off the async workers.
  pub fn artifact(&self, class: StackClass, placement: Placement) -> Result<Arc<Artifact>, ProbeError> {
    let mut list = self.code.lock();
    let (target, found) = find(&list, class, placement)?;
    if let Some(found) = found {
      return Ok(found);
    }
    let source = link::compiled(&list[0].prepared);
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
    // same configuration apart from the stack size and allocator, and never left memory.
    let compiled = unsafe { Compiled::deserialize(source.kind(), &target.engine, &bytes) }.map_err(moved)?;
    let prepared = link::prepare(compiled, &target)?;
    let artifact = Arc::new(Artifact {
      class: target,
      prepared,
    });
    list.push(artifact.clone());
    Ok(artifact)
  }

  /// [`LoadedModule::artifact`] from async code: one not derived yet is derived on a blocking
  /// thread.
  pub async fn artifact_for(
    self: &Arc<Self>,
    class: StackClass,
    placement: Placement,
  ) -> Result<Arc<Artifact>, ProbeError> {
    // One lookup on the way of every execution; only a miss goes to a blocking thread.
    if let (_, Some(found)) = find(&self.code.lock(), class, placement)? {
      return Ok(found);
    }
    let module = self.clone();
    tokio::task::spawn_blocking(move || module.artifact(class, placement))
      .await
      .map_err(|e| ProbeError::new(ErrorCode::Host, format!("preparing the guest failed: {e}")))?
  }
}

/// The engine for `class` and `placement` at the tier of `list` (a code's artifacts, read under
/// its lock, so a tier-up installing meanwhile cannot mix engines), and its artifact if derived.
fn find(
  list: &[Arc<Artifact>],
  class: StackClass,
  placement: Placement,
) -> Result<(Arc<EngineClass>, Option<Arc<Artifact>>), ProbeError> {
  let target = engines().placed(list[0].class.tier, class, placement)?;
  let found = list.iter().find(|a| Arc::ptr_eq(&a.class, &target)).cloned();
  Ok((target, found))
}
