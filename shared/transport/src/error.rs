use serde::Deserialize;

use crate::call::Call;

/// What a call to a service can end in, with the call named so a log line says where.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The service answered with a non-2xx status that retrying did not (or could not) fix.
    #[error("{service} {operation}: HTTP {status} {code}: {message}")]
    Service {
        service: &'static str,
        operation: &'static str,
        status: u16,
        /// The service's error code (`preconditionFailed`, `0x80040265`, `invalid_grant`…), or
        /// empty when the body had none.
        code: String,
        message: String,
    },
    /// No answer: timeouts or connection failures until the retry budget ran out, or a failure
    /// after the request may have been processed on a call that is not safe to repeat.
    #[error("{service} {operation}: no answer: {source}")]
    Transport {
        service: &'static str,
        operation: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// An answer that does not have the documented shape.
    #[error("{service} {operation}: unexpected answer: {detail}")]
    Decode {
        service: &'static str,
        operation: &'static str,
        detail: String,
    },
    #[error("HTTP client configuration: {0}")]
    Config(String),
    /// Not tried (again): the next attempt or wait would pass the invocation's deadline
    /// ([`crate::deadline`]). Nothing is wrong with the request; a later run may do it.
    #[error("{service} {operation}: out of time: {why} would pass this run's deadline")]
    OutOfTime {
        service: &'static str,
        operation: &'static str,
        /// What would have taken the time: "waiting 60 s after HTTP 429", "another attempt".
        why: String,
    },
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Service { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The service's own words, for a sentence in Audit.
    pub fn message(&self) -> Option<&str> {
        match self {
            ApiError::Service { message, .. } => Some(message),
            _ => None,
        }
    }

    /// A stale `If-Match`: re-read, merge, try again.
    pub fn is_precondition_failed(&self) -> bool {
        self.status() == Some(412)
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// The deadline came first ([`ApiError::OutOfTime`]).
    pub fn is_out_of_time(&self) -> bool {
        matches!(self, ApiError::OutOfTime { .. })
    }

    pub(crate) fn out_of_time(call: Call, why: impl Into<String>) -> Self {
        ApiError::OutOfTime {
            service: call.service,
            operation: call.operation,
            why: why.into(),
        }
    }

    pub(crate) fn decode(call: Call, detail: impl Into<String>) -> Self {
        ApiError::Decode {
            service: call.service,
            operation: call.operation,
            detail: detail.into(),
        }
    }

    pub(crate) fn from_body(call: Call, status: u16, body: &[u8]) -> Self {
        let (code, message) = error_fields(body);
        ApiError::Service {
            service: call.service,
            operation: call.operation,
            status,
            code,
            message,
        }
    }
}

/// Reads `{"error":{"code","message"}}` (Partner Center, Dataverse) or the OAuth shape
/// `{"error":"invalid_grant","error_description":…}` (Entra ID); anything else is kept as text.
fn error_fields(body: &[u8]) -> (String, String) {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Body {
        Api {
            error: Detail,
        },
        OAuth {
            error: String,
            error_description: Option<String>,
        },
    }
    #[derive(Deserialize)]
    struct Detail {
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(Body::Api { error }) => (
            error.code.unwrap_or_default(),
            error.message.unwrap_or_default(),
        ),
        Ok(Body::OAuth {
            error,
            error_description,
        }) => (error, error_description.unwrap_or_default()),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            (String::new(), text.chars().take(300).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_error_shapes_and_plain_text() {
        let api =
            br#"{"error":{"code":"preconditionFailed","message":"stale","target":"referral"}}"#;
        assert_eq!(
            error_fields(api),
            ("preconditionFailed".into(), "stale".into())
        );
        let oauth = br#"{"error":"invalid_grant","error_description":"AADSTS70000: revoked","error_codes":[70000]}"#;
        assert_eq!(
            error_fields(oauth),
            ("invalid_grant".into(), "AADSTS70000: revoked".into())
        );
        assert_eq!(
            error_fields(b"Bad Gateway"),
            (String::new(), "Bad Gateway".into())
        );
    }
}
