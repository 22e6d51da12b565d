//! Turning a guest binary into native code: which compiler, on which threads, in which process.
//!
//! - Small guests compile in this process on a dedicated rayon pool: Wasmtime's parallel
//!   compilation runs on the pool it is called from, so the pool's size and (on Linux) its
//!   threads' lower priority bound what a compile takes from the JS thread.
//! - Large guests (a componentize-js guest is 12 MB) compile in a child process when the runtime
//!   was given a compile worker (`lib/compile-worker.js`, the same addon in a Node child): the
//!   compiler's peak of several hundred MB is handed back to the OS when the child exits, and this
//!   process only maps the artifact the child wrote. Trimming the allocator after an in-process
//!   compile got only halfway (measured; see the README's performance section), so this is the
//!   path that keeps an extension host lean. Without a worker (or when it cannot start) they
//!   compile in process and the allocator is trimmed afterwards.
//! - A baseline (Winch) compile that Winch cannot do — a proposal it lacks — falls back to
//!   Cranelift, and says so.

use crate::artifact::{self, Seal};
use crate::engine::{StackClass, Tier, base_config, engines};
use crate::error::{ErrorCode, ProbeError, chain_message};
use crate::guest_kind::ModuleKind;
use once_cell::sync::{Lazy, OnceCell};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

/// Guests at least this large compile in a child process when a worker is configured, and, with
/// `compiler: 'auto'`, start on baseline code. Smaller ones compile with Cranelift in
/// milliseconds, where neither pays off. `WASM_PROBE_TIERING_MIN_BYTES` overrides it (tests, bench).
const LARGE_GUEST_BYTES: usize = 1 << 20;

pub fn large_guest_bytes() -> usize {
  std::env::var("WASM_PROBE_TIERING_MIN_BYTES")
    .ok()
    .and_then(|v| v.parse().ok())
    .unwrap_or(LARGE_GUEST_BYTES)
}

/// How urgently code is wanted: a load waits for it; a tier-up happens while guests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
  Foreground,
  Background,
}

/// Unix nice value of every compiling thread or child process: the lowest, below the JS thread
/// and the guests (a compile on an idle machine runs as fast either way). On Linux a background
/// compile goes further and runs under `SCHED_IDLE`: only on CPU time nothing else wants.
const COMPILE_NICE: i32 = 19;

impl Priority {
  fn idle_class(self) -> bool {
    self == Priority::Background
  }

  /// Threads a compile may use: all cores for a load, half of them for a tier-up.
  fn threads(self) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match self {
      Priority::Foreground => cores,
      Priority::Background => cores.div_ceil(2).max(1),
    }
  }
}

/// The child process that compiles large guests: `program script` (Node and
/// `lib/compile-worker.js`), reading the binary on stdin.
#[derive(Debug, Clone)]
pub struct CompileWorker {
  pub program: PathBuf,
  pub script: PathBuf,
}

/// Compiled code before linking.
pub enum Compiled {
  Core(Module),
  Component(Component),
}

impl Compiled {
  fn compile(kind: ModuleKind, engine: &Engine, binary: &[u8]) -> wasmtime::Result<Compiled> {
    Ok(match kind {
      ModuleKind::Module => Compiled::Core(Module::new(engine, binary)?),
      ModuleKind::Component => Compiled::Component(Component::new(engine, binary)?),
    })
  }

  /// # Safety
  /// `bytes` must come from `Compiled::serialize` of a compatible engine: produced in this
  /// process, or read back from a verified artifact.
  pub unsafe fn deserialize(kind: ModuleKind, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Compiled> {
    // SAFETY: as the caller promised.
    Ok(match kind {
      ModuleKind::Module => Compiled::Core(unsafe { Module::deserialize(engine, bytes) }?),
      ModuleKind::Component => Compiled::Component(unsafe { Component::deserialize(engine, bytes) }?),
    })
  }

  /// Maps a verified artifact file: code and memory images stay backed by the file.
  ///
  /// # Safety
  /// The file must hold a verified artifact and must not change while the code lives (this crate
  /// only ever replaces such files by rename).
  pub unsafe fn deserialize_file(kind: ModuleKind, engine: &Engine, path: &Path) -> wasmtime::Result<Compiled> {
    // SAFETY: as the caller promised.
    Ok(match kind {
      ModuleKind::Module => Compiled::Core(unsafe { Module::deserialize_file(engine, path) }?),
      ModuleKind::Component => Compiled::Component(unsafe { Component::deserialize_file(engine, path) }?),
    })
  }

  pub fn kind(&self) -> ModuleKind {
    match self {
      Compiled::Core(_) => ModuleKind::Module,
      Compiled::Component(_) => ModuleKind::Component,
    }
  }

  pub fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
    match self {
      Compiled::Core(m) => m.serialize(),
      Compiled::Component(c) => c.serialize(),
    }
  }
}

