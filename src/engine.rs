//! The process-wide Wasmtime engines and the one epoch ticker that drives every deadline.
//!
//! Wasmtime fixes the wasm stack size per `Engine`, while the contract lets every execution pick
//! its own `stackBytes`. So there is one engine per stack-size class (powers of two from 64 KiB to
//! 8 MiB), created on first use; all share one configuration otherwise, so compiled code moves
//! between them by serialisation instead of recompiling. The default class (1 MiB) uses the
//! pooling allocator; the rarely used others allocate on demand.
//!
//! Each class exists once per compiler [`Tier`]: Winch (baseline: compiles several times faster,
//! runs slower) and Cranelift (optimized). Their artifacts are not interchangeable — the engines'
//! tunables differ — so a store, and the code it runs, always belongs to one tier's engine.

use crate::error::{ErrorCode, ProbeError, chain_message};
use crate::limits::{GIB, MIB, STACK_MAX, STACK_MIN};
use once_cell::sync::OnceCell;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use wasmtime::{Config, Engine, EngineWeak, InstanceAllocationStrategy, PoolingAllocationConfig, Strategy};

/// How often the ticker bumps every engine's epoch while anything runs. A guest loop is stopped
/// at most about one tick after its deadline, and yields its worker thread every tick.
pub const TICK: Duration = Duration::from_millis(2);

/// How many ticks the ticker keeps running after the last execution ended (100 ms).
const LINGER_TICKS: u32 = 50;

const CLASS_COUNT: usize = 8; // 64 KiB .. 8 MiB
const POOLED_CLASS: usize = 4; // 1 MiB, the contract's default
/// Stack the host side (WASI, host functions) may use on a guest's fiber beyond the wasm stack.
const HOST_STACK_HEADROOM: usize = MIB as usize;

/// A stack-size class: the wasm stack an engine allows, rounded up to a power of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackClass(u8);

impl StackClass {
  pub fn for_bytes(stack_bytes: u64) -> StackClass {
    let clamped = stack_bytes.clamp(STACK_MIN, STACK_MAX);
    let rounded = clamped.next_power_of_two();
    StackClass((rounded.trailing_zeros() - STACK_MIN.trailing_zeros()) as u8)
  }

  pub fn bytes(self) -> usize {
    (STACK_MIN as usize) << self.0
  }

  fn index(self) -> usize {
    self.0 as usize
  }
}

/// Which compiler made a guest's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
  /// Winch: a single-pass compiler, for a fast start.
  Baseline,
  /// Cranelift at `OptLevel::Speed`.
  Optimized,
}

impl Tier {
  pub fn as_str(self) -> &'static str {
    match self {
      Tier::Baseline => "baseline",
      Tier::Optimized => "optimized",
    }
  }

  pub fn parse(text: &str) -> Option<Tier> {
    match text {
      "baseline" => Some(Tier::Baseline),
      "optimized" => Some(Tier::Optimized),
      _ => None,
    }
  }

  fn index(self) -> usize {
    self as usize
  }

  /// Whether this build has the tier's compiler for the machine it runs on: Winch generates code
  /// for x86_64 and aarch64 only.
  pub fn available(self) -> bool {
    match self {
      Tier::Optimized => true,
      Tier::Baseline => cfg!(any(target_arch = "x86_64", target_arch = "aarch64")),
    }
  }
}

/// Where a store's instances, memories and stacks come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placement {
  /// The pool where there is one (the default stack class): one execution's short-lived store.
  Shared,
  /// Allocated on demand and freed with the store: a long-lived instance.
  Dedicated,
}

pub struct EngineClass {
  /// Unique per engine in this process (two engines may share tier and class).
  pub id: u32,
  pub engine: Engine,
  pub class: StackClass,
  pub tier: Tier,
  pub pooled: bool,
}

pub struct Engines {
  classes: [[OnceCell<Arc<EngineClass>>; CLASS_COUNT]; 2],
  /// Per tier: the default class allocating on demand, for long-lived instances.
  dedicated: [OnceCell<Arc<EngineClass>>; 2],
  create_lock: Mutex<()>,
  pub ticker: Arc<Ticker>,
  /// Bounds the live stores (and so the pool's slots), shared fairly between runtimes; waiting
  /// here is what `stats().queued` counts.
  pub stores: crate::store_share::StorePool,
}

static ENGINES: OnceCell<Engines> = OnceCell::new();

