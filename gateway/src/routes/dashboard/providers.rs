//! `GET /dashboard/providers`: the merchant's providers as configured, with each circuit and
//! the last activity; for ops, the configuration's reload (`POST /dashboard/providers/reload`),
//! which shows what it changed, what it refused, and what waits for a restart.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use paymux_schema::db::activity;

use super::layout::{self, badge, time};
use super::viewer::{CsrfForm, Viewer};
use super::{DashboardError, html as page_response};
use crate::domain::audit;
use crate::routes::admin::{ProviderStatus, provider_statuses};
use crate::state::AppState;

/// What a reload did, as the page tells it.
enum Reload {
    /// Applied: the providers whose settings changed (before, after), and what needs a restart.
    Applied {
        changed: Vec<(Option<ProviderStatus>, Option<ProviderStatus>)>,
        restart_required: Vec<&'static str>,
    },
    /// Refused: the running configuration stays.
    Refused(String),
}

/// Every merchant's providers, as the config of the moment has them.
async fn statuses(state: &AppState) -> Result<Vec<ProviderStatus>, DashboardError> {
    let activity = state
        .store(|conn| Ok::<_, DashboardError>(activity::by_merchant_and_provider(conn)?))
        .await?;
    let config = state.config();
    Ok(provider_statuses(
        &config.merchants,
        &activity,
        Some((&state.breakers, config.policy())),
    ))
}

/// `GET /dashboard/providers`.
pub async fn providers(
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, DashboardError> {
    let statuses = statuses(&state).await?;
    Ok(render(&viewer, &statuses, None))
}

/// `POST /dashboard/providers/reload` (ops): reads the configuration again, as SIGHUP does.
pub async fn reload(
    state: web::Data<AppState>,
    request: HttpRequest,
    viewer: Viewer,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, DashboardError> {
    viewer.check_form(&request, &form)?;
    if !viewer.is_ops() {
        return Err(DashboardError::Forbidden(
            "Only ops, signed in with the admin token, can reload the configuration.".to_owned(),
        ));
    }
    let before = statuses(&state).await?;
    let outcome = match audit::reload(&state, &viewer.actor()).await {
        Ok(report) => {
            let after = statuses(&state).await?;
            Reload::Applied {
                changed: changes(before, after.clone()),
                restart_required: report.restart_required,
            }
        }
        Err(error) => Reload::Refused(error.to_string()),
    };
    let statuses = statuses(&state).await?;
    Ok(render(&viewer, &statuses, Some(&outcome)))
}

/// The providers whose configured settings differ between `before` and `after`.
fn changes(
    before: Vec<ProviderStatus>,
    after: Vec<ProviderStatus>,
) -> Vec<(Option<ProviderStatus>, Option<ProviderStatus>)> {
    let key = |status: &ProviderStatus| (status.merchant.clone(), status.provider.clone());
    let mut pairs: BTreeMap<_, (Option<ProviderStatus>, Option<ProviderStatus>)> = BTreeMap::new();
    for status in before {
        let entry = pairs.entry(key(&status)).or_default();
        entry.0 = Some(status);
    }
    for status in after {
        let entry = pairs.entry(key(&status)).or_default();
        entry.1 = Some(status);
    }
    let settings =
        |status: &ProviderStatus| (status.enabled, status.priority, status.currencies.clone());
    pairs
        .into_values()
        .filter(|(old, new)| old.as_ref().map(settings) != new.as_ref().map(settings))
        .collect()
}

fn describe(status: Option<&ProviderStatus>) -> String {
    match status {
        None => "not configured".to_owned(),
        Some(status) => format!(
            "{}, priority {}, {}",
            if status.enabled {
                "enabled"
            } else {
                "disabled"
            },
            status.priority,
            status.currencies.join(" ")
        ),
    }
}

fn render(viewer: &Viewer, statuses: &[ProviderStatus], reload: Option<&Reload>) -> HttpResponse {
    // In the order routing tries them.
    let mut shown: Vec<&ProviderStatus> = statuses
        .iter()
        .filter(|status| status.merchant == viewer.merchant.id)
        .collect();
    shown.sort_by_key(|status| (status.priority, status.provider.clone()));
    let content: Markup = html! {
        @match reload {
            Some(Reload::Applied { changed, restart_required }) => {
                section.notice role="status" {
                    h2 { "Configuration reloaded" }
                    @if changed.is_empty() {
                        p { "No provider's settings changed." }
                    } @else {
                        ul { @for (old, new) in changed {
                            @let who = new.as_ref().or(old.as_ref()).map(|s| format!("{} · {}", s.merchant, s.provider)).unwrap_or_default();
                            li { strong { (who) } ": " (describe(old.as_ref())) " → " (describe(new.as_ref())) }
                        } }
                    }
                    @if !restart_required.is_empty() {
                        p { "Waiting for a restart: " (restart_required.join(", ")) "." }
                    }
                }
            }
            Some(Reload::Refused(why)) => {
                section.notice.refused role="alert" {
                    h2 { "Reload refused: the running configuration stays" }
                    pre { (why) }
                }
            }
            None => {}
        }
        section.table { table {
            thead { tr {
                th { "Provider" } th { "Enabled" } th.num { "Priority" } th { "Currencies" }
                th { "Circuit" } th.num { "Checkouts" } th.num { "Events" } th { "Last event" }
            } }
            tbody {
                @for status in &shown {
                    tr {
                        td { (status.provider) }
                        td { @if status.enabled { (badge("enabled")) } @else { (badge("disabled")) } }
                        td.num { (status.priority) }
                        td { (status.currencies.join(", ")) }
                        td {
                            @match &status.circuit {
                                Some(circuit) => {
                                    (badge(circuit.state.as_str()))
                                    @if let Some(failure) = &circuit.last_failure { " " small { (failure) } }
                                }
                                None => { "–" }
                            }
                        }
                        td.num { (status.checkouts) }
                        td.num { (status.events) }
                        td { @match status.last_event_at {
                            Some(at) => { (time(at.naive_utc())) }
                            None => { "never" }
                        } }
                    }
                }
            }
        } }
        @if viewer.is_ops() {
            form.inline method="post" action="/dashboard/providers/reload" {
                input type="hidden" name="csrf" value=(viewer.csrf_token());
                button type="submit" { "Reload the configuration" }
                span.hint { " Reads the config file and environment again, as SIGHUP does." }
            }
        }
    };
    page_response(
        StatusCode::OK,
        layout::page(viewer, "/dashboard/providers", "Providers", content),
    )
}
