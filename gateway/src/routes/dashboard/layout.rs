//! The dashboard's shell (header, navigation, the merchant ops look at, sign-out), its
//! stylesheet, and the pieces pages share: amounts in their currency, times, status badges, a
//! bar chart drawn as SVG on the server.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use chrono::NaiveDateTime;
use maud::{DOCTYPE, Markup, html};
use paymux_domain::{Currency, Money};
use paymux_schema::db::outbound::WebhookAttempt;

use super::SIGN_IN_PATH;
use super::viewer::Viewer;

/// The stylesheet, compiled into the binary.
const STYLESHEET: &str = include_str!("../../../assets/dashboard.css");

/// `GET /dashboard/assets/dashboard.css`.
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLESHEET)
}

/// The pages in the navigation, by path and name.
const PAGES: [(&str, &str); 8] = [
    ("/dashboard", "Overview"),
    ("/dashboard/checkouts", "Checkouts"),
    ("/dashboard/receipts", "Webhooks in"),
    ("/dashboard/webhooks", "Webhooks out"),
    ("/dashboard/providers", "Providers"),
    ("/dashboard/reconciliation", "Reconciliation"),
    ("/dashboard/audit", "Audit"),
    ("/dashboard/playground", "Playground"),
];

fn document(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · paymux" }
                link rel="stylesheet" href="/dashboard/assets/dashboard.css";
            }
            body { (body) }
        }
    }
}

/// A signed-in page: `current` is the navigation entry it belongs to.
pub fn page(viewer: &Viewer, current: &str, title: &str, content: Markup) -> Markup {
    let merchant = &viewer.merchant.id;
    document(
        title,
        html! {
            header.top {
                a.brand href=(viewer.link("/dashboard")) { "paymux" }
                nav {
                    @for (path, name) in PAGES.iter().filter(|(path, _)| *path != "/dashboard/playground" || viewer.config.settings.sandbox.enabled) {
                        a href=(viewer.link(path)) aria-current=[(*path == current).then_some("page")] { (name) }
                    }
                }
                div.who {
                    @if viewer.is_ops() {
                        form.merchant method="get" action=(current) {
                            label for="merchant" { "ops · merchant" }
                            select #merchant name="merchant" {
                                @for other in viewer.config.merchants.iter() {
                                    option value=(other.id) selected[other.id == *merchant] { (other.id) }
                                }
                            }
                            button type="submit" { "Show" }
                        }
                    } @else {
                        span { "merchant " strong { (merchant) } }
                    }
                    form method="post" action="/dashboard/sign-out" {
                        input type="hidden" name="csrf" value=(viewer.csrf_token());
                        button.link type="submit" { "Sign out" }
                    }
                }
            }
            main {
                h1 { (title) }
                (content)
            }
        },
    )
}

