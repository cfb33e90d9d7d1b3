use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::call::Call;
use crate::deadline;
use crate::error::ApiError;
use crate::limit::{Limiter, RateLimit};
use crate::retry::{RetryPolicy, retry_after, retryable_status};
use crate::throttled::Throttles;

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// For one attempt, connect to last body byte.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub rate_limit: Option<RateLimit>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            rate_limit: None,
        }
    }
}

/// Less time than this left: no attempt is started (it could not get an answer back).
const MIN_ATTEMPT: Duration = Duration::from_millis(250);

/// A reqwest client with the retry policy and rate limit of one service. Clone it freely.
#[derive(Clone)]
pub struct Http {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    /// For one attempt; cut to what is left when a deadline is near.
    timeout: Duration,
    retry: RetryPolicy,
    limiter: Option<Limiter>,
    throttles: Throttles,
}

impl Http {
    pub fn new(config: HttpConfig) -> Result<Http, ApiError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("cosell/", env!("CARGO_PKG_VERSION")))
            // No service we call redirects; a redirect followed could take a request (a webhook
            // certificate fetch, a bearer token) off the host that was checked. A 3xx is an
            // answer like any other non-2xx.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ApiError::Config(e.to_string()))?;
        let limiter = config
            .rate_limit
            .map(Limiter::new)
            .transpose()
            .map_err(ApiError::Config)?;
        if config.retry.max_attempts == 0 {
            return Err(ApiError::Config(
                "retry max_attempts must be at least 1".into(),
            ));
        }
        Ok(Http {
            inner: Arc::new(Inner {
                client,
                timeout: config.timeout,
                retry: config.retry,
                limiter,
                throttles: Throttles::default(),
            }),
        })
    }

    /// The `429`s this client (and its clones) met, by code.
    pub fn throttles(&self) -> Throttles {
        self.inner.throttles.clone()
    }

    /// Sends the request `build` makes — once per attempt, so a retry repeats it exactly,
    /// request id included — and returns the first 2xx answer. Under a [`crate::deadline`] no
    /// attempt outlasts it and no wait crosses it: [`ApiError::OutOfTime`] instead.
    pub async fn send(
        &self,
        call: Call,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let inner = &*self.inner;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(limiter) = &inner.limiter {
                limiter.acquire().await;
            }
            let last = attempt >= inner.retry.max_attempts;
            let mut request = build(&inner.client);
            if let Some(left) = deadline::remaining() {
                if left < MIN_ATTEMPT {
                    return Err(ApiError::out_of_time(call, "another attempt"));
                }
                request = request.timeout(left.min(inner.timeout));
            }
            let (wait, why) = match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let after = retry_after(response.headers());
                    if status == 429 {
                        crate::throttled::record(call.service);
                        // Its code names the limit reached: read before the answer is dropped.
                        let body = response.bytes().await.unwrap_or_default();
                        let refused = ApiError::from_body(call, status, &body);
                        inner.throttles.record(refused.code());
                        if last {
                            return Err(refused);
                        }
                    } else if last || !retryable_status(status) {
                        let body = response.bytes().await.unwrap_or_default();
                        return Err(ApiError::from_body(call, status, &body));
                    }
                    if let (Some(limiter), Some(after)) = (&inner.limiter, after) {
                        limiter.pause_for(after.min(inner.retry.max_retry_after));
                    }
                    let wait = inner.retry.delay(attempt, after, &mut rand::rng());
                    tracing::warn!(
                        service = call.service,
                        operation = call.operation,
                        status,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "retrying after error status"
                    );
                    (
                        wait,
                        format!("waiting {} s after HTTP {status}", wait.as_secs()),
                    )
                }
                Err(error) => {
                    // A connect failure never reached the service; anything later might have.
                    let safe = error.is_connect() || call.idempotent;
                    let transient = error.is_connect() || error.is_timeout() || error.is_request();
                    if last || !safe || !transient {
                        return Err(ApiError::Transport {
                            service: call.service,
                            operation: call.operation,
                            source: error,
                        });
                    }
                    let wait = inner.retry.delay(attempt, None, &mut rand::rng());
                    tracing::warn!(
                        service = call.service,
                        operation = call.operation,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        error = %error,
                        "retrying after transport error"
                    );
                    (wait, format!("retrying after '{error}'"))
                }
            };
            if deadline::remaining().is_some_and(|left| wait + MIN_ATTEMPT > left) {
                return Err(ApiError::out_of_time(call, why));
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// Reads a JSON answer into `T`, naming the call if it does not fit.
pub async fn read_json<T: DeserializeOwned>(
    call: Call,
    response: reqwest::Response,
) -> Result<T, ApiError> {
    let body = read_body(call, response.bytes()).await?;
    serde_json::from_slice(&body).map_err(|e| ApiError::decode(call, e.to_string()))
}

/// Reads a text answer (a `$batch` multipart body, say), naming the call if the connection fails
/// while reading it.
pub async fn read_text(call: Call, response: reqwest::Response) -> Result<String, ApiError> {
    read_body(call, response.text()).await
}

async fn read_body<T>(
    call: Call,
    body: impl Future<Output = Result<T, reqwest::Error>>,
) -> Result<T, ApiError> {
    body.await.map_err(|source| ApiError::Transport {
        service: call.service,
        operation: call.operation,
        source,
    })
}
