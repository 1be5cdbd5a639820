//! A counting global allocator: the system allocator plus counters of live bytes and
//! allocation calls, to measure the heap an idle actor holds.
//!
//! Install it in a binary with
//! `#[global_allocator] static GLOBAL: CountingAlloc = CountingAlloc;` (the memory
//! bench does); until then every [`snapshot`] reads zero and
//! [`Snapshot::per_item_since`] reports an error instead of a figure.
//!
//! The counters are global and relaxed: a measurement is only meaningful while nothing
//! else allocates, i.e. after the actors under test have started and gone idle.

// Why unsafe here: `GlobalAlloc` is an `unsafe trait` (its contract cannot be checked by
// the compiler), so implementing it needs `unsafe impl`, and its methods are `unsafe fn`
// that forward to `System`. This is the only unsafe code of the workspace, and it is
// only in the benchmark crate.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::BenchError;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting live bytes and allocation calls.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees hold; the counters only observe sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc_zeroed`'s contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` was allocated by this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        p
    }
}

/// The counters at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Bytes allocated and not yet freed (requested sizes, not the allocator's rounding).
    pub live_bytes: i64,
    /// Allocation calls so far (`alloc`, `alloc_zeroed`, `realloc`).
    pub allocations: u64,
}

/// Reads the counters.
pub fn snapshot() -> Snapshot {
    Snapshot {
        live_bytes: LIVE_BYTES.load(Ordering::Relaxed),
        allocations: ALLOCATIONS.load(Ordering::Relaxed),
    }
}

/// Heap growth per item between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryReport {
    /// Items measured.
    pub items: usize,
    /// Live bytes added per item.
    pub bytes_per_item: f64,
    /// Allocation calls made per item (including temporary ones since freed).
    pub allocations_per_item: f64,
}

impl Snapshot {
    /// What was added per item since `before`, for `items` items. Fails when the
    /// counting allocator is not installed (nothing was counted).
    pub fn per_item_since(&self, before: &Snapshot, items: usize) -> Result<MemoryReport, BenchError> {
        if self.allocations == 0 {
            return Err("the counting allocator is not the global allocator of this binary".into());
        }
        let n = items.max(1) as f64;
        Ok(MemoryReport {
            items,
            bytes_per_item: (self.live_bytes - before.live_bytes) as f64 / n,
            allocations_per_item: (self.allocations - before.allocations) as f64 / n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_allocator_installed_no_figure_is_made_up() {
        // The lib's test binary keeps the system allocator.
        let s = snapshot();
        assert!(s.per_item_since(&s, 10).is_err());
    }
}
