//! The one HTTP client every adapter calls providers through, with connect and total timeouts
//! so that a provider that hangs costs a bounded wait, never a stuck request.

use std::time::Duration;

use url::Url;

use crate::{ConfigError, ProviderError};

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

/// Sends `request` and reads the whole answer; a failure on the way becomes the provider error
/// the gateway acts on ([`transport_error`]).
pub async fn exchange(
    request: reqwest::RequestBuilder,
    timeouts: HttpTimeouts,
) -> Result<Answer, ProviderError> {
    let response = request
        .send()
        .await
        .map_err(|error| transport_error(&error, timeouts))?;
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
    use super::*;

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
        assert_eq!(
            transport_error(&error, timeouts),
            ProviderError::Timeout {
                elapsed: Duration::from_millis(200)
            }
        );
        holder.abort();
    }
}
