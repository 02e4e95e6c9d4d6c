//! The agent as a service (`restoreproof run`). For now: when each drill
//! runs ([`schedule`]); the loop that runs drills on their schedules builds on
//! it.

pub mod schedule;
pub mod scheduler;
