//! This repository's own measuring tools, shared by its benches, allocation tests,
//! soak and fuzz targets (not published; users' test doubles live in
//! `scheduler-testkit`):
//!
//! - [`workload`]: the benchmark workloads `W(N, M)` and allocation-free seams to run
//!   the scheduler over them.
//! - [`alloc`]: a counting global allocator, to prove that code allocates nothing.
//! - [`metered`]: a starvation store wrapper that tells the store's allocations apart
//!   from the scheduler's.

#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod alloc;
pub mod metered;
pub mod workload;
