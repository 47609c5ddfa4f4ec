//! The audit log's one door: a handler says who acted, through what and from where
//! ([`Actor`]); this stores what they did.

use std::net::IpAddr;

use paymux_domain::{AuditAction, AuditActor, AuditChannel, AuditId};
use paymux_schema::db::audit::AuditEntry;

use crate::live::{ReloadError, ReloadReport};
use crate::state::AppState;
use crate::store::StoreError;

/// Who acted, through which door, from which address.
#[derive(Debug, Clone)]
pub struct Actor {
    pub kind: AuditActor,
    /// A merchant key's merchant; for ops, the merchant they acted on, if one.
    pub merchant: Option<String>,
    pub channel: AuditChannel,
    pub client_address: Option<IpAddr>,
}

impl Actor {
    /// The log's entry for `action` on `target`, described by `detail` (no secrets, no payload
    /// values), taken now.
    pub fn entry(
        &self,
        action: AuditAction,
        target: Option<String>,
        detail: impl Into<String>,
    ) -> AuditEntry {
        AuditEntry {
            id: AuditId::generate(),
            at: paymux_schema::db::now(),
            actor: self.kind,
            merchant: self.merchant.clone(),
            channel: self.channel,
            action,
            target,
            detail: detail.into(),
            client_address: self.client_address.map(|address| address.to_string()),
        }
    }

    /// The same actor acting on every merchant (a reload): its entries name none.
    pub fn on_every_merchant(&self) -> Actor {
        Actor {
            merchant: None,
            ..self.clone()
        }
    }
}

/// `url` as the log shows it: scheme, host, port and path; a query, a fragment or credentials
/// may hold a secret.
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(url) => {
            let port = url
                .port()
                .map(|port| format!(":{port}"))
                .unwrap_or_default();
            let host = url.host_str().unwrap_or_default();
            format!("{}://{host}{port}{}", url.scheme(), url.path())
        }
        Err(_) => "an unreadable URL".to_owned(),
    }
}

/// Stores `entry`, of an action that has already happened: it waits for room in the write
/// queue, and a failure to store it is logged loudly rather than answered as the action's
/// failure, which would invite a second refund.
pub async fn record(state: &AppState, entry: AuditEntry) {
    let action = entry.action;
    let stored = state
        .write_waiting(move |conn| AuditEntry::insert(conn, &entry).map_err(StoreError::from))
        .await;
    if let Err(error) = stored {
        tracing::error!(%error, action = action.as_str(), "the audit log could not be written");
    }
}

/// Reads the configuration again, as SIGHUP does, and records who asked and what came of it.
pub async fn reload(state: &AppState, by: &Actor) -> Result<ReloadReport, ReloadError> {
    let outcome = state.reload().await;
    let detail = match &outcome {
        Ok(report) if report.restart_required.is_empty() => "applied".to_owned(),
        Ok(report) => format!(
            "applied; waiting for a restart: {}",
            report.restart_required.join(", ")
        ),
        Err(error) => format!("refused: {error}"),
    };
    let entry = by
        .on_every_merchant()
        .entry(AuditAction::Reload, None, detail);
    record(state, entry).await;
    outcome
}
