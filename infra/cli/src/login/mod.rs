//! `cosell login`: signs a Partner Center user in and stores the refresh token where the
//! credentials live, so the functions act as that user (the referrals API is App+User only).
//!
//! Two ways to sign in, both Entra ID's:
//! - [`browser`] (the default): the authorization code flow with PKCE and a loopback redirect
//!   `http://localhost:PORT`; the person opens the printed URL, signs in and does MFA there. The
//!   app registration needs the Web redirect URI `http://localhost` (Entra ID ignores the port
//!   of a localhost redirect URI).
//! - [`device`] (`--device`, where no browser can reach this machine): the device code flow; the
//!   person enters a code on another device. The app registration needs *Allow public client
//!   flows*, and the refresh token it yields is a public client's (redeemed without the secret).
//!
//! Before anything is stored, the new sign-in is tried: its refresh token is redeemed and the
//! referrals API asked for one referral. A sign-in Partner Center refuses — no MFA, no Referrals
//! role — is said in a sentence and not stored, so the refresh token already stored keeps
//! working. The token is never printed; the user's name and the token's `amr` are.

mod browser;
mod device;

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use cosell_partner_center::{
    BoxError, ListQuery, PartnerCenter, RefreshTokenSink, Secret, SignIn,
    config::DEFAULT_REFERRALS_SCOPE,
};
use cosell_runtime::{CredentialSource, Settings};
use cosell_secrets::{CredentialStore, PartnerCenterApp};
use cosell_transport::{Http, HttpConfig};
use serde::Serialize;

use crate::context::Context;
use crate::output::{self, FAILED, OK, Report};

/// `cosell login` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Sign in with a code on another device instead of a browser on this machine (the app
    /// registration must allow public client flows).
    #[arg(long)]
    pub device: bool,
    /// The loopback port the browser comes back to (0: any free port).
    #[arg(long, default_value_t = 0, conflicts_with = "device")]
    pub port: u16,
    /// Who signs in, as a hint to the sign-in page (`login_hint`).
    #[arg(long, value_name = "EMAIL", conflicts_with = "device")]
    pub user: Option<String>,
    /// Seconds to wait for the sign-in to finish.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

/// Ends every refusal: nothing was written.
const KEPT: &str = "Nothing was stored; the refresh token stored before is kept.";

pub fn main(ctx: &Context, args: Args) -> ExitCode {
    let result = ctx.block_on(async {
        let settings = ctx.config()?.with_default_store().runtime()?;
        login(&settings, &args).await
    });
    match result {
        Ok(report) => output::print(ctx.format, &report),
        Err(error) => output::fail(ctx.format, "login", &error),
    }
}

/// What the sign-in needs from the settings and the credentials: the app the person signs in
/// to, its tenant, and the scope asked for.
pub(crate) struct SignInContext {
    pub http: Http,
    pub app: PartnerCenterApp,
    pub settings: Settings,
    pub tenant: String,
    pub scope: String,
    pub wait: Duration,
}

impl SignInContext {
    fn endpoint(&self, name: &str) -> String {
        self.settings.login_endpoint(&self.tenant, name)
    }
}

/// How a person signs in: a browser on this machine, or a code on another device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Browser { port: u16 },
    Device,
}

/// Signs a person in with `flow`; the token answer (access token, and a refresh token when the
/// scope asks for `offline_access`).
pub(crate) async fn sign_in(
    context: &SignInContext,
    flow: Flow,
    user: Option<&str>,
) -> anyhow::Result<cosell_transport::TokenResponse> {
    match flow {
        Flow::Browser { port } => browser::sign_in(context, port, user).await,
        Flow::Device => device::sign_in(context).await,
    }
}

/// How the sign-in went and where its token went.
#[derive(Debug, Clone, Serialize)]
pub struct LoginReport {
    /// `browser` or `device`.
    pub flow: &'static str,
    /// Who signed in and the token's `amr`, from its claims.
    #[serde(flatten)]
    pub sign_in: SignIn,
    pub mfa: bool,
    /// `file …` or `secret …`.
    pub stored_in: String,
    pub public_client: bool,
}

impl Report for LoginReport {
    fn human(&self) -> String {
        let sign_in = &self.sign_in;
        let mfa = if self.mfa {
            format!(
                "{OK} multi-factor authentication — the token lists {}\n",
                sign_in.methods_text()
            )
        } else {
            format!(
                "{FAILED} multi-factor authentication — the token lists {} only; Partner Center \
                 accepted it today, but enforces MFA for App+User calls since 1 April 2026 — \
                 require MFA for this user and run `cosell login` again\n",
                sign_in.methods_text()
            )
        };
        format!(
            "{OK} signed in as {}\n{mfa}{OK} Partner Center answers the referrals API for this user\n\
             {OK} refresh token stored in {}{}\n",
            sign_in.who(),
            self.stored_in,
            if self.public_client {
                " (a device-code sign-in: redeemed without the client secret)"
            } else {
                ""
            }
        )
    }
}

