//! End-to-end tests: the real binaries, real pipes, the emulator on loopback.

mod common;
mod export;
mod front;
