//! The Rust side of the built-in JavaScript engine (its C host layer is `engine/`).

pub mod preinit;