fn invalid(kind: ModuleKind, e: &wasmtime::Error) -> ProbeError {
  ProbeError::invalid_module(format!("invalid WebAssembly {}: {}", kind.as_str(), chain_message(e)))
}

/// Lowers the calling thread's scheduling priority (Linux: nice and the policy apply per thread).
fn lower_thread_priority(priority: Priority) {
  #[cfg(target_os = "linux")]
  // SAFETY: plain syscalls on the calling thread; a failure only leaves the priority as it was.
  unsafe {
    let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
    libc::setpriority(libc::PRIO_PROCESS, tid, COMPILE_NICE);
    if priority.idle_class() {
      let param = libc::sched_param { sched_priority: 0 };
      libc::sched_setscheduler(tid as libc::pid_t, libc::SCHED_IDLE, &param);
    }
  }
  #[cfg(not(target_os = "linux"))]
  let _ = priority;
}

/// The in-process compile pools, one per priority, created on first use.
fn pool(priority: Priority) -> &'static rayon::ThreadPool {
  static FOREGROUND: OnceCell<rayon::ThreadPool> = OnceCell::new();
  static BACKGROUND: OnceCell<rayon::ThreadPool> = OnceCell::new();
  let cell = match priority {
    Priority::Foreground => &FOREGROUND,
    Priority::Background => &BACKGROUND,
  };
  cell.get_or_init(|| {
    rayon::ThreadPoolBuilder::new()
      .num_threads(priority.threads())
      .thread_name(move |i| format!("wasm-probe-compile-{priority:?}-{i}"))
      .start_handler(move |_| lower_thread_priority(priority))
      .build()
      .expect("starting the compile threads")
  })
}

/// Hands freed compiler memory back to the OS (glibc keeps it otherwise).
pub fn trim_allocator() {
  #[cfg(all(target_os = "linux", target_env = "gnu"))]
  // SAFETY: malloc_trim only releases free memory of the allocator.
  unsafe {
    libc::malloc_trim(0);
  }
}

/// What to compile.
pub struct Request<'a> {
  pub kind: ModuleKind,
  pub binary: &'a [u8],
  pub class: StackClass,
  /// The tier wanted; `Baseline` falls back to `Optimized` where Winch cannot compile the guest.
  pub tier: Tier,
  pub priority: Priority,
  pub source_sha256: [u8; 32],
  pub source_size: u64,
  /// Where to keep the sealed artifact (a cache entry), if anywhere.
  pub keep_at: Option<PathBuf>,
}

/// Compiled code and the tier it ended up at.
pub struct Output {
  pub tier: Tier,
  pub compiled: Compiled,
  /// Why the baseline compiler was not used, when it was asked for.
  pub fallback: Option<String>,
}

/// Compiles `req`, in a child process when it is large and a worker is given.
pub fn compile(req: &Request<'_>, worker: Option<&CompileWorker>) -> Result<Output, ProbeError> {
  let large = req.binary.len() >= large_guest_bytes();
  if let Some(worker) = worker
    && large
  {
    // When the worker cannot run (no Node, a sandbox without fork, a broken install), compile here.
    if let Ok(done) = compile_in_child(req, worker) {
      return done;
    }
  }
  let output = pool(req.priority).install(|| compile_here(req))?;
  let output = match (&req.keep_at, large) {
    // Keep the code backed by its file rather than by anonymous memory, then give the compiler's
    // peak back.
    (Some(path), true) => remap(output, path, req.class)?,
    _ => output,
  };
  if large {
    trim_allocator();
  }
  Ok(output)
}

