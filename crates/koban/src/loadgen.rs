//! A lean open-loop HTTP/1.1 load generator for the benchmarks.
//!
//! The benchmarks run the load generator in the same process, on the same two cores, as
//! the server it measures. A general-purpose client (reqwest over hyper) spends about as
//! much CPU per request as the server's HTTP layer does, and opens new connections when
//! answers are late, which costs both sides more exactly when the machine is slowest. This
//! one does what `wrk` does instead: requests are serialised once, up front; a fixed set of
//! keep-alive connections takes them from one queue; an answer is read by its
//! `Content-Length`. Latency is counted from the moment a request was handed to the
//! connections, so time spent queued behind slow answers is part of it (no coordinated
//! omission). It is not counted from the exact instant it was due: the runtime's timer
//! fires at millisecond granularity, and that lateness is the generator's, not the
//! server's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc};

/// Largest response header block accepted; the API's are a few hundred bytes.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Largest response body accepted (an inquiry answer with many hits is a few KiB).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Requests queued for the connections at most; beyond it the offered load is refused
/// rather than buffered without bound.
const MAX_QUEUED: usize = 1 << 20;
/// How long one answer may take before the run counts it as an error and reconnects.
const ANSWER_TIMEOUT_MS: u64 = 30_000;

/// One request, serialised once.
pub struct Request(Vec<u8>);

impl Request {
    /// A `POST` of a JSON body with the given extra headers (`name: value`).
    pub fn post_json(host: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
        let mut r = format!("POST {path} HTTP/1.1\r\nhost: {host}\r\n");
        for (k, v) in headers {
            r.push_str(k);
            r.push_str(": ");
            r.push_str(v);
            r.push_str("\r\n");
        }
        r.push_str("content-type: application/json\r\n");
        r.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        let mut bytes = r.into_bytes();
        bytes.extend_from_slice(body);
        Request(bytes)
    }
}

/// What a run saw: one latency per request (from when it was handed to the connections),
/// and how many failed.
pub struct Outcome {
    pub latencies: Vec<Duration>,
    pub errors: u64,
    pub elapsed_s: f64,
    /// When the slowest request was handed over, in seconds from the start (where known).
    pub slowest_sent_s: Option<f64>,
}

/// Offers `total` requests at `rate` per second (cycling through `requests`) over
/// `connections` keep-alive connections to `addr`, and waits for every answer. A 2xx
/// answer is a success; anything else, a broken connection or a timeout is an error.
pub async fn run(
    addr: std::net::SocketAddr,
    requests: Arc<Vec<Request>>,
    rate: u64,
    total: u64,
    connections: usize,
) -> Result<Outcome> {
    if requests.is_empty() || rate == 0 || connections == 0 {
        bail!("a load needs requests, a rate and connections");
    }
    if total as usize > MAX_QUEUED {
        bail!("at most {MAX_QUEUED} requests per run");
    }
    let (work_tx, work_rx) = mpsc::channel::<(usize, Instant)>(MAX_QUEUED);
    let work_rx = Arc::new(Mutex::new(work_rx));
    // Each connection keeps its own results and hands them back when the queue closes.
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (work_rx, requests) = (work_rx.clone(), requests.clone());
            tokio::spawn(async move {
                let mut results = Vec::new();
                let mut conn: Option<Conn> = None;
                loop {
                    // Take the next request; the lock is held only while waiting for one.
                    let next = work_rx.lock().await.recv().await;
                    let Some((i, handed)) = next else { break };
                    if conn.is_none() {
                        conn = Conn::open(addr).await.ok();
                    }
                    let answer = match conn.as_mut() {
                        Some(c) => c.exchange(&requests[i % requests.len()]).await,
                        None => Err(()),
                    };
                    if answer.is_err() {
                        // A broken or timed-out connection is not reused.
                        conn = None;
                    }
                    results.push((handed, handed.elapsed(), answer == Ok(true)));
                }
                results
            })
        })
        .collect();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        if work_tx.send((i as usize, Instant::now())).await.is_err() {
            bail!("the load generator's connections stopped");
        }
    }
    drop(work_tx);
    let mut results = Vec::with_capacity(total as usize);
    for w in workers {
        results.extend(w.await?);
    }
    let elapsed_s = start.elapsed().as_secs_f64();
    let slowest_sent_s = results
        .iter()
        .max_by_key(|(_, latency, _)| *latency)
        .map(|(handed, _, _)| handed.saturating_duration_since(start).as_secs_f64());
    let mut outcome = Outcome::of(
        results.into_iter().map(|(_, d, ok)| (d, ok)).collect(),
        elapsed_s,
    );
    outcome.slowest_sent_s = slowest_sent_s;
    Ok(outcome)
}

