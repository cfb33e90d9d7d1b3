//! Who `setup` writes Dynamics 365's customizations as. Changing tables, views, forms and plug-in
//! steps needs System Customizer, which the functions' application user must not hold: so an
//! administrator signs in (a browser on this machine, or a code on another device, as `cosell
//! login` signs a Partner Center user in) and setup writes as that person. Without that sign-in
//! — and always where no one can sign in (no terminal, the sandbox) — it writes as the
//! application user without asking, and a step it may not do says which privilege to grant.

use std::io::IsTerminal;
use std::time::Duration;

use cosell_dataverse::DataverseClient;
use cosell_partner_center::SignIn;
use cosell_runtime::Runtime;
use cosell_secrets::PartnerCenterApp;
use cosell_transport::{Http, HttpConfig};

use crate::check::Check;
use crate::login::{self, Flow, SignInContext};

const NAME: &str = "dynamics 365 identity";

/// Who signs in for the Dynamics 365 steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admin {
    /// A browser sign-in when a person is at a terminal; the application user otherwise.
    Auto,
    Browser,
    Device,
    /// The application user, without asking.
    ApplicationUser,
}

impl Admin {
    /// The sign-in to run, if any.
    fn flow(self) -> Option<Flow> {
        let at_terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        match self {
            Admin::Auto if at_terminal => Some(Flow::Browser { port: 0 }),
            Admin::Auto | Admin::ApplicationUser => None,
            Admin::Browser => Some(Flow::Browser { port: 0 }),
            Admin::Device => Some(Flow::Device),
        }
    }
}

/// The client the customizations are written with, and the line saying whose it is.
pub async fn writer(runtime: &Runtime, admin: Admin) -> anyhow::Result<(DataverseClient, Check)> {
    let Some(flow) = admin.flow() else {
        let why = match admin {
            Admin::ApplicationUser => "as asked",
            _ => "no one at a terminal to sign in",
        };
        return Ok((
            runtime.dataverse.clone(),
            Check::pass(
                NAME,
                format!(
                    "changes made as the application user ({why}); run setup at a terminal to \
                     sign an administrator in instead"
                ),
            ),
        ));
    };
    let credentials = runtime.credentials.load().await?;
    let app = &credentials.dataverse;
    let context = SignInContext {
        http: Http::new(HttpConfig::default())?,
        app: PartnerCenterApp {
            client_id: app.client_id.clone(),
            client_secret: app.client_secret.clone(),
        },
        settings: runtime.settings.clone(),
        tenant: app.tenant_id.clone(),
        scope: runtime.dataverse.user_scope(),
        wait: Duration::from_secs(300),
    };
    eprintln!(
        "Sign in to Dynamics 365 as an administrator (System Customizer) for setup's changes:"
    );
    let answer = login::sign_in(&context, flow, None).await?;
    let who = SignIn::of_token(answer.access_token.expose())
        .unwrap_or_default()
        .who();
    let client = runtime.dataverse.acting_as(answer.access_token)?;
    Ok((
        client,
        Check::pass(NAME, format!("changes made as {who}, who signed in")),
    ))
}
