//! Settings of mimalloc, the global allocator of the binary and of the CKKS benches.
//!
//! CKKS operations allocate and free many 512 KB polynomial limbs. By default mimalloc (3,
//! as libmimalloc-sys builds it) returns ("purges") freed pages to the OS a second after they
//! fall idle, and the next
//! allocation faults them back in zeroed: at `fgb-like` a fifth of a bootstrap's CPU time
//! went to the kernel clearing pages. Keeping freed pages costs no peak memory (the
//! high-water mark is the same) and made a bootstrap 1.15x faster (18.8 -> 16.4 s, one
//! profile run each way, one after the other).

/// `mi_option_purge_delay` in `mi_option_t` (index 15 in mimalloc 2 and 3;
/// libmimalloc-sys does not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to return freed pages to the OS. Harmless when mimalloc is not the
/// global allocator (it only sets an option of mimalloc's own heap).
pub fn keep_freed_pages() {
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

#[cfg(test)]
mod tests {
    use super::MI_OPTION_PURGE_DELAY;

    fn purge_delay() -> i64 {
        // SAFETY: mi_option_get only reads mimalloc's option table.
        unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) as i64 }
    }

    #[test]
    fn the_option_set_is_the_purge_delay() {
        // mimalloc 3's default purge delay is 1000 ms; its neighbours in the enum default to
        // 1 (deprecated_eager_commit_delay) and 0 (use_numa_nodes), so this pins the index.
        assert_eq!(purge_delay(), 1000);
        super::keep_freed_pages();
        assert_eq!(purge_delay(), -1);
    }
}
