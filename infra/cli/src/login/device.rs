//! The device code flow (RFC 8628, as Entra ID's device code page documents it): ask
//! `/devicecode` for a code, print Entra ID's message (the page to open and the code to enter),
//! and poll the token endpoint at the interval it gives until the person signs in, declines,
//! or the code expires.
//!
//! It is a public client flow: the requests carry no secret (Entra ID refuses one, AADSTS700025)
//! and the registration must have *Allow public client flows* on (else AADSTS7000218).

use std::time::Duration;

use cosell_transport::{ApiError, TokenResponse, request_token};
use serde::Deserialize;
use tokio::time::Instant;

use super::{KEPT, SignInContext, token_refusal};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[derive(Debug, Deserialize)]
struct DeviceCode {
    device_code: String,
    message: String,
    expires_in: u64,
    #[serde(default = "five")]
    interval: u64,
}

fn five() -> u64 {
    5
}

pub(super) async fn sign_in(context: &SignInContext) -> anyhow::Result<TokenResponse> {
    let call = cosell_transport::Call {
        service: "token",
        operation: "devicecode",
        idempotent: true,
    };
    let form = [
        ("client_id", context.app.client_id.as_str()),
        ("scope", context.scope.as_str()),
    ];
    let url = context.endpoint("devicecode");
    let response = context
        .http
        .send(call, |client| client.post(&url).form(&form))
        .await
        .map_err(|error| anyhow::anyhow!(token_refusal(&error)))?;
    let device: DeviceCode = cosell_transport::read_json(call, response).await?;
    eprintln!(
        "{}\nSign in as a Partner Center user with the Referrals admin role, completing \
         multi-factor authentication. Waiting …",
        device.message
    );
    let deadline = Instant::now()
        + context
            .wait
            .min(Duration::from_secs(device.expires_in.max(1)));
    let mut interval = Duration::from_secs(device.interval.max(1));
    let token_url = context.endpoint("token");
    loop {
        tokio::time::sleep(interval).await;
        if Instant::now() >= deadline {
            anyhow::bail!(
                "no one signed in with the code in time (it lasts {} s; `--timeout` waits \
                 {} s). {KEPT}",
                device.expires_in,
                context.wait.as_secs()
            );
        }
        let poll = [
            ("grant_type", GRANT),
            ("client_id", context.app.client_id.as_str()),
            ("device_code", device.device_code.as_str()),
        ];
        let error = match request_token(&context.http, &token_url, &poll).await {
            Ok(answer) => return Ok(answer),
            Err(error) => error,
        };
        match error.code() {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += Duration::from_secs(5),
            _ => anyhow::bail!(refusal(&error)),
        }
    }
}

/// Why the device sign-in ended without a token.
fn refusal(error: &ApiError) -> String {
    let message = error.message().unwrap_or("");
    match error.code() {
        Some("authorization_declined") => format!("the sign-in was declined ({message}). {KEPT}"),
        Some("expired_token") => {
            format!("the code expired before anyone signed in with it ({message}). {KEPT}")
        }
        Some("bad_verification_code") => {
            format!("Entra ID does not know the code ({message}). {KEPT}")
        }
        _ if message.contains("AADSTS7000218") => format!(
            "the app registration does not allow public client flows, which a device code sign-in \
             needs: Entra admin center → App registrations → the app → Authentication → Allow \
             public client flows → Yes; or sign in with a browser (`cosell login` without \
             --device). {KEPT}"
        ),
        _ => token_refusal(error),
    }
}
