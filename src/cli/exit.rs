/// Exit codes of the contract: 0 nothing to report, 1 violations or changes, 2 bad input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Findings = 1,
    BadInput = 2,
}

impl Exit {
    /// Bad input outweighs findings: a run that could not read everything never says "all clear"
    /// nor only "findings".
    pub fn of(bad_input: bool, findings: bool) -> Exit {
        if bad_input {
            Exit::BadInput
        } else if findings {
            Exit::Findings
        } else {
            Exit::Ok
        }
    }
}
