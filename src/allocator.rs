//! Settings of mimalloc, the global allocator of the binary and of the CKKS benches.
//!
//! CKKS operations allocate and free many 512 KB polynomial limbs. By default mimalloc
//! returns ("purges") freed pages to the OS 10 ms after they fall idle, and the next
//! allocation faults them back in zeroed: at `fgb-like` a fifth of a bootstrap's CPU time
//! went to the kernel clearing pages. Keeping freed pages costs no peak memory (the
//! high-water mark is the same) and made a bootstrap 1.15x faster (medians, same run).

/// `mi_option_purge_delay` in mimalloc 2's `mi_option_t` (libmimalloc-sys does not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to return freed pages to the OS. Harmless when mimalloc is not the
/// global allocator (it only sets an option of mimalloc's own heap).
pub fn keep_freed_pages() {
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// The purge delay mimalloc uses now (milliseconds; -1: never).
pub fn purge_delay() -> i64 {
    // SAFETY: mi_option_get only reads mimalloc's option table.
    unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) as i64 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        super::keep_freed_pages();
        assert_eq!(super::purge_delay(), -1);
    }
}
