//! [`VerifierConfig`]: which hosts may serve the signing certificate, which roots it must chain
//! to, and how large a body may be. Read from `COSELL_WEBHOOK_CERT_HOSTS` and
//! `COSELL_WEBHOOK_TRUST_ROOTS`.

use std::net::Ipv6Addr;

use url::{Host, Url};

/// The host Microsoft's samples fetch the signing certificate from.
pub const DEFAULT_CERT_HOST: &str = "3psostorageacct.blob.core.windows.net";
/// Bodies above this many bytes are refused with 413; a real envelope is a few hundred bytes.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

pub const ENV_CERT_HOSTS: &str = "COSELL_WEBHOOK_CERT_HOSTS";
pub const ENV_TRUST_ROOTS: &str = "COSELL_WEBHOOK_TRUST_ROOTS";

#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// `host` or `host:port` entries. An entry without a port matches the scheme's default port
    /// only. Plain http is accepted only for loopback hosts (the sandbox and simulator).
    pub cert_hosts: Vec<String>,
    pub trust_roots: TrustRoots,
    pub max_body: usize,
}

/// What the signing certificate must chain to.
#[derive(Debug, Clone)]
pub enum TrustRoots {
    /// Microsoft's published roots, compiled in ([`super::trust::MICROSOFT_ROOTS`]: Microsoft
    /// RSA and ECC Root Certificate Authority 2017), beside the Mozilla root programme's (the
    /// `webpki-roots` crate) — whichever a signing certificate chains to.
    Default,
    /// A PEM bundle: its self-signed certificates are the roots, the others serve as
    /// intermediates (e.g. Microsoft's issuing CA, which the signing certificate URL does not
    /// serve alongside the leaf).
    Pem(Vec<u8>),
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{ENV_CERT_HOSTS}: entry {entry:?} is not host or host:port: {detail}")]
    CertHost { entry: String, detail: String },
    #[error("{ENV_CERT_HOSTS}: no host listed")]
    NoCertHosts,
    #[error("{ENV_TRUST_ROOTS}: cannot read {path}: {source}")]
    TrustRootsFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("webhook trust roots: {0}")]
    TrustRoots(String),
    #[error("webhook max body must be at least 1 byte")]
    MaxBody,
    #[error("webhook certificate HTTP client: {0}")]
    Http(String),
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            cert_hosts: vec![DEFAULT_CERT_HOST.to_owned()],
            trust_roots: TrustRoots::Default,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

impl VerifierConfig {
    /// Reads the settings through `lookup` (e.g. `|k| std::env::var(k).ok()`). A blank value
    /// counts as unset. The host list is checked here so a typo fails at start.
    pub fn from_env_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        let mut config = VerifierConfig::default();
        if let Some(hosts) = set(ENV_CERT_HOSTS) {
            config.cert_hosts = hosts
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(path) = set(ENV_TRUST_ROOTS) {
            let path = path.trim().to_owned();
            let pem = std::fs::read(&path)
                .map_err(|source| ConfigError::TrustRootsFile { path, source })?;
            config.trust_roots = TrustRoots::Pem(pem);
        }
        parse_hosts(&config.cert_hosts)?;
        Ok(config)
    }
}

/// One allow-list entry: a host, and a port unless the scheme's default is meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AllowedHost {
    host: Host<String>,
    port: Option<u16>,
}

impl AllowedHost {
    pub(crate) fn parse(entry: &str) -> Result<Self, ConfigError> {
        let bad = |detail: &str| ConfigError::CertHost {
            entry: entry.to_owned(),
            detail: detail.to_owned(),
        };
        let entry = entry.trim();
        if entry.is_empty()
            || entry.contains(['/', '@', '?', '#'])
            || entry.contains(char::is_whitespace)
        {
            return Err(bad(
                "expected host[:port] without scheme, path or credentials",
            ));
        }
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let ip: Ipv6Addr = inside.parse().map_err(|_| bad("not an IPv6 address"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
            };
            (Host::Ipv6(ip), port)
        } else {
            let (name, port) = match entry.split_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (entry, None),
            };
            let host = Host::parse(name).map_err(|e| bad(&e.to_string()))?;
            (host, port)
        };
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| bad("port is not a number 0-65535"))
            })
            .transpose()?;
        Ok(AllowedHost { host, port })
    }

    /// Whether `url`'s host and port are this entry's.
    pub(crate) fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host() else {
            return false;
        };
        if host.to_owned() != self.host {
            return false;
        }
        match self.port {
            None => url.port().is_none(),
            Some(port) => url.port_or_known_default() == Some(port),
        }
    }
}

