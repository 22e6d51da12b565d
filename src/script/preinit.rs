//! Pre-initializing the built-in JavaScript engine: its `wizer-initialize` export (the QuickJS
//! runtime, context and globals) runs once, at build time, and Wizer snapshots the resulting
//! memory and globals into a new module. Every instance then starts with the engine ready: an
//! execution only evaluates its script.
//!
//! Wizer's own Wasmtime driver needs Wasmtime features this addon does without; its two halves
//! (instrument, snapshot) work over any [`InstanceState`], which is implemented here over this
//! crate's Wasmtime.

use crate::error::{ErrorCode, ProbeError, chain_message};
use wasmtime::{Engine, Linker, Module, Store, Val};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

/// The engine's export that builds its state.
const INIT: &str = "wizer-initialize";

struct Snapshotting<'a> {
  store: &'a mut Store<WasiP1Ctx>,
  instance: wasmtime::Instance,
}

impl InstanceState for Snapshotting<'_> {
  async fn global_get(&mut self, name: &str, _type_hint: ValType) -> SnapshotVal {
    let global = self
      .instance
      .get_global(&mut *self.store, name)
      .expect("wizer exports every global");
    match global.get(&mut *self.store) {
      Val::I32(x) => SnapshotVal::I32(x),
      Val::I64(x) => SnapshotVal::I64(x),
      Val::F32(x) => SnapshotVal::F32(x),
      Val::F64(x) => SnapshotVal::F64(x),
      Val::V128(x) => SnapshotVal::V128(x.as_u128()),
      other => panic!("a global of type {:?} cannot be snapshotted", other.ty(&*self.store)),
    }
  }

  async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
    let memory = self
      .instance
      .get_memory(&mut *self.store, name)
      .expect("wizer exports every memory");
    contents(memory.data(&*self.store))
  }
}

/// The engine module `wasm` with its `wizer-initialize` already run. While it runs the engine
/// has WASI (clocks, random: QuickJS reads them) and nothing else: a probe import traps.
pub fn preinitialize(wasm: &[u8]) -> Result<Vec<u8>, ProbeError> {
  let failed = |e: wasmtime::Error| {
    ProbeError::new(
      ErrorCode::InvalidModule,
      format!("cannot pre-initialize the JavaScript engine: {}", chain_message(&e)),
    )
  };
  let mut wizer = Wizer::new();
  wizer.init_func(INIT);
  let (context, instrumented) = wizer.instrument(wasm).map_err(failed)?;
  let engine = Engine::default();
  let module = Module::new(&engine, &instrumented).map_err(failed)?;
  let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
  wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |wasi| wasi).map_err(failed)?;
  linker.define_unknown_imports_as_traps(&module).map_err(failed)?;
  let mut store = Store::new(&engine, WasiCtxBuilder::new().build_p1());
  let instance = linker.instantiate(&mut store, &module).map_err(failed)?;
  // A reactor's constructors first, as at every instantiation; then the engine's own state.
  if let Some(init) = instance.get_func(&mut store, "_initialize") {
    init
      .typed::<(), ()>(&store)
      .and_then(|f| f.call(&mut store, ()))
      .map_err(failed)?;
  }
  let init = instance.get_typed_func::<(), ()>(&mut store, INIT).map_err(failed)?;
  init.call(&mut store, ()).map_err(failed)?;
  let mut state = Snapshotting {
    store: &mut store,
    instance,
  };
  futures::executor::block_on(wizer.snapshot(&context, &mut state)).map_err(failed)
}
