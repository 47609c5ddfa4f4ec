//! The HTML pages paymux serves a payer itself (`/pay/{checkout_id}`): one shell, every value
//! escaped.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

/// Text escaped for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

/// A page with `title` and `body` (HTML, its values escaped by the caller).
pub fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
             <body style=\"font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto\">{body}</body></html>\n",
            title = escape(title),
        ))
}