pub fn engines() -> &'static Engines {
  ENGINES.get_or_init(|| Engines {
    classes: Default::default(),
    dedicated: Default::default(),
    create_lock: Mutex::new(()),
    ticker: Ticker::start(),
    stores: crate::store_share::StorePool::new(),
  })
}

/// The configuration every engine of `tier` and `class` shares. A precompiled artifact is only
/// accepted by an engine with this same configuration, so `precompile` builds from it too.
pub fn base_config(tier: Tier, class: StackClass) -> Config {
  let mut config = Config::new();
  config.strategy(match tier {
    Tier::Baseline => Strategy::Winch,
    Tier::Optimized => Strategy::Cranelift,
  });
  config
    .wasm_component_model(true)
    .epoch_interruption(true)
    .consume_fuel(true)
    .concurrency_support(false)
    .max_wasm_stack(class.bytes())
    .async_stack_size(class.bytes() + HOST_STACK_HEADROOM)
    .wasm_backtrace_details(wasmtime::WasmBacktraceDetails::Disable)
    // macOS: POSIX signals, as on Linux, not Mach exception ports. Electron's V8 traps its own
    // wasm faults with a POSIX handler that Wasmtime's chains to; Mach ports break in forked
    // children and have been seen to miss faults (wasmtime#10099, PR #11990). README: signals.
    .macos_use_mach_ports(false)
    .cranelift_opt_level(wasmtime::OptLevel::Speed);
  config
}

fn pooling_config() -> PoolingAllocationConfig {
  let mut pool = PoolingAllocationConfig::default();
  let stores = crate::store_share::MAX_LIVE_STORES as u32;
  pool
    .total_component_instances(stores)
    .total_core_instances(stores * 32)
    .max_core_instances_per_component(32)
    .total_memories(stores * 8)
    .max_memories_per_component(8)
    .max_memories_per_module(2)
    .total_tables(stores * 16)
    .max_tables_per_component(16)
    .max_tables_per_module(4)
    .total_stacks(stores)
    .table_elements(crate::limits::TABLE_MAX as usize)
    .max_memory_size(4 * GIB as usize)
    .max_unused_warm_slots(16);
  pool
}

impl Engines {
  /// The engine for code of `tier` run with this wasm stack size, created on first use.
  pub fn class(&self, tier: Tier, class: StackClass) -> Result<Arc<EngineClass>, ProbeError> {
    self.placed(tier, class, Placement::Shared)
  }

  /// The engine for code of `tier` with this wasm stack size, for stores placed as `placement`.
  /// Only the default class has two (pooled and not); every other class allocates on demand.
  pub fn placed(&self, tier: Tier, class: StackClass, placement: Placement) -> Result<Arc<EngineClass>, ProbeError> {
    let may_pool = class.index() == POOLED_CLASS;
    let cell = if may_pool && placement == Placement::Dedicated {
      &self.dedicated[tier.index()]
    } else {
      &self.classes[tier.index()][class.index()]
    };
    if let Some(found) = cell.get() {
      return Ok(found.clone());
    }
    let pool = may_pool && placement == Placement::Shared;
    let _guard = self.create_lock.lock().unwrap_or_else(|p| p.into_inner());
    let created = cell.get_or_try_init(|| self.create(tier, class, pool))?;
    Ok(created.clone())
  }

  fn create(&self, tier: Tier, class: StackClass, pool: bool) -> Result<Arc<EngineClass>, ProbeError> {
    if !tier.available() {
      return Err(ProbeError::new(
        ErrorCode::Host,
        format!("the {} compiler is not available on this platform", tier.as_str()),
      ));
    }
    let mut pooled = pool && std::env::var_os("WASM_PROBE_NO_POOLING").is_none();
    let engine = loop {
      let mut config = base_config(tier, class);
      if pooled {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config()));
      }
      match Engine::new(&config) {
        Ok(engine) => break engine,
        // Pooling reserves a lot of address space up front; where that is refused (a ulimit on
        // virtual memory, a small 32-bit space) fall back to allocating on demand.
        Err(_) if pooled => pooled = false,
        Err(e) => {
          return Err(ProbeError::new(
            ErrorCode::Host,
            format!(
              "cannot create the {} Wasmtime engine: {}",
              tier.as_str(),
              chain_message(&e)
            ),
          ));
        }
      }
    };
    self.ticker.watch(engine.weak());
    static NEXT_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    Ok(Arc::new(EngineClass {
      id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
      engine,
      class,
      tier,
      pooled,
    }))
  }

  pub fn default_class() -> StackClass {
    StackClass(POOLED_CLASS as u8)
  }
}

