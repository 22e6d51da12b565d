//! wasm-probe-runtime: run untrusted WebAssembly probes from Node.js on Wasmtime.
//!
//! The core (everything but `binding`) has no napi types and is tested with `cargo test`;
//! `binding` is the thin napi layer the generated `binding.js` loads.
#![deny(clippy::all)]

pub mod artifact;
pub mod cache;
pub mod capabilities;
pub mod capacity;
pub mod compile;
pub mod engine;
pub mod error;
pub mod exec;
pub mod guest_kind;
pub mod host;
pub mod instance;
pub mod limits;
pub mod memory_limiter;
pub mod module;
pub mod runtime;
pub mod script;
pub mod source_file;
pub mod stop;
pub mod store_share;
pub mod typed;

mod binding;

#[cfg(test)]
mod runtime_tests;
