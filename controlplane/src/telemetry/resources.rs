//! Resource use of the process and the host, read from `/proc` and `statvfs` (Linux), and
//! its 24-hour history at 1-minute resolution (1,440 samples, about 110 KB).
use std::{path::Path, sync::Mutex, time::Instant};

use serde::Serialize;

use super::windows::CHART_MINUTES;

/// Resource figures at one moment. `None` where the platform does not tell.
#[derive(Clone, Copy, Debug, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSample {
    /// CPU used by this process since the previous sample, in % of one core.
    pub process_cpu_percent: Option<f64>,
    pub rss_bytes: Option<u64>,
    pub open_files: Option<u64>,
    /// CPU used on the host since the previous sample, in % of all cores.
    pub host_cpu_percent: Option<f64>,
    pub host_cpus: Option<u64>,
    pub host_memory_total_bytes: Option<u64>,
    pub host_memory_available_bytes: Option<u64>,
    /// Free space for unprivileged users on the file system of the data directory.
    pub disk_free_bytes: Option<u64>,
    pub disk_total_bytes: Option<u64>,
    /// Size of the store (embedded: the database file and its journal; MongoDB: data and
    /// indexes of the database, from `dbStats`).
    pub store_bytes: Option<u64>,
}

#[derive(Clone, Copy)]
struct RawCpu {
    at: Instant,
    process_ticks: u64,
    host_total: u64,
    host_idle: u64,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn process_ticks() -> Option<u64> {
    let stat = read("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces), 1-based field 14 = utime, 15 = stime.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn host_ticks() -> Option<(u64, u64)> {
    let stat = read("/proc/stat")?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let total = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total, idle))
}

fn raw_cpu() -> Option<RawCpu> {
    let (host_total, host_idle) = host_ticks()?;
    Some(RawCpu {
        at: Instant::now(),
        process_ticks: process_ticks()?,
        host_total,
        host_idle,
    })
}

fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Resident set size of this process.
pub fn rss_bytes() -> Option<u64> {
    kib_field(&read("/proc/self/status")?, "VmRSS:")
}

fn open_files() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn disk(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let mut p = path;
    // The data directory may not exist yet: ask about the nearest existing ancestor.
    while !p.exists() {
        p = p.parent()?;
    }
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    let frsize = s.f_frsize as u64;
    Some((s.f_bavail as u64 * frsize, s.f_blocks as u64 * frsize))
}

/// Samples and their history.
pub struct Resources {
    last: Mutex<Option<RawCpu>>,
    /// The latest sample kept (what `/metrics` shows).
    latest: Mutex<Option<ResourceSample>>,
    history: Mutex<Box<[(u32, ResourceSample)]>>,
}

impl Default for Resources {
    fn default() -> Self {
        Self {
            last: Mutex::new(raw_cpu()),
            latest: Mutex::new(None),
            history: Mutex::new(vec![(0, ResourceSample::default()); CHART_MINUTES].into()),
        }
    }
}

impl Resources {
    /// Figures now; CPU is measured since the previous call (or since the instance started).
    pub fn sample(&self, data_dir: &Path, store_bytes: Option<u64>) -> ResourceSample {
        let now = raw_cpu();
        let mut last = self.last.lock().expect("resources lock");
        let (mut process_cpu, mut host_cpu) = (None, None);
        if let (Some(a), Some(b)) = (*last, now) {
            let secs = b.at.duration_since(a.at).as_secs_f64();
            if secs >= 0.05 {
                let used = b.process_ticks.saturating_sub(a.process_ticks) as f64;
                process_cpu = Some(100.0 * used / ticks_per_second() / secs);
                let total = b.host_total.saturating_sub(a.host_total) as f64;
                let idle = b.host_idle.saturating_sub(a.host_idle) as f64;
                if total > 0.0 {
                    host_cpu = Some(100.0 * (1.0 - idle / total));
                }
                *last = Some(b);
            }
        } else if now.is_some() {
            *last = now;
        }
        drop(last);
        let mem = read("/proc/meminfo");
        let disk = disk(data_dir);
        ResourceSample {
            process_cpu_percent: process_cpu,
            rss_bytes: rss_bytes(),
            open_files: open_files(),
            host_cpu_percent: host_cpu,
            host_cpus: std::thread::available_parallelism()
                .ok()
                .map(|n| n.get() as u64),
            host_memory_total_bytes: mem.as_deref().and_then(|m| kib_field(m, "MemTotal:")),
            host_memory_available_bytes: mem.as_deref().and_then(|m| kib_field(m, "MemAvailable:")),
            disk_free_bytes: disk.map(|d| d.0),
            disk_total_bytes: disk.map(|d| d.1),
            store_bytes,
        }
    }

    /// Keeps a sample as the figure of its minute.
    pub fn keep(&self, now_s: u64, s: ResourceSample) {
        let minute = (now_s / 60) as u32;
        *self.latest.lock().expect("resources lock") = Some(s);
        self.history.lock().expect("resources lock")[minute as usize % CHART_MINUTES] = (minute, s);
    }

    pub fn latest(&self) -> Option<ResourceSample> {
        *self.latest.lock().expect("resources lock")
    }

    /// The samples of the last `n` minutes, oldest first (`None` for minutes without one).
    pub fn last(&self, now_s: u64, n: usize) -> Vec<(u32, Option<ResourceSample>)> {
        let now = (now_s / 60) as u32;
        let h = self.history.lock().expect("resources lock");
        (0..n.min(CHART_MINUTES) as u32)
            .rev()
            .map(|back| {
                let m = now - back;
                let (at, s) = h[m as usize % CHART_MINUTES];
                (m, (at == m && m != 0).then_some(s))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_host() {
        let r = Resources::default();
        // Burn a little CPU so the next sample has something to measure.
        let mut x = 0u64;
        let t = Instant::now();
        while t.elapsed().as_millis() < 100 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let s = r.sample(Path::new("/tmp/does/not/exist"), Some(5));
        assert!(s.rss_bytes.unwrap() > 1_000_000);
        assert!(s.open_files.unwrap() >= 3);
        assert!(s.process_cpu_percent.unwrap() > 10.0, "{s:?}");
        assert!(s.host_memory_total_bytes.unwrap() >= s.host_memory_available_bytes.unwrap());
        assert!(s.disk_total_bytes.unwrap() >= s.disk_free_bytes.unwrap());
        assert_eq!(s.store_bytes, Some(5));
        r.keep(1_700_000_000, s);
        let last = r.last(1_700_000_060, 3);
        assert_eq!(last.len(), 3);
        assert!(last[0].1.is_none() && last[1].1.is_some() && last[2].1.is_none());
    }
}
