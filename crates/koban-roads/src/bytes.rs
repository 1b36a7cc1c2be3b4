//! Little-endian encoding helpers for the serialised graph and index.
//!
//! Every read is length-checked and every count is checked against the bytes that remain
//! before anything is allocated, so hostile input yields an error, never a panic or a huge
//! allocation.

use crate::RoadError;

/// FNV-1a over a byte slice; a cheap check that a stored index was not truncated or
/// altered by accident (it is not a defence against deliberate tampering).
pub(crate) fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_f32(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Wraps a payload with magic, version, length and checksum.
pub(crate) fn seal(magic: &[u8; 8], version: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 28);
    out.extend_from_slice(magic);
    put_u32(&mut out, version);
    put_u64(&mut out, payload.len() as u64);
    put_u64(&mut out, fnv1a64(payload));
    out.extend_from_slice(payload);
    out
}

/// Checks magic, version, length and checksum and returns the payload.
pub(crate) fn unseal<'a>(
    magic: &[u8; 8],
    version: u32,
    data: &'a [u8],
) -> Result<&'a [u8], RoadError> {
    let mut r = ByteReader::new(data);
    let m = r.take(8)?;
    if m != magic {
        return Err(RoadError::Format("wrong magic bytes".into()));
    }
    let v = r.u32()?;
    if v != version {
        return Err(RoadError::Format(format!(
            "version {v} is not the supported version {version}"
        )));
    }
    let len = r.u64()?;
    let sum = r.u64()?;
    if len != r.remaining() as u64 {
        return Err(RoadError::Format(format!(
            "payload length {len} but {} bytes follow",
            r.remaining()
        )));
    }
    let payload = r.take(r.remaining())?;
    if fnv1a64(payload) != sum {
        return Err(RoadError::Format("checksum mismatch".into()));
    }
    Ok(payload)
}

/// A cursor over bytes whose reads fail cleanly at the end.
pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> ByteReader<'a> {
        ByteReader { data, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], RoadError> {
        if n > self.remaining() {
            return Err(RoadError::Format("unexpected end of data".into()));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RoadError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, RoadError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, RoadError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, RoadError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    pub(crate) fn f32(&mut self) -> Result<f32, RoadError> {
        Ok(f32::from_le_bytes(self.array()?))
    }

    pub(crate) fn f64(&mut self) -> Result<f64, RoadError> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// Reads a count of records of `record_bytes` each, refusing counts the remaining
    /// bytes cannot hold (so a corrupt count never triggers a huge allocation).
    pub(crate) fn count(&mut self, record_bytes: usize) -> Result<usize, RoadError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(record_bytes) > self.remaining() {
            return Err(RoadError::Format(format!(
                "count {n} exceeds the remaining data"
            )));
        }
        Ok(n)
    }

    pub(crate) fn finish(&self) -> Result<(), RoadError> {
        if self.remaining() != 0 {
            return Err(RoadError::Format(format!(
                "{} trailing bytes",
                self.remaining()
            )));
        }
        Ok(())
    }
}
