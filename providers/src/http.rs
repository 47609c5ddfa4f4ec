//! The one HTTP client every adapter calls providers through, with connect and total timeouts
//! so that a provider that hangs costs a bounded wait, never a stuck request, and one retry on
//! a fresh connection for a call that is safe to repeat when a pooled connection turns out to
//! be dead ([`Repeat`]).
//!
//! What adapters share above the transport is here too: an [`Endpoint`] (one merchant's
//! provider API: its base URL, its credentials, the client) joins paths, authenticates, sends,
//! and turns a non-2xx answer into the error its status stands for with the provider's own
//! message ([`error_message`]), as its [`ApiSpec`] describes. An adapter says only what
//! differs: its paths, its headers, which call may be repeated.

use std::fmt;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::error::{ConfigError, ProviderError};
use crate::json;

/// Timeouts of provider calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// Time allowed to open the TCP (and TLS) connection.
    pub connect: Duration,
    /// Time allowed for the whole call, connection included.
    pub total: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            connect: Duration::from_secs(3),
            total: Duration::from_secs(15),
        }
    }
}

/// Builds the shared client. Redirects are not followed: a provider API that redirects is
/// misconfigured, and following it could leak credentials to another host.
pub fn build_client(timeouts: HttpTimeouts) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("paymux/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Maps a transport failure to the provider error the gateway acts on: a failed connect (or a
/// request that could not even be built) means nothing reached the provider; a timeout leaves
/// the outcome unknown. So does every other failure (a connection broken after sending, a body
/// that could not be read, kinds reqwest may add): some happen after the provider answered
/// 2xx, and only a failure known to come before sending may be failed over.
pub fn transport_error(error: &reqwest::Error, timeouts: HttpTimeouts) -> ProviderError {
    if error.is_connect() || error.is_builder() {
        // A connect timeout is also a connect error: either way nothing was sent.
        return ProviderError::Unreachable(without_url(error));
    }
    if error.is_timeout() {
        return ProviderError::Timeout {
            elapsed: timeouts.total,
        };
    }
    ProviderError::Interrupted(without_url(error))
}

/// A provider's answer, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Whether a call may be sent a second time. Each call site says it, because only the adapter
/// knows what the provider does with a repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Sending the call twice has the effect of sending it once: it only reads (a GET, Pakhi
    /// Pay's verify POST), or it carries an idempotency key the provider documents it dedupes
    /// on (SKN Pay's `Idempotency-Key`). Such a call is sent again, once, on a fresh connection
    /// when a pooled connection closed before any answer.
    Safe,
    /// A second send could act twice (a create the provider does not dedupe): sent exactly
    /// once, and a broken connection leaves its outcome unknown.
    Once,
}

/// Sends `request` and reads the whole answer; a failure on the way becomes the provider error
/// the gateway acts on ([`transport_error`]). A [`Repeat::Safe`] call whose connection closed
/// before any answer is sent once more on a fresh connection (reqwest's pool has dropped the
/// dead one), within what is left of the call's total timeout.
pub async fn exchange(
    request: reqwest::RequestBuilder,
    timeouts: HttpTimeouts,
    repeat: Repeat,
) -> Result<Answer, ProviderError> {
    let started = Instant::now();
    let (client, request) = request.build_split();
    let request = request.map_err(|error| transport_error(&error, timeouts))?;
    // A body that is a stream cannot be cloned, so such a call could only be sent once.
    let spare = match repeat {
        Repeat::Safe => request.try_clone(),
        Repeat::Once => None,
    };
    let response = match client.execute(request).await {
        Ok(response) => response,
        Err(error) => {
            let Some(retry) = spare
                .filter(|_| is_dead_connection(&error))
                .and_then(|spare| with_budget_left(spare, started, timeouts))
            else {
                return Err(transport_error(&error, timeouts));
            };
            tracing::info!(
                method = %retry.method(),
                host = retry.url().host_str().unwrap_or_default(),
                error = %without_url(&error),
                budget_left_ms = retry.timeout().map_or(0, Duration::as_millis),
                "the provider closed the connection before answering; sending the call again \
                 on a fresh connection"
            );
            client
                .execute(retry)
                .await
                .map_err(|error| transport_error(&error, timeouts))?
        }
    };
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|error| transport_error(&error, timeouts))?;
    Ok(Answer {
        status,
        body: body.to_vec(),
    })
}

