//! Host capabilities, one file per concern. Each owns its context and adds its functions to a
//! linker over any store data that lends it that context ([`context::HasExec`] and the traits
//! beside it); `exec::link` composes them into the linkers of each guest kind.

pub mod clock;
pub mod context;
pub mod http;
pub mod import_bridge;
pub mod js_imports;
pub mod json;
pub mod log;
pub mod open_files;
pub mod probe_abi;
pub mod probe_world;
pub mod script;
pub mod wasi_fs;
pub mod wasi_http;
