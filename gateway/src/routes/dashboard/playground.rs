//! `/dashboard/playground` (sandbox on): each simulated provider's scenarios, each run with one
//! click the way a storefront and a payer would run it: paymux's own API over HTTP with the
//! merchant's first API key, the simulator's control endpoint as the payer's click; then what
//! came back: the provider's signed webhook and paymux's reply to it, and the notification paymux
//! sent the merchant. Nothing is simulated on paymux's side: the requests are the API's.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use paymux_domain::EventId;
use paymux_providers::SecretResolver;
use paymux_schema::db::outbound::WebhookAttempt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::layout::{self, Notice, badge};
use super::viewer::{CsrfForm, Viewer};
use super::{DashboardError, html as page_response};
use crate::state::AppState;

paymux_domain::text_enum! {
    /// One thing a payer or a storefront can do to a checkout, as the playground runs it.
    pub enum Scenario("playground scenario") {
        Paid => "paid",
        ThreeDsFrictionless => "3ds_frictionless",
        ThreeDsChallenge => "3ds_challenge",
        PartialPayment => "partial_payment",
        UnconfirmedSuccess => "unconfirmed_success",
        Declined => "declined",
        Canceled => "canceled",
        StorefrontCancel => "storefront_cancel",
        Expired => "expired",
        IdempotentRetry => "idempotent_retry",
        Refund => "refund",
    }
}

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Scenario::Paid => "Paid",
            Scenario::ThreeDsFrictionless => "3DS, frictionless",
            Scenario::ThreeDsChallenge => "3DS, challenge",
            Scenario::PartialPayment => "Partial payment",
            Scenario::UnconfirmedSuccess => "Unconfirmed success",
            Scenario::Declined => "Declined",
            Scenario::Canceled => "Canceled",
            Scenario::StorefrontCancel => "Canceled by the storefront",
            Scenario::Expired => "Expired",
            Scenario::IdempotentRetry => "Idempotent retry",
            Scenario::Refund => "Refund",
        }
    }

    /// The simulator's control outcome and its options, when the scenario has a payer act.
    fn press(self, provider: &str) -> Option<(&'static str, Value)> {
        let card = |number: &str| json!({"card": number});
        Some(match (self, provider) {
            (Scenario::Paid | Scenario::Refund, "sknpay") => ("pay", card("4111 1111 1111 1111")),
            (Scenario::Paid | Scenario::Refund, _) => ("pay", json!({})),
            (Scenario::ThreeDsFrictionless, _) => ("pay", card("4000 0000 0000 2701")),
            (Scenario::ThreeDsChallenge, _) => ("pay", card("4000 0000 0000 2420")),
            // Less than the order's 69.69: the rest is still due.
            (Scenario::PartialPayment, _) => ("pay", json!({"amount": "30.00"})),
            (Scenario::UnconfirmedSuccess, _) => ("pay", json!({"verify": "fail"})),
            (Scenario::Declined, _) => ("decline", json!({})),
            (Scenario::Canceled, _) => ("cancel", json!({})),
            (Scenario::Expired, _) => ("expire", json!({})),
            (Scenario::IdempotentRetry | Scenario::StorefrontCancel, _) => return None,
        })
    }
}

/// What the playground knows of a simulated provider: the order it takes (the README's), the
/// id its control endpoint knows a checkout by, and the scenarios its documentation has.
struct Playbook {
    provider: &'static str,
    order: fn() -> Value,
    control_id: ControlId,
    scenarios: &'static [Scenario],
}

/// Which id the simulator's control endpoint takes.
#[derive(Clone, Copy)]
enum ControlId {
    ProviderCheckoutId,
    /// Pakhi Pay names no payment id: its link's last path segment.
    RedirectTail,
    /// SpankPay's frame is paymux's own page: the checkout's id.
    CheckoutId,
}