async fn login(settings: &Settings, args: &Args) -> anyhow::Result<LoginReport> {
    let store = credential_store(settings).await;
    let app = store.load_partner_center_app().await?;
    let context = SignInContext {
        http: Http::new(HttpConfig::default())?,
        app,
        settings: settings.clone(),
        tenant: settings.partner_center_tenant.clone(),
        scope: DEFAULT_REFERRALS_SCOPE.to_owned(),
        wait: Duration::from_secs(args.timeout),
    };
    let (flow, public_client, answer) = if args.device {
        ("device", true, sign_in(&context, Flow::Device, None).await?)
    } else {
        let flow = Flow::Browser { port: args.port };
        let answer = sign_in(&context, flow, args.user.as_deref()).await?;
        ("browser", false, answer)
    };
    let refresh_token = answer.refresh_token.clone().with_context(|| {
        format!(
            "Entra ID answered the sign-in without a refresh token: the scope must include \
             offline_access. {KEPT}"
        )
    })?;
    let sign_in = SignIn::of_token(answer.access_token.expose()).unwrap_or_default();
    let working = try_sign_in(&context, &sign_in, refresh_token, public_client).await?;
    store
        .store_sign_in(&working, public_client)
        .await
        .with_context(|| {
            format!(
                "{} signed in and Partner Center accepts the sign-in, but the refresh token could \
                 not be stored; the one stored before is unchanged",
                sign_in.who()
            )
        })?;
    Ok(LoginReport {
        flow,
        mfa: sign_in.mfa(),
        sign_in,
        stored_in: store.name(),
        public_client,
    })
}

pub(crate) async fn credential_store(settings: &Settings) -> CredentialStore {
    let aws = match &settings.credentials {
        CredentialSource::SecretsManager(_) => {
            Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
        }
        CredentialSource::File(_) => None,
    };
    let token_secret = settings.refresh_token_secret.as_deref();
    cosell_runtime::credential_store(&settings.credentials, token_secret, aws.as_ref())
}

/// Redeems the new refresh token and reads one referral with it, as the functions will; returns
/// the refresh token to store (the rotated one, when the redemption rotated it).
async fn try_sign_in(
    context: &SignInContext,
    sign_in: &SignIn,
    refresh_token: Secret,
    public_client: bool,
) -> anyhow::Result<Secret> {
    let mut config = context.settings.partner_center_config(
        context.app.client_id.clone(),
        context.app.client_secret.clone(),
    );
    config.public_client = public_client;
    let rotated = Arc::new(Latest::default());
    let client = PartnerCenter::new(config, refresh_token.clone(), rotated.clone())?;
    let who = sign_in.who();
    match client.list_referral_page(&ListQuery::new().top(1)).await {
        Ok(_) => Ok(rotated.take().unwrap_or(refresh_token)),
        Err(error) if error.is_mfa_required() => anyhow::bail!(
            "{who} signed in without multi-factor authentication (the token lists {}), and \
             Partner Center refuses App+User calls without it since 1 April 2026: require MFA \
             for this user (per-user MFA or a conditional access policy) and run `cosell login` \
             again. {KEPT}",
            sign_in.methods_text()
        ),
        Err(error) if matches!(error.status(), Some(401 | 403)) => anyhow::bail!(
            "{who} signed in, but Partner Center refuses them the referrals API ({error}): give \
             them the Referrals admin role (Partner Center → Account settings → User management) \
             or sign in as a user who has it. {KEPT}"
        ),
        Err(error) => anyhow::bail!(
            "{who} signed in, but trying the sign-in against Partner Center failed: {error}. {KEPT}"
        ),
    }
}

/// Keeps the newest rotated refresh token of the trial.
#[derive(Default)]
struct Latest(Mutex<Option<Secret>>);

impl Latest {
    fn take(&self) -> Option<Secret> {
        self.0.lock().expect("latest token").take()
    }
}

#[async_trait]
impl RefreshTokenSink for Latest {
    async fn store(&self, refresh_token: &Secret) -> Result<(), BoxError> {
        *self.0.lock().expect("latest token") = Some(refresh_token.clone());
        Ok(())
    }
}

/// A token endpoint answer Entra ID refused: its words and the fix, for the sentences of both
/// flows.
pub(crate) fn token_refusal(error: &cosell_transport::ApiError) -> String {
    let code = error.code().unwrap_or("");
    let message = error.message().unwrap_or("");
    let fix = if message.contains("AADSTS7000215") || code == "invalid_client" {
        "check partner_center.client_id and client_secret in the credentials"
    } else {
        "see Entra ID's words above"
    };
    format!("Entra ID refused the sign-in ({error}): {fix}. {KEPT}")
}
