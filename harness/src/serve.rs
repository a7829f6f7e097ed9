//! A resident engine: `crib serve --socket PATH` keeps the engines open
//! (BPF programs loaded and verified once) and answers dump requests, the
//! way CRIU is used as a service. docs/serve.md is the protocol.
//!
//! - Transport: a unix stream socket, mode 0600; a peer whose uid is not 0
//!   (SO_PEERCRED) gets an error reply and the connection is closed.
//! - Frames: `length u32 LE | bytes`. A request is one JSON frame
//!   ([`Request`]); the reply is one JSON frame ([`Response`]) and, when
//!   `ok`, one frame with the dump as a crib image (`crib.img` bytes).
//! - Errors are values: a malformed or failing request gets `ok: false`
//!   with the reason, and the server goes on; a connection can carry many
//!   requests, one after the other.
//! - One request at a time, in arrival order; waiting connections queue in
//!   the kernel's listen backlog ([`BACKLOG`]).

use crate::dump::{dump_in, DumpRequest};
use crate::engine::{EngineChoice, EngineSet, KernelFeatures};
use crate::model::Operation;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// Protocol version of [`Request`] and [`Response`].
pub const PROTOCOL_VERSION: u32 = 1;
/// The largest request frame the server reads.
pub const MAX_REQUEST: u32 = 1 << 20;
/// Connections waiting while one is served.
pub const BACKLOG: i32 = 16;

/// `{"version": 1, "op": "dump", "pid": 1234, "engine": "auto", "only": ["files"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub version: u32,
    /// `dump` or `ping`.
    pub op: String,
    #[serde(default)]
    pub pid: i32,
    /// `auto` (default), `crib`, `upstream` or `procfs`.
    #[serde(default)]
    pub engine: Option<String>,
    /// Subset of `files`, `mm`, `sockets`, `queues` (default: all).
    #[serde(default)]
    pub only: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub version: u32,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Bytes of the image frame that follows (`ok` dumps only).
    #[serde(default)]
    pub image_len: u64,
    /// (operation, engine) pairs of the dump.
    #[serde(default)]
    pub engines: Vec<(String, String)>,
    #[serde(default)]
    pub notes: Vec<String>,
    /// Requests served before this one since the server started.
    #[serde(default)]
    pub served: u64,
}

impl Response {
    fn error(served: u64, e: impl Into<String>) -> Response {
        Response {
            version: PROTOCOL_VERSION,
            ok: false,
            error: Some(e.into()),
            image_len: 0,
            engines: Vec::new(),
            notes: Vec::new(),
            served,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("{0}")]
    Protocol(String),
}

pub fn write_frame(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    let len =
        u32::try_from(bytes.len()).map_err(|_| std::io::Error::other("frame larger than 4 GiB"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(bytes)?;
    w.flush()
}

/// One frame of at most `max` bytes; `Ok(None)` at a clean end of stream.
pub fn read_frame(r: &mut impl Read, max: u32) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len);
    if len > max {
        return Err(std::io::Error::other(format!(
            "frame of {len} bytes, at most {max} taken"
        )));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)?;
    Ok(Some(buf))
}

/// Only root may use the server (it reads any process's state).
pub fn authorize(uid: u32) -> Result<(), String> {
    if uid == 0 {
        Ok(())
    } else {
        Err(format!("uid {uid} may not use crib serve: root only"))
    }
}

fn peer_uid(s: &UnixStream) -> std::io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred and len are valid for the call on a connected socket.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

fn ops(only: &[String]) -> Result<Vec<Operation>, String> {
    if only.is_empty() {
        return Ok(Operation::ALL.to_vec());
    }
    let mut v = vec![Operation::Task];
    for o in only {
        match Operation::parse(o) {
            Some(Operation::Task) | None => {
                return Err(format!(
                    "only: {o:?}: expected files, mm, sockets or queues"
                ))
            }
            Some(op) => v.push(op),
        }
    }
    Ok(v)
}

/// The server: a listening socket and engines kept open between requests.
pub struct Server {
    listener: UnixListener,
    set: EngineSet,
    features: KernelFeatures,
    served: u64,
}

impl Server {
    /// Listen on `path` (a stale socket file there is replaced; any other
    /// file is an error), mode 0600, backlog [`BACKLOG`].
    pub fn bind(path: &Path) -> Result<Server, ServeError> {
        use std::os::unix::fs::FileTypeExt;
        let io = |cause| ServeError::Io {
            path: path.display().to_string(),
            cause,
        };
        if let Ok(m) = std::fs::symlink_metadata(path) {
            if !m.file_type().is_socket() {
                return Err(ServeError::Protocol(format!(
                    "{}: exists and is not a socket",
                    path.display()
                )));
            }
            std::fs::remove_file(path).map_err(io)?;
        }
        let listener = {
            let l = UnixListener::bind(path).map_err(io)?;
            // A smaller, explicit backlog than std's: the bounded queue.
            // SAFETY: listen() on our listening socket.
            if unsafe { libc::listen(l.as_raw_fd(), BACKLOG) } != 0 {
                return Err(io(std::io::Error::last_os_error()));
            }
            l
        };
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        Ok(Server {
            listener,
            set: EngineSet::default(),
            features: KernelFeatures::detect(),
            served: 0,
        })
    }

