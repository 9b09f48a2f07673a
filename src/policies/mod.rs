//! The policies file: who may invoke each guarded function.

pub mod ids;
mod load;
mod model;

pub use load::{MAX_POLICIES_BYTES, Policies, PolicyError, Warning};
pub use model::{
    AllowEntry, Apply, Defaults, FunctionPolicy, FunctionUrlAccess, Grant, InvokeAction, Mode,
    PoliciesFile,
};

/// The JSON Schema of the policies file, generated from the Rust types.
pub fn json_schema() -> schemars::Schema {
    schemars::schema_for!(PoliciesFile)
}