impl Outcome {
    /// Gathers `(latency, succeeded)` pairs.
    pub fn of(results: Vec<(Duration, bool)>, elapsed_s: f64) -> Outcome {
        let errors = results.iter().filter(|(_, ok)| !ok).count() as u64;
        Outcome {
            latencies: results.into_iter().map(|(d, _)| d).collect(),
            errors,
            elapsed_s,
            slowest_sent_s: None,
        }
    }
}

/// One keep-alive connection and its read buffer.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(8 * 1024),
        })
    }

    /// Sends one request and reads its answer; `Ok(true)` for a 2xx status. `Err` means
    /// the connection cannot be used again.
    async fn exchange(&mut self, req: &Request) -> Result<bool, ()> {
        let timeout = Duration::from_millis(ANSWER_TIMEOUT_MS);
        match tokio::time::timeout(timeout, self.exchange_inner(req)).await {
            Ok(r) => r,
            Err(_) => Err(()),
        }
    }

    async fn exchange_inner(&mut self, req: &Request) -> Result<bool, ()> {
        self.stream.write_all(&req.0).await.map_err(|_| ())?;
        self.buf.clear();
        let head_end = loop {
            if let Some(p) = find_head_end(&self.buf) {
                break p;
            }
            if self.buf.len() > MAX_HEAD_BYTES {
                return Err(());
            }
            self.fill().await?;
        };
        let head = parse_head(&self.buf[..head_end]).ok_or(())?;
        if head.content_length > MAX_BODY_BYTES {
            return Err(());
        }
        let body_end = head_end + head.content_length;
        while self.buf.len() < body_end {
            self.fill().await?;
        }
        if self.buf.len() > body_end || head.close {
            // A pipelined extra answer cannot happen with one request in flight; anything
            // beyond the body, or a server asking to close, ends this connection.
            return Err(());
        }
        Ok((200..300).contains(&head.status))
    }

    async fn fill(&mut self) -> Result<(), ()> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await.map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// Where the header block ends (just past the blank line), if it has ended.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

struct Head {
    status: u16,
    content_length: usize,
    close: bool,
}

/// The status, `Content-Length` (required: the API never answers chunked) and whether the
/// server closes the connection.
fn parse_head(head: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let mut content_length = None;
    let mut close = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(value.parse().ok()?);
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            close = true;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return None;
        }
    }
    Some(Head {
        status,
        content_length: content_length?,
        close,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_head_gives_status_length_and_close() {
        let h = b"HTTP/1.1 201 Created\r\nContent-Length: 12\r\nconnection: Close\r\n\r\n";
        let end = find_head_end(h).unwrap();
        assert_eq!(end, h.len());
        let p = parse_head(&h[..end]).unwrap();
        assert_eq!((p.status, p.content_length, p.close), (201, 12, true));
    }

    #[test]
    fn chunked_or_lengthless_answers_are_refused() {
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").is_none());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_none());
        assert!(parse_head(b"SPDY 200 OK\r\ncontent-length: 1\r\n\r\n").is_none());
        assert!(find_head_end(b"HTTP/1.1 200 OK\r\n").is_none());
    }

    #[test]
    fn a_request_is_serialised_with_its_length() {
        let r = Request::post_json("h:1", "/p", &[("x-a", "b")], b"{}");
        let s = String::from_utf8(r.0).unwrap();
        assert!(s.starts_with("POST /p HTTP/1.1\r\nhost: h:1\r\nx-a: b\r\n"));
        assert!(s.ends_with("content-length: 2\r\n\r\n{}"));
    }

    /// Against a real server on loopback: every answer is read whole on reused connections,
    /// and a 4xx counts as an error.
    #[tokio::test]
    async fn a_run_reads_every_answer_over_kept_alive_connections() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    loop {
                        let Ok(n) = s.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        // Each request here is head plus a 2-byte body.
                        while let Some(end) = find_head_end(&buf) {
                            if buf.len() < end + 2 {
                                break;
                            }
                            let bad = buf[end..end + 2] == *b"{]";
                            buf.drain(..end + 2);
                            let answer: &[u8] = if bad {
                                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 5\r\n\r\nnope!"
                            } else {
                                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"
                            };
                            if s.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        let reqs = Arc::new(vec![
            Request::post_json("x", "/", &[], b"{}"),
            Request::post_json("x", "/", &[], b"{]"),
        ]);
        let out = run(addr, reqs, 2_000, 400, 4).await.unwrap();
        assert_eq!(out.latencies.len(), 400);
        assert_eq!(out.errors, 200, "every second request is refused");
        assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) <= 4);
    }
}
