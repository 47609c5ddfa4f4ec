//! The HTML pages paymux serves a payer itself (`/pay/{checkout_id}`): one shell, every value
//! escaped (maud escapes whatever it splices in).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use maud::{DOCTYPE, Markup, html};

/// What a page says across its top when no real money can move through it.
pub const SANDBOX_RIBBON: &str = "Sandbox — no real money moves";

/// The style of the payer pages, small enough to travel inline.
const STYLE: &str = "body { margin: 0; font-family: system-ui, sans-serif; color: #1f2933; } \
    .ribbon { margin: 0; padding: .45rem 1rem; background: #fcd34d; color: #422006; \
    text-align: center; font-weight: 600; } \
    main { max-width: 28rem; margin: 2.5rem auto; padding: 0 1rem; } \
    .amount { font-size: 2rem; font-weight: 700; margin: .2rem 0; } \
    a.pay { display: inline-block; padding: .7rem 1.2rem; border-radius: .4rem; \
    background: #1f2933; color: #fff; text-decoration: none; font-weight: 600; }";

/// A page with `title` and `content`, with the sandbox ribbon when `sandbox`.
pub fn page(status: StatusCode, title: &str, sandbox: bool, content: Markup) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (STYLE) }
            }
            body {
                @if sandbox {
                    p.ribbon role="note" { (SANDBOX_RIBBON) }
                }
                main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(markup.into_string())
}