/// Compiles in this thread (with fallback), writing the sealed artifact where asked.
fn compile_here(req: &Request<'_>) -> Result<Output, ProbeError> {
  let (tier, compiled, fallback) = compile_with_fallback(req.kind, req.tier, req.class, req.binary)?;
  if let Some(path) = &req.keep_at
    && let Ok(payload) = compiled.serialize()
  {
    let sealed = artifact::seal(payload, req.kind, tier, req.source_sha256, req.source_size);
    let _ = artifact::write_atomically(path, &sealed);
  }
  Ok(Output {
    tier,
    compiled,
    fallback,
  })
}

fn compile_with_fallback(
  kind: ModuleKind,
  tier: Tier,
  class: StackClass,
  binary: &[u8],
) -> Result<(Tier, Compiled, Option<String>), ProbeError> {
  let mut fallback = None;
  if tier == Tier::Baseline {
    let attempt = engines()
      .class(Tier::Baseline, class)
      .and_then(|e| Compiled::compile(kind, &e.engine, binary).map_err(|err| invalid(kind, &err)));
    match attempt {
      Ok(compiled) => return Ok((Tier::Baseline, compiled, None)),
      Err(e) => fallback = Some(e.message),
    }
  }
  let engine = engines().class(Tier::Optimized, class)?;
  let compiled = Compiled::compile(kind, &engine.engine, binary).map_err(|e| invalid(kind, &e))?;
  Ok((Tier::Optimized, compiled, fallback))
}

/// Replaces freshly compiled code with the same code mapped from the artifact file just written.
fn remap(output: Output, path: &Path, class: StackClass) -> Result<Output, ProbeError> {
  let engine = engines().class(output.tier, class)?;
  // SAFETY: this process wrote and sealed the file a moment ago; it is replaced only by rename.
  match unsafe { Compiled::deserialize_file(output.compiled.kind(), &engine.engine, path) } {
    Ok(compiled) => Ok(Output { compiled, ..output }),
    Err(_) => Ok(output),
  }
}

fn temp_artifact_path() -> PathBuf {
  static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
  let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
  std::env::temp_dir().join(format!("wasm-probe-{}-{n}.cwasm", std::process::id()))
}

/// What the parent tells the worker (one JSON argument).
#[derive(serde::Serialize, serde::Deserialize)]
struct WorkerArgs {
  kind: String,
  tier: String,
  stack_bytes: u64,
  output: PathBuf,
  source_sha256: String,
  source_size: u64,
}

/// What the worker answers on stdout (one JSON line).
#[derive(serde::Serialize, serde::Deserialize)]
struct WorkerAnswer {
  ok: bool,
  tier: Option<String>,
  fallback: Option<String>,
  code: Option<String>,
  message: Option<String>,
}

fn hex(bytes: &[u8]) -> String {
  bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
  let mut out = [0u8; 32];
  if text.len() != 64 {
    return None;
  }
  for (i, byte) in out.iter_mut().enumerate() {
    *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
  }
  Some(out)
}

