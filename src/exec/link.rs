//! Linking compiled code into what an execution instantiates: the host linkers of each guest kind
//! (built once per engine from the capabilities in `host/`), and a guest's `InstancePre` — which
//! names the store state, so it lives here beside it rather than with the unlinked code.

use crate::compile::Compiled;
use crate::engine::EngineClass;
use crate::error::{ErrorCode, ProbeError, chain_message};
use crate::exec::state::{ComponentState, CoreState};
use crate::guest_kind::ModuleKind;
use crate::host;
use crate::host::js_imports;
use crate::typed::reflect;
use once_cell::sync::Lazy;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wasmtime::component::InstancePre as ComponentPre;
use wasmtime::component::Linker as ComponentLinker;
use wasmtime::{InstancePre, Linker, Module};

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

/// Everything a guest may import, for one engine. Built once per engine and shared.
pub struct Linkers {
  /// Core modules granted a filesystem: the real WASI p1.
  pub core: Linker<CoreState>,
  /// Core modules without a filesystem grant: WASI p1 with `path_*` calls refused.
  pub core_without_fs: Linker<CoreState>,
  pub component: ComponentLinker<ComponentState>,
}

impl Linkers {
  pub fn new(class: &EngineClass) -> Result<Linkers, ProbeError> {
    let build = || -> wasmtime::Result<Linkers> {
      let mut core = Linker::new(&class.engine);
      host::probe_abi::add_to_linker(&mut core)?;
      host::script::add_to_linker(&mut core)?;
      wasmtime_wasi::p1::add_to_linker_async(&mut core, |s: &mut CoreState| &mut s.wasi)?;
      host::open_files::cap_core(&mut core)?;
      let mut core_without_fs = core.clone();
      host::wasi_fs::deny_paths(&mut core_without_fs)?;

      let mut component = ComponentLinker::new(&class.engine);
      wasmtime_wasi::p2::add_to_linker_async(&mut component)?;
      host::open_files::cap_component(&mut component)?;
      wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut component)?;
      host::probe_world::add_to_linker(&mut component)?;
      Ok(Linkers {
        core,
        core_without_fs,
        component,
      })
    };
    build().map_err(|e| {
      ProbeError::new(
        ErrorCode::Host,
        format!("cannot set up host imports: {}", chain_message(&e)),
      )
    })
  }
}

/// Links `compiled` against the host imports of `class`'s engine.
pub fn prepare(compiled: Compiled, class: &Arc<EngineClass>) -> Result<Prepared, ProbeError> {
  let linkers = linkers(class)?;
  let kind = compiled.kind();
  let link = |e: wasmtime::Error| link_error(kind, &e);
  // A guest with imports of its own links against a copy of the host linker with a stub for
  // each (JavaScript serves them); the copy shares the host functions, it does not rebuild them.
  Ok(match compiled {
    Compiled::Core(m) => {
      let with_own = |base: &wasmtime::Linker<CoreState>| -> wasmtime::Result<InstancePre<CoreState>> {
        if m.imports().any(|i| !reflect::provided_by_runtime(i.module())) {
          let mut linker = base.clone();
          js_imports::define_core(&mut linker, &m)?;
          linker.instantiate_pre(&m)
        } else {
          base.instantiate_pre(&m)
        }
      };
      Prepared::Core(CorePre {
        with_fs: with_own(&linkers.core).map_err(link)?,
        without_fs: with_own(&linkers.core_without_fs).map_err(link)?,
      })
    }
    Compiled::Component(c) => {
      let own = c
        .component_type()
        .imports(&class.engine)
        .any(|(name, _)| !reflect::provided_by_runtime(name));
      let pre = if own {
        let mut linker = linkers.component.clone();
        js_imports::define_component(&mut linker, &c, &class.engine).map_err(link)?;
        linker.instantiate_pre(&c)
      } else {
        linkers.component.instantiate_pre(&c)
      };
      Prepared::Component(pre.map_err(link)?)
    }
  })
}

/// The unlinked code of a linked guest.
pub fn compiled(prepared: &Prepared) -> Compiled {
  match prepared {
    Prepared::Core(pre) => Compiled::Core(pre.module().clone()),
    Prepared::Component(pre) => Compiled::Component(pre.component().clone()),
  }
}

/// Host linkers per engine (tier and stack class), built once each.
type LinkerMap = HashMap<u32, Arc<Linkers>>;
static LINKERS: Lazy<Mutex<LinkerMap>> = Lazy::new(Default::default);

fn linkers(class: &EngineClass) -> Result<Arc<Linkers>, ProbeError> {
  let mut map = LINKERS.lock().unwrap_or_else(|p| p.into_inner());
  if let Some(found) = map.get(&class.id) {
    return Ok(found.clone());
  }
  let built = Arc::new(Linkers::new(class)?);
  map.insert(class.id, built.clone());
  Ok(built)
}

fn link_error(kind: ModuleKind, e: &wasmtime::Error) -> ProbeError {
  ProbeError::new(
    ErrorCode::Link,
    format!(
      "the {} imports something this runtime does not provide: {}",
      kind.as_str(),
      chain_message(e)
    ),
  )
}