const PLAYBOOKS: [Playbook; 5] = [
    Playbook {
        provider: "sknpay",
        order: || json!({"amount": 2500, "currency": "USD", "provider": "sknpay"}),
        control_id: ControlId::ProviderCheckoutId,
        scenarios: &[
            Scenario::Paid,
            Scenario::ThreeDsFrictionless,
            Scenario::ThreeDsChallenge,
            Scenario::Declined,
            Scenario::Canceled,
            Scenario::StorefrontCancel,
            Scenario::Expired,
            Scenario::IdempotentRetry,
        ],
    },
    Playbook {
        provider: "pakhi",
        order: || {
            json!({"amount": 10000, "currency": "BDT", "provider": "pakhi",
                   "customer": {"name": "Rahim Uddin", "email": "rahim@example.com"},
                   "success_url": "https://shop.example/ok", "cancel_url": "https://shop.example/cancel"})
        },
        control_id: ControlId::RedirectTail,
        scenarios: &[
            Scenario::Paid,
            Scenario::UnconfirmedSuccess,
            Scenario::Declined,
            Scenario::Canceled,
            Scenario::Expired,
            Scenario::IdempotentRetry,
        ],
    },
    Playbook {
        provider: "kwik",
        order: || json!({"amount": 120000, "currency": "ZAR", "provider": "kwik"}),
        control_id: ControlId::ProviderCheckoutId,
        scenarios: &[
            Scenario::Paid,
            Scenario::Declined,
            Scenario::Canceled,
            Scenario::Expired,
            Scenario::IdempotentRetry,
        ],
    },
    Playbook {
        provider: "skipify",
        order: || json!({"amount": 1000, "currency": "USD", "provider": "skipify"}),
        control_id: ControlId::ProviderCheckoutId,
        // Skipify announces no cancel: a PayLink is paid, fails or expires.
        scenarios: &[
            Scenario::Paid,
            Scenario::Declined,
            Scenario::Expired,
            Scenario::IdempotentRetry,
        ],
    },
    Playbook {
        provider: "spankpay",
        order: || json!({"amount": 6969, "currency": "USD", "provider": "spankpay"}),
        control_id: ControlId::CheckoutId,
        scenarios: &[
            Scenario::Paid,
            Scenario::PartialPayment,
            Scenario::Declined,
            Scenario::StorefrontCancel,
            Scenario::IdempotentRetry,
        ],
    },
];

/// How long a run waits for the merchant's notification to go out.
const NOTIFICATION_WAIT: Duration = Duration::from_secs(5);

/// The playbooks of the viewer's merchant's sandboxed providers, each with every scenario it
/// can run (a refund where the provider refunds).
fn playbooks(viewer: &Viewer) -> Vec<(&'static Playbook, Vec<Scenario>)> {
    let Some(settings) = viewer.config.settings.merchants.get(&viewer.merchant.id) else {
        return Vec::new();
    };
    PLAYBOOKS
        .iter()
        .filter(|book| {
            settings
                .providers
                .get(book.provider)
                .is_some_and(|provider| provider.enabled && provider.sandbox)
        })
        .filter_map(|book| {
            let adapter = &viewer.merchant.providers.get(book.provider)?.adapter;
            let mut scenarios: Vec<Scenario> = book.scenarios.to_vec();
            if adapter.refunds().is_some() {
                scenarios.push(Scenario::Refund);
            }
            Some((book, scenarios))
        })
        .collect()
}

/// Refuses the playground when the sandbox is off: there is nothing to play with.
fn sandbox_on(state: &AppState) -> Result<(), DashboardError> {
    match state.live.started().sandbox.enabled {
        true => Ok(()),
        false => Err(DashboardError::NotFound(
            "The playground runs the sandbox's simulated providers, and the sandbox is off."
                .to_owned(),
        )),
    }
}

