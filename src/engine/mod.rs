//! The discrete-event core: simulated time, the event queue and random streams.
pub mod fifo;
pub mod queue;
pub mod rng;
pub mod time;

pub use fifo::Fifo;
pub use queue::EventQueue;
pub use time::{SimTime, NEVER};
