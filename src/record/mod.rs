//! CloudTrail records: unwrapping the input and reading what an Invoke record says.

mod capped;
mod change;
pub mod event;
mod fast;
mod input;
mod invocation;
mod read;
mod stream;
pub mod sweep_pair;

pub use change::{
    ADD_PERMISSION, ALIAS_EVENTS, CREATE_ALIAS, CREATE_FUNCTION_URL_CONFIG, DELETE_RESOURCE_POLICY,
    GuardIdentity, HUB_SESSION_NAME, POLICY_CHANGE_EVENTS, PUT_RESOURCE_POLICY, PolicyChange,
    REMOVE_PERMISSION, UPDATE_ALIAS, UPDATE_FUNCTION_URL_CONFIG, change, change_events,
    change_kind, event_time,
};
pub use fast::{NotTyped, read_typed};
pub use input::{
    FoundRecord, InputError, MAX_INPUT_BYTES, MAX_RECORD_BYTES, ReadOptions, records_in_value,
};
pub use invocation::{
    Caller, CallerKind, FunctionRef, Invocation, RecordError, invocation, is_refusal, ran_version,
};
pub use read::{for_each_record, parse_input, read_records};
