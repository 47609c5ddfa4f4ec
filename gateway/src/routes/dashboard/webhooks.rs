//! `GET /dashboard/webhooks`: where the merchant is notified (its endpoints) and how each
//! delivery went, with the three ways to send again: a test event to an endpoint, a replay of
//! every event since a time, and a resend of one event. Each is the endpoint API's own action
//! ([`crate::domain::endpoints`]), audited under the viewer's name.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use paymux_domain::EndpointStatus;
use paymux_schema::db::PageRequest;
use paymux_schema::db::outbound::{WebhookAttempt, WebhookEndpoint};
use serde::Deserialize;

use super::layout::{self, Notice, attempt_answer, badge, time};
use super::viewer::{CsrfForm, Viewer};
use super::{DashboardError, html as page_response};
use crate::domain::endpoints::{self, EndpointError};
use crate::routes::list::parse_time;
use crate::state::AppState;

/// Endpoints one page shows; the API lists more.
const ENDPOINTS: i64 = 100;
/// Attempts shown per endpoint, newest first.
const ATTEMPTS: i64 = 20;

/// `GET /dashboard/webhooks`.
pub async fn webhooks(
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, DashboardError> {
    render(&state, &viewer, None).await
}

/// `POST /dashboard/webhooks/{id}/test`: a `webhook.test` event to this endpoint.
pub async fn send_test(
    state: web::Data<AppState>,
    request: HttpRequest,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, DashboardError> {
    viewer.check_form(&request, &form)?;
    let sent = endpoints::send_test(&state, Some(&viewer.actor()), &viewer.merchant.id, &path)
        .await
        .map(|message| {
            format!(
                "A test event ({}) is on its way to {path}.",
                message.event_id
            )
        });
    let notice = notice(sent, "No test event sent")?;
    render(&state, &viewer, Some(notice)).await
}

#[derive(Deserialize)]
pub struct ReplayForm {
    #[serde(flatten)]
    csrf: CsrfForm,
    #[serde(default)]
    since: String,
}

/// `POST /dashboard/webhooks/{id}/replay`: every event since a date, sent to this endpoint again.
pub async fn replay(
    state: web::Data<AppState>,
    request: HttpRequest,
    viewer: Viewer,
    path: web::Path<String>,
    form: web::Form<ReplayForm>,
) -> Result<HttpResponse, DashboardError> {
    viewer.check_form(&request, &form.csrf)?;
    let notice = match parse_time(form.since.trim()) {
        Err(why) => Notice::Refused(format!("Nothing replayed: since: {why}")),
        Ok(since) => {
            let replayed = endpoints::replay(
                &state,
                Some(&viewer.actor()),
                &viewer.merchant.id,
                &path,
                since,
            )
            .await
            .map(|count| {
                format!(
                    "{count} events since {} are queued for {path}.",
                    time(since)
                )
            });
            notice(replayed, "Nothing replayed")?
        }
    };
    render(&state, &viewer, Some(notice)).await
}

#[derive(Deserialize)]
pub struct ResendForm {
    #[serde(flatten)]
    csrf: CsrfForm,
    #[serde(default)]
    event: String,
    #[serde(default)]
    endpoint: String,
}

/// `POST /dashboard/webhooks/resend`: one event again to one endpoint, under the
/// `webhook-id` it had there.
pub async fn resend(
    state: web::Data<AppState>,
    request: HttpRequest,
    viewer: Viewer,
    form: web::Form<ResendForm>,
) -> Result<HttpResponse, DashboardError> {
    viewer.check_form(&request, &form.csrf)?;
    let resent = endpoints::resend(
        &state,
        Some(&viewer.actor()),
        &viewer.merchant.id,
        &form.event,
        Some(&form.endpoint),
    )
    .await
    .map(|queued| match queued.is_empty() {
        true => format!(
            "{} does not take {}'s type of event.",
            form.endpoint, form.event
        ),
        false => format!("{} is queued again for {}.", form.event, form.endpoint),
    });
    let notice = notice(resent, "Not resent")?;
    render(&state, &viewer, Some(notice)).await
}

/// An action's outcome as the page shows it; a store failure is the server's, not a refusal.
fn notice(outcome: Result<String, EndpointError>, failed: &str) -> Result<Notice, DashboardError> {
    match outcome {
        Ok(done) => Ok(Notice::Done(done)),
        Err(EndpointError::Store(error)) => Err(error.into()),
        Err(refused) => Ok(Notice::Refused(format!("{failed}: {refused}."))),
    }
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    notice: Option<Notice>,
) -> Result<HttpResponse, DashboardError> {
    let merchant = viewer.merchant.id.clone();
    let endpoints = state
        .store(move |conn| {
            let page = PageRequest {
                limit: ENDPOINTS,
                starting_after: None,
            };
            let endpoints = WebhookEndpoint::list(conn, &merchant, &page)?.items;
            let mut shown = Vec::with_capacity(endpoints.len());
            for endpoint in endpoints {
                let page = PageRequest {
                    limit: ATTEMPTS,
                    starting_after: None,
                };
                let attempts = WebhookAttempt::list(conn, &endpoint.id, &page)?.items;
                shown.push((endpoint, attempts));
            }
            Ok::<_, DashboardError>(shown)
        })
        .await?;
    let content = html! {
        @if let Some(notice) = &notice { (notice) }
        @if endpoints.is_empty() {
            p.empty {
                "No webhook endpoint yet: create one with "
                code { "POST /v1/webhook_endpoints" } " (see " a href="/docs" { "the API reference" } ")."
            }
        }
        @for (endpoint, attempts) in &endpoints {
            (endpoint_section(viewer, endpoint, attempts))
        }
    };
    let status = notice
        .as_ref()
        .map_or(actix_web::http::StatusCode::OK, Notice::status);
    Ok(page_response(
        status,
        layout::page(viewer, "/dashboard/webhooks", "Webhooks out", content),
    ))
}

/// One endpoint: its settings, the test and replay forms, and its last attempts, each with a
/// resend.
fn endpoint_section(
    viewer: &Viewer,
    endpoint: &WebhookEndpoint,
    attempts: &[WebhookAttempt],
) -> Markup {
    let csrf = viewer.csrf_token();
    html! {
        section.endpoint {
            h2 { code { (endpoint.url) } " " (badge(endpoint.status.as_str())) }
            dl.summary {
                dt { "Endpoint" } dd { code { (endpoint.id) } }
                dt { "Events" } dd { (endpoint.enabled_events.0.join(", ")) }
                @if let Some(description) = &endpoint.description { dt { "Description" } dd { (description) } }
                @if let Some(reason) = &endpoint.disabled_reason { dt { "Disabled because" } dd { (reason) } }
                dt { "Created" } dd { (time(endpoint.created_at)) }
            }
            div.actions {
                @if endpoint.status == EndpointStatus::Enabled {
                    form.inline method="post" action=(viewer.link(&format!("/dashboard/webhooks/{}/test", endpoint.id))) {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" { "Send a test event" }
                    }
                }
                form.inline method="post" action=(viewer.link(&format!("/dashboard/webhooks/{}/replay", endpoint.id))) {
                    input type="hidden" name="csrf" value=(csrf);
                    label { "Replay every event since " input type="date" name="since" required; }
                    button type="submit" { "Replay" }
                }
            }
            @if attempts.is_empty() {
                p.empty { "Nothing delivered yet." }
            } @else {
                section.table { table {
                    thead { tr {
                        th { "Attempted" } th { "Event" } th.num { "Attempt" } th { "Answer" }
                        th.num { "Took" } th { "Next attempt" } th {}
                    } }
                    tbody {
                        @for attempt in attempts {
                            tr {
                                td { (time(attempt.attempted_at)) }
                                td { code { (attempt.event_id) } }
                                td.num { (attempt.attempt) }
                                td { (attempt_answer(attempt)) }
                                td.num { (attempt.duration_ms) " ms" }
                                td { (attempt.next_attempt_at.map_or_else(|| "–".to_owned(), time)) }
                                td {
                                    form.inline method="post" action=(viewer.link("/dashboard/webhooks/resend")) {
                                        input type="hidden" name="csrf" value=(csrf);
                                        input type="hidden" name="event" value=(attempt.event_id);
                                        input type="hidden" name="endpoint" value=(endpoint.id);
                                        button.link type="submit" { "Resend" }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
    }
}
