//! The two operating-system calls the standard library lacks, kept together because they are
//! the only `unsafe` in enumd: both are plain libc calls without pointers.

/// Lowers the calling thread to nice 19, so a zone reload sharing a core with the serving
/// threads takes only the CPU they leave idle: answers first, loading after.
pub fn lower_this_thread_priority() {
    // SAFETY: gettid and setpriority take and return integers only; on Linux PRIO_PROCESS with
    // a thread id affects that thread alone.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19) };
    if rc != 0 {
        tracing::debug!("setpriority: {}", std::io::Error::last_os_error());
    }
}

/// Returns the memory freed by a replaced zone to the kernel. glibc keeps freed heap pages in
/// its per-thread arenas; without this, every reload of a large zone would leave the process
/// holding the old zone's pages as well.
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes an integer and only walks glibc's own free lists.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}
