//! The three callback headers (names are case-insensitive: `HeaderMap` folds them).

use base64::Engine;
use http::HeaderMap;
use url::Url;

use super::rejection::Reason;

pub const CERTIFICATE_URL: &str = "x-ms-certificate-url";
pub const SIGNATURE_ALGORITHM: &str = "x-ms-signature-algorithm";
pub const MS_SIGNATURE: &str = "x-ms-signature";
/// The only algorithm Partner Center uses, and the only one accepted.
pub const RSA_SHA256: &str = "rsa-sha256";

/// The lengths of an RSA signature by a 2048- to 4096-bit key (the modulus length in bytes).
/// Partner Center's certificate key is RSA; a shorter key would not be trusted anyway.
const SIGNATURE_BYTES: std::ops::RangeInclusive<usize> = 256..=512;

/// What the headers say, decoded.
pub(crate) struct SignedHeaders {
    pub(crate) signature: Vec<u8>,
    pub(crate) certificate_url: Url,
}

impl SignedHeaders {
    /// The signature comes from `Authorization: Signature <base64>`, or, with
    /// `SignatureTokenToMsSignatureHeader`, from `x-ms-signature` (with or without the
    /// `Signature ` prefix).
    pub(crate) fn read(headers: &HeaderMap) -> Result<Self, Reason> {
        let signature = signature_text(headers)?;
        let certificate_url = text(headers, CERTIFICATE_URL)?;
        let algorithm = text(headers, SIGNATURE_ALGORITHM)?;
        if !algorithm.trim().eq_ignore_ascii_case(RSA_SHA256) {
            return Err(Reason::Algorithm);
        }
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .map_err(|_| Reason::SignatureEncoding)?;
        // An RSA signature is as long as the key's modulus: refused here, before any
        // certificate is fetched for it.
        if !SIGNATURE_BYTES.contains(&signature.len()) {
            return Err(Reason::SignatureLength(signature.len()));
        }
        let certificate_url =
            Url::parse(certificate_url.trim()).map_err(|_| Reason::CertUrlInvalid)?;
        Ok(SignedHeaders {
            signature,
            certificate_url,
        })
    }
}

fn text<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, Reason> {
    headers
        .get(name)
        .ok_or(Reason::MissingHeader(name))?
        .to_str()
        .map_err(|_| Reason::UnreadableHeader(name))
}

fn signature_text(headers: &HeaderMap) -> Result<&str, Reason> {
    if let Some(value) = headers.get(http::header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| Reason::UnreadableHeader("authorization"))?;
        if let Some(signature) = strip_scheme(value) {
            return Ok(signature);
        }
    }
    match headers.get(MS_SIGNATURE) {
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| Reason::UnreadableHeader(MS_SIGNATURE))?;
            Ok(strip_scheme(value).unwrap_or(value))
        }
        None => Err(Reason::MissingHeader(
            "authorization (Signature scheme) or x-ms-signature",
        )),
    }
}

/// The part after a case-insensitive `Signature ` scheme, if there is one.
fn strip_scheme(value: &str) -> Option<&str> {
    let value = value.trim_start();
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("signature").then_some(rest)
}
