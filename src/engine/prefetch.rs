//! A hint to the CPU to start fetching memory the engine will soon read: the one `unsafe`
//! block of the crate, for an instruction that cannot fault.
//!
//! With thousands of pods and tens of thousands of requests in flight, what an event touches
//! lies outside the second-level cache, and each miss costs as much as the event's own work.
//! Where the engine knows a little ahead which pod or request an event will touch, it asks for
//! the line then. A load into a value (`black_box`) would do it too, but a load cannot retire
//! until its line arrives, so the CPU stalls behind it; a prefetch retires at once.

/// Ask for the cache line holding `r`. Changes nothing but when the CPU fetches.
#[inline(always)]
pub fn prefetch<T>(r: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    // SAFETY: PREFETCHT0 is a hint: it never faults and has no effect on memory or registers
    // the program can observe, whatever the address; here the address is a live reference's.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((r as *const T).cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = r;
}
