//! The daemon under measurement as a child process: started from the binary cargo built for
//! this benchmark, observed through `/proc/<pid>` (resident memory, CPU time) and its HTTP
//! endpoints, stopped with SIGTERM. Only the process started here is ever signalled.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `vcd-blockd run`. Dropping it kills the process if it is still running.
pub(crate) struct DaemonProcess {
    child: Child,
    pub metrics_url: String,
    ready_url: String,
    http: reqwest::Client,
}

/// Memory figures from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the most that was ever resident.
    pub peak_kib: u64,
    pub threads: u64,
}

impl DaemonProcess {
    /// Starts `vcd-blockd run -c <config>` with stdout and stderr going to `log`.
    pub(crate) fn start(
        config: &Path,
        log: &Path,
        http_port: u16,
    ) -> Result<DaemonProcess, String> {
        let log = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(daemon_binary())
            .arg("run")
            .arg("-c")
            .arg(config)
            .env_remove("VCD_BLOCKD_CONFIG")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start vcd-blockd: {e}"))?;
        let base = format!("http://127.0.0.1:{http_port}");
        Ok(DaemonProcess {
            child,
            metrics_url: format!("{base}/metrics"),
            ready_url: format!("{base}/readyz"),
            http: {
                vcd_blockd::install_crypto_provider();
                reqwest::Client::new()
            },
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `/readyz` answers 200 (policy loaded, AMQP consuming, vCD session).
    pub(crate) async fn wait_ready(&mut self, patience: Duration) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("vcd-blockd exited during start-up: {status}"));
            }
            let ready = self.http.get(&self.ready_url).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if started.elapsed() > patience {
                return Err(format!("vcd-blockd not ready after {patience:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The Prometheus text of `/metrics`.
    pub(crate) async fn scrape(&self) -> Result<String, String> {
        let response = self
            .http
            .get(&self.metrics_url)
            .send()
            .await
            .map_err(|e| format!("GET /metrics: {e}"))?;
        response.text().await.map_err(|e| e.to_string())
    }

    pub(crate) fn memory(&self) -> Result<Memory, String> {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("{path} has no {name}"))
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
            threads: field("Threads:")?,
        })
    }

    /// User plus system CPU time used so far.
    pub(crate) fn cpu(&self) -> Result<Duration, String> {
        cpu_time(&format!("/proc/{}/stat", self.pid()))
    }

    /// Sends SIGKILL, as a crash would, and reaps the process.
    #[allow(
        dead_code,
        reason = "the drain benchmark's chaos run kills its leaders; the holds benchmark does not"
    )]
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGHUP: the daemon reloads its policy and decides every held task again.
    pub(crate) fn reload(&self) -> Result<(), String> {
        signal(self.pid(), "-HUP")
    }

    /// Sends SIGTERM and waits for the exit; kills the process if it takes longer than
    /// `grace`. Returns how the process ended and how long that took.
    pub(crate) async fn stop(mut self, grace: Duration) -> Result<(String, Duration), String> {
        let started = Instant::now();
        signal(self.pid(), "-TERM")?;
        while started.elapsed() < grace {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok((status.to_string(), started.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Ok(("killed after the grace period".into(), started.elapsed()))
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The binary cargo built for the benchmark, or `DAEMON_BIN` (e.g. a static musl build).
fn daemon_binary() -> std::ffi::OsString {
    std::env::var_os("DAEMON_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_vcd-blockd").into())
}

/// `kill -<signal> <pid>`, for the one process this benchmark started.
fn signal(pid: u32, signal: &str) -> Result<(), String> {
    let sent = Command::new("kill")
        .arg(signal)
        .arg(pid.to_string())
        .status()
        .map_err(|e| format!("kill {signal}: {e}"))?;
    if sent.success() {
        Ok(())
    } else {
        Err(format!("kill {signal} {pid} failed"))
    }
}

/// CPU time of this benchmark process (the sim and the measuring code).
pub(crate) fn own_cpu() -> Result<Duration, String> {
    cpu_time("/proc/self/stat")
}

/// `VmRSS` of this benchmark process, in KiB.
pub(crate) fn own_rss_kib() -> Option<u64> {
    own_status_kib("VmRSS:")
}

/// `VmHWM` (peak resident memory) of this benchmark process, in KiB.
pub(crate) fn own_peak_kib() -> Option<u64> {
    own_status_kib("VmHWM:")
}

fn own_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// utime + stime (fields 14 and 15 of `stat`, in clock ticks) as a duration.
fn cpu_time(path: &str) -> Result<Duration, String> {
    let stat = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    // The command name (field 2) may contain spaces; fields after it follow the last ')'.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("{path}: unexpected format"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> Result<u64, String> {
        fields
            .get(index)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{path}: no field {}", index + 3))
    };
    // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_secs_f64(
        total as f64 / clock_ticks_per_second(),
    ))
}

/// The resolution of the CPU times read from `/proc`.
pub(crate) fn clock_tick() -> Duration {
    Duration::from_secs_f64(1.0 / clock_ticks_per_second())
}

/// `getconf CLK_TCK`, which is 100 on every Linux this runs on.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    })
}
