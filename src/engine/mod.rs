//! The discrete-event core: simulated time, the event queue and random streams.
//!
//! May use nothing else of the crate: everything builds on it (see tests/it/layers.rs).
pub mod fifo;
pub mod prefetch;
pub mod queue;
pub mod rng;
pub mod time;

pub use fifo::Fifo;
pub use queue::EventQueue;
pub use time::{SimTime, NEVER};
