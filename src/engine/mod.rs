//! The discrete-event core: simulated time, the event queue and random streams.
pub mod queue;
pub mod rng;
pub mod time;

pub use queue::EventQueue;
pub use time::{SimTime, NEVER};
