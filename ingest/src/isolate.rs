//! Parsing in a child process, so no parser bug can reach the server: the child runs under
//! OS limits (address space, CPU seconds, no core dumps) and a wall-clock deadline, and every
//! way it can end becomes a permanent [`ParseError`] naming what happened.
//!
//! The child is the server binary itself (`ragway parse`, which calls [`serve_stdio`]); the
//! parent calls [`parse_isolated`] once per document. They speak one request and one response
//! over stdin/stdout, each a small binary frame:
//!
//! ```text
//! request:  "RGWQ" 1u8 | header_len u32 LE | header JSON | body_len u64 LE | body (the file)
//! response: "RGWR" 1u8 | len u64 LE | JSON of Result<ParsedDocument, ParseError>
//! ```
//!
//! The header is [`RequestHeader`] (options, limits, file name, content type); the file's bytes
//! travel raw, never JSON-escaped.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::parse::{parse_limited, Limit, ParseError, ParseLimits, ParseOptions, ParsedDocument};

const REQUEST_MAGIC: &[u8; 4] = b"RGWQ";
const RESPONSE_MAGIC: &[u8; 4] = b"RGWR";
const VERSION: u8 = 1;
/// Largest request header: options and limits are a few hundred bytes.
const MAX_HEADER_BYTES: u32 = 64 * 1024;
/// Bytes of the child's stderr kept for the error message (its last lines).
const STDERR_TAIL_BYTES: usize = 8 * 1024;

/// Everything about a document except its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestHeader {
    pub options: ParseOptions,
    pub limits: ParseLimits,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub header: RequestHeader,
    pub bytes: Vec<u8>,
}

/// A frame that is not a well-formed request or response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("bad magic or version")]
    BadMagic,
    #[error("frame ends early")]
    Truncated,
    #[error("header of {0} bytes is over the {MAX_HEADER_BYTES}-byte limit")]
    HeaderTooLarge(u32),
    #[error("frame is {0} bytes longer than it says")]
    TrailingBytes(usize),
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("cannot read the frame: {0}")]
    Io(String),
}

/// Encodes a request frame.
pub fn encode_request(header: &RequestHeader, bytes: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).expect("a header always serializes");
    let mut out = Vec::with_capacity(4 + 1 + 4 + json.len() + 8 + bytes.len());
    out.extend_from_slice(REQUEST_MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
    out
}

/// Reads one request frame from `reader`. Lengths are trusted only as far as bytes arrive:
/// nothing is allocated ahead of the data.
pub fn read_request(reader: &mut impl Read) -> Result<Request, ProtocolError> {
    let mut magic = [0u8; 5];
    read_exact(reader, &mut magic)?;
    if &magic[..4] != REQUEST_MAGIC || magic[4] != VERSION {
        return Err(ProtocolError::BadMagic);
    }
    let mut len = [0u8; 4];
    read_exact(reader, &mut len)?;
    let header_len = u32::from_le_bytes(len);
    if header_len > MAX_HEADER_BYTES {
        return Err(ProtocolError::HeaderTooLarge(header_len));
    }
    let header_bytes = read_up_to(reader, u64::from(header_len))?;
    let header: RequestHeader =
        serde_json::from_slice(&header_bytes).map_err(|e| ProtocolError::Json(e.to_string()))?;
    let mut len = [0u8; 8];
    read_exact(reader, &mut len)?;
    let bytes = read_up_to(reader, u64::from_le_bytes(len))?;
    Ok(Request { header, bytes })
}

/// Decodes a whole request frame (what [`read_request`] reads, with nothing after it).
pub fn decode_request(frame: &[u8]) -> Result<Request, ProtocolError> {
    let mut reader = frame;
    let request = read_request(&mut reader)?;
    match reader.len() {
        0 => Ok(request),
        n => Err(ProtocolError::TrailingBytes(n)),
    }
}