/// True when sending failed because the connection was closed (or reset) by the other end
/// before any answer arrived: what a keep-alive connection the provider (or a proxy) closed
/// while idle looks like when reqwest reuses it. A failed connect, a timeout and a failure
/// while reading an answer's body are not this.
fn is_dead_connection(error: &reqwest::Error) -> bool {
    if !error.is_request() || error.is_connect() || error.is_timeout() {
        return false;
    }
    let mut source = std::error::Error::source(error);
    while let Some(current) = source {
        let closed = match current.downcast_ref::<std::io::Error>() {
            Some(io) => matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            ),
            // hyper's "connection closed before message completed".
            None => current
                .downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_incomplete_message),
        };
        if closed {
            return true;
        }
        source = current.source();
    }
    false
}

/// `request` with the part of the call's total timeout that `started` has not used up, or
/// `None` when nothing is left: a retry never gets a fresh budget.
fn with_budget_left(
    mut request: reqwest::Request,
    started: Instant,
    timeouts: HttpTimeouts,
) -> Option<reqwest::Request> {
    let budget = request.timeout().copied().unwrap_or(timeouts.total);
    let left = budget
        .checked_sub(started.elapsed())
        .filter(|left| !left.is_zero())?;
    *request.timeout_mut() = Some(left);
    Some(request)
}

/// A non-2xx answer as an error carrying the provider's own `message`: a status in `invalid`
/// means the provider refused the request as invalid (a 400 to the storefront); any other is
/// the provider's failure.
pub fn refusal(status: u16, message: String, invalid: &[u16]) -> ProviderError {
    if invalid.contains(&status) {
        ProviderError::InvalidRequest {
            message,
            param: None,
        }
    } else {
        ProviderError::Upstream { status, message }
    }
}

/// A provider's API base URL: the configured one or the provider's `default`, http(s) only.
/// With `as_directory` it ends with `/`, so that `Url::join` appends paths to it instead of
/// replacing its last segment.
pub fn api_base_url(
    configured: Option<Url>,
    default: &str,
    provider: &str,
    as_directory: bool,
) -> Result<Url, ConfigError> {
    let mut url = match configured {
        Some(url) => url,
        None => {
            Url::parse(default).map_err(|error| ConfigError::new("base_url", error.to_string()))?
        }
    };
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(ConfigError::new(
            "base_url",
            format!("the {provider} base URL must be an http(s) URL"),
        ));
    }
    if as_directory && !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// What the shared client needs to know of one provider's HTTP API. Each adapter declares its
/// own as a constant; the rest of a call (paths, bodies, extra headers) is the adapter's.
#[derive(Debug)]
pub struct ApiSpec {
    /// The provider's name as messages show it: `SKN Pay`.
    pub name: &'static str,
    /// The production API, used unless the merchant's config sets `base_url`.
    pub default_base_url: &'static str,
    /// True when calls go to paths below the base URL, which then always ends with `/`; false
    /// when the base URL is the one call's own URL, used exactly as given (Skipify).
    pub joins_paths: bool,
    /// The statuses of a non-2xx answer that mean the provider refused the request as invalid
    /// (a 400 to the storefront); any other is the provider's failure ([`refusal`]).
    pub invalid_statuses: &'static [u16],
    /// The provider's own message in a non-2xx body.
    pub error_message: fn(&[u8]) -> String,
}

impl ApiSpec {
    /// `api_key` as a header value after `scheme` ([`credential_header`]). A key that cannot be
    /// sent is a config error naming `api_key`, which never shows the key.
    pub fn api_key_header(
        &self,
        scheme: Option<&str>,
        api_key: &SecretString,
    ) -> Result<HeaderValue, ConfigError> {
        credential_header(scheme, api_key.expose_secret()).ok_or_else(|| {
            ConfigError::new(
                "api_key",
                format!(
                    "the {} API key contains characters that cannot be sent in an HTTP header",
                    self.name
                ),
            )
        })
    }
}

