//! Process-wide settings of glibc's allocator, made once at start-up.

/// Keeps freed activation buffers in the process instead of handing them back to the kernel.
///
/// Why: glibc moves its mmap threshold up to the largest block freed so far and trims the heap
/// above twice that. After a phase with larger tensors (a wider model in `selfsup bench`, an
/// evaluation pass), training steps then got their 4-25 MiB tensors from a heap that was
/// trimmed and faulted back in again and again: the width-16 train step ran 5-8% slower in the
/// rows measured after the width-32 ones (325 against 350 images/s, docs/benchmarks.md). A fixed
/// threshold of 32 MiB and a trim threshold of 1 GiB make every step allocate the same way. The
/// freed memory stays mapped, so the resident size does not fall back after a peak; the peak
/// itself is unchanged. An explicit `MALLOC_*` environment setting wins.
pub fn keep_freed_memory() {
    if std::env::vars_os().any(|(key, _)| key.to_string_lossy().starts_with("MALLOC_")) {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes two glibc tuning values; it is called before any other
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
