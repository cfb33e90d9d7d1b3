//! The test certificate authority and the webhook signing key.
//!
//! Partner Center signs each callback with RSASSA-PKCS1-v1_5 / SHA-256 and points at its
//! certificate in `x-ms-certificate-url`. Here a CA and a leaf certificate (both
//! `O=Microsoft Corporation`) are made with rcgen, signed with RSA keys from the `rsa` crate.
//! RSA key generation is slow, so the keys and certificates are made once per process and shared
//! by every simulator in it.

use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256,
};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::{Generate, PrivateKey};

/// The certificate's file name in `/cert/<name>.cer`.
pub const CERT_NAME: &str = "partner-center-webhooks";

/// The CA, the leaf certificate and the leaf's private key.
pub struct Signer {
    /// The CA certificate, PEM: the trust anchor an inbound verifier is given.
    pub ca_pem: String,
    /// The leaf certificate, DER: what `x-ms-certificate-url` serves.
    pub leaf_der: Vec<u8>,
    key: PrivateKey,
}

impl Signer {
    /// The process-wide signer, made on first use.
    pub fn get() -> &'static Signer {
        static SIGNER: OnceLock<Signer> = OnceLock::new();
        SIGNER.get_or_init(|| Signer::generate().expect("generate the test CA"))
    }

    fn generate() -> anyhow::Result<Signer> {
        let ca_key = rcgen_key(&PrivateKey::generate())?;
        let leaf_key = PrivateKey::generate();
        let leaf_rcgen = rcgen_key(&leaf_key)?;

        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name = name("Cosell Sim Partner Center Test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned()])?;
        leaf_params.distinguished_name = name("api.partnercenter.microsoft.com");
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        leaf_params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(365);
        let leaf_cert = leaf_params.signed_by(&leaf_rcgen, &issuer)?;

        Ok(Signer {
            ca_pem: ca_cert.pem(),
            leaf_der: leaf_cert.der().to_vec(),
            key: leaf_key,
        })
    }

    /// RSASSA-PKCS1-v1_5 / SHA-256 over `body`, base64 (standard alphabet, padded).
    pub fn sign(&self, body: &[u8]) -> String {
        use base64::Engine;
        let signature = self
            .key
            .pkcs1v15_sign::<Sha256>(body)
            .expect("an RSA key of default size signs a SHA-256 digest");
        base64::engine::general_purpose::STANDARD.encode(signature)
    }
}

fn name(common_name: &str) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Microsoft Corporation");
    dn.push(DnType::CommonName, common_name);
    dn
}

/// The `rsa` key handed to rcgen through PKCS#8 (rcgen signs with ring, which cannot generate RSA keys).
fn rcgen_key(key: &PrivateKey) -> anyhow::Result<KeyPair> {
    let pem = key.to_pkcs8_pem(LineEnding::LF)?;
    Ok(KeyPair::from_pkcs8_pem_and_sign_algo(
        &pem,
        &PKCS_RSA_SHA256,
    )?)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use rsa::sha2::Sha256;

    #[test]
    fn signature_verifies_with_the_leaf_key_and_only_over_the_same_bytes() {
        let signer = super::Signer::get();
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signer.sign(b"{\"EventName\":\"x\"}"))
            .unwrap();
        let public = signer.key.to_public_key();
        public
            .pkcs1v15_verify::<Sha256>(b"{\"EventName\":\"x\"}", &signature)
            .unwrap();
        assert!(
            public
                .pkcs1v15_verify::<Sha256>(b"{\"EventName\":\"y\"}", &signature)
                .is_err()
        );
        assert!(signer.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
