//! A seeded fault-injecting HTTP/1.1 proxy between devices and the server.
//! Each request it reads from a device draws one fate: passed through, or
//! the connection dropped before / during / after the request, the response
//! truncated, delayed or sent twice, or the request replayed to the server.
//! Seeded: with devices syncing one at a time, a failing run replays.
//!
//! On a weak link ([`Proxy::set_weak_link`]) it instead streams each
//! request and answer at a set rate, as a phone's poor mobile connection
//! does, and cuts a share of requests at a random byte of their body while
//! it flows: the device sees a broken connection having sent only part, and
//! the server gets the part that went through. It counts the bytes devices
//! sent and keeps the order of the requests it relayed.
//!
//! A test can also script the next fault exactly ([`Proxy::cut_next`]: the
//! next request or response cut after so many bytes), which is how the
//! server's own tests check a push cut mid-body or an acknowledgement lost
//! after the commit. It is the product's one fault proxy: the server's tests
//! and the reliability campaigns share it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fate {
    /// Delivered both ways.
    Pass,
    /// The connection is closed before the request reaches the server.
    DropBefore,
    /// Part of the request reaches the server, then both connections close.
    DropDuring,
    /// The server handles the request; the device's connection closes before the response.
    DropAfter,
    /// Part of the response reaches the device, then the connection closes.
    Truncate,
    /// The response is held back (up to 1.5 s).
    Delay,
    /// The response is sent twice on the same connection.
    Duplicate,
    /// The server gets the request twice (the second answer is thrown away).
    Replay,
}

/// Every fate, in the order of [`Proxy::counts`].
pub const FATES: [Fate; 8] = [
    Fate::Pass,
    Fate::DropBefore,
    Fate::DropDuring,
    Fate::DropAfter,
    Fate::Truncate,
    Fate::Delay,
    Fate::Duplicate,
    Fate::Replay,
];

/// Which way a scripted cut counts bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Device to server: the request reaches the server cut short.
    Up,
    /// Server to device: the server handled the whole request, the device
    /// gets its answer cut short.
    Down,
}

struct Shared {
    rng: Mutex<StdRng>,
    /// The next request's scripted cut, if one is armed.
    scripted: Mutex<Option<(Direction, usize)>>,
    /// Scripted cuts made so far.
    cuts: AtomicU64,
    /// Percentage of requests that get a fault.
    fault_pct: AtomicU32,
    offline: AtomicBool,
    counts: Mutex<[u64; 8]>,
    upstream: SocketAddr,
    /// The weak link's rate (bytes per second each way); 0: no weak link.
    rate: AtomicU64,
    /// On a weak link, per mille of requests cut while their body flows.
    cut_per_mille: AtomicU32,
    /// Bytes read from devices (heads and bodies, cut ones included).
    sent_up: AtomicU64,
    /// `METHOD path` of every request read from a device, in order.
    requests: Mutex<Vec<String>>,
}

