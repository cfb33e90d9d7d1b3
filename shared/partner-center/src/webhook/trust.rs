//! The trust store and the certificate checks: the chain to a configured root (rustls-webpki
//! builds and checks the path, validity dates of every certificate included), the
//! organisation, and the RSASSA-PKCS1-v1_5 / SHA-256 signature over the body.

use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use time::OffsetDateTime;
use url::Url;
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter};
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::oid::db::rfc4519::ORGANIZATION_NAME;
use x509_cert::der::oid::db::rfc5280::ID_AD_CA_ISSUERS;
use x509_cert::ext::pkix::AuthorityInfoAccessSyntax;
use x509_cert::ext::pkix::name::{DirectoryString, GeneralName};
use x509_cert::name::Name;

use super::config::{ConfigError, TrustRoots};
use super::rejection::Reason;

/// The organisation the signing certificate's issuer must name: Microsoft's sample receiver checks
/// that the issuer contains `O=Microsoft Corporation`. The real certificate's subject is not
/// published, so it is not required (requiring it could refuse every genuine callback).
pub const MICROSOFT: &str = "Microsoft Corporation";

/// Microsoft's published root certificates, PEM: Microsoft RSA Root Certificate Authority 2017
/// and Microsoft ECC Root Certificate Authority 2017 ("Azure Certificate Authority details").
/// Compiled in so the default anchors do not depend on a web root programme listing them.
pub const MICROSOFT_ROOTS: &str = include_str!("microsoft_roots.pem");

/// The certificate a callback points at, decoded once and cached.
#[derive(Debug)]
pub(crate) struct SigningCert {
    leaf: CertificateDer<'static>,
    /// Candidate intermediates: served after the leaf in a PEM file, or fetched through AIA.
    extra: Vec<CertificateDer<'static>>,
    issuer_orgs: Vec<String>,
}

impl SigningCert {
    /// DER (one certificate) or PEM (the leaf first, then any intermediates).
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, Reason> {
        let mut certs = decode_all(bytes)?;
        let leaf = certs.remove(0);
        let parsed = Certificate::from_der(&leaf).map_err(|_| Reason::CertDecode)?;
        let tbs = parsed.tbs_certificate();
        Ok(SigningCert {
            issuer_orgs: organisations(tbs.issuer()),
            leaf,
            extra: certs,
        })
    }

    /// The last certificate of the chain so far: the one whose issuer is still to be found.
    pub(crate) fn last(&self) -> &CertificateDer<'static> {
        self.extra.last().unwrap_or(&self.leaf)
    }

    /// Adds issuing CA certificates found through Authority Information Access.
    pub(crate) fn add_intermediates(&mut self, certs: Vec<CertificateDer<'static>>) {
        self.extra.extend(certs);
    }
}

/// DER (one certificate) or PEM (any number).
pub(crate) fn decode_all(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, Reason> {
    let certs = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Reason::CertDecode)?
    } else {
        vec![CertificateDer::from(bytes.to_vec())]
    };
    for cert in &certs {
        Certificate::from_der(cert).map_err(|_| Reason::CertDecode)?;
    }
    if certs.is_empty() {
        return Err(Reason::CertDecode);
    }
    Ok(certs)
}

/// The first http(s) "CA Issuers" URL of a certificate's Authority Information Access
/// extension: where its issuer's certificate is published.
pub(crate) fn ca_issuer_url(cert: &CertificateDer<'_>) -> Option<Url> {
    let parsed = Certificate::from_der(cert).ok()?;
    let (_, access) = parsed
        .tbs_certificate()
        .get_extension::<AuthorityInfoAccessSyntax>()
        .ok()??;
    access
        .0
        .iter()
        .filter(|d| d.access_method == ID_AD_CA_ISSUERS)
        .find_map(|d| match &d.access_location {
            GeneralName::UniformResourceIdentifier(uri) => Url::parse(uri.as_str()).ok(),
            _ => None,
        })
        .filter(|url| matches!(url.scheme(), "http" | "https"))
}

/// Every O= value of a name (a name may carry several).
fn organisations(name: &Name) -> Vec<String> {
    name.iter()
        .filter(|atv| atv.oid == ORGANIZATION_NAME)
        .filter_map(|atv| DirectoryString::try_from(&atv.value).ok())
        .map(|s| s.value().into_owned())
        .collect()
}

/// The roots, their validity dates when known, and the intermediates from the bundle.
pub(crate) struct TrustStore {
    anchors: Vec<TrustAnchor<'static>>,
    /// Per anchor: `(not_before, not_after)` in Unix seconds, for roots from a PEM bundle.
    /// The built-in web roots come without dates (webpki-roots holds names and keys only).
    validity: Vec<Option<(u64, u64)>>,
    intermediates: Vec<CertificateDer<'static>>,
}

impl TrustStore {
    pub(crate) fn new(roots: &TrustRoots) -> Result<Self, ConfigError> {
        match roots {
            TrustRoots::Default => {
                let mut store = Self::from_pem(MICROSOFT_ROOTS.as_bytes())?;
                store
                    .anchors
                    .extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                store.validity.resize(store.anchors.len(), None);
                Ok(store)
            }
            TrustRoots::Pem(pem) => Self::from_pem(pem),
        }
    }