/// Encodes a response frame.
pub fn encode_response(result: &Result<ParsedDocument, ParseError>) -> Vec<u8> {
    let json = serde_json::to_vec(result).expect("a parse result always serializes");
    let mut out = Vec::with_capacity(13 + json.len());
    out.extend_from_slice(RESPONSE_MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out
}

/// Decodes a whole response frame.
pub fn decode_response(frame: &[u8]) -> Result<Result<ParsedDocument, ParseError>, ProtocolError> {
    let rest = frame
        .strip_prefix(RESPONSE_MAGIC.as_slice())
        .and_then(|r| r.strip_prefix(&[VERSION]))
        .ok_or(ProtocolError::BadMagic)?;
    let (len, json) = rest.split_at_checked(8).ok_or(ProtocolError::Truncated)?;
    let len = u64::from_le_bytes(len.try_into().expect("8 bytes"));
    match (json.len() as u64).cmp(&len) {
        std::cmp::Ordering::Less => return Err(ProtocolError::Truncated),
        std::cmp::Ordering::Greater => {
            return Err(ProtocolError::TrailingBytes(json.len() - len as usize))
        }
        std::cmp::Ordering::Equal => {}
    }
    serde_json::from_slice(json).map_err(|e| ProtocolError::Json(e.to_string()))
}

fn read_exact(reader: &mut impl Read, buf: &mut [u8]) -> Result<(), ProtocolError> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ProtocolError::Truncated,
        _ => ProtocolError::Io(e.to_string()),
    })
}

fn read_up_to(reader: &mut impl Read, len: u64) -> Result<Vec<u8>, ProtocolError> {
    let mut out = Vec::new();
    reader
        .take(len)
        .read_to_end(&mut out)
        .map_err(|e| ProtocolError::Io(e.to_string()))?;
    if (out.len() as u64) < len {
        return Err(ProtocolError::Truncated);
    }
    Ok(out)
}

/// The child's side: reads one request from stdin, parses it under its limits, writes the
/// response to stdout. Returns the process exit code (0 when a response was written, whatever
/// it says). A panicking parser becomes a [`ParseError::Parser`] response; anything worse
/// (abort, a signal, the OS limits) ends the process and is reported by the parent.
pub fn serve_stdio() -> i32 {
    let request = match read_request(&mut io::stdin().lock()) {
        Ok(request) => request,
        Err(e) => {
            eprintln!("ragway parse: bad request: {e}");
            return 2;
        }
    };
    let Request { header, bytes } = request;
    let result = std::panic::catch_unwind(|| {
        parse_limited(
            &bytes,
            header.file_name.as_deref(),
            header.content_type.as_deref(),
            &header.options,
            &header.limits,
        )
    })
    .unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(ParseError::Parser(format!(
            "the parser crashed (panic: {message})"
        )))
    });
    let frame = encode_response(&result);
    let mut stdout = io::stdout().lock();
    match stdout.write_all(&frame).and_then(|()| stdout.flush()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ragway parse: cannot write the response: {e}");
            3
        }
    }
}

/// How to start the parser child: the server's own binary with `parse`, or any program that
/// calls [`serve_stdio`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParserCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Extra environment (the child inherits the parent's otherwise).
    pub env: Vec<(OsString, OsString)>,
}

impl ParserCommand {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// The running executable with `args` (for the server: `["parse"]`).
    pub fn current_exe(args: &[&str]) -> io::Result<Self> {
        let mut command = Self::new(std::env::current_exe()?);
        command.args = args.iter().map(OsString::from).collect();
        Ok(command)
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// What the child cost, from the OS (`wait4`'s resource usage).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ChildStats {
    /// Peak resident set of the child, in KiB.
    pub peak_rss_kib: u64,
    /// User + system CPU time of the child.
    pub cpu: Duration,
    /// From spawn to reaping.
    pub wall: Duration,
}

/// The outcome of one isolated parse and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Isolated {
    pub result: Result<ParsedDocument, ParseError>,
    pub stats: ChildStats,
}

/// Parses `bytes` in a fresh child process (see the module docs) and returns its answer,
/// or a [`ParseError::Parser`] saying how the child failed. Blocking: call it from a
/// blocking thread (`spawn_blocking`), never on an async worker.
pub fn parse_isolated(
    command: &ParserCommand,
    bytes: &[u8],
    file_name: Option<&str>,
    content_type: Option<&str>,
    options: &ParseOptions,
    limits: &ParseLimits,
) -> Result<ParsedDocument, ParseError> {
    run_isolated(command, bytes, file_name, content_type, options, limits).result
}

