//! The `maml` binary's allocator: the system's, with freed blocks of the largest sizes kept for
//! the next request of the same size.
//!
//! A meta-iteration allocates and frees the same large buffers (activations, im2col matrices,
//! their gradients) every time. glibc takes those above its largest mmap threshold (32 MiB) from
//! the kernel and gives them back on free, and the threads' arenas return their free tops, so
//! each was mapped, faulted in page by page, zeroed by the kernel and unmapped again, every
//! iteration (BENCHMARKS.md, "The query off the graph"). Blocks of at least `LARGE` bytes are kept here when freed, up to `KEPT_BYTES` in all,
//! and handed out again for a request of exactly their size and alignment: the same shapes come
//! back every meta-iteration. Smaller blocks are glibc's, whose thresholds `keep_freed_memory`
//! raises.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;

/// Blocks this large or larger are kept when freed.
const LARGE: usize = 1 << 20;
/// The most bytes kept at once: past it, a freed block goes back to the system.
const KEPT_BYTES: usize = 4 << 30;
/// The most blocks kept at once.
const SLOTS: usize = 256;

#[derive(Clone, Copy)]
struct Kept {
    ptr: *mut u8,
    size: usize,
    align: usize,
    /// When it was kept: the oldest goes first when room is needed.
    when: u64,
}

struct Shelf {
    blocks: [Option<Kept>; SLOTS],
    bytes: usize,
    clock: u64,
}

// SAFETY: the pointers are blocks no one else holds; the shelf is only touched under its mutex.
unsafe impl Send for Shelf {}

pub struct KeepLarge {
    shelf: Mutex<Shelf>,
}

impl KeepLarge {
    pub const fn new() -> Self {
        Self { shelf: Mutex::new(Shelf { blocks: [None; SLOTS], bytes: 0, clock: 0 }) }
    }

    /// A kept block of exactly `layout`'s size and alignment, taken off the shelf.
    fn take(&self, layout: Layout) -> Option<*mut u8> {
        let mut shelf = self.shelf.lock().unwrap_or_else(|e| e.into_inner());
        let slot = shelf.blocks.iter_mut().find(|b| b.is_some_and(|k| k.size == layout.size() && k.align == layout.align()))?;
        let kept = slot.take()?;
        shelf.bytes -= kept.size;
        Some(kept.ptr)
    }

    /// Keeps a freed block, making room by giving the oldest kept blocks back to the system;
    /// false if it is too large to keep.
    fn keep(&self, ptr: *mut u8, layout: Layout) -> bool {
        if layout.size() > KEPT_BYTES {
            return false;
        }
        let mut shelf = self.shelf.lock().unwrap_or_else(|e| e.into_inner());
        while shelf.bytes + layout.size() > KEPT_BYTES || shelf.blocks.iter().all(Option::is_some) {
            let oldest = shelf.blocks.iter_mut().filter(|b| b.is_some()).min_by_key(|b| b.map_or(u64::MAX, |k| k.when));
            let kept = oldest.and_then(Option::take).expect("a full shelf has a block");
            shelf.bytes -= kept.size;
            // SAFETY: a block from System with this size and alignment, no longer on the shelf
            unsafe { System.dealloc(kept.ptr, Layout::from_size_align_unchecked(kept.size, kept.align)) };
        }
        shelf.clock += 1;
        let when = shelf.clock;
        let slot = shelf.blocks.iter_mut().find(|b| b.is_none()).expect("room was made");
        *slot = Some(Kept { ptr, size: layout.size(), align: layout.align(), when });
        shelf.bytes += layout.size();
        true
    }
}

// SAFETY: every block handed out came from `System` with the same size and alignment as the
// request it answers, and is held by one owner at a time (on the shelf or lent out).
unsafe impl GlobalAlloc for KeepLarge {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= LARGE
            && let Some(ptr) = self.take(layout)
        {
            return ptr;
        }
        // SAFETY: the caller's layout, as the system's allocator requires
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= LARGE
            && let Some(ptr) = self.take(layout)
        {
            // SAFETY: a block of layout.size() bytes that this allocation owns
            unsafe { ptr.write_bytes(0, layout.size()) };
            return ptr;
        }
        // SAFETY: as in `alloc`
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() >= LARGE && self.keep(ptr, layout) {
            return;
        }
        // SAFETY: ptr came from System (directly, or kept and lent out) with this layout
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.size() < LARGE && new_size < LARGE {
            // SAFETY: the caller's block and sizes, as GlobalAlloc::realloc requires
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the alignment is the caller's and valid; the new block is fresh
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks hold at least the smaller size, and do not overlap
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}
