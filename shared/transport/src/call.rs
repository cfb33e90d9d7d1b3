//! [`Call`]: what an error or a log line names a request by.

/// One logical operation, named for errors and logs. `idempotent` says whether repeating it is
/// harmless when we cannot tell if the first try reached the service (a timeout, a connection
/// dropped after the request was written): reads and conditional writes are, a plain POST is not.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pub service: &'static str,
    pub operation: &'static str,
    pub idempotent: bool,
}