    fn from_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let bad = |detail: String| ConfigError::TrustRoots(detail);
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("not a PEM certificate bundle: {e}")))?;
        let mut store = TrustStore {
            anchors: Vec::new(),
            validity: Vec::new(),
            intermediates: Vec::new(),
        };
        for (index, der) in certs.into_iter().enumerate() {
            let cert = Certificate::from_der(&der)
                .map_err(|e| bad(format!("certificate #{} does not parse: {e}", index + 1)))?;
            let tbs = cert.tbs_certificate();
            if tbs.subject() != tbs.issuer() {
                store.intermediates.push(der);
                continue;
            }
            let anchor = webpki::anchor_from_trusted_cert(&der)
                .map_err(|e| {
                    bad(format!(
                        "certificate #{} is not a usable root: {e}",
                        index + 1
                    ))
                })?
                .to_owned();
            let validity = tbs.validity();
            store.anchors.push(anchor);
            store.validity.push(Some((
                validity.not_before.to_unix_duration().as_secs(),
                validity.not_after.to_unix_duration().as_secs(),
            )));
        }
        if store.anchors.is_empty() {
            return Err(bad(
                "the bundle holds no self-signed (root) certificate".into()
            ));
        }
        Ok(store)
    }

    /// Chain, dates and organisation, then the signature over `body`.
    pub(crate) fn verify(
        &self,
        cert: &SigningCert,
        body: &[u8],
        signature: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), Reason> {
        self.chain(cert, now)?;
        if !cert.issuer_orgs.iter().any(|o| o == MICROSOFT) {
            return Err(Reason::Organisation("issuer"));
        }
        let leaf = EndEntityCert::try_from(&cert.leaf).map_err(|_| Reason::CertDecode)?;
        leaf.verify_signature(
            webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
            body,
            signature,
        )
        .map_err(|_| Reason::Signature)
    }

    /// A path from the leaf to a root, every certificate in it within its dates at `now`.
    pub(crate) fn chain(&self, cert: &SigningCert, now: OffsetDateTime) -> Result<(), Reason> {
        let seconds = u64::try_from(now.unix_timestamp()).map_err(|_| Reason::CertNotYetValid)?;
        let time = UnixTime::since_unix_epoch(Duration::from_secs(seconds));
        let leaf = EndEntityCert::try_from(&cert.leaf).map_err(|_| Reason::CertDecode)?;
        let mut intermediates = self.intermediates.clone();
        intermediates.extend(cert.extra.iter().cloned());
        let path = leaf
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &self.anchors,
                &intermediates,
                time,
                AnyPurpose,
                None,
                None,
            )
            .map_err(chain_reason)?;
        let anchor = self
            .anchors
            .iter()
            .position(|a| std::ptr::eq(a, path.anchor()));
        if let Some(Some((not_before, not_after))) = anchor.map(|i| self.validity[i])
            && !(not_before..=not_after).contains(&seconds)
        {
            return Err(Reason::RootOutOfDate);
        }
        Ok(())
    }
}

fn chain_reason(error: webpki::Error) -> Reason {
    match error {
        webpki::Error::CertExpired { .. } => Reason::CertExpired,
        webpki::Error::CertNotValidYet { .. } => Reason::CertNotYetValid,
        webpki::Error::UnknownIssuer => Reason::CertUntrusted,
        other => Reason::CertChain(format!("{other:?}")),
    }
}

/// Accepts any extended key usage, or none. The webhook certificate is not a TLS certificate:
/// like Microsoft's sample receiver (which builds the chain with the default policy), no
/// particular purpose is required of it; the EKU extension must still be well-formed.
struct AnyPurpose;

impl ExtendedKeyUsageValidator for AnyPurpose {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for purpose in iter {
            purpose?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    /// The roots' SHA-256 fingerprints as Microsoft publishes them (learn.microsoft.com,
    /// "Azure Certificate Authority details", Root Certificate Authorities).
    const PUBLISHED: [(&str, &str); 2] = [
        (
            "Microsoft RSA Root Certificate Authority 2017",
            "C741F70F4B2A8D88BF2E71C14122EF53EF10EBA0CFA5E64CFA20F418853073E0",
        ),
        (
            "Microsoft ECC Root Certificate Authority 2017",
            "358DF39D764AF9E1B766E9C972DF352EE15CFAC227AF6AD1D70E8E4A6EDCBA02",
        ),
    ];

    fn compiled_in() -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(MICROSOFT_ROOTS.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn the_compiled_in_roots_are_microsoft_s_published_ones() {
        let certs = compiled_in();
        assert_eq!(certs.len(), PUBLISHED.len());
        for (der, (name, fingerprint)) in certs.iter().zip(PUBLISHED) {
            let digest: String = Sha256::digest(der)
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect();
            assert_eq!(digest, fingerprint, "{name}");
            let cert = Certificate::from_der(der).unwrap();
            let subject = cert.tbs_certificate().subject().to_string();
            assert!(subject.contains(name), "{subject}");
            assert_eq!(organisations(cert.tbs_certificate().subject()), [MICROSOFT]);
        }
    }

    #[test]
    fn the_default_anchors_hold_them_beside_the_public_web_roots() {
        let store = TrustStore::new(&TrustRoots::Default).unwrap();
        let web = webpki_roots::TLS_SERVER_ROOTS.len();
        assert_eq!(store.anchors.len(), web + PUBLISHED.len());
        assert_eq!(store.validity.len(), store.anchors.len());
        for der in compiled_in() {
            let anchor = webpki::anchor_from_trusted_cert(&der).unwrap();
            assert!(
                store
                    .anchors
                    .iter()
                    .any(|a| a.subject_public_key_info == anchor.subject_public_key_info),
                "{:?}",
                anchor.subject
            );
        }
        assert!(
            store.validity[..PUBLISHED.len()]
                .iter()
                .all(Option::is_some),
            "the compiled-in roots' dates are checked"
        );
    }
}
