//! Sigma documents in, typed model out (placeholder until the parser lands).
#![deny(missing_docs)]
pub mod ast;
