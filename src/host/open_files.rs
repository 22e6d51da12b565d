//! The cap on open WASI descriptors (`limits.openFiles`): an open beyond it fails with the WASI
//! error for too many open files, and the guest carries on.
//!
//! Written by hand because Wasmtime has no such limit: `ResourceTable::set_max_capacity` counts
//! every resource (streams, pollables, HTTP bodies), and a full table traps the guest instead of
//! answering an error. So the two open calls are wrapped: at the cap they answer the error
//! (p1: errno `mfile`; p2 has no "too many open files" code, `insufficient-memory` is the closest,
//! and it is what the p1 adapter maps ENOMEM to), below it they run Wasmtime's own implementation.
//! Descriptors are counted live in the store's table, so closing needs no hook; preopened
//! directories count as open descriptors.

use crate::host::context::HasExec;
use wasmtime::component::{Linker as ComponentLinker, Resource, ResourceTable};
use wasmtime::{AsContextMut, Caller, Extern, Linker};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p1::types::Errno;
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self as p1, WasiSnapshotPreview1};
use wasmtime_wasi::p2::bindings::filesystem::types::{
  self as p2, DescriptorFlags, ErrorCode, HostDescriptor, OpenFlags, PathFlags,
};

/// The WASI filesystem interface version Wasmtime 48 provides (guests of older 0.2.x match it).
const P2_TYPES: &str = "wasi:filesystem/types@0.2.12";

fn open_descriptors(table: &mut ResourceTable) -> u64 {
  table
    .iter_mut()
    .filter(|e| e.downcast_ref::<Descriptor>().is_some())
    .count() as u64
}

/// Store data of a core module that lends the cap its context: the execution's `openFiles`
/// and the WASI p1 context whose table holds the descriptors.
pub trait CoreFiles: HasExec {
  fn wasi_p1(&mut self) -> &mut wasmtime_wasi::p1::WasiP1Ctx;
}

type PathOpenArgs = (i32, i32, i32, i32, i32, i64, i64, i32, i32);

/// Replaces p1 `path_open` in `linker` with the capped one.
pub fn cap_core<T: CoreFiles>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
  linker.allow_shadowing(true);
  linker.func_wrap_async(
    "wasi_snapshot_preview1",
    "path_open",
    |mut caller: Caller<'_, T>, (a0, a1, a2, a3, a4, a5, a6, a7, a8): PathOpenArgs| {
      Box::new(async move {
        // What Wasmtime's generated glue does before a p1 call: the guest's memory, and the
        // fuel budget for host-side copies.
        let fuel = caller.as_context_mut().hostcall_fuel();
        let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
          wasmtime::bail!("missing required memory export");
        };
        let (bytes, state) = memory.data_and_store_mut(&mut caller);
        let cap = state.exec().open_files;
        let wasi = state.wasi_p1();
        if open_descriptors(wasi.ctx().table) >= cap {
          return Ok(i32::from(Errno::Mfile as u16));
        }
        wasi.set_hostcall_fuel(fuel);
        let mut memory = wiggle::GuestMemory::Unshared(bytes);
        p1::path_open(wasi, &mut memory, a0, a1, a2, a3, a4, a5, a6, a7, a8).await
      })
    },
  )?;
  linker.allow_shadowing(false);
  Ok(())
}

type OpenAtArgs = (Resource<Descriptor>, PathFlags, String, OpenFlags, DescriptorFlags);

/// Replaces p2 `descriptor.open-at` in `linker` with the capped one.
pub fn cap_component<T: HasExec + WasiView>(linker: &mut ComponentLinker<T>) -> wasmtime::Result<()> {
  linker.allow_shadowing(true);
  linker.instance(P2_TYPES)?.func_wrap_async(
    "[method]descriptor.open-at",
    |mut store: wasmtime::StoreContextMut<'_, T>, (fd, path_flags, path, oflags, flags): OpenAtArgs| {
      Box::new(async move {
        let cap = store.data_mut().exec().open_files;
        let mut view = store.data_mut().filesystem();
        if open_descriptors(view.table) >= cap {
          return Ok((Err(ErrorCode::InsufficientMemory),));
        }
        let opened = match HostDescriptor::open_at(&mut view, fd, path_flags, path, oflags, flags).await {
          Ok(descriptor) => Ok(descriptor),
          Err(e) => Err(p2::Host::convert_error_code(&mut view, e)?),
        };
        Ok((opened,))
      })
    },
  )?;
  linker.allow_shadowing(false);
  Ok(())
}
