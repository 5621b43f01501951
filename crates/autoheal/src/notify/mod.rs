//! Notifications (issue 12): what people are told of ([`facts`]), written
//! to the store's outbox in the same unit of work as the state change that
//! causes them; which channels each goes to ([`routes`]), many that came
//! together told as one ([`group`]); the loops that
//! route and deliver them ([`worker`]), and when a delivery that failed is
//! tried again ([`schedule`]).

pub mod facts;
pub mod group;
pub mod limit;
pub mod routes;
pub mod schedule;
pub mod worker;

pub use routes::Routing;
pub use worker::Notifier;
