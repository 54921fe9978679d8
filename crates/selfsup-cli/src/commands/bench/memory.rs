//! Peak resident memory of this process on Linux: `VmHWM` from /proc/self/status, reset between
//! measurements by writing 5 to /proc/self/clear_refs. Elsewhere both are unavailable (None).

pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub fn peak_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
