//! Runnable examples live in `examples/`.

pub mod fleet;
pub mod soak;