/// `credential` as a header value, after `scheme` and a space when there is one
/// (`Bearer sk_…`), marked sensitive so that no HTTP log prints it. `None` when the credential
/// is empty or holds anything but visible ASCII (a space, a control, a non-ASCII letter).
pub fn credential_header(scheme: Option<&str>, credential: &str) -> Option<HeaderValue> {
    if credential.is_empty() || !credential.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let text = match scheme {
        Some(scheme) => format!("{scheme} {credential}"),
        None => credential.to_owned(),
    };
    let mut value = HeaderValue::from_str(&text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// How every call to a merchant's provider account proves who it is.
pub enum Auth {
    /// Headers set on every call; the ones carrying a secret come from [`credential_header`].
    Headers(HeaderMap),
    /// HTTP Basic credentials (reqwest marks the header sensitive).
    Basic {
        user: SecretString,
        password: SecretString,
    },
}

impl Auth {
    /// A single header, such as `Authorization: Bearer …` or `api-key: …`.
    pub fn header(name: impl reqwest::header::IntoHeaderName, value: HeaderValue) -> Auth {
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        Auth::Headers(headers)
    }

    /// `Authorization: <value>`.
    pub fn authorization(value: HeaderValue) -> Auth {
        Auth::header(AUTHORIZATION, value)
    }

    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::Headers(headers) => request.headers(headers.clone()),
            Auth::Basic { user, password } => {
                request.basic_auth(user.expose_secret(), Some(password.expose_secret()))
            }
        }
    }
}

/// One merchant's provider API: where it is, how calls authenticate, whether they move real
/// money, and the shared client with its timeouts. Its `Debug` output shows no credential.
pub struct Endpoint {
    spec: &'static ApiSpec,
    base_url: Url,
    auth: Auth,
    http: reqwest::Client,
    timeouts: HttpTimeouts,
    livemode: bool,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("api", &self.spec.name)
            .field("base_url", &self.base_url.as_str())
            .field("livemode", &self.livemode)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// The endpoint at `base_url`, else the spec's default ([`api_base_url`]), called through
    /// `http`. `is_live` says, from the base URL, whether calls move real money: each provider
    /// has its own rule (its production host, or its key's prefix).
    pub fn new(
        spec: &'static ApiSpec,
        base_url: Option<Url>,
        http: reqwest::Client,
        timeouts: HttpTimeouts,
        auth: Auth,
        is_live: impl FnOnce(&Url) -> bool,
    ) -> Result<Endpoint, ConfigError> {
        let base_url = api_base_url(base_url, spec.default_base_url, spec.name, spec.joins_paths)?;
        Ok(Endpoint {
            livemode: is_live(&base_url),
            base_url,
            spec,
            auth,
            http,
            timeouts,
        })
    }

    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// True when calls move real money (see [`Endpoint::new`]).
    pub fn livemode(&self) -> bool {
        self.livemode
    }

    /// `path` below the base URL; the empty path is the base URL itself.
    pub fn url(&self, path: &str) -> Result<Url, ProviderError> {
        if path.is_empty() {
            return Ok(self.base_url.clone());
        }
        self.base_url.join(path).map_err(|error| {
            ProviderError::Unreachable(format!(
                "cannot build the {} URL for {path}: {error}",
                self.spec.name
            ))
        })
    }

    /// An authenticated GET of `path` ([`Endpoint::url`]).
    pub fn get(&self, path: &str) -> Result<reqwest::RequestBuilder, ProviderError> {
        Ok(self.auth.apply(self.http.get(self.url(path)?)))
    }

    /// An authenticated POST to `path` ([`Endpoint::url`]).
    pub fn post(&self, path: &str) -> Result<reqwest::RequestBuilder, ProviderError> {
        Ok(self.auth.apply(self.http.post(self.url(path)?)))
    }

    /// Sends `request` and returns the answer whatever its status ([`exchange`]).
    pub async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        repeat: Repeat,
    ) -> Result<Answer, ProviderError> {
        exchange(request, self.timeouts, repeat).await
    }

    /// Sends `request` and returns the body of a 2xx answer; any other answer becomes the
    /// error its status stands for, with the provider's own message.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        repeat: Repeat,
    ) -> Result<Vec<u8>, ProviderError> {
        let answer = self.exchange(request, repeat).await?;
        if answer.is_success() {
            return Ok(answer.body);
        }
        let message = (self.spec.error_message)(&answer.body);
        let error = refusal(answer.status, message, self.spec.invalid_statuses);
        tracing::warn!(status = answer.status, %error, "{} refused the call", self.spec.name);
        Err(error)
    }

    /// Sends `request` whose 2xx answer is a JSON `what`; any other answer is malformed:
    /// `SKN Pay answered with no valid payment: …` ([`read_json`]).
    pub async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        repeat: Repeat,
        what: &str,
    ) -> Result<T, ProviderError> {
        let body = self.send(request, repeat).await?;
        read_json(
            &body,
            &format!("{} answered with no valid {what}", self.spec.name),
        )
    }
}

