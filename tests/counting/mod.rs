//! A counting global allocator for the tests that measure heap peaks (`tests/memory.rs`, the
//! whole process's; `tests/hostile.rs`, each thread's). What a byte held counts towards is the
//! test's `Tally`; the allocator only reports each block's coming and going.

use std::alloc::{GlobalAlloc, Layout, System};
use std::marker::PhantomData;

/// Where a test counts the heap held.
pub trait Tally {
    fn grew(bytes: usize);
    fn shrank(bytes: usize);
    /// Whether a block of this layout counts (every block, unless the test says otherwise).
    fn counts(_layout: &Layout) -> bool {
        true
    }
}

/// The system allocator, reporting to `T`.
pub struct Counting<T>(PhantomData<fn() -> T>);

impl<T> Counting<T> {
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

unsafe impl<T: Tally> GlobalAlloc for Counting<T> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && T::counts(&layout) {
            T::grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() && T::counts(&layout) {
            T::grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        if T::counts(&layout) {
            T::shrank(layout.size());
        }
    }
    /// Counts the new block before freeing the old one: a moving realloc holds both.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() && T::counts(&layout) {
            T::grew(new_size);
            T::shrank(layout.size());
        }
        p
    }
}
