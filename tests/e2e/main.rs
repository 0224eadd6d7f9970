//! End-to-end tests: the real binaries, real pipes, the emulator on loopback.

mod audit;
mod changes;
mod common;
mod conntest;
mod credentials;
mod demo;
mod evidence;
mod export;
mod faults;
mod fleet;
mod front;
mod heal;
mod network;
mod perimeter;
mod proxy;
mod readme;
mod tampering;
mod text_output;
mod troubleshoot;
mod troubleshoot_callers;
mod troubleshoot_logs;
mod troubleshoot_partial;
mod verify;
mod watch;
mod window;
