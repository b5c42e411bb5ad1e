//! HAProxy in front of several server instances, as a deployment runs it:
//! its configuration is the one shipped in `docs/deploy/haproxy.cfg`, with
//! TLS taken out (devices speak plain HTTP to loopback only) and the
//! instances and the listening address put in, so that the test balances
//! the way the documentation tells operators to.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The shipped HAProxy configuration.
pub const SHIPPED_CONFIG: &str = include_str!("../../docs/deploy/haproxy.cfg");

/// How often the test's front checks each instance's health (the shipped
/// configuration's 5 s would leave a dead instance in the rotation for
/// 15 s; refused connections are redispatched meanwhile either way).
const CHECK_INTER: &str = "200ms";

/// The shipped configuration, for plain HTTP on `listen` in front of
/// `servers` (named `carnet1`, `carnet2`…): the TLS bind, the redirect to
/// HTTPS and the example servers are replaced; every other line (balancing,
/// health check, retries, timeouts, headers) is kept as shipped. An error
/// names what of the shipped file was not found, should it change.
pub fn config_from_shipped(
    shipped: &str,
    listen: SocketAddr,
    servers: &[SocketAddr],
) -> Result<String, String> {
    let mut out = String::new();
    let (mut bound, mut template) = (false, None);
    for line in shipped.lines() {
        let t = line.trim_start();
        if (t.starts_with("bind ") && t.contains(" ssl ")) || t.contains("redirect scheme https") {
            continue;
        }
        if t == "bind :80" {
            out.push_str(&format!("    bind {listen}\n"));
            bound = true;
        } else if t.starts_with("server ") {
            if template.is_none() {
                template = Some(t.to_string());
                for (i, addr) in servers.iter().enumerate() {
                    out.push_str(&format!("    {}\n", server_line(t, i + 1, *addr)?));
                }
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !bound {
        return Err("the shipped haproxy.cfg has no `bind :80` line".into());
    }
    if template.is_none() {
        return Err("the shipped haproxy.cfg has no `server` line".into());
    }
    Ok(out)
}

/// `server NAME ADDR check inter 5s …` for instance `n` at `addr`.
fn server_line(template: &str, n: usize, addr: SocketAddr) -> Result<String, String> {
    let words: Vec<&str> = template.split_whitespace().collect();
    if words.len() < 4 || !words.contains(&"check") {
        return Err(format!(
            "the shipped server line {template:?} is not `server NAME ADDR check …`"
        ));
    }
    let mut rest: Vec<String> = words[3..].iter().map(|w| w.to_string()).collect();
    if let Some(v) = rest
        .iter()
        .position(|w| w == "inter")
        .and_then(|i| rest.get_mut(i + 1))
    {
        *v = CHECK_INTER.into();
    }
    Ok(format!("server carnet{n} {addr} {}", rest.join(" ")))
}

/// The `haproxy` program: `CARNET_HAPROXY`, else on the `PATH`, else
/// Debian's `/usr/sbin/haproxy`.
pub fn haproxy_exe() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("CARNET_HAPROXY") {
        return Ok(p.into());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("haproxy"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "no haproxy program: run scripts/test (which installs it), or apt-get install haproxy"
                .into()
        })
}

/// What HAProxy logged of the requests it forwarded, per server.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// Requests per server (`<NOSRV>`: none was available).
    pub requests: BTreeMap<String, usize>,
    /// Of those, answered 5xx (a request cut by a dead instance is a 502).
    pub failed: BTreeMap<String, usize>,
}

impl Forwarded {
    /// Counts one `option httplog` line: `… frontend backend/server
    /// Tq/Tw/Tc/Tr/Ta status …`.
    fn count(&mut self, line: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(i) = words.iter().position(|w| w.starts_with("carnet/")) else {
            return;
        };
        let server = words[i]["carnet/".len()..].to_string();
        let status: u16 = words.get(i + 2).and_then(|s| s.parse().ok()).unwrap_or(0);
        *self.requests.entry(server.clone()).or_default() += 1;
        if status >= 500 {
            *self.failed.entry(server).or_default() += 1;
        }
    }
}

/// HAProxy running in the foreground, stopped when dropped.
pub struct Front {
    /// Where devices reach it.
    pub addr: SocketAddr,
    child: Child,
    log: Arc<Mutex<Forwarded>>,
}

impl Front {
    /// Starts HAProxy over the shipped configuration, in front of
    /// `servers`, on a free loopback port (another is tried if the port was
    /// taken meanwhile); returns once it answers `/healthz`.
    pub fn start(exe: &Path, servers: &[SocketAddr], dir: &Path) -> Result<Front, String> {
        let mut last = String::new();
        for attempt in 0..5 {
            let addr = free_port()?;
            let config = config_from_shipped(SHIPPED_CONFIG, addr, servers)?;
            let path = dir.join(format!("haproxy-{attempt}.cfg"));
            let errors = dir.join(format!("haproxy-{attempt}.stderr"));
            std::fs::write(&path, config).map_err(|e| format!("{}: {e}", path.display()))?;
            let stderr =
                std::fs::File::create(&errors).map_err(|e| format!("{}: {e}", errors.display()))?;
            let mut child = Command::new(exe)
                .arg("-db")
                .arg("-f")
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(stderr)
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
            let log = Arc::new(Mutex::new(Forwarded::default()));
            let stdout = child.stdout.take().expect("piped stdout");
            let sink = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    sink.lock().unwrap().count(&line);
                }
            });
            // Bounded: 500 polls; HAProxy starts in milliseconds.
            for _ in 0..500 {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if get(addr, "/healthz").is_some_and(|(status, body)| status == 200 && body == "ok")
                {
                    return Ok(Front { addr, child, log });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            last = std::fs::read_to_string(&errors).unwrap_or_default();
        }
        Err(format!("HAProxy did not start: {last}"))
    }

    /// `http://addr`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What it forwarded so far.
    pub fn forwarded(&self) -> Forwarded {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on (now).
fn free_port() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free loopback port: {e}"))
}

/// `GET path` over HTTP/1.0: the status and body, or `None` if no answer.
pub fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.trim())?;
    Some((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_config_becomes_plain_http_on_loopback() {
        let listen: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let servers: Vec<SocketAddr> = ["127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let c = config_from_shipped(SHIPPED_CONFIG, listen, &servers).unwrap();
        assert!(c.contains("    bind 127.0.0.1:8000\n"), "{c}");
        assert!(!c.contains("ssl crt") && !c.contains("redirect scheme"));
        assert!(c.contains("server carnet3 127.0.0.1:8003 check inter 200ms"));
        assert_eq!(c.matches("\n    server ").count(), 3, "{c}");
        // What makes the multi-instance test a test of the shipped policy.
        for kept in [
            "balance roundrobin",
            "retry-on conn-failure",
            "http-check send meth GET uri /healthz",
        ] {
            assert!(c.contains(kept), "{kept}");
        }
    }

    #[test]
    fn log_lines_are_counted_per_server() {
        let mut f = Forwarded::default();
        f.count("127.0.0.1:5 [06/Dec/2025:23:59:00.123] carnet_https carnet/carnet2 0/0/0/3/3 200 512 - - ---- 1/1/0/0/0 0/0 \"POST /v1/sync/push HTTP/1.1\"");
        f.count("127.0.0.1:6 [06/Dec/2025:23:59:00.124] carnet_https carnet/carnet2 0/0/0/-1/4 502 209 - - SH-- 1/1/0/0/0 0/0 \"POST /v1/sync/push HTTP/1.1\"");
        f.count("Proxy carnet started.");
        assert_eq!(f.requests.get("carnet2"), Some(&2));
        assert_eq!(f.failed.get("carnet2"), Some(&1));
    }
}