/// [`parse_isolated`], with the child's resource usage.
pub fn run_isolated(
    command: &ParserCommand,
    bytes: &[u8],
    file_name: Option<&str>,
    content_type: Option<&str>,
    options: &ParseOptions,
    limits: &ParseLimits,
) -> Isolated {
    let header = RequestHeader {
        options: options.clone(),
        limits: *limits,
        file_name: file_name.map(str::to_string),
        content_type: content_type.map(str::to_string),
    };
    let frame = encode_request(&header, bytes);
    match run_child(command, frame, limits) {
        Ok(ended) => Isolated {
            result: ended.interpret(limits),
            stats: ended.stats,
        },
        Err(e) => Isolated {
            result: Err(ParseError::Parser(format!(
                "the parser could not be started ({}: {e})",
                command.program.display()
            ))),
            stats: ChildStats::default(),
        },
    }
}

/// How a child ended, with what it wrote.
struct Ended {
    /// The raw wait status.
    status: libc::c_int,
    timed_out: bool,
    response_too_large: bool,
    stdout: Vec<u8>,
    stderr_tail: String,
    stats: ChildStats,
}

/// Spawns the child under the limits, feeds it `frame`, collects its output and waits for it
/// until the deadline, killing it then (or when its answer grows too large).
fn run_child(command: &ParserCommand, frame: Vec<u8>, limits: &ParseLimits) -> io::Result<Ended> {
    let memory = limits.parser_memory_mb.saturating_mul(1024 * 1024);
    let cpu = limits.parser_cpu_secs;
    let mut cmd = Command::new(&command.program);
    cmd.args(&command.args)
        .envs(command.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // No `pre_exec`: without one the standard library starts the child with posix_spawn
    // (vfork-like), not fork, which would copy the page tables of this whole process (the
    // models, the memory-mapped stores) once per document: in a profile of an ingest, page
    // table copies, unmaps and page faults took ~6 % of the CPU. The limits are set on the running child instead, before it is sent the
    // document: until then it only starts up and waits on stdin, so it reads no untrusted
    // byte without them.
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let limited = set_limit(pid, libc::RLIMIT_AS, memory, memory)
        // SIGXCPU at the soft limit, SIGKILL one second later if it is ignored.
        .and_then(|()| set_limit(pid, libc::RLIMIT_CPU, cpu, cpu.saturating_add(1)))
        .and_then(|()| set_limit(pid, libc::RLIMIT_CORE, 0, 0));
    // ESRCH: the child has already ended (a program that dies at once); it read nothing, and
    // how it ended is reported below like any other end.
    let gone = matches!(&limited, Err(e) if e.raw_os_error() == Some(libc::ESRCH));
    if let (Err(e), false) = (limited, gone) {
        let _ = child.kill();
        let _ = reap(pid, true);
        return Err(e);
    }

    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || {
        // A child that dies early closes its stdin: EPIPE is expected then, not an error.
        let _ = stdin.write_all(&frame);
    });
    let too_large = Arc::new(AtomicBool::new(false));
    let mut stdout = child.stdout.take().expect("piped");
    let cap = limits.max_response_bytes as u64;
    let flag = too_large.clone();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = (&mut stdout).take(cap + 1).read_to_end(&mut out);
        if out.len() as u64 > cap {
            flag.store(true, Ordering::SeqCst);
            out.clear();
        }
        out
    });
    let mut stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut tail = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            tail.extend_from_slice(&buf[..n]);
            if tail.len() > 2 * STDERR_TAIL_BYTES {
                tail.drain(..tail.len() - STDERR_TAIL_BYTES);
            }
        }
        tail
    });

    let deadline = started + Duration::from_secs(limits.parse_timeout_secs);
    let mut timed_out = false;
    let mut exit = ExitWatch::new(pid);
    let (status, usage) = loop {
        if let Some(ended) = reap(pid, false)? {
            break ended;
        }
        let over = too_large.load(Ordering::SeqCst);
        let now = Instant::now();
        if over || now >= deadline {
            timed_out = !over;
            // SAFETY: the child is not reaped yet, so its pid is still ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            break reap(pid, true)?.expect("a blocking wait returns the status");
        }
        exit.wait(deadline - now);
    };
    // `child` was reaped by `reap`; dropping it does not wait or kill.
    drop(child);
    let _ = writer.join();
    let stdout = reader.join().unwrap_or_default();
    let stderr_tail = errors.join().unwrap_or_default();
    let cpu_time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Ok(Ended {
        status,
        timed_out,
        response_too_large: too_large.load(Ordering::SeqCst),
        stdout,
        stderr_tail: String::from_utf8_lossy(&stderr_tail).into_owned(),
        stats: ChildStats {
            peak_rss_kib: usage.ru_maxrss as u64,
            cpu: cpu_time(usage.ru_utime) + cpu_time(usage.ru_stime),
            wall: started.elapsed(),
        },
    })
}

