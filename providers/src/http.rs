//! The one HTTP client every adapter calls providers through, with connect and total timeouts
//! so that a provider that hangs costs a bounded wait, never a stuck request.

use std::time::Duration;

use crate::ProviderError;

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

/// Maps a transport failure to the provider error the gateway acts on: a failed connect means
/// nothing reached the provider; a timeout after sending leaves the outcome unknown.
pub fn transport_error(error: &reqwest::Error, timeouts: HttpTimeouts) -> ProviderError {
    if error.is_connect() {
        // A connect timeout is also a connect error: either way nothing was sent.
        return ProviderError::Unreachable(without_url(error));
    }
    if error.is_timeout() {
        return ProviderError::Timeout {
            elapsed: timeouts.total,
        };
    }
    ProviderError::Upstream {
        status: 502,
        message: without_url(error),
    }
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
