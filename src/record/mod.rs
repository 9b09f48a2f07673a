//! CloudTrail records: unwrapping the input and reading what an Invoke record says.

mod change;
mod input;
mod invocation;

pub use change::{
    CHANGE_EVENTS, Change, GuardIdentity, HUB_SESSION_NAME, change, change_kind, event_time,
};
pub use input::{
    FoundRecord, InputError, MAX_INPUT_BYTES, for_each_record, parse_input, records_in_value,
};
pub use invocation::{
    Caller, CallerKind, FunctionRef, Invocation, RecordError, invocation, ran_version,
};