/// The sign-in form, with why the last attempt was refused.
pub fn sign_in_page(refusal: Option<&str>) -> Markup {
    document(
        "Sign in",
        html! {
            main.narrow {
                h1 { "paymux dashboard" }
                p { "Sign in with the admin token to see every merchant, or with a merchant's API key to see that merchant." }
                @if let Some(refusal) = refusal {
                    p.error role="alert" { (refusal) }
                }
                form.stack method="post" action=(SIGN_IN_PATH) {
                    label for="token" { "Admin token or API key" }
                    input #token type="password" name="token" autocomplete="current-password" required autofocus;
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// A page that only says `message` (an error, a refusal).
pub fn message_page(message: &str) -> Markup {
    document(
        "paymux",
        html! {
            main.narrow {
                h1 { "paymux dashboard" }
                p.error role="alert" { (message) }
                p { a href="/dashboard" { "Back to the dashboard" } }
            }
        },
    )
}

/// What went wrong on the signed-in page at `path`, within the navigation, its section marked.
pub fn failed_page(viewer: &Viewer, path: &str, status: StatusCode, message: &str) -> Markup {
    let current = PAGES
        .iter()
        .map(|(page, _)| *page)
        .filter(|page| path.starts_with(page))
        .max_by_key(|page| page.len())
        .unwrap_or("/dashboard");
    let title = status.canonical_reason().unwrap_or("Something went wrong");
    page(
        viewer,
        current,
        title,
        html! { p.error role="alert" { (message) } },
    )
}

/// What an action a page offers came to, shown above the page it returns to.
pub enum Notice {
    Done(String),
    Refused(String),
}

impl Notice {
    pub fn text(&self) -> &str {
        match self {
            Notice::Done(text) | Notice::Refused(text) => text,
        }
    }

    /// The page's status: a refusal is the person's to mend.
    pub fn status(&self) -> actix_web::http::StatusCode {
        match self {
            Notice::Done(_) => actix_web::http::StatusCode::OK,
            Notice::Refused(_) => actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

impl maud::Render for Notice {
    fn render(&self) -> Markup {
        match self {
            Notice::Done(text) => html! { section.notice role="status" { p { (text) } } },
            Notice::Refused(text) => html! { section.notice.refused role="alert" { p { (text) } } },
        }
    }
}

/// `amount` minor units of `currency` as people read them: `25.00 USD`.
pub fn money(amount: i64, currency: Currency) -> String {
    Money::new(amount, currency).to_string()
}

/// `amount` minor units of the currency a report names by `code`, as [`money`] writes them;
/// as the number and the code for a code paymux does not know.
pub fn money_in(amount: i64, code: &str) -> String {
    code.parse::<Currency>().map_or_else(
        |_| format!("{amount} {code}"),
        |currency| money(amount, currency),
    )
}

/// A stored time, to the minute, in UTC.
pub fn time(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A status as a badge coloured by what it means for the money.
pub fn badge(status: &str) -> Markup {
    let tone = match status {
        "succeeded" | "paid" | "delivered" | "accepted" | "closed" | "enabled" => "good",
        "failed" | "rejected" | "expired" | "canceled" | "open" | "disabled" => "bad",
        "partially_paid" | "partially_refunded" | "refunded" | "pending" | "processing"
        | "unconfirmed" | "half_open" => "warn",
        _ => "plain",
    };
    html! { span class={"badge " (tone)} { (status.replace('_', " ")) } }
}

/// What an endpoint answered an attempt: delivered (2xx) or failed, with the status or why
/// there was none.
pub fn attempt_answer(attempt: &WebhookAttempt) -> Markup {
    html! {
        @match attempt.response_status {
            Some(status) if (200..300).contains(&status) => { (badge("delivered")) " " (status) }
            Some(status) => { (badge("failed")) " " (status) }
            None => { (badge("failed")) " " (attempt.error.as_deref().unwrap_or("no answer")) }
        }
    }
}

/// One bar of a chart: its label, the value it measures, and the text shown beside it.
pub struct Bar {
    pub label: String,
    pub value: i64,
    pub shown: String,
}

/// Horizontal bars scaled to the largest, drawn as SVG on the server (no script needed).
pub fn bar_chart(caption: &str, bars: &[Bar]) -> Markup {
    const ROW: i64 = 28;
    const LABEL: i64 = 120;
    const WIDTH: i64 = 560;
    /// Room for the text beside the longest bar.
    const SHOWN: i64 = 200;
    let largest = bars.iter().map(|bar| bar.value).max().unwrap_or(0).max(1);
    let height = ROW * i64::try_from(bars.len()).unwrap_or(0);
    html! {
        figure.chart {
            figcaption { (caption) }
            svg role="img" aria-label=(caption) viewBox={"0 0 " (LABEL + WIDTH + SHOWN) " " (height)} {
                @for (row, bar) in (0i64..).zip(bars) {
                    @let y = row * ROW;
                    @let scaled = i128::from(bar.value.max(0)) * i128::from(WIDTH) / i128::from(largest);
                    @let length = i64::try_from(scaled).unwrap_or(WIDTH).max(2);
                    text x="0" y=(y + 18) { (bar.label) }
                    rect x=(LABEL) y=(y + 4) width=(length) height="18" rx="3" {}
                    text x=(LABEL + length + 6) y=(y + 18) { (bar.shown) }
                }
            }
        }
    }
}