/// A JSON body (a provider's answer, a webhook) as a `T`. One that is not is malformed, said
/// as `{what}: ` and the problem without any of the body's values
/// ([`json::describe_error`]): `not a Kwik webhook: the body is not valid JSON at line 1
/// column 2`.
pub fn read_json<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|error| {
        ProviderError::MalformedPayload(format!("{what}: {}", json::describe_error(&error)))
    })
}

/// The most raw text kept from an error body no message could be read from.
pub const MAX_RAW_ERROR_CHARS: usize = 500;

/// A provider's message in a non-2xx body: the first of the JSON object's `fields` that holds
/// one (text, an object's `message`, or a list of those, joined with `; `), else the body's
/// text ([`raw_text`]), else `no error message`.
pub fn error_message(body: &[u8], fields: &[&str]) -> String {
    fn text_of(value: &Value) -> Option<String> {
        match value {
            Value::String(text) if !text.trim().is_empty() => Some(text.clone()),
            Value::Object(members) => members.get("message").and_then(text_of),
            Value::Array(items) => {
                let texts: Vec<String> = items.iter().filter_map(text_of).collect();
                (!texts.is_empty()).then(|| texts.join("; "))
            }
            _ => None,
        }
    }
    let found = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(members)) => fields
            .iter()
            .find_map(|field| members.get(*field).and_then(text_of)),
        _ => None,
    };
    found
        .or_else(|| raw_text(body))
        .unwrap_or_else(|| "no error message".to_owned())
}

/// A body as text, trimmed and cut to its first [`MAX_RAW_ERROR_CHARS`] characters; `None`
/// when nothing is left.
pub fn raw_text(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(match text.char_indices().nth(MAX_RAW_ERROR_CHARS) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text.to_owned(),
    })
}

