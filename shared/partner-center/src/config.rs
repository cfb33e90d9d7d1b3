//! Where Partner Center lives and how to sign in to it. Every host is configuration, so tests
//! and the sandbox point the client at the simulator.

use std::time::Duration;

use cosell_transport::{HttpConfig, Secret};

pub const DEFAULT_REFERRALS_BASE_URL: &str =
    "https://api.partner.microsoft.com/v1.0/engagements/referrals";
pub const DEFAULT_REGISTRATION_BASE_URL: &str =
    "https://api.partnercenter.microsoft.com/webhooks/v1/registration";
pub const DEFAULT_REFERRALS_SCOPE: &str =
    "https://api.partner.microsoft.com/.default offline_access";
pub const DEFAULT_WEBHOOKS_SCOPE: &str =
    "https://api.partnercenter.microsoft.com/.default offline_access";

#[derive(Debug, Clone)]
pub struct PartnerCenterConfig {
    /// `…/v1.0/engagements/referrals`, no trailing slash.
    pub referrals_base_url: String,
    /// `…/webhooks/v1/registration`, no trailing slash.
    pub registration_base_url: String,
    /// The v2 token endpoint of the partner's tenant.
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// The refresh token came from a public client flow (a device-code sign-in): Entra ID
    /// refuses the secret when it is redeemed (AADSTS700025), so it is sent without one.
    pub public_client: bool,
    /// Scope asked for referral calls (`offline_access` keeps refresh tokens coming).
    pub referrals_scope: String,
    /// Scope asked for webhook registration calls.
    pub webhooks_scope: String,
    /// A cached access token is renewed this long before it expires.
    pub token_margin: Duration,
    pub http: HttpConfig,
}

impl PartnerCenterConfig {
    /// The real hosts, for the app `client_id` in `tenant`.
    pub fn new(tenant: &str, client_id: impl Into<String>, client_secret: Secret) -> Self {
        Self {
            referrals_base_url: DEFAULT_REFERRALS_BASE_URL.into(),
            registration_base_url: DEFAULT_REGISTRATION_BASE_URL.into(),
            token_url: format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
            client_id: client_id.into(),
            client_secret,
            public_client: false,
            referrals_scope: DEFAULT_REFERRALS_SCOPE.into(),
            webhooks_scope: DEFAULT_WEBHOOKS_SCOPE.into(),
            token_margin: Duration::from_secs(300),
            http: HttpConfig::default(),
        }
    }

    /// Every host under one base URL with the real paths, as the simulator serves them.
    pub fn with_base_url(mut self, base_url: &str, tenant: &str) -> Self {
        let base = base_url.trim_end_matches('/');
        self.referrals_base_url = format!("{base}/v1.0/engagements/referrals");
        self.registration_base_url = format!("{base}/webhooks/v1/registration");
        self.token_url = format!("{base}/{tenant}/oauth2/v2.0/token");
        self
    }
}
