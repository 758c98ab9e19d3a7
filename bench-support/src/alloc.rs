//! A counting global allocator, to prove that code allocates nothing.
//!
//! [`CountingAllocator`] wraps the [`System`] allocator and counts, per thread and in
//! total, every allocation, reallocation and deallocation that goes through it. A test
//! or bench binary installs it as its global allocator, then measures a closure with
//! [`measure`]:
//!
//! ```
//! use scheduler_bench_support::alloc::{measure, CountingAllocator};
//!
//! #[global_allocator]
//! static ALLOC: CountingAllocator = CountingAllocator::new();
//!
//! # fn main() {
//! let mut buffer: Vec<u64> = Vec::with_capacity(16);
//! let ((), stats) = measure(|| {
//!     buffer.clear();
//!     buffer.extend(0..16); // fits the capacity: no allocation
//! });
//! assert_eq!(stats.allocations(), 0);
//!
//! let (boxed, stats) = measure(|| Box::new(7u64));
//! assert_eq!(stats.allocations(), 1);
//! assert_eq!(stats.bytes_allocated, 8);
//! # drop(boxed);
//! # }
//! ```
//!
//! Counters are kept per thread, so tests running in parallel threads of one test binary
//! do not see each other's allocations: [`measure`] counts only what the calling thread
//! allocates while the closure runs (drive async code on the same thread, e.g. with
//! [`crate::workload::block_on_ready`] or `futures::executor::block_on`). Process-wide
//! totals are available too ([`global_stats`]).
//!
//! Without the allocator installed every count stays zero; [`is_installed`] says whether
//! it is, and [`measure`] asserts it, so a measurement can never pass by accident.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// A [`GlobalAlloc`] that forwards to [`System`] and counts what passes through it.
///
/// Install it with `#[global_allocator]` in a test, bench or example binary (a library
/// cannot install it for you).
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator {
    _private: (),
}

impl CountingAllocator {
    /// The allocator; `const`, for use in a `static`.
    pub const fn new() -> Self {
        CountingAllocator { _private: () }
    }
}

/// Allocation counts over some span of execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AllocStats {
    /// Fresh allocations (`alloc` and `alloc_zeroed`).
    pub allocs: u64,
    /// Reallocations (a `Vec` or `String` growing or shrinking).
    pub reallocs: u64,
    /// Deallocations.
    pub deallocs: u64,
    /// Bytes requested by fresh allocations and reallocations (the new size of a
    /// reallocation).
    pub bytes_allocated: u64,
}

impl AllocStats {
    /// Heap allocation events: fresh allocations plus reallocations. This is the number
    /// the "allocates nothing" rules of this project are about.
    pub fn allocations(&self) -> u64 {
        self.allocs + self.reallocs
    }

    /// The difference `self - earlier` of two cumulative readings.
    pub fn since(&self, earlier: &AllocStats) -> AllocStats {
        AllocStats {
            allocs: self.allocs - earlier.allocs,
            reallocs: self.reallocs - earlier.reallocs,
            deallocs: self.deallocs - earlier.deallocs,
            bytes_allocated: self.bytes_allocated - earlier.bytes_allocated,
        }
    }
}

impl std::fmt::Display for AllocStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} allocations ({} alloc + {} realloc), {} deallocations, {} bytes",
            self.allocations(),
            self.allocs,
            self.reallocs,
            self.deallocs,
            self.bytes_allocated
        )
    }
}

/// Per-thread counters. `Cell`s of integers with a `const` initialiser: reading them
/// never allocates and registers no destructor, so the allocator may touch them.
#[derive(Debug)]
struct Counters {
    allocs: Cell<u64>,
    reallocs: Cell<u64>,
    deallocs: Cell<u64>,
    bytes: Cell<u64>,
}

thread_local! {
    static THREAD: Counters = const {
        Counters { allocs: Cell::new(0), reallocs: Cell::new(0), deallocs: Cell::new(0), bytes: Cell::new(0) }
    };
}

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static DEALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy)]
enum Event {
    Alloc(usize),
    Realloc(usize),
    Dealloc,
}

fn count(event: Event) {
    // `try_with`: during thread teardown the thread-local may be gone; such late
    // events are only counted globally.
    let _ = THREAD.try_with(|c| match event {
        Event::Alloc(n) => {
            c.allocs.set(c.allocs.get() + 1);
            c.bytes.set(c.bytes.get() + n as u64);
        }
        Event::Realloc(n) => {
            c.reallocs.set(c.reallocs.get() + 1);
            c.bytes.set(c.bytes.get() + n as u64);
        }
        Event::Dealloc => c.deallocs.set(c.deallocs.get() + 1),
    });
    match event {
        Event::Alloc(n) => {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(n as u64, Ordering::Relaxed);
        }
        Event::Realloc(n) => {
            REALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(n as u64, Ordering::Relaxed);
        }
        Event::Dealloc => {
            DEALLOCS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[allow(unsafe_code)]
// SAFETY: every method forwards to `System` with exactly the arguments it was given, so
// the `GlobalAlloc` contract (layouts, pointer provenance, alignment, zeroing) is the
// system allocator's, which upholds it. The counting around each call touches only
// atomics and a `const`-initialised thread-local of `Cell<u64>`s: it never allocates
// (so it cannot recurse into the allocator) and never unwinds.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(Event::Alloc(layout.size()));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract (non-zero size);
        // we pass the layout through unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(Event::Alloc(layout.size()));
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(Event::Dealloc);
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`, with
        // `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(Event::Realloc(new_size));
        // SAFETY: `ptr` came from `System` with `layout` and `new_size` is valid, as
        // the caller guarantees; forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The calling thread's cumulative counts since it started (all zero when the counting
/// allocator is not installed).
pub fn thread_stats() -> AllocStats {
    THREAD
        .try_with(|c| AllocStats {
            allocs: c.allocs.get(),
            reallocs: c.reallocs.get(),
            deallocs: c.deallocs.get(),
            bytes_allocated: c.bytes.get(),
        })
        .unwrap_or_default()
}

/// The whole process's cumulative counts (all threads).
pub fn global_stats() -> AllocStats {
    AllocStats {
        allocs: ALLOCS.load(Ordering::Relaxed),
        reallocs: REALLOCS.load(Ordering::Relaxed),
        deallocs: DEALLOCS.load(Ordering::Relaxed),
        bytes_allocated: BYTES.load(Ordering::Relaxed),
    }
}

/// Whether [`CountingAllocator`] is this program's global allocator: allocates a probe
/// and checks that the calling thread's count moved.
pub fn is_installed() -> bool {
    let before = thread_stats();
    let probe = std::hint::black_box(Box::new(0u64));
    let after = thread_stats();
    drop(probe);
    after.allocs > before.allocs
}

/// Runs `f` and returns its result with what the calling thread allocated meanwhile.
///
/// # Panics
/// When the counting allocator is not installed (the measurement would read zero
/// whatever `f` does).
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, AllocStats) {
    assert!(is_installed(), "measure: install `CountingAllocator` with #[global_allocator] first");
    let before = thread_stats();
    let out = f();
    let after = thread_stats();
    (out, after.since(&before))
}
