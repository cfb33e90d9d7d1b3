//! Where the Dataverse environment is and how to sign in to it.

use std::time::Duration;

use cosell_transport::{HttpConfig, RateLimit, Secret};

/// Dataverse counts 6,000 requests per application user over a sliding 300 s window — 20/s on
/// average, however bunched. So: a burst of up to half the window (a webhook storm syncs at full
/// speed; the other half is left to other instances, whose limiters this one cannot see), and
/// a steady pace just under the average. A `429` beyond it is waited out with its `Retry-After`.
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit {
    per_second: 18,
    burst: 3_000,
};

/// The Entra ID v2 token endpoint; `{tenant}` is replaced by [`DataverseConfig::tenant`].
pub const DEFAULT_TOKEN_URL: &str = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token";

#[derive(Debug, Clone)]
pub struct DataverseConfig {
    /// `https://{org}.api.crm.dynamics.com/api/data/v9.2/` (a trailing `/` is added if missing).
    pub api_base_url: String,
    /// The token endpoint; may contain `{tenant}`.
    pub token_url: String,
    pub tenant: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// `https://{org}.crm.dynamics.com/.default`.
    pub scope: String,
    pub http: HttpConfig,
    /// `Prefer: odata.maxpagesize` for change tracking pages; `None` takes the service's 5,000.
    pub change_page_size: Option<u32>,
    /// A cached token is renewed this long before it expires.
    pub token_margin: Duration,
    /// A signed-in person's access token, used instead of the app's own (client credentials):
    /// `cosell setup` writes the schema as the administrator who signed in. Not renewed.
    pub user_access_token: Option<Secret>,
}

impl DataverseConfig {
    /// The usual setup: the public token endpoint, the scope derived from the API URL
    /// (`https://org.api.crm.dynamics.com/…` → `https://org.crm.dynamics.com/.default`), default
    /// retries and the [`DEFAULT_RATE_LIMIT`].
    pub fn new(
        api_base_url: impl Into<String>,
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> Self {
        let api_base_url = api_base_url.into();
        Self {
            scope: default_scope(&api_base_url),
            api_base_url,
            token_url: DEFAULT_TOKEN_URL.to_owned(),
            tenant: tenant.into(),
            client_id: client_id.into(),
            client_secret,
            http: HttpConfig {
                rate_limit: Some(DEFAULT_RATE_LIMIT),
                ..HttpConfig::default()
            },
            change_page_size: None,
            token_margin: Duration::from_secs(300),
            user_access_token: None,
        }
    }

    /// The delegated scope a person signs in to this environment with (`…/user_impersonation`),
    /// and `offline_access`.
    pub fn user_scope(&self) -> String {
        let resource = self.scope.trim_end_matches("/.default");
        format!("{resource}/user_impersonation offline_access")
    }

    /// The token endpoint with the tenant filled in.
    pub fn token_endpoint(&self) -> String {
        self.token_url.replace("{tenant}", &self.tenant)
    }
}

/// `https://org.api.crm.dynamics.com/api/data/v9.2/` → `https://org.crm.dynamics.com/.default`.
fn default_scope(api_base_url: &str) -> String {
    match url::Url::parse(api_base_url) {
        Ok(url) => {
            let host = url.host_str().unwrap_or_default().replacen(".api.", ".", 1);
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{host}{port}/.default", url.scheme())
        }
        Err(_) => format!("{}/.default", api_base_url.trim_end_matches('/')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_scope_and_token_endpoint() {
        let config = DataverseConfig::new(
            "https://contoso.api.crm.dynamics.com/api/data/v9.2/",
            "tenant-1",
            "app",
            Secret::new("s"),
        );
        assert_eq!(config.scope, "https://contoso.crm.dynamics.com/.default");
        assert_eq!(
            config.token_endpoint(),
            "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"
        );
        assert_eq!(config.http.rate_limit, Some(DEFAULT_RATE_LIMIT));
        assert_eq!(
            default_scope("http://127.0.0.1:7070/api/data/v9.2/"),
            "http://127.0.0.1:7070/.default"
        );
    }
}
