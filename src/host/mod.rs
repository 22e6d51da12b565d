//! Host capabilities, one file per concern, and the linkers that offer them to guests.

pub mod clock;
pub mod http;
pub mod js_imports;
pub mod json;
pub mod log;
pub mod open_files;
pub mod probe_abi;
pub mod probe_world;
pub mod wasi_fs;
pub mod wasi_http;

use crate::engine::EngineClass;
use crate::error::{ErrorCode, ProbeError, chain_message};
use crate::exec::state::{ComponentState, CoreState};
use wasmtime::Linker;
use wasmtime::component::Linker as ComponentLinker;

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
      probe_abi::add_to_linker(&mut core)?;
      wasmtime_wasi::p1::add_to_linker_async(&mut core, |s: &mut CoreState| &mut s.wasi)?;
      open_files::cap_core(&mut core)?;
      let mut core_without_fs = core.clone();
      wasi_fs::deny_paths(&mut core_without_fs)?;

      let mut component = ComponentLinker::new(&class.engine);
      wasmtime_wasi::p2::add_to_linker_async(&mut component)?;
      open_files::cap_component(&mut component)?;
      wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut component)?;
      probe_world::add_to_linker(&mut component)?;
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
