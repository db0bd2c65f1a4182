//! Server CPU and memory from `/proc`: utime + stime of `/proc/<pid>/stat` (clock ticks, all threads of the
//! process) and VmRSS of `/proc/<pid>/status`, summed over the server processes (one per node).

/// One reading of the server processes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// utime + stime, in clock ticks.
    pub ticks: u64,
    /// stime alone (the kernel's share: on loopback the sender's write also runs the receiver's TCP path).
    pub sys_ticks: u64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Whether every process could be read (false once one has exited).
    pub alive: bool,
}

fn ticks(stat: &str) -> Option<(u64, u64)> {
    // the command name (field 2) may hold spaces: count fields after its closing parenthesis; field 3 is the
    // state, utime and stime are fields 14 and 15
    let after = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let (user, sys) = (f.get(11)?.parse::<u64>().ok()?, f.get(12)?.parse::<u64>().ok()?);
    Some((user + sys, sys))
}

fn rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn read(who: &str) -> Option<((u64, u64), u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{who}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{who}/status")).ok()?;
    Some((ticks(&stat)?, rss_kib(&status)?))
}

/// The sum over `pids`.
pub fn sample(pids: &[u32]) -> Sample {
    let mut s = Sample {
        alive: true,
        ..Sample::default()
    };
    for pid in pids {
        match read(&pid.to_string()) {
            Some(((t, sys), r)) => {
                s.ticks += t;
                s.sys_ticks += sys;
                s.rss_kib += r;
            }
            None => s.alive = false,
        }
    }
    s
}

/// The generator itself.
pub fn sample_self() -> Sample {
    match read("self") {
        Some(((ticks, sys_ticks), rss_kib)) => Sample {
            ticks,
            sys_ticks,
            rss_kib,
            alive: true,
        },
        None => Sample::default(),
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn loadavg() -> Option<[f64; 3]> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = s.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_and_status() {
        let stat = "1234 (node (x) y) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 37 0 0 20 0 11 0 5 100 200";
        assert_eq!(ticks(stat), Some((287, 37)));
        assert_eq!(rss_kib("Name:\tnode\nVmRSS:\t  123456 kB\n"), Some(123_456));
        assert!(sample_self().alive);
        assert!(sample_self().rss_kib > 0);
    }
}
