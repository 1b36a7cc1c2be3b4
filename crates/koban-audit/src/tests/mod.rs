//! Tests for the whole crate. The reference implementations in `naive` are
//! written straight from the RFC text, deliberately without sharing any code
//! with the crate, so that agreement between the two means something.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod checkpoint;
mod event;
mod naive;
mod perf;
mod props;
mod rfc;
mod verifier;