/// Waits for a child to end without polling: on a pidfd (Linux 5.3+), which becomes
/// readable the moment the child exits, else by sleeping in growing steps (1, 2, 4 … 20 ms),
/// which can leave a worker waiting up to 20 ms past a child's exit. No throughput change
/// measured at 2 workers (`ragway bench ingest`, 38.1 → 38.7 chunks/s, within noise); it
/// removes the polling wake-ups and the wait past the exit.
struct ExitWatch {
    pidfd: Option<std::os::fd::OwnedFd>,
    pause: Duration,
}

/// The longest a wait blocks before its caller looks again (at the answer's size).
const EXIT_WATCH_SLICE: Duration = Duration::from_millis(20);

impl ExitWatch {
    fn new(pid: libc::pid_t) -> Self {
        use std::os::fd::FromRawFd;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1;
        // `pid` is our unreaped child, so it names no other process.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let pidfd = (fd >= 0).then(|| {
            // SAFETY: a descriptor just returned to us, owned by nothing else.
            unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as std::os::fd::RawFd) }
        });
        ExitWatch {
            pidfd,
            pause: Duration::from_millis(1),
        }
    }

    /// Returns when the child may have ended, or after at most `limit` (and
    /// `EXIT_WATCH_SLICE`); the caller checks with `reap`.
    fn wait(&mut self, limit: Duration) {
        use std::os::fd::AsRawFd;
        let limit = limit.min(EXIT_WATCH_SLICE);
        let Some(fd) = &self.pidfd else {
            let pause = self.pause.min(limit);
            std::thread::sleep(pause);
            self.pause = (pause * 2).min(EXIT_WATCH_SLICE);
            return;
        };
        let mut poll = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = limit.as_millis().max(1) as libc::c_int;
        // SAFETY: one valid pollfd; an interrupted or failed poll only returns early.
        unsafe { libc::poll(&mut poll, 1, millis) };
    }
}

