//! Procedural macros for [TraceLite](https://docs.rs/tracelite).
//!
//! This crate is reserved for the `#[tracelite::trace]` attribute, which is
//! not implemented yet; it holds no public items so far. Depend on
//! `tracelite` rather than on this crate directly.
