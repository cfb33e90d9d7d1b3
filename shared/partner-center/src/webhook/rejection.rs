//! Why a callback was refused, in words safe to log: never a header value, never the body.

/// A refused callback: the HTTP status to answer and a one-line reason for the log.
///
/// `status` is 413 for an oversized body, 400 for a body whose signature verified but which is
/// not a webhook envelope (the sender is authentic, the content is not understood), and 401 for
/// everything else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook rejected ({status}): {reason}")]
pub struct Rejection {
    pub status: u16,
    pub reason: String,
}

/// The checks' failures; each becomes a [`Rejection`] with its status.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Reason {
    #[error("body of {size} bytes is over the {max}-byte limit")]
    BodyTooLarge { size: usize, max: usize },
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("header {0} is not visible ASCII")]
    UnreadableHeader(&'static str),
    #[error("signature is not valid base64")]
    SignatureEncoding,
    #[error("signature of {0} bytes is not an RSA signature of a 2048- to 4096-bit key")]
    SignatureLength(usize),
    #[error("certificate fetches from this host are over {0} a minute: refused until it slows")]
    CertFetchRate(usize),
    #[error("unsupported x-ms-signature-algorithm (only rsa-sha256 is accepted)")]
    Algorithm,
    #[error("x-ms-certificate-url is not an absolute URL")]
    CertUrlInvalid,
    #[error("x-ms-certificate-url carries credentials")]
    CertUrlCredentials,
    #[error(
        "x-ms-certificate-url must use https (plain http only for allow-listed loopback hosts)"
    )]
    CertUrlScheme,
    #[error("certificate host is not in COSELL_WEBHOOK_CERT_HOSTS")]
    CertHostNotAllowed,
    #[error("certificate fetch failed: {0}")]
    CertFetch(String),
    #[error("certificate is not an X.509 certificate in DER or PEM")]
    CertDecode,
    #[error("certificate expired")]
    CertExpired,
    #[error("certificate not yet valid")]
    CertNotYetValid,
    #[error("certificate does not chain to a configured trust root")]
    CertUntrusted,
    #[error("certificate chain invalid: {0}")]
    CertChain(String),
    #[error("trust root certificate is outside its validity dates")]
    RootOutOfDate,
    #[error("certificate {0} organisation is not Microsoft Corporation")]
    Organisation(&'static str),
    #[error("signature does not verify over the body with the certificate's key")]
    Signature,
    #[error("verified body is not a webhook envelope ({0})")]
    Envelope(String),
}

impl Reason {
    pub(crate) fn status(&self) -> u16 {
        match self {
            Reason::BodyTooLarge { .. } => 413,
            Reason::Envelope(_) => 400,
            _ => 401,
        }
    }
}

impl From<Reason> for Rejection {
    fn from(reason: Reason) -> Self {
        Rejection {
            status: reason.status(),
            reason: reason.to_string(),
        }
    }
}
