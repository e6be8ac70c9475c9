//! Software prefetch: asks the CPU to start loading a cache line that a check will read
//! soon, so that loads which do not depend on each other (one per role an agent holds)
//! wait on memory together instead of one after another. A prefetch never faults and
//! changes nothing but timing; on targets without one it is a no-op.

/// Starts loading the cache line holding `p`.
#[inline(always)]
pub(crate) fn line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is a hint: it reads nothing the program sees and cannot fault,
        // whatever the address.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Starts loading the cache lines of `*v`'s first and last bytes: all of its lines when it
/// is at most 65 bytes long.
#[inline(always)]
pub(crate) fn value<T>(v: &T) {
    let p = (v as *const T).cast::<u8>();
    line(p);
    let size = std::mem::size_of::<T>();
    if size > 1 {
        line(p.wrapping_add(size - 1));
    }
}