/// The error text without the request URL, which may carry query-string credentials.
fn without_url(error: &reqwest::Error) -> String {
    let mut error_text = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = source {
        if !error_text.is_empty() {
            error_text.push_str(": ");
        }
        let text = current.to_string();
        let text = match current.downcast_ref::<reqwest::Error>() {
            Some(reqwest_error) => match reqwest_error.url() {
                Some(url) => text.replace(&format!(" for url ({url})"), ""),
                None => text,
            },
            None => text,
        };
        error_text.push_str(&text);
        source = current.source();
    }
    error_text
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// How the stale-connection server ends a reused connection.
    #[derive(Debug, Clone, Copy)]
    enum HangUp {
        /// Reads the request, then closes: the client reads the end of the stream.
        Close,
        /// Reads the request, then resets the connection (`SO_LINGER` 0).
        Reset,
    }

    /// What the server does with the first request on a connection that is not the first one.
    #[derive(Debug, Clone, Copy)]
    enum Fresh {
        Answer,
        /// Keeps the connection open without ever answering.
        Ignore,
    }

    /// One request as the server read it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Seen {
        /// 0 for the first connection accepted, then 1, 2...
        connection: usize,
        /// 0 for the first request on its connection.
        nth: usize,
        path: String,
    }

    /// A keep-alive HTTP/1.1 server that plays the provider whose idle connection dies: the
    /// first connection answers its first request and, when the client reuses it, reads the
    /// second one and hangs up without answering. Other connections get `fresh`.
    struct StaleServer {
        address: std::net::SocketAddr,
        seen: Arc<Mutex<Vec<Seen>>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl StaleServer {
        async fn start(hang_up: HangUp, fresh: Fresh) -> StaleServer {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::clone(&seen);
            let task = tokio::spawn(async move {
                for connection in 0.. {
                    let (socket, _) = listener.accept().await.unwrap();
                    let log = Arc::clone(&log);
                    tokio::spawn(serve(socket, connection, hang_up, fresh, log));
                }
            });
            StaleServer {
                address,
                seen,
                task,
            }
        }

        fn url(&self, path: &str) -> String {
            format!("http://{}{path}", self.address)
        }

        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }

        fn attempts(&self, path: &str) -> Vec<Seen> {
            self.seen().into_iter().filter(|s| s.path == path).collect()
        }
    }

    impl Drop for StaleServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn serve(
        socket: TcpStream,
        connection: usize,
        hang_up: HangUp,
        fresh: Fresh,
        log: Arc<Mutex<Vec<Seen>>>,
    ) {
        let mut reader = BufReader::new(socket);
        for nth in 0.. {
            let Some(path) = read_request(&mut reader).await else {
                return; // the client closed the connection
            };
            log.lock().unwrap().push(Seen {
                connection,
                nth,
                path,
            });
            match (connection, nth, fresh) {
                (0, 1, _) => {
                    let socket = reader.into_inner();
                    if let HangUp::Reset = hang_up {
                        socket.set_zero_linger().unwrap();
                    }
                    drop(socket);
                    return;
                }
                (1.., 0, Fresh::Ignore) => {
                    std::future::pending::<()>().await;
                }
                _ => {
                    let body = r#"{"ok":true}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    reader.get_mut().write_all(answer.as_bytes()).await.unwrap();
                }
            }
        }
    }

    /// Reads one request (head and `content-length` body) and returns its path, or `None` at
    /// the end of the stream.
    async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<String> {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let path = line.split(' ').nth(1).unwrap().to_owned();
        let mut length = 0;
        loop {
            line.clear();
            reader.read_line(&mut line).await.unwrap();
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await.unwrap();
        Some(path)
    }

    /// A stale-connection server, and a client whose one connection to it waits in the pool,
    /// idle, after a first call.
    async fn warmed_up(
        hang_up: HangUp,
        fresh: Fresh,
        timeouts: HttpTimeouts,
    ) -> (StaleServer, reqwest::Client) {
        let server = StaleServer::start(hang_up, fresh).await;
        let client = build_client(timeouts).unwrap();
        let answer = exchange(client.get(server.url("/warm-up")), timeouts, Repeat::Once)
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        (server, client)
    }

    /// For each way a pooled connection dies, sends a POST of `body` to `path` with `repeat` on
    /// such a connection, and returns what the call gave and the attempts the server saw of it.
    /// The first attempt always goes on the pooled connection, as its second request.
    async fn on_a_dead_pooled_connection(
        path: &str,
        body: serde_json::Value,
        repeat: Repeat,
    ) -> Vec<(HangUp, Result<Answer, ProviderError>, Vec<Seen>)> {
        let mut outcomes = vec![];
        for hang_up in [HangUp::Close, HangUp::Reset] {
            let timeouts = HttpTimeouts::default();
            let (server, client) = warmed_up(hang_up, Fresh::Answer, timeouts).await;
            let request = client.post(server.url(path)).json(&body);
            let outcome = exchange(request, timeouts, repeat).await;
            let attempts = server.attempts(path);
            let first = attempts.first().map(|seen| (seen.connection, seen.nth));
            assert_eq!(first, Some((0, 1)), "{hang_up:?}: {attempts:?}");
            outcomes.push((hang_up, outcome, attempts));
        }
        outcomes
    }

    #[tokio::test]
    async fn a_safe_call_on_a_dead_pooled_connection_is_sent_again_on_a_fresh_one() {
        let path = "/api/request/payment/verify/";
        let body = serde_json::json!({ "transaction_id": "TRX1", "amount": "10.00" });
        for (hang_up, answer, attempts) in
            on_a_dead_pooled_connection(path, body, Repeat::Safe).await
        {
            let ok = br#"{"ok":true}"#.to_vec();
            assert_eq!(
                answer.map(|answer| (answer.status, answer.body)),
                Ok((200, ok))
            );
            assert_eq!(attempts.len(), 2, "{hang_up:?}: {attempts:?}");
            // The second attempt went on a fresh connection.
            assert_ne!(attempts[1].connection, 0, "{hang_up:?}");
            assert_eq!(attempts[1].nth, 0, "{hang_up:?}");
        }
    }

    #[tokio::test]
    async fn a_call_sent_once_on_a_dead_pooled_connection_is_an_unknown_outcome() {
        let path = "/payments?key=sk_live_x";
        let body = serde_json::json!({ "amount": 1000 });
        for (hang_up, answer, attempts) in
            on_a_dead_pooled_connection(path, body, Repeat::Once).await
        {
            let error = answer.unwrap_err();
            assert!(
                matches!(error, ProviderError::Interrupted(_)),
                "{hang_up:?}: {error:?}"
            );
            assert!(error.outcome_unknown(), "{hang_up:?}");
            assert!(!error.to_string().contains("sk_live_x"), "{error}");
            assert_eq!(attempts.len(), 1, "{hang_up:?}: {attempts:?}");
        }
    }

    #[tokio::test]
    async fn a_safe_call_is_sent_again_at_most_once_and_within_its_budget() {
        let timeouts = HttpTimeouts {
            connect: Duration::from_secs(1),
            total: Duration::from_millis(300),
        };
        let (server, client) = warmed_up(HangUp::Close, Fresh::Ignore, timeouts).await;
        let error = exchange(
            client.get(server.url("/payments/p_1")),
            timeouts,
            Repeat::Safe,
        )
        .await
        .unwrap_err();
        assert_eq!(
            error,
            ProviderError::Timeout {
                elapsed: Duration::from_millis(300)
            }
        );
        assert_eq!(server.attempts("/payments/p_1").len(), 2);
    }

    #[test]
    fn a_retry_gets_what_is_left_of_the_budget() {
        let timeouts = HttpTimeouts {
            connect: Duration::from_secs(3),
            total: Duration::from_secs(15),
        };
        let request = || {
            reqwest::Client::new()
                .get("http://127.0.0.1:9/")
                .build()
                .unwrap()
        };
        let ago = |secs| {
            Instant::now()
                .checked_sub(Duration::from_secs(secs))
                .unwrap()
        };
        let retry = with_budget_left(request(), ago(10), timeouts).unwrap();
        let left = retry.timeout().copied().unwrap();
        assert!(
            left <= Duration::from_secs(5) && left > Duration::from_secs(4),
            "{left:?}"
        );
        assert!(with_budget_left(request(), ago(15), timeouts).is_none());
        // A request's own timeout is its budget.
        let mut own = request();
        *own.timeout_mut() = Some(Duration::from_secs(30));
        let left = *with_budget_left(own, ago(10), timeouts)
            .unwrap()
            .timeout()
            .unwrap();
        assert!(left > Duration::from_secs(19), "{left:?}");
    }

    #[test]
    fn base_urls_are_http_and_end_with_a_slash_when_paths_are_joined() {
        let url = |text: &str| Some(Url::parse(text).unwrap());
        let joined = api_base_url(
            url("http://127.0.0.1:9/sandbox/x"),
            "https://x.example/",
            "X",
            true,
        )
        .unwrap();
        assert_eq!(
            joined.join("payments").unwrap().as_str(),
            "http://127.0.0.1:9/sandbox/x/payments"
        );
        let exact = api_base_url(
            url("https://p.example/api"),
            "https://x.example/",
            "X",
            false,
        )
        .unwrap();
        assert_eq!(exact.as_str(), "https://p.example/api");
        assert_eq!(
            api_base_url(None, "https://x.example/v1/", "X", true)
                .unwrap()
                .as_str(),
            "https://x.example/v1/"
        );
        let error =
            api_base_url(url("ftp://x.example/"), "https://x.example/", "Kwik", true).unwrap_err();
        assert_eq!(error.key, "base_url");
        assert!(error.message.contains("Kwik"));
    }

    #[test]
    fn refusals_keep_the_providers_message() {
        assert!(matches!(
            refusal(422, "bad".into(), &[400, 422]),
            ProviderError::InvalidRequest { message, param: None } if message == "bad"
        ));
        assert_eq!(
            refusal(503, "down".into(), &[400]),
            ProviderError::Upstream {
                status: 503,
                message: "down".into()
            }
        );
    }

    /// A provider API for the tests of the shared pieces.
    const X_PAY: ApiSpec = ApiSpec {
        name: "X Pay",
        default_base_url: "https://x.example/v1",
        joins_paths: true,
        invalid_statuses: &[400],
        error_message: |_| String::new(),
    };

    #[test]
    fn credentials_are_sensitive_headers_and_what_a_header_cannot_carry_is_refused() {
        let bearer = credential_header(Some("Bearer"), "sk_test_1").unwrap();
        assert_eq!(bearer, "Bearer sk_test_1");
        assert!(bearer.is_sensitive());
        assert_eq!(credential_header(None, "k-1").unwrap(), "k-1");
        for bad in ["", "has space", "tab\tkey", "clé", "line\nbreak"] {
            assert_eq!(credential_header(None, bad), None, "{bad:?}");
        }
        let error = X_PAY
            .api_key_header(None, &SecretString::from("zq zq"))
            .unwrap_err();
        assert_eq!(error.key, "api_key");
        assert_eq!(
            error.message,
            "the X Pay API key contains characters that cannot be sent in an HTTP header"
        );
    }

    #[test]
    fn error_messages_come_from_the_named_fields_or_the_raw_text() {
        let fields = ["message", "errors"];
        for (body, expected) in [
            (r#"{"message": "bad total"}"#, "bad total"),
            (
                r#"{"message": " ", "errors": ["a", {"message": "b"}]}"#,
                "a; b",
            ),
            (r#"{"message": {"message": "nested"}}"#, "nested"),
            (
                r#"{"error": "not a named field"}"#,
                r#"{"error": "not a named field"}"#,
            ),
            ("  <html>Bad Gateway</html>\n", "<html>Bad Gateway</html>"),
            ("", "no error message"),
        ] {
            assert_eq!(error_message(body.as_bytes(), &fields), expected, "{body}");
        }
        let long = "é".repeat(MAX_RAW_ERROR_CHARS + 1);
        assert_eq!(
            raw_text(long.as_bytes()),
            Some("é".repeat(MAX_RAW_ERROR_CHARS))
        );
        assert_eq!(raw_text(b" \n"), None);
    }

    #[test]
    fn an_endpoint_joins_paths_below_its_base_url_and_shows_no_credential() {
        let settings = serde_json::json!({});
        let context = crate::testing::test_context("x", &settings, None);
        let auth = Auth::authorization(credential_header(Some("Bearer"), "sk_zq").unwrap());
        let endpoint = context.endpoint(&X_PAY, auth, |_| false).unwrap();
        assert_eq!(endpoint.base_url().as_str(), "https://x.example/v1/");
        assert_eq!(endpoint.url("").unwrap().as_str(), "https://x.example/v1/");
        assert_eq!(
            endpoint.url("payments/p_1").unwrap().as_str(),
            "https://x.example/v1/payments/p_1"
        );
        let request = endpoint.post("payments").unwrap().build().unwrap();
        assert_eq!(request.headers()["authorization"], "Bearer sk_zq");
        let debug = format!("{endpoint:?}");
        assert!(!debug.contains("zq"), "{debug}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_unreachable_and_names_no_url() {
        // Bind then drop a listener: the port is closed, so the connect is refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let timeouts = HttpTimeouts::default();
        let client = build_client(timeouts).unwrap();
        let error = client
            .get(format!("http://127.0.0.1:{port}/secret-path?key=sk_live_x"))
            .send()
            .await
            .unwrap_err();
        assert!(!is_dead_connection(&error), "{error:?}");
        let mapped = transport_error(&error, timeouts);
        assert!(
            matches!(mapped, ProviderError::Unreachable(_)),
            "{mapped:?}"
        );
        assert!(!mapped.to_string().contains("sk_live_x"), "{mapped}");
    }

    #[tokio::test]
    async fn a_connection_closed_after_the_request_is_an_unknown_outcome() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        // Read the request, then hang up without answering: the request did reach the server.
        let closer = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut buffer = [0u8; 1024];
            let _ = socket.read(&mut buffer).unwrap();
        });
        let timeouts = HttpTimeouts::default();
        let error = build_client(timeouts)
            .unwrap()
            .post(format!("http://{address}/payments"))
            .body("{}")
            .send()
            .await
            .unwrap_err();
        let mapped = transport_error(&error, timeouts);
        assert!(mapped.outcome_unknown(), "{mapped:?}");
        assert!(!mapped.nothing_created(), "{mapped:?}");
        closer.join().unwrap();
    }

    #[tokio::test]
    async fn a_silent_server_is_a_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        // Accept and hold the connection without answering.
        let holder = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
            drop(socket);
        });
        let timeouts = HttpTimeouts {
            connect: Duration::from_secs(1),
            total: Duration::from_millis(200),
        };
        let error = build_client(timeouts)
            .unwrap()
            .get(format!("http://{address}/"))
            .send()
            .await
            .unwrap_err();
        assert!(!is_dead_connection(&error), "{error:?}");
        assert_eq!(
            transport_error(&error, timeouts),
            ProviderError::Timeout {
                elapsed: Duration::from_millis(200)
            }
        );
        holder.abort();
    }
}
