//! CloudTrail records: unwrapping the input and reading what an Invoke record says.

mod capped;
mod change;
pub mod event;
mod fast;
mod input;
mod invocation;
mod read;
mod stream;

pub use change::{
    CHANGE_EVENTS, GuardIdentity, HUB_SESSION_NAME, PolicyChange, change, change_kind, event_time,
};
pub use fast::{NotTyped, read_typed};
pub use input::{
    FoundRecord, InputError, MAX_INPUT_BYTES, MAX_RECORD_BYTES, ReadOptions, records_in_value,
};
pub use invocation::{
    Caller, CallerKind, FunctionRef, Invocation, RecordError, invocation, is_refusal, ran_version,
};
pub use read::{for_each_record, parse_input, read_records};
