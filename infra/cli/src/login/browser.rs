//! The authorization code flow with PKCE (RFC 7636) and a loopback redirect (RFC 8252): a
//! listener on `127.0.0.1:PORT`, the sign-in URL printed for the person to open, one redirect
//! back with `code` and `state`, and the code redeemed with the verifier and the app's secret
//! (a Web registration is a confidential client).
//!
//! The redirect URI is `http://localhost:PORT`: Entra ID matches a localhost redirect URI
//! ignoring the port (its redirect URI restrictions page), so registering `http://localhost`
//! once covers every port. A redirect whose `state` is not this sign-in's is refused: it was
//! not started here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cosell_transport::{TokenResponse, request_token};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::{KEPT, SignInContext, token_refusal};

/// What came back to the loopback listener.
#[derive(Debug)]
struct Redirect {
    query: HashMap<String, String>,
}

impl Redirect {
    fn get(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
}

pub(super) async fn sign_in(
    context: &SignInContext,
    port: u16,
    user: Option<&str>,
) -> anyhow::Result<TokenResponse> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
                "port {port} on 127.0.0.1 is already in use: stop what listens there, or choose \
                 another with --port (Entra ID ignores the port of an http://localhost redirect \
                 URI, so any port works). {KEPT}"
            ),
            _ => anyhow::anyhow!("listening on 127.0.0.1:{port} for the sign-in: {error}. {KEPT}"),
        })?;
    let port = listener.local_addr()?.port();
    let redirect_uri = format!("http://localhost:{port}");
    let verifier = random_text();
    let state = random_text();
    let url = authorize_url(context, &redirect_uri, &verifier, &state, user)?;
    eprintln!(
        "Open this URL in a browser and sign in as a Partner Center user with the Referrals \
         admin role, completing multi-factor authentication:\n\n  {url}\n\nWaiting for the \
         sign-in to come back to {redirect_uri} … (if the page says AADSTS50011, add the Web \
         redirect URI http://localhost to the app registration)"
    );
    let redirect = wait_for_redirect(listener, context.wait).await?;
    if redirect.get("state") != Some(state.as_str()) {
        anyhow::bail!(
            "the browser came back with a state that is not this sign-in's: the redirect belongs \
             to another sign-in attempt, or was not made by Entra ID. {KEPT}"
        );
    }
    if let Some(error) = redirect.get("error") {
        let description = redirect
            .get("error_description")
            .unwrap_or("no description");
        if error == "access_denied" {
            anyhow::bail!("the sign-in was cancelled ({error}: {description}). {KEPT}");
        }
        anyhow::bail!("Entra ID refused the sign-in ({error}: {description}). {KEPT}");
    }
    let code = redirect
        .get("code")
        .with_context(|| format!("the browser came back without a code. {KEPT}"))?;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", context.app.client_id.as_str()),
        ("client_secret", context.app.client_secret.expose()),
        ("code", code),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
        ("scope", context.scope.as_str()),
    ];
    request_token(&context.http, &context.endpoint("token"), &form)
        .await
        .map_err(|error| anyhow::anyhow!(token_refusal(&error)))
}

/// 256 bits of randomness as URL-safe text: a PKCE verifier (43–128 characters) or a state.
fn random_text() -> String {
    let bytes: Vec<u8> = (0..2)
        .flat_map(|_| uuid::Uuid::new_v4().into_bytes())
        .collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

fn authorize_url(
    context: &SignInContext,
    redirect_uri: &str,
    verifier: &str,
    state: &str,
    user: Option<&str>,
) -> anyhow::Result<url::Url> {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(&context.endpoint("authorize"))
        .context("COSELL_LOGIN_URL does not make a sign-in URL")?;
    url.query_pairs_mut()
        .append_pair("client_id", &context.app.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_mode", "query")
        .append_pair("scope", context.scope.as_str())
        .append_pair("state", state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        // The person chooses the account, rather than a browser session signing in whoever
        // was signed in last.
        .append_pair("prompt", "select_account");
    if let Some(user) = user {
        url.query_pairs_mut().append_pair("login_hint", user);
    }
    Ok(url)
}

/// Serves the loopback until one request brings a `code` or an `error`, or `wait` passes.
async fn wait_for_redirect(
    listener: tokio::net::TcpListener,
    wait: std::time::Duration,
) -> anyhow::Result<Redirect> {
    let (sender, mut received) = mpsc::channel(1);
    let app = Router::new()
        .route("/", get(arrive))
        .with_state(Arc::new(sender));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let outcome = tokio::time::timeout(wait, received.recv()).await;
    // Lets the page reach the browser before the listener goes.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    server.abort();
    match outcome {
        Ok(Some(redirect)) => Ok(redirect),
        Ok(None) => anyhow::bail!("the loopback listener stopped. {KEPT}"),
        Err(_) => anyhow::bail!(
            "no sign-in came back within {} s (run `cosell login --timeout N` for longer). {KEPT}",
            wait.as_secs()
        ),
    }
}

async fn arrive(
    State(sender): State<Arc<mpsc::Sender<Redirect>>>,
    Query(query): Query<HashMap<String, String>>,
) -> Html<&'static str> {
    if !query.contains_key("code") && !query.contains_key("error") {
        return Html("<p>Waiting for the sign-in to come back here.</p>");
    }
    let _ = sender.try_send(Redirect { query });
    Html("<p>cosell: the sign-in came back. You can close this tab and return to the terminal.</p>")
}
