//! Audit events and their canonical byte encoding.

use ring::digest::{self, SHA256};

use crate::hash::{LEAF_PREFIX, to_hash};
use crate::{AuditError, Hash};

/// Domain-separation prefix of the canonical encoding. The version lets the
/// format change later without any old encoding meaning something new, and
/// the NUL keeps it from being a prefix of some other text-based format.
const EVENT_DOMAIN: &[u8] = b"koban-audit-event/v1\0";

/// Length-prefix value that announces a following 64-bit length. Strings of
/// 4 GiB or more cannot occur in practice, but encoding them this way keeps
/// the encoding injective for every possible input without panicking.
const LONG_LENGTH_MARKER: u32 = u32::MAX;

/// One audited action.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEvent {
    /// Position (leaf index) in the log, from 0.
    pub seq: u64,
    /// UTC microseconds since the Unix epoch.
    pub time_us: i64,
    /// User id; `None` for an unknown user (failed logon) or the system.
    pub actor_id: Option<String>,
    /// Username as presented, or e.g. `"system:cli"`.
    pub actor_name: String,
    /// Comma-separated role names, may be empty.
    pub actor_roles: String,
    /// Organisation unit id of the actor.
    pub actor_unit: Option<String>,
    /// E.g. `"auth.login"`, `"user.create"`, `"org.read"`.
    pub action: String,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    /// Two-digit prefecture code of the data touched; `None` = national/none.
    pub scope_pref: Option<String>,
    pub purpose: Option<String>,
    /// `"success"`, `"failure"`, `"denied"`, `"not_found"` or `"invalid"`.
    pub result: String,
    /// JSON text with extra context (may be `"{}"`).
    pub detail: String,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
}

/// Destination of the canonical encoding, so that hashing can stream the
/// encoding straight into SHA-256 without building a buffer first.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for digest::Context {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

fn put_str(sink: &mut impl Sink, s: &str) {
    match u32::try_from(s.len()) {
        Ok(len) if len != LONG_LENGTH_MARKER => sink.put(&len.to_be_bytes()),
        _ => {
            sink.put(&LONG_LENGTH_MARKER.to_be_bytes());
            sink.put(&(s.len() as u64).to_be_bytes());
        }
    }
    sink.put(s.as_bytes());
}

fn put_opt(sink: &mut impl Sink, s: Option<&str>) {
    match s {
        None => sink.put(&[0]),
        Some(s) => {
            sink.put(&[1]);
            put_str(sink, s);
        }
    }
}

impl AuditEvent {
    fn encode(&self, sink: &mut impl Sink) {
        // The field order is part of the format and must never change within v1.
        sink.put(EVENT_DOMAIN);
        sink.put(&self.seq.to_be_bytes());
        sink.put(&self.time_us.to_be_bytes());
        put_opt(sink, self.actor_id.as_deref());
        put_str(sink, &self.actor_name);
        put_str(sink, &self.actor_roles);
        put_opt(sink, self.actor_unit.as_deref());
        put_str(sink, &self.action);
        put_opt(sink, self.object_type.as_deref());
        put_opt(sink, self.object_id.as_deref());
        put_opt(sink, self.scope_pref.as_deref());
        put_opt(sink, self.purpose.as_deref());
        put_str(sink, &self.result);
        put_str(sink, &self.detail);
        put_opt(sink, self.client_addr.as_deref());
        put_opt(sink, self.request_id.as_deref());
    }

    /// Unambiguous, versioned byte encoding of every field.
    ///
    /// Layout: the prefix `b"koban-audit-event/v1\0"`, then `seq` (u64) and
    /// `time_us` (i64) big-endian, then the string fields in declaration
    /// order. A string is a u32 big-endian byte length and its UTF-8 bytes (a
    /// length of `0xFFFF_FFFF` is followed by the real length as a u64, for
    /// strings of 4 GiB or more). An `Option` is a presence byte, 0 or 1,
    /// followed by the string when present. Every field's extent is thus
    /// self-delimiting, so two different events never encode the same;
    /// [`AuditEvent::from_canonical_bytes`] inverts it exactly.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.encode(&mut out);
        out
    }

    /// The event's Merkle leaf hash: `leaf_hash(&self.canonical_bytes())`,
    /// computed without materialising the encoding.
    pub fn leaf_hash(&self) -> Hash {
        let mut ctx = digest::Context::new(&SHA256);
        ctx.update(&[LEAF_PREFIX]);
        self.encode(&mut ctx);
        to_hash(ctx.finish())
    }

    /// Decodes [`AuditEvent::canonical_bytes`] output. Only canonical input
    /// is accepted (no trailing bytes, presence bytes 0 or 1, valid UTF-8,
    /// the long length form only for long strings).
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, AuditError> {
        let mut r = Reader { rest: bytes };
        if r.take(EVENT_DOMAIN.len())? != EVENT_DOMAIN {
            return Err(AuditError::InvalidEvent("missing or unknown format prefix"));
        }
        let ev = Self {
            seq: u64::from_be_bytes(r.array()?),
            time_us: i64::from_be_bytes(r.array()?),
            actor_id: r.opt()?,
            actor_name: r.string()?,
            actor_roles: r.string()?,
            actor_unit: r.opt()?,
            action: r.string()?,
            object_type: r.opt()?,
            object_id: r.opt()?,
            scope_pref: r.opt()?,
            purpose: r.opt()?,
            result: r.string()?,
            detail: r.string()?,
            client_addr: r.opt()?,
            request_id: r.opt()?,
        };
        if !r.rest.is_empty() {
            return Err(AuditError::InvalidEvent(
                "trailing bytes after the last field",
            ));
        }
        Ok(ev)
    }
}

/// Bounds-checked cursor over untrusted bytes.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], AuditError> {
        if n > self.rest.len() {
            return Err(AuditError::InvalidEvent("truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], AuditError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn string(&mut self) -> Result<String, AuditError> {
        let short = u32::from_be_bytes(self.array()?);
        let len = if short == LONG_LENGTH_MARKER {
            let long = u64::from_be_bytes(self.array()?);
            if long < u64::from(LONG_LENGTH_MARKER) {
                return Err(AuditError::InvalidEvent(
                    "long length form used for a short string",
                ));
            }
            usize::try_from(long).map_err(|_| AuditError::InvalidEvent("truncated"))?
        } else {
            short as usize
        };
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| AuditError::InvalidEvent("string is not valid UTF-8"))
    }

    fn opt(&mut self) -> Result<Option<String>, AuditError> {
        match self.take(1)? {
            [0] => Ok(None),
            [1] => Ok(Some(self.string()?)),
            _ => Err(AuditError::InvalidEvent("presence byte is neither 0 nor 1")),
        }
    }
}