/// A running proxy.
pub struct Proxy {
    /// Where devices connect.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy to `upstream` with `fault_pct` % of requests faulted.
    pub fn start(upstream: SocketAddr, seed: u64, fault_pct: u32) -> Proxy {
        let shared = Arc::new(Shared {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            scripted: Mutex::new(None),
            cuts: AtomicU64::new(0),
            fault_pct: AtomicU32::new(fault_pct),
            offline: AtomicBool::new(false),
            counts: Mutex::new([0; 8]),
            upstream,
            rate: AtomicU64::new(0),
            cut_per_mille: AtomicU32::new(0),
            sent_up: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
        });
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let (atx, arx) = std::sync::mpsc::channel();
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                atx.send(listener.local_addr().expect("addr"))
                    .expect("send");
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        acc = listener.accept() => {
                            let Ok((sock, _)) = acc else { continue };
                            let s = s.clone();
                            tokio::spawn(async move { let _ = serve(sock, s).await; });
                        }
                    }
                }
            });
        });
        let addr = arx.recv().expect("proxy address");
        Proxy {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://addr`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the share of faulted requests (0 heals the network).
    pub fn set_fault_pct(&self, pct: u32) {
        self.shared.fault_pct.store(pct, Ordering::SeqCst);
    }

    /// Cuts every connection (the phone is offline) or restores them.
    pub fn set_offline(&self, offline: bool) {
        self.shared.offline.store(offline, Ordering::SeqCst);
    }

    /// From now on, a weak link: every request and answer flows at
    /// `bytes_per_sec`, and `cut_per_mille` of the requests are cut at a
    /// random byte of their body (the answer never comes). The random
    /// fates of [`Proxy::start`] no longer apply.
    pub fn set_weak_link(&self, bytes_per_sec: u64, cut_per_mille: u32) {
        self.shared.rate.store(bytes_per_sec, Ordering::SeqCst);
        self.shared
            .cut_per_mille
            .store(cut_per_mille, Ordering::SeqCst);
    }

    /// Bytes devices sent through the proxy so far (every request's head
    /// and body, what a cut left unsent excepted).
    pub fn bytes_sent(&self) -> u64 {
        self.shared.sent_up.load(Ordering::SeqCst)
    }

    /// `METHOD path` of every request devices sent, in order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.requests).clone()
    }

    /// `http://addr`, what a device's sync client is given (as [`Proxy::base`]).
    pub fn url(&self) -> String {
        self.base()
    }

    /// Cuts the next request after `bytes` bytes going `dir` (at most all
    /// but its last byte), whatever the random fates: [`Direction::Up`] is
    /// [`Fate::DropDuring`] at that byte, [`Direction::Down`] is
    /// [`Fate::Truncate`] at that byte. The requests after it draw their
    /// fates as before.
    pub fn cut_next(&self, dir: Direction, bytes: usize) {
        *lock(&self.shared.scripted) = Some((dir, bytes));
    }

    /// How many scripted cuts were made.
    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::SeqCst)
    }

    /// How many requests met each fate, in [`FATES`] order (scripted cuts
    /// included, under the fate they play).
    pub fn counts(&self) -> [u64; 8] {
        *lock(&self.shared.counts)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A harness lock: a panicking test thread must not hide the proxy's state
/// from the next assertion.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The first `n` bytes of `bytes`, at most all but the last: a cut always
/// leaves something out.
fn cut(bytes: &[u8], n: usize) -> &[u8] {
    &bytes[..n.min(bytes.len().saturating_sub(1))]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads a request's head from `sock`, after `buf`'s leftovers; takes it
/// out of `buf` and returns it with its `Content-Length` (0 without one).
/// `None` when the device closed the connection first.
async fn read_head(
    sock: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<(Vec<u8>, usize)>> {
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head: Vec<u8> = buf.drain(..head_end).collect();
    let len = String::from_utf8_lossy(&head)
        .to_ascii_lowercase()
        .lines()
        .find_map(|l| l.strip_prefix("content-length:").map(str::to_string))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(Some((head, len)))
}

/// Reads one request (head and Content-Length body) from `sock`, after `buf`'s leftovers.
async fn read_request(
    sock: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let Some((head, len)) = read_head(sock, buf).await? else {
        return Ok(None);
    };
    let mut chunk = [0u8; 16 * 1024];
    while buf.len() < len {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf.drain(..len).collect();
    Ok(Some((head, body)))
}

/// The head with its `Connection` header replaced by `value` (or removed).
fn with_connection(head: &[u8], value: Option<&str>) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if let Some(v) = value {
        out.push_str(&format!("connection: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Sends a request to the server on a fresh connection and reads its whole
/// answer (the server closes after it).
async fn forward(upstream: SocketAddr, req: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(req).await?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp).await?;
    // The device's connection stays open: drop the server's "close".
    let Some(i) = find(&resp, b"\r\n\r\n") else {
        return Ok(resp);
    };
    let mut out = with_connection(&resp[..i + 4], None);
    out.extend_from_slice(&resp[i + 4..]);
    Ok(out)
}

/// The request line of a head: `METHOD path`.
fn request_line(head: &[u8]) -> String {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().next().unwrap_or_default();
    line.rsplit_once(' ')
        .map_or(line, |(start, _version)| start)
        .to_string()
}

/// Writes `bytes` at `rate` bytes per second.
async fn paced_write(sock: &mut TcpStream, bytes: &[u8], rate: u64) -> std::io::Result<()> {
    for slice in bytes.chunks(PACE_SLICE) {
        sock.write_all(slice).await?;
        pace(slice.len(), rate).await;
    }
    Ok(())
}

/// Bytes moved between two waits of a weak link.
const PACE_SLICE: usize = 4 * 1024;

async fn pace(bytes: usize, rate: u64) {
    let micros = (bytes as u64).saturating_mul(1_000_000) / rate.max(1);
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

/// One request over a weak link: the head, then the body streamed from the
/// device to the server at the link's rate, cut at `cut_at` bytes of the
/// body if set (both connections closed: the device never gets an
/// answer), then the answer at the same rate. `Ok(false)`: the connection
/// is over.
async fn weak_link(sock: &mut TcpStream, buf: &mut Vec<u8>, s: &Shared) -> std::io::Result<bool> {
    let rate = s.rate.load(Ordering::SeqCst);
    let mut chunk = [0u8; PACE_SLICE];
    let Some((head, len)) = read_head(sock, buf).await? else {
        return Ok(false);
    };
    lock(&s.requests).push(request_line(&head));
    s.sent_up.fetch_add(head.len() as u64, Ordering::SeqCst);
    let cut_at = {
        let mut rng = lock(&s.rng);
        (len > 0 && rng.random_range(0..1000) < s.cut_per_mille.load(Ordering::SeqCst))
            .then(|| rng.random_range(0..len))
    };
    let mut up = TcpStream::connect(s.upstream).await?;
    up.write_all(&with_connection(&head, Some("close"))).await?;
    let mut left = len;
    while left > 0 {
        if buf.is_empty() {
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(false);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let mut n = buf.len().min(left).min(PACE_SLICE);
        let done = len - left;
        if let Some(at) = cut_at.filter(|at| done + n > *at) {
            n = at - done;
        }
        let piece: Vec<u8> = buf.drain(..n).collect();
        up.write_all(&piece).await?;
        s.sent_up.fetch_add(n as u64, Ordering::SeqCst);
        left -= n;
        pace(n, rate).await;
        if cut_at == Some(len - left) {
            lock(&s.counts)[FATES
                .iter()
                .position(|f| *f == Fate::DropDuring)
                .unwrap_or(0)] += 1;
            return Ok(false);
        }
    }
    let mut resp = Vec::new();
    up.read_to_end(&mut resp).await?;
    let resp = match find(&resp, b"\r\n\r\n") {
        Some(i) => {
            let mut out = with_connection(&resp[..i + 4], None);
            out.extend_from_slice(&resp[i + 4..]);
            out
        }
        None => resp,
    };
    lock(&s.counts)[0] += 1;
    paced_write(sock, &resp, rate).await?;
    Ok(true)
}

async fn serve(mut sock: TcpStream, s: Arc<Shared>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        if s.rate.load(Ordering::SeqCst) > 0 {
            if s.offline.load(Ordering::SeqCst) || !weak_link(&mut sock, &mut buf, &s).await? {
                return Ok(());
            }
            continue;
        }
        if s.offline.load(Ordering::SeqCst) {
            return Ok(());
        }
        let Some((head, body)) = read_request(&mut sock, &mut buf).await? else {
            return Ok(());
        };
        lock(&s.requests).push(request_line(&head));
        s.sent_up
            .fetch_add((head.len() + body.len()) as u64, Ordering::SeqCst);
        let mut req = with_connection(&head, Some("close"));
        req.extend_from_slice(&body);
        let (fate, share, delay) = {
            let mut rng = lock(&s.rng);
            let fate = if rng.random_range(0..100) < s.fault_pct.load(Ordering::SeqCst) {
                FATES[rng.random_range(1..FATES.len())]
            } else {
                Fate::Pass
            };
            (
                fate,
                rng.random::<f64>(),
                Duration::from_millis(rng.random_range(0..1500)),
            )
        };
        // A scripted cut replaces the drawn fate; the dice are thrown
        // anyway, so that the seeded sequence stays the same.
        let (fate, at) = match lock(&s.scripted).take() {
            Some((dir, n)) => {
                s.cuts.fetch_add(1, Ordering::SeqCst);
                let fate = match dir {
                    Direction::Up => Fate::DropDuring,
                    Direction::Down => Fate::Truncate,
                };
                (fate, Some(n))
            }
            None => (fate, None),
        };
        let at = |len: usize| at.unwrap_or(((len as f64) * share) as usize);
        lock(&s.counts)[FATES.iter().position(|f| *f == fate).unwrap_or(0)] += 1;
        match fate {
            Fate::DropBefore => return Ok(()),
            Fate::DropDuring => {
                let mut up = TcpStream::connect(s.upstream).await?;
                up.write_all(cut(&req, at(req.len()))).await?;
                return Ok(());
            }
            _ => {}
        }
        let resp = forward(s.upstream, &req).await?;
        match fate {
            Fate::DropAfter => return Ok(()),
            Fate::Truncate => {
                sock.write_all(cut(&resp, at(resp.len()))).await?;
                return Ok(());
            }
            Fate::Delay => {
                tokio::time::sleep(delay).await;
                sock.write_all(&resp).await?;
            }
            Fate::Duplicate => {
                sock.write_all(&resp).await?;
                sock.write_all(&resp).await?;
            }
            Fate::Replay => {
                let _ = forward(s.upstream, &req).await;
                sock.write_all(&resp).await?;
            }
            _ => sock.write_all(&resp).await?,
        }
    }
}