/// Runs the worker and maps what it wrote. `Err` means the worker itself could not do its job
/// (it did not start, died, or answered nonsense), not that the guest failed to compile.
fn compile_in_child(req: &Request<'_>, worker: &CompileWorker) -> Result<Result<Output, ProbeError>, String> {
  let output = req.keep_at.clone().unwrap_or_else(temp_artifact_path);
  let args = WorkerArgs {
    kind: req.kind.as_str().into(),
    tier: req.tier.as_str().into(),
    stack_bytes: req.class.bytes() as u64,
    output: output.clone(),
    source_sha256: hex(&req.source_sha256),
    source_size: req.source_size,
  };
  let args = serde_json::to_string(&args).map_err(|e| e.to_string())?;
  let mut command = Command::new(&worker.program);
  command
    .arg(&worker.script)
    .arg(args)
    .env("ELECTRON_RUN_AS_NODE", "1")
    .env("RAYON_NUM_THREADS", req.priority.threads().to_string())
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
  lower_child_priority(&mut command, req.priority);
  let mut child = command
    .spawn()
    .map_err(|e| format!("cannot start the compile worker: {e}"))?;
  let mut stdin = child.stdin.take().ok_or("no stdin")?;
  let sent = stdin.write_all(req.binary);
  drop(stdin);
  let mut answer = String::new();
  let mut stderr = String::new();
  if let Some(mut out) = child.stdout.take() {
    let _ = out.read_to_string(&mut answer);
  }
  if let Some(mut err) = child.stderr.take() {
    let _ = err.read_to_string(&mut stderr);
  }
  let status = child.wait().map_err(|e| e.to_string())?;
  sent.map_err(|e| format!("cannot send the guest to the compile worker: {e}"))?;
  let answer: WorkerAnswer = serde_json::from_str(answer.trim()).map_err(|_| {
    let _ = std::fs::remove_file(&output);
    format!("the compile worker exited with {status}: {}", stderr.trim())
  })?;
  if !answer.ok {
    let code = if answer.code.as_deref() == Some(ErrorCode::Link.as_str()) {
      ErrorCode::Link
    } else {
      ErrorCode::InvalidModule
    };
    return Ok(Err(ProbeError::new(code, answer.message.unwrap_or_default())));
  }
  let tier = answer
    .tier
    .as_deref()
    .and_then(Tier::parse)
    .ok_or("the worker named no tier")?;
  let engine = engines().class(tier, req.class).map_err(|e| e.message)?;
  // SAFETY: the worker is this same addon, started by this process; it wrote and sealed the file
  // and replaces such files only by rename. Wasmtime still refuses an incompatible one.
  let mapped = unsafe { Compiled::deserialize_file(req.kind, &engine.engine, &output) };
  if req.keep_at.is_none() {
    // Mapped code stays valid after the name is gone (on Windows the file cannot be removed
    // while mapped and is left in the temp directory).
    let _ = std::fs::remove_file(&output);
  }
  let compiled = mapped.map_err(|e| format!("cannot map the worker's artifact: {}", chain_message(&e)))?;
  Ok(Ok(Output {
    tier,
    compiled,
    fallback: answer.fallback,
  }))
}

#[cfg(unix)]
fn lower_child_priority(command: &mut Command, priority: Priority) {
  use std::os::unix::process::CommandExt;
  let idle = priority.idle_class();
  // SAFETY: between fork and exec only async-signal-safe syscalls run.
  unsafe {
    command.pre_exec(move || {
      libc::setpriority(libc::PRIO_PROCESS, 0, COMPILE_NICE);
      #[cfg(target_os = "linux")]
      if idle {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
      }
      #[cfg(not(target_os = "linux"))]
      let _ = idle;
      // The worker must not outlive this process (Linux only; elsewhere it finishes and exits).
      #[cfg(target_os = "linux")]
      libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
      Ok(())
    });
  }
}

#[cfg(windows)]
fn lower_child_priority(command: &mut Command, priority: Priority) {
  use std::os::windows::process::CommandExt;
  const IDLE_PRIORITY_CLASS: u32 = 0x0000_0040;
  const BELOW_NORMAL_PRIORITY_CLASS: u32 = 0x0000_4000;
  const CREATE_NO_WINDOW: u32 = 0x0800_0000;
  let class = if priority.idle_class() {
    IDLE_PRIORITY_CLASS
  } else {
    BELOW_NORMAL_PRIORITY_CLASS
  };
  command.creation_flags(class | CREATE_NO_WINDOW);
}

#[cfg(not(any(unix, windows)))]
fn lower_child_priority(_command: &mut Command, _priority: Priority) {}

/// The compile worker's side: reads the guest binary from stdin, compiles it as `args_json` says
/// (with the baseline fallback), writes the sealed artifact, and answers with one JSON line.
pub fn run_worker(args_json: &str) -> String {
  let answer = match worker_compile(args_json) {
    Ok((tier, fallback)) => WorkerAnswer {
      ok: true,
      tier: Some(tier.as_str().into()),
      fallback,
      code: None,
      message: None,
    },
    Err(e) => WorkerAnswer {
      ok: false,
      tier: None,
      fallback: None,
      code: Some(e.code.as_str().into()),
      message: Some(e.message),
    },
  };
  serde_json::to_string(&answer).unwrap_or_else(|_| "{\"ok\":false}".into())
}

