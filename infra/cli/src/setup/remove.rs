//! `cosell setup --remove`: undoes what setup registered, never columns or data — the Dataverse
//! webhook's steps and service endpoint are deleted, and the Partner Center registration saved
//! when setup took it over is put back by `PUT` (Partner Center's `DELETE` is undocumented).
//! Change tracking stays on (it cannot be switched off) and the co-sell schema stays.

use std::path::Path;
use std::process::ExitCode;

use cosell_partner_center::WebhookRegistration;
use cosell_runtime::Runtime;

use super::dataverse_webhook::ENDPOINT;
use crate::check::{Check, Preflight};
use crate::context::Context;
use crate::output;
use crate::webhooks::Saved;

pub fn main(ctx: &Context, save: &Path) -> ExitCode {
    let result = ctx.block_on(async {
        let config = ctx.config()?.with_default_store();
        let runtime = Runtime::start(config.runtime()?).await?;
        let checks = vec![
            dataverse(&runtime).await,
            partner_center(&runtime, save).await,
        ];
        anyhow::Ok(Preflight {
            ok: checks.iter().all(|c| c.ok),
            checks,
        })
    });
    match result {
        Ok(report) => output::print(ctx.format, &report),
        Err(error) => output::fail(ctx.format, "setup --remove", &error),
    }
}

async fn dataverse(runtime: &Runtime) -> Check {
    const NAME: &str = "dataverse webhook";
    match runtime.dataverse.remove_webhook_endpoint(ENDPOINT).await {
        Ok(0) => Check::pass(NAME, format!("no endpoint '{ENDPOINT}': nothing to remove")),
        Ok(deleted) => Check::pass(
            NAME,
            format!(
                "endpoint '{ENDPOINT}' and {} step(s) deleted; a seller's edit now waits for the minute poll",
                deleted - 1
            ),
        ),
        Err(error) => Check::fail(
            NAME,
            format!("not removed: {error}"),
            "deleting steps and endpoints needs the System Customizer role; run it again",
        ),
    }
}

async fn partner_center(runtime: &Runtime, save: &Path) -> Check {
    const NAME: &str = "webhook registration";
    let saved: Saved = match std::fs::read(save)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
    {
        Ok(saved) => saved,
        Err(error) => {
            return Check::fail(
                NAME,
                format!(
                    "no saved registration to put back ({}: {error})",
                    save.display()
                ),
                "give --save the file setup wrote, or register the URL you want with cosell webhooks register",
            );
        }
    };
    let previous = saved.previous;
    let registration = WebhookRegistration::new(
        previous.webhook_url.clone(),
        previous
            .webhook_events
            .iter()
            .map(|e| e.as_str().into())
            .collect::<Vec<_>>(),
    );
    let pc = &runtime.partner_center;
    let current = match pc.view_webhook().await {
        Ok(current) => current,
        Err(error) => return Check::fail(NAME, format!("not read: {error}"), "see cosell check"),
    };
    if current
        .as_ref()
        .is_some_and(|c| c.webhook_url == previous.webhook_url)
    {
        return Check::pass(
            NAME,
            format!("{} is registered already (unchanged)", previous.webhook_url),
        );
    }
    match pc.register_webhook(&registration, current.is_some()).await {
        Ok(_) => Check::pass(
            NAME,
            format!(
                "put back {} (saved {})",
                previous.webhook_url,
                saved.replaced_at.date()
            ),
        ),
        Err(error) => Check::fail(
            NAME,
            format!("not put back: {error}"),
            format!("cosell webhooks register '{}'", previous.webhook_url),
        ),
    }
}