pub(crate) fn parse_hosts(entries: &[String]) -> Result<Vec<AllowedHost>, ConfigError> {
    let hosts = entries
        .iter()
        .map(|e| AllowedHost::parse(e))
        .collect::<Result<Vec<_>, _>>()?;
    if hosts.is_empty() {
        return Err(ConfigError::NoCertHosts);
    }
    Ok(hosts)
}

/// `localhost`, 127.0.0.0/8 or ::1: the only hosts a certificate may come from over plain http.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn entries_match_host_and_port() {
        let plain = AllowedHost::parse("3PSOstorageacct.blob.core.windows.net").unwrap();
        assert!(plain.matches(&url(
            "https://3psostorageacct.blob.core.windows.net/cert/a.cer"
        )));
        assert!(plain.matches(&url("https://3psostorageacct.blob.core.windows.net:443/c")));
        assert!(!plain.matches(&url("https://3psostorageacct.blob.core.windows.net:8443/c")));
        assert!(!plain.matches(&url("https://evil.blob.core.windows.net/c")));
        assert!(!plain.matches(&url(
            "https://3psostorageacct.blob.core.windows.net.evil.com/c"
        )));

        let with_port = AllowedHost::parse("127.0.0.1:4000").unwrap();
        assert!(with_port.matches(&url("http://127.0.0.1:4000/cert/x.cer")));
        assert!(!with_port.matches(&url("http://127.0.0.1:4001/cert/x.cer")));
        assert!(!with_port.matches(&url("http://127.0.0.2:4000/cert/x.cer")));

        let v6 = AllowedHost::parse("[::1]:8080").unwrap();
        assert!(v6.matches(&url("http://[::1]:8080/x")));
        assert!(!v6.matches(&url("http://[::2]:8080/x")));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "https://host",
            "host/path",
            "user@host",
            "host:port",
            "[::1",
            "",
            "a b",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(parse_hosts(&[]), Err(ConfigError::NoCertHosts)));
    }

    #[test]
    fn loopback_hosts() {
        for ok in [
            "http://127.0.0.1/",
            "http://127.8.9.10:1/",
            "http://[::1]/",
            "http://LocalHost/",
        ] {
            assert!(is_loopback(&url(ok)), "{ok}");
        }
        for no in [
            "http://10.0.0.1/",
            "http://localhost.evil.com/",
            "http://[::2]/",
        ] {
            assert!(!is_loopback(&url(no)), "{no}");
        }
    }

    #[test]
    fn env_lookup_reads_hosts_and_roots_file() {
        let default = VerifierConfig::from_env_lookup(|_| None).unwrap();
        assert_eq!(default.cert_hosts, [DEFAULT_CERT_HOST]);
        assert!(matches!(default.trust_roots, TrustRoots::Default));
        assert_eq!(default.max_body, DEFAULT_MAX_BODY);

        let dir = std::env::temp_dir().join(format!("cosell-roots-{}", std::process::id()));
        std::fs::write(&dir, b"-----BEGIN CERTIFICATE-----\n").unwrap();
        let path = dir.to_string_lossy().into_owned();
        let config = VerifierConfig::from_env_lookup(|k| match k {
            ENV_CERT_HOSTS => Some(" a.example , 127.0.0.1:9 ,".to_owned()),
            ENV_TRUST_ROOTS => Some(path.clone()),
            _ => None,
        })
        .unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(config.cert_hosts, ["a.example", "127.0.0.1:9"]);
        assert!(
            matches!(config.trust_roots, TrustRoots::Pem(ref p) if p.starts_with(b"-----BEGIN"))
        );

        let missing = VerifierConfig::from_env_lookup(|k| {
            (k == ENV_TRUST_ROOTS).then(|| "/nonexistent/cosell-roots.pem".to_owned())
        });
        assert!(matches!(missing, Err(ConfigError::TrustRootsFile { .. })));
        let bad = VerifierConfig::from_env_lookup(|k| {
            (k == ENV_CERT_HOSTS).then(|| "https://x".to_owned())
        });
        assert!(matches!(bad, Err(ConfigError::CertHost { .. })));
    }
}
