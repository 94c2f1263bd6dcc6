//! What the kernel says about a process: CPU time and resident memory, read from `/proc`
//! (Linux only; no `unsafe`, no libc).

use std::io;
use std::time::Duration;

/// Clock ticks per second of the times in `/proc/<pid>/stat` (`USER_HZ`, 100 on every Linux
/// architecture that exposes it to user space).
const USER_HZ: u64 = 100;

fn proc_path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

/// User + system CPU time of a whole process (every thread, live or ended), `None` = this
/// process. Resolution: 10 ms.
pub(crate) fn cpu_time(pid: Option<u32>) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(proc_path(pid, "stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| io::Error::other("unexpected /proc/<pid>/stat format"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime); `rest` starts at field 3.
    let ticks = |index: usize| -> io::Result<u64> {
        fields
            .get(index - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("unexpected /proc/<pid>/stat format"))
    };
    let total = ticks(14)?.saturating_add(ticks(15)?);
    Ok(Duration::from_millis(total.saturating_mul(1000 / USER_HZ)))
}

/// The resident set size (`VmRSS`) of a process, in bytes, `None` = this process.
pub(crate) fn rss_bytes(pid: Option<u32>) -> io::Result<u64> {
    let status = std::fs::read_to_string(proc_path(pid, "status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| io::Error::other("no VmRSS in /proc/<pid>/status"))
}

/// The load averages (1, 5 and 15 minutes) as `/proc/loadavg` shows them.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The number of CPUs this process may run on.
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The CPU model name from `/proc/cpuinfo`.
pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(rss_bytes(None).unwrap() > 0);
        let spent = cpu_time(None).unwrap();
        assert!(spent < Duration::from_secs(3600));
        assert!(cpus() >= 1);
    }
}