fn worker_compile(args_json: &str) -> Result<(Tier, Option<String>), ProbeError> {
  let bad = |what: &str| ProbeError::new(ErrorCode::Host, format!("compile worker: {what}"));
  let args: WorkerArgs = serde_json::from_str(args_json).map_err(|e| bad(&e.to_string()))?;
  let kind = match args.kind.as_str() {
    "module" => ModuleKind::Module,
    "component" => ModuleKind::Component,
    _ => return Err(bad("unknown kind")),
  };
  let tier = Tier::parse(&args.tier).ok_or_else(|| bad("unknown tier"))?;
  let sha = unhex(&args.source_sha256).ok_or_else(|| bad("bad source digest"))?;
  let mut binary = Vec::new();
  std::io::stdin()
    .read_to_end(&mut binary)
    .map_err(|e| bad(&e.to_string()))?;
  let class = StackClass::for_bytes(args.stack_bytes);
  let (tier, compiled, fallback) = compile_with_fallback(kind, tier, class, &binary)?;
  drop(binary);
  let payload = compiled.serialize().map_err(|e| bad(&chain_message(&e)))?;
  drop(compiled);
  let sealed = artifact::seal(payload, kind, tier, sha, args.source_size);
  artifact::write_atomically(&args.output, &sealed).map_err(|e| bad(&format!("cannot write the artifact: {e}")))?;
  Ok((tier, fallback))
}

/// Engines configured for another target, for `precompile`, created on first use.
static TARGET_ENGINES: Lazy<Mutex<HashMap<String, Engine>>> = Lazy::new(Default::default);

fn engine_for_target(target: Option<&str>) -> Result<Engine, ProbeError> {
  let Some(target) = target else {
    return Ok(
      engines()
        .class(Tier::Optimized, crate::engine::Engines::default_class())?
        .engine
        .clone(),
    );
  };
  let mut map = TARGET_ENGINES.lock().unwrap_or_else(|p| p.into_inner());
  if let Some(found) = map.get(target) {
    return Ok(found.clone());
  }
  let mut config = base_config(Tier::Optimized, crate::engine::Engines::default_class());
  let refused = |e: wasmtime::Error| {
    ProbeError::invalid_value(
      "options.target",
      format!(
        "cannot compile for {target:?}: {} (this build compiles for x86_64 and aarch64 targets: \
         x86_64-unknown-linux-gnu, aarch64-apple-darwin, x86_64-pc-windows-msvc, ...)",
        chain_message(&e)
      ),
    )
  };
  config.target(target).map_err(refused)?;
  let engine = Engine::new(&config).map_err(refused)?;
  map.insert(target.to_string(), engine.clone());
  Ok(engine)
}

/// Optimized code for `binary`, sealed, for `target` (default: this machine).
pub fn precompile(
  kind: ModuleKind,
  binary: &[u8],
  target: Option<&str>,
  source_sha256: [u8; 32],
  source_size: u64,
) -> Result<Vec<u8>, ProbeError> {
  let engine = engine_for_target(target)?;
  let payload = pool(Priority::Foreground)
    .install(|| match kind {
      ModuleKind::Module => engine.precompile_module(binary),
      ModuleKind::Component => engine.precompile_component(binary),
    })
    .map_err(|e| invalid(kind, &e))?;
  if binary.len() >= large_guest_bytes() {
    trim_allocator();
  }
  Ok(artifact::seal(
    payload,
    kind,
    Tier::Optimized,
    source_sha256,
    source_size,
  ))
}

/// Copies a verified precompiled artifact into the default engine.
pub fn load_precompiled(bytes: &[u8], what: &str) -> Result<(Seal, Compiled), ProbeError> {
  let seal = artifact::open_bytes(bytes).map_err(|e| e.into_error(what))?;
  if seal.tier != Tier::Optimized {
    return Err(ProbeError::invalid_module(format!(
      "cannot load {what}: it holds {} code; precompiled artifacts hold optimized code",
      seal.tier.as_str()
    )));
  }
  let engine = engines().class(Tier::Optimized, crate::engine::Engines::default_class())?;
  // SAFETY: the artifact's digest matched its trailer; Wasmtime checks its version, configuration
  // and target before using it.
  let compiled =
    unsafe { Compiled::deserialize(seal.kind, &engine.engine, &bytes[..seal.payload_len]) }.map_err(|e| {
      ProbeError::invalid_module(format!(
        "cannot load {what}: it was made by another engine build, configuration or target ({})",
        chain_message(&e)
      ))
    })?;
  Ok((seal, compiled))
}