/// `GET /dashboard/playground`.
pub async fn playground(
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, DashboardError> {
    sandbox_on(&state)?;
    Ok(render(&viewer, None, &[]))
}

#[derive(Deserialize)]
pub struct RunForm {
    #[serde(flatten)]
    csrf: CsrfForm,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    scenario: String,
}

/// One exchange of a run, as the page shows it.
struct Step {
    title: String,
    request: Option<String>,
    answer: String,
    status: Option<u16>,
}

/// `POST /dashboard/playground/run`: runs one scenario and shows every request and answer.
pub async fn run(
    state: web::Data<AppState>,
    request: HttpRequest,
    viewer: Viewer,
    form: web::Form<RunForm>,
) -> Result<HttpResponse, DashboardError> {
    viewer.check_form(&request, &form.csrf)?;
    sandbox_on(&state)?;
    let books = playbooks(&viewer);
    let (book, scenario) = books
        .iter()
        .find(|(book, _)| book.provider == form.provider)
        .and_then(|(book, scenarios)| {
            let scenario = form.scenario.parse::<Scenario>().ok()?;
            scenarios.contains(&scenario).then_some((*book, scenario))
        })
        .ok_or_else(|| {
            DashboardError::BadRequest(format!(
                "No scenario `{}` of `{}` for this merchant.",
                form.scenario, form.provider
            ))
        })?;
    let mut run = Run::new(&state, &viewer)?;
    let outcome = run.play(&state, book, scenario).await;
    let notice = match outcome {
        Ok(summary) => Notice::Done(summary),
        Err(why) => Notice::Refused(why),
    };
    Ok(render(
        &viewer,
        Some((book.provider, scenario, notice)),
        &run.steps,
    ))
}

/// A scenario being run: the merchant's key, paymux's address, and the steps so far.
struct Run {
    client: reqwest::Client,
    base: Url,
    key: SecretString,
    steps: Vec<Step>,
}

impl Run {
    fn new(state: &AppState, viewer: &Viewer) -> Result<Run, DashboardError> {
        let settings = viewer
            .config
            .settings
            .merchants
            .get(&viewer.merchant.id)
            .ok_or_else(|| DashboardError::internal("the merchant has no settings"))?;
        let reference = settings
            .api_keys
            .first()
            .ok_or_else(|| DashboardError::internal("the merchant has no API key"))?;
        let secrets = SecretResolver {
            allow_literals: viewer.config.settings.sandbox.enabled,
        };
        let key = secrets
            .resolve(reference)
            .map_err(DashboardError::internal)?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(DashboardError::internal)?;
        Ok(Run {
            client,
            base: state.live.public_url().clone(),
            key,
            steps: Vec::new(),
        })
    }

    /// `path` on paymux, as the storefront reaches it.
    fn url(&self, path: &str) -> Result<Url, String> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|error| error.to_string())
    }

    /// `GET path` of the API with the merchant's key: the answer's status and JSON.
    async fn get(&self, path: &str) -> Result<(u16, Value), String> {
        let response = self
            .client
            .get(self.url(path)?)
            .bearer_auth(self.key.expose_secret())
            .send()
            .await
            .map_err(|error| error.to_string())?;
        let status = response.status().as_u16();
        let answer = response.json().await.map_err(|error| error.to_string())?;
        Ok((status, answer))
    }

    /// Sends `body` to `path` (with the merchant's key on the API), records the exchange, and
    /// returns the answer's status and JSON.
    async fn call(
        &mut self,
        title: &str,
        path: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> Result<(u16, Value), String> {
        let mut request = self.client.post(self.url(path)?).json(body);
        let mut shown = format!("POST {path}\n");
        if path.starts_with("/v1/") {
            request = request.bearer_auth(self.key.expose_secret());
            shown.push_str("Authorization: Bearer pmx_… (the merchant's key)\n");
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
            shown.push_str(&format!("Idempotency-Key: {key}\n"));
        }
        shown.push_str(&pretty(body));
        let response = request.send().await.map_err(|error| error.to_string())?;
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let answer: Value = response.json().await.map_err(|error| error.to_string())?;
        let mut answer_text = String::new();
        if let Some(replayed) = replayed {
            answer_text.push_str(&format!("Idempotent-Replayed: {replayed}\n"));
        }
        answer_text.push_str(&pretty(&answer));
        self.steps.push(Step {
            title: title.to_owned(),
            request: Some(shown),
            answer: answer_text,
            status: Some(status),
        });
        Ok((status, answer))
    }

    async fn play(
        &mut self,
        state: &AppState,
        book: &Playbook,
        scenario: Scenario,
    ) -> Result<String, String> {
        let order = (book.order)();
        if scenario == Scenario::IdempotentRetry {
            return self.retry(&order).await;
        }
        let checkout = self.create(&order, None).await?;
        let checkout_id = text(&checkout, "id");
        let Some((outcome, options)) = scenario.press(book.provider) else {
            self.expect(
                "The storefront cancels the checkout",
                &format!("/v1/checkouts/{checkout_id}/cancel"),
                &json!({}),
                200,
            )
            .await?;
            self.notifications(state, &checkout_id).await?;
            return Ok(format!("Checkout {checkout_id} is canceled."));
        };
        self.press(book, &checkout, outcome, &options).await?;
        if scenario == Scenario::Refund {
            let refund = self
                .expect(
                    "The storefront refunds the payment",
                    "/v1/refunds",
                    &json!({"checkout_id": checkout_id}),
                    201,
                )
                .await?;
            self.steps.push(Step {
                title: "The refund".to_owned(),
                request: None,
                answer: format!("{} is {}", text(&refund, "id"), text(&refund, "status")),
                status: None,
            });
        }
        let now = self.checkout(&checkout_id).await?;
        self.notifications(state, &checkout_id).await?;
        Ok(format!(
            "Checkout {checkout_id} is {}.",
            text(&now, "status").replace('_', " ")
        ))
    }

    /// [`Run::call`] that expects `wanted`: the answer, or why paymux or the simulator refused.
    async fn expect(
        &mut self,
        title: &str,
        path: &str,
        body: &Value,
        wanted: u16,
    ) -> Result<Value, String> {
        let (status, answer) = self.call(title, path, body, None).await?;
        match status == wanted {
            true => Ok(answer),
            false => Err(format!(
                "{path} was refused ({status}): {}",
                answer["error"]["message"]
                    .as_str()
                    .unwrap_or("no reason given")
            )),
        }
    }

    /// The storefront creates a checkout for `order`, under `key` when given.
    async fn create(&mut self, order: &Value, key: Option<&str>) -> Result<Value, String> {
        let title = match key {
            None => "The storefront creates a checkout",
            Some(_) => "The storefront creates a checkout, with an Idempotency-Key",
        };
        let (status, checkout) = self.call(title, "/v1/checkouts", order, key).await?;
        match status {
            201 => Ok(checkout),
            _ => Err(format!(
                "paymux refused the checkout ({status}): {}",
                checkout["error"]["message"]
                    .as_str()
                    .unwrap_or("no reason given")
            )),
        }
    }

    /// The same create sent twice under one key: one checkout.
    async fn retry(&mut self, order: &Value) -> Result<String, String> {
        let key = format!("playground-{}", EventId::generate().ulid());
        let checkout_id = text(&self.create(order, Some(&key)).await?, "id");
        let (status, again) = self
            .call(
                "The storefront retries the same request (a timeout, a double click)",
                "/v1/checkouts",
                order,
                Some(&key),
            )
            .await?;
        match status == 201 && text(&again, "id") == checkout_id {
            true => Ok(format!(
                "The retry answered the same checkout, {checkout_id}: one checkout, however often it is asked for."
            )),
            false => Err("The retry made another checkout.".to_owned()),
        }
    }

    /// The payer presses `outcome` on the provider's page (its simulator's control), which
    /// sends the provider's signed webhook to paymux.
    async fn press(
        &mut self,
        book: &Playbook,
        checkout: &Value,
        outcome: &str,
        options: &Value,
    ) -> Result<(), String> {
        let control_id = match book.control_id {
            ControlId::ProviderCheckoutId => text(checkout, "provider_checkout_id"),
            ControlId::CheckoutId => text(checkout, "id"),
            ControlId::RedirectTail => text(checkout, "redirect_url")
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned(),
        };
        let title = format!(
            "The payer presses “{outcome}” on {}'s page; the provider sends its signed webhook, and paymux answers it",
            book.provider
        );
        let control = format!(
            "/sandbox/{}/checkouts/{control_id}/{outcome}",
            book.provider
        );
        let pressed = self.expect(&title, &control, options, 200).await?;
        if pressed["webhook"].is_null() {
            self.steps.push(Step {
                title: format!("{} sends no webhook for this", book.provider),
                request: None,
                answer: "Its documentation names none: paymux learns it when the checkout \
                         expires or when asked (?refresh=true)."
                    .to_owned(),
                status: None,
            });
        }
        Ok(())
    }

    /// The checkout as the API now shows it.
    async fn checkout(&mut self, id: &str) -> Result<Value, String> {
        let (status, checkout) = self.get(&format!("/v1/checkouts/{id}")).await?;
        self.steps.push(Step {
            title: "The checkout, as the storefront now reads it".to_owned(),
            request: Some(format!("GET /v1/checkouts/{id}")),
            answer: pretty(&checkout),
            status: Some(status),
        });
        Ok(checkout)
    }

    /// Waits a moment for paymux's notifications of the checkout's events to go out, and shows
    /// each attempt; says so when the merchant has nowhere to be notified.
    async fn notifications(&mut self, state: &AppState, checkout_id: &str) -> Result<(), String> {
        let (_, events) = self
            .get(&format!("/v1/events?checkout_id={checkout_id}"))
            .await?;
        let ids: Vec<EventId> = events["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|event| event["id"].as_str()?.parse().ok())
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + NOTIFICATION_WAIT;
        let attempts = loop {
            let wanted = ids.clone();
            let attempts = state
                .store(move |conn| {
                    Ok::<_, crate::store::StoreError>(WebhookAttempt::for_events(
                        conn, &wanted, 50,
                    )?)
                })
                .await
                .map_err(|error| error.to_string())?;
            let every_event_tried = ids
                .iter()
                .all(|id| attempts.iter().any(|attempt| attempt.event_id == *id));
            if every_event_tried || tokio::time::Instant::now() >= deadline {
                break attempts;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let answer = match attempts.is_empty() {
            true => "No attempt yet: the merchant may have no webhook endpoint that wants these \
                     events (see Webhooks out)."
                .to_owned(),
            false => attempts
                .iter()
                .map(|attempt| {
                    format!(
                        "{} → {} attempt {}: {}",
                        attempt.event_id,
                        attempt.endpoint_id,
                        attempt.attempt,
                        attempt.response_status.map_or_else(
                            || attempt
                                .error
                                .clone()
                                .unwrap_or_else(|| "no answer".to_owned()),
                            |status| status.to_string()
                        )
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        };
        self.steps.push(Step {
            title: "paymux notifies the merchant (Standard Webhooks)".to_owned(),
            request: None,
            answer,
            status: None,
        });
        Ok(())
    }
}

/// `value[field]` as text, empty when absent.
fn text(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_default().to_owned()
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

fn render(viewer: &Viewer, ran: Option<(&str, Scenario, Notice)>, steps: &[Step]) -> HttpResponse {
    let books = playbooks(viewer);
    let content: Markup = html! {
        p.hint {
            "Each button runs a scenario against the sandbox's simulated provider, as a storefront and a payer would: "
            "paymux's API with " (viewer.merchant.id) "'s key, then the payer's click on the provider's page. "
            "No real money moves."
        }
        @if let Some((provider, scenario, notice)) = &ran {
            section.run {
                h2 { (provider) " · " (scenario.label()) }
                (notice)
                ol.steps {
                    @for step in steps {
                        li {
                            h3 { (step.title) @if let Some(status) = step.status { " " (badge(if status < 300 { "succeeded" } else { "failed" })) " " (status) } }
                            @if let Some(request) = &step.request { pre.request { (request) } }
                            pre.answer { (step.answer) }
                        }
                    }
                }
            }
        }
        @if books.is_empty() {
            p.empty { "This merchant has no provider pointed at the sandbox." }
        }
        @for (book, scenarios) in &books {
            section.playbook {
                h2 { (book.provider) }
                div.actions {
                    @for scenario in scenarios {
                        form.inline method="post" action=(viewer.link("/dashboard/playground/run")) {
                            input type="hidden" name="csrf" value=(viewer.csrf_token());
                            input type="hidden" name="provider" value=(book.provider);
                            input type="hidden" name="scenario" value=(scenario.as_str());
                            button type="submit" { (scenario.label()) }
                        }
                    }
                }
            }
        }
    };
    let status = match &ran {
        Some((_, _, notice)) => notice.status(),
        None => StatusCode::OK,
    };
    page_response(
        status,
        layout::page(viewer, "/dashboard/playground", "Playground", content),
    )
}