/// One thread for the whole process that bumps the epoch of every engine every [`TICK`] while at
/// least one execution is running, and sleeps otherwise (an idle editor pays nothing).
pub struct Ticker {
  state: Mutex<TickerState>,
  wake: Condvar,
}

struct TickerState {
  engines: Vec<EngineWeak>,
  active: usize,
  /// The ticker waits on the condition variable (and must be woken) only while this is set.
  parked: bool,
}

impl Ticker {
  fn start() -> Arc<Ticker> {
    let ticker = Arc::new(Ticker {
      state: Mutex::new(TickerState {
        engines: Vec::new(),
        active: 0,
        parked: false,
      }),
      wake: Condvar::new(),
    });
    let worker = ticker.clone();
    std::thread::Builder::new()
      .name("wasm-probe-epoch".into())
      .spawn(move || worker.run())
      .expect("spawning the epoch ticker thread");
    ticker
  }

  fn watch(&self, engine: EngineWeak) {
    self.lock().engines.push(engine);
  }

  fn lock(&self) -> std::sync::MutexGuard<'_, TickerState> {
    self.state.lock().unwrap_or_else(|p| p.into_inner())
  }

  fn run(&self) {
    let mut idle_ticks = 0u32;
    loop {
      let engines: Vec<Engine> = {
        let mut state = self.lock();
        if state.active > 0 {
          idle_ticks = 0;
        } else {
          idle_ticks += 1;
        }
        // Linger a little after the last execution ends, so back-to-back executions do not
        // pay a thread wake-up each; then park until the next one.
        if idle_ticks > LINGER_TICKS {
          state.parked = true;
          while state.active == 0 {
            state = self.wake.wait(state).unwrap_or_else(|p| p.into_inner());
          }
          state.parked = false;
          idle_ticks = 0;
        }
        state.engines.iter().filter_map(EngineWeak::upgrade).collect()
      };
      std::thread::sleep(TICK);
      for engine in &engines {
        engine.increment_epoch();
      }
    }
  }

  /// Keeps the ticker running until the returned guard drops.
  pub fn activate(self: &Arc<Self>) -> TickGuard {
    let mut state = self.lock();
    state.active += 1;
    if state.parked {
      self.wake.notify_one();
    }
    TickGuard(self.clone())
  }
}

pub struct TickGuard(Arc<Ticker>);

impl Drop for TickGuard {
  fn drop(&mut self) {
    self.0.lock().active -= 1;
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn stack_classes_round_up_to_powers_of_two() {
    assert_eq!(StackClass::for_bytes(64 * 1024).bytes(), 64 * 1024);
    assert_eq!(StackClass::for_bytes(64 * 1024 + 1).bytes(), 128 * 1024);
    assert_eq!(StackClass::for_bytes(MIB).bytes(), MIB as usize);
    assert_eq!(StackClass::for_bytes(8 * MIB).bytes(), 8 * MIB as usize);
    assert_eq!(StackClass::for_bytes(MIB), Engines::default_class());
  }

  #[test]
  fn engines_are_shared_per_class() {
    let a = engines().class(Tier::Optimized, Engines::default_class()).unwrap();
    let b = engines().class(Tier::Optimized, Engines::default_class()).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let baseline = engines().class(Tier::Baseline, Engines::default_class()).unwrap();
    assert!(!Arc::ptr_eq(&a, &baseline));
    assert_eq!(baseline.tier, Tier::Baseline);
    let small = engines()
      .class(Tier::Optimized, StackClass::for_bytes(64 * 1024))
      .unwrap();
    assert!(!small.pooled);
    assert_eq!(small.class.bytes(), 64 * 1024);
    let dedicated = engines()
      .placed(Tier::Optimized, Engines::default_class(), Placement::Dedicated)
      .unwrap();
    assert!(!dedicated.pooled);
    assert!(!Arc::ptr_eq(&a, &dedicated));
    let small_dedicated = engines()
      .placed(Tier::Optimized, StackClass::for_bytes(64 * 1024), Placement::Dedicated)
      .unwrap();
    assert!(Arc::ptr_eq(&small, &small_dedicated));
  }
}