/// Sets a resource limit of process `pid` (our child).
fn set_limit(
    pid: libc::pid_t,
    resource: libc::__rlimit_resource_t,
    soft: u64,
    hard: u64,
) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: a plain system call with a valid pointer to a local and a null old-limit
    // pointer; `pid` is our child, not reaped yet.
    match unsafe { libc::prlimit(pid, resource, &limit, std::ptr::null_mut()) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// `wait4` on the child: its status and resource usage once it has ended (`None` while it
/// runs, unless `block`).
fn reap(pid: libc::pid_t, block: bool) -> io::Result<Option<(libc::c_int, libc::rusage)>> {
    let mut status = 0;
    // SAFETY: rusage is plain data; zeroed is a valid value for it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let flags = if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: valid pointers to locals; `pid` is our unreaped child.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        match r {
            0 => return Ok(None),
            r if r == pid => return Ok(Some((status, usage))),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

impl Ended {
    /// Maps how the child ended to the document's result.
    fn interpret(&self, limits: &ParseLimits) -> Result<ParsedDocument, ParseError> {
        let fail = |message: String| Err(ParseError::Parser(message));
        if self.response_too_large {
            return fail(format!(
                "the parser's answer was over {} bytes ({})",
                limits.max_response_bytes,
                Limit::MaxResponseBytes.key()
            ));
        }
        if self.timed_out {
            return fail(format!(
                "the parser did not finish in {} s ({})",
                limits.parse_timeout_secs,
                Limit::ParseTimeoutSecs.key()
            ));
        }
        let out_of_memory = || crate::parse::out_of_memory(limits).to_string();
        let out_of_cpu = || {
            format!(
                "the parser used more than {} s of CPU ({})",
                limits.parser_cpu_secs,
                Limit::ParserCpuSecs.key()
            )
        };
        let stderr = &self.stderr_tail;
        if libc::WIFSIGNALED(self.status) {
            let signal = libc::WTERMSIG(self.status);
            // Rust reports a failed allocation on stderr, then aborts.
            if stderr.contains("memory allocation of") {
                return fail(out_of_memory());
            }
            if stderr.contains("has overflowed its stack") {
                return fail("the parser crashed (stack overflow)".into());
            }
            if signal == libc::SIGXCPU
                || (signal == libc::SIGKILL && self.stats.cpu.as_secs() >= limits.parser_cpu_secs)
            {
                return fail(out_of_cpu());
            }
            return fail(format!(
                "the parser crashed (signal {signal}){}",
                last_line(stderr)
            ));
        }
        let code = libc::WEXITSTATUS(self.status);
        if stderr.contains("memory allocation of") {
            return fail(out_of_memory());
        }
        if code != 0 {
            return fail(format!(
                "the parser crashed (exit code {code}){}",
                last_line(stderr)
            ));
        }
        match decode_response(&self.stdout) {
            Ok(result) => result,
            Err(e) => fail(format!("the parser's answer is not a response ({e})")),
        }
    }
}

/// `": <last non-empty line of stderr>"`, cut to 300 characters, or nothing.
fn last_line(stderr: &str) -> String {
    // A panic's message is the line after "panicked at <file>:<line>:".
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let line = lines
        .iter()
        .position(|l| l.contains("panicked at"))
        .and_then(|i| lines.get(i + 1))
        .or(lines.last());
    match line {
        Some(line) => format!(": {}", line.chars().take(300).collect::<String>()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Format, Section};

    fn header() -> RequestHeader {
        RequestHeader {
            options: ParseOptions::default(),
            limits: ParseLimits::default(),
            file_name: Some("a.txt".into()),
            content_type: None,
        }
    }

    #[test]
    fn request_round_trip_and_truncation() {
        let frame = encode_request(&header(), b"\x00binary\xff");
        let request = decode_request(&frame).unwrap();
        assert_eq!(request.header, header());
        assert_eq!(request.bytes, b"\x00binary\xff");
        for cut in 0..frame.len() {
            assert!(decode_request(&frame[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = frame.clone();
        long.push(0);
        assert_eq!(decode_request(&long), Err(ProtocolError::TrailingBytes(1)));
    }

    #[test]
    fn huge_declared_lengths_allocate_nothing() {
        let mut frame = REQUEST_MAGIC.to_vec();
        frame.push(VERSION);
        frame.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            decode_request(&frame),
            Err(ProtocolError::HeaderTooLarge(u32::MAX))
        );
        let mut frame = encode_request(&header(), b"");
        let at = frame.len() - 8;
        frame[at..].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(decode_request(&frame), Err(ProtocolError::Truncated));
    }

    #[test]
    fn response_round_trip() {
        let ok: Result<ParsedDocument, ParseError> = Ok(ParsedDocument {
            title: Some("t".into()),
            format: Format::Text,
            structured: false,
            sections: vec![Section::new("x")],
        });
        assert_eq!(decode_response(&encode_response(&ok)).unwrap(), ok);
        let err = Err(ParseError::limit(
            "HTML nesting depth",
            Limit::MaxDepth,
            &ParseLimits::default(),
        ));
        assert_eq!(decode_response(&encode_response(&err)).unwrap(), err);
        assert_eq!(decode_response(b"garbage"), Err(ProtocolError::BadMagic));
    }
}
