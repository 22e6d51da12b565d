//! The code of one guest input: its artifacts per stack class, where its tier-up stands, and the
//! process-wide table that lets loads of the same input share it.

use super::*;

/// Where a guest's code stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TierState {
  /// Baseline code, and optimized code is being built.
  Optimizing,
  /// Baseline code, and it stays so (`compiler: 'baseline'`).
  Baseline,
  Optimized,
  /// Baseline code; building optimized code failed.
  Failed(String),
}

/// The code of one guest input, shared by every load of it with the same compiler choice: its
/// artifacts per stack class, all of one tier, and where a tier-up stands.
pub struct Code {
  pub kind: ModuleKind,
  pub source_sha256: [u8; 32],
  pub(super) artifacts: Mutex<Vec<Arc<Artifact>>>,
  pub(super) state: tokio::sync::watch::Sender<TierState>,
  /// Why the baseline compiler was not used, when it was asked for.
  pub fallback: Option<String>,
  /// Its functions, imports and WIT (the same for every tier and engine).
  pub reflection: Arc<Reflection>,
}

impl Code {
  /// `binary` is the guest's source binary when it is at hand (not for a precompiled artifact):
  /// a component's WIT is decoded from it.
  pub(super) fn new(
    kind: ModuleKind,
    source_sha256: [u8; 32],
    artifact: Arc<Artifact>,
    state: TierState,
    fallback: Option<String>,
    binary: Option<&[u8]>,
  ) -> Code {
    let reflection = match &artifact.prepared {
      Prepared::Core(pre) => reflect::of_core(pre.module()),
      Prepared::Component(pre) => binary
        .and_then(reflect::of_component_binary)
        .unwrap_or_else(|| reflect::of_component_types(pre.component(), pre.engine())),
    };
    Code {
      reflection: Arc::new(reflection),
      kind,
      source_sha256,
      artifacts: Mutex::new(vec![artifact]),
      state: tokio::sync::watch::Sender::new(state),
      fallback,
    }
  }

  pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Artifact>>> {
    self.artifacts.lock().unwrap_or_else(|p| p.into_inner())
  }

  /// An artifact of the current tier (for its types; every artifact has the same).
  pub fn first(&self) -> Arc<Artifact> {
    self.lock()[0].clone()
  }

  /// The tier an instance created now runs.
  pub fn tier(&self) -> Tier {
    self.lock()[0].class.tier
  }

  /// Waits until optimized code is in place (`Ok`), or will not come (`Err` says why).
  pub async fn when_optimized(&self) -> Result<(), String> {
    let mut watch = self.state.subscribe();
    let settled = watch
      .wait_for(|s| !matches!(s, TierState::Optimizing))
      .await
      .map(|s| s.clone());
    match settled {
      Ok(TierState::Optimized) => Ok(()),
      Ok(TierState::Failed(why)) => Err(why),
      Ok(_) => Err("the runtime was created with compiler: 'baseline', which never builds optimized code".into()),
      Err(_) => Err("the guest's code was released".into()),
    }
  }

  /// Puts optimized code in place for every instance created from now on.
  pub(super) fn install(&self, artifact: Arc<Artifact>) {
    *self.lock() = vec![artifact];
    self.state.send_replace(TierState::Optimized);
  }
}

/// Code by (input key, default stack class, compiler choice), shared while anything holds it:
/// loading the same guest twice compiles it once.
type CodeCache = HashMap<(String, StackClass, CompilerChoice), Weak<Code>>;
static CODE: Lazy<Mutex<CodeCache>> = Lazy::new(Default::default);

pub(super) fn code_lookup(key: &(String, StackClass, CompilerChoice)) -> Option<Arc<Code>> {
  let map = CODE.lock().unwrap_or_else(|p| p.into_inner());
  map.get(key).and_then(Weak::upgrade)
}

pub(super) fn code_store(key: (String, StackClass, CompilerChoice), code: &Arc<Code>) {
  let mut map = CODE.lock().unwrap_or_else(|p| p.into_inner());
  map.retain(|_, weak| weak.strong_count() > 0);
  map.insert(key, Arc::downgrade(code));
}
