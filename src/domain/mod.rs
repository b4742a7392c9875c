//! Plain operations and chat types with their rules. No I/O lives here.

mod chat;
mod ops;

pub use chat::*;
pub use ops::*;
