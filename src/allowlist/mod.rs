//! The allowlist: the policies file, saying who may invoke each guarded function. ("Policy"
//! alone always means the AWS resource policy.)

mod load;
mod model;

pub use load::{Allowlist, AllowlistError, MAX_POLICIES_BYTES, Warning};
pub use model::{
    AllowEntry, Apply, Defaults, FunctionUrlAccess, Grant, GuardedFunction, InvokeAction, Mode,
    PoliciesFile, ServiceGrant,
};

/// The JSON Schema of the policies file, generated from the Rust types.
pub fn json_schema() -> schemars::Schema {
    schemars::schema_for!(PoliciesFile)
}
