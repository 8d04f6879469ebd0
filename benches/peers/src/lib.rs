//! Holds only the `peers` benchmark; see `benches/peers.rs`.