    /// Accept one connection and serve it to its end.
    pub fn run_one(&mut self) -> Result<(), ServeError> {
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    self.connection(s);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ServeError::Io {
                        path: "accept".into(),
                        cause: e,
                    })
                }
            }
        }
    }

    /// Serve connections until `stop` is set (checked between them).
    pub fn run(&mut self, stop: &std::sync::atomic::AtomicBool) -> Result<(), ServeError> {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match self.listener.accept() {
                Ok((s, _)) => self.connection(s),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ServeError::Io {
                        path: "accept".into(),
                        cause: e,
                    })
                }
            }
        }
        Ok(())
    }

    /// Serve one connection: its requests, one after the other.
    pub fn connection(&mut self, mut s: UnixStream) {
        match peer_uid(&s).map_err(|e| e.to_string()).and_then(authorize) {
            Ok(()) => {}
            Err(why) => {
                let _ = reply(&mut s, &Response::error(self.served, why), None);
                return;
            }
        }
        loop {
            let frame = match read_frame(&mut s, MAX_REQUEST) {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => {
                    let _ = reply(&mut s, &Response::error(self.served, e.to_string()), None);
                    return;
                }
            };
            let (resp, image) = self.handle(&frame);
            self.served += 1;
            if reply(&mut s, &resp, image.as_deref()).is_err() {
                return;
            }
        }
    }

    fn handle(&mut self, frame: &[u8]) -> (Response, Option<Vec<u8>>) {
        let served = self.served;
        let req: Request = match serde_json::from_slice(frame) {
            Ok(r) => r,
            Err(e) => return (Response::error(served, format!("bad request: {e}")), None),
        };
        if req.version != PROTOCOL_VERSION {
            return (
                Response::error(
                    served,
                    format!(
                        "request version {}; this server speaks {PROTOCOL_VERSION}",
                        req.version
                    ),
                ),
                None,
            );
        }
        match req.op.as_str() {
            "ping" => (
                Response {
                    version: PROTOCOL_VERSION,
                    ok: true,
                    error: None,
                    image_len: 0,
                    engines: Vec::new(),
                    notes: Vec::new(),
                    served,
                },
                None,
            ),
            "dump" => {
                let engine = match EngineChoice::parse(req.engine.as_deref().unwrap_or("auto")) {
                    Some(e) => e,
                    None => {
                        return (
                            Response::error(
                                served,
                                "engine: expected auto, crib, upstream or procfs",
                            ),
                            None,
                        )
                    }
                };
                let ops = match ops(&req.only) {
                    Ok(o) => o,
                    Err(e) => return (Response::error(served, e), None),
                };
                let dr = DumpRequest {
                    pid: req.pid,
                    engine,
                    ops,
                };
                match dump_in(&dr, &self.features, &mut self.set) {
                    Ok(d) => {
                        let image = crate::image::encode(&d);
                        (
                            Response {
                                version: PROTOCOL_VERSION,
                                ok: true,
                                error: None,
                                image_len: image.len() as u64,
                                engines: d
                                    .info
                                    .engines
                                    .iter()
                                    .map(|(o, e)| (o.name().to_string(), e.clone()))
                                    .collect(),
                                notes: d.info.notes.clone(),
                                served,
                            },
                            Some(image),
                        )
                    }
                    Err(e) => (
                        Response::error(served, format!("dump of pid {}: {e}", req.pid)),
                        None,
                    ),
                }
            }
            other => (
                Response::error(served, format!("unknown op {other:?} (dump, ping)")),
                None,
            ),
        }
    }
}

fn reply(s: &mut UnixStream, r: &Response, image: Option<&[u8]>) -> std::io::Result<()> {
    let json = serde_json::to_vec(r).map_err(std::io::Error::other)?;
    write_frame(s, &json)?;
    if let Some(img) = image {
        write_frame(s, img)?;
    }
    Ok(())
}

/// A client connection (`crib dump --server PATH`).
pub struct Client {
    s: UnixStream,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Client, ServeError> {
        let s = UnixStream::connect(path).map_err(|cause| ServeError::Io {
            path: path.display().to_string(),
            cause,
        })?;
        Ok(Client { s })
    }

    /// Send `req`; the reply and, for a successful dump, the image bytes.
    pub fn call(&mut self, req: &Request) -> Result<(Response, Option<Vec<u8>>), ServeError> {
        let p = |e: std::io::Error| ServeError::Protocol(format!("crib serve: {e}"));
        let json = serde_json::to_vec(req).map_err(|e| ServeError::Protocol(e.to_string()))?;
        write_frame(&mut self.s, &json).map_err(p)?;
        let frame = read_frame(&mut self.s, u32::MAX)
            .map_err(p)?
            .ok_or_else(|| ServeError::Protocol("crib serve closed the connection".into()))?;
        let resp: Response = serde_json::from_slice(&frame)
            .map_err(|e| ServeError::Protocol(format!("bad reply: {e}")))?;
        if !resp.ok || resp.image_len == 0 {
            return Ok((resp, None));
        }
        let img = read_frame(&mut self.s, u32::MAX)
            .map_err(p)?
            .ok_or_else(|| ServeError::Protocol("the image frame is missing".into()))?;
        if img.len() as u64 != resp.image_len {
            return Err(ServeError::Protocol(format!(
                "image of {} bytes, the reply said {}",
                img.len(),
                resp.image_len
            )));
        }
        Ok((resp, Some(img)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_root_is_served() {
        assert!(authorize(0).is_ok());
        assert!(authorize(1000).expect_err("uid 1000").contains("root only"));
    }

    #[test]
    fn frames_round_trip_and_oversize_is_an_error() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"hello").expect("write");
        let mut r = buf.as_slice();
        assert_eq!(
            read_frame(&mut r, 10).expect("read").as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(read_frame(&mut r, 10).expect("eof"), None);
        let mut r = buf.as_slice();
        assert!(read_frame(&mut r, 3).is_err());
    }

    proptest! {
        #[test]
        fn any_request_bytes_get_a_reply_value(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            // The parser never panics; errors are values.
            let _ = serde_json::from_slice::<Request>(&bytes);
        }
    }
}
