//! The API contract: `GET /openapi.json`, OpenAPI 3.1 generated from the handlers' own
//! request and response types, and `GET /docs`, a reference page rendering it with a Redoc
//! bundle compiled into the binary (no CDN, works offline).

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use paymux_domain::{ErrorBody, EventType};
use paymux_providers::Registry;
use serde_json::{Map, Value, json};
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Components, ContentBuilder, ObjectBuilder, Ref, RefOr, Required, Schema};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use crate::domain::outbound::{TEST_EVENT, WebhookPayload};
use crate::error::ApiError;
use crate::routes::{
    admin, checkouts, events, export, health, metrics, reconciliation, refunds, webhook_endpoints,
    webhooks,
};

/// The document: every public route, its schemas, the error answers every route shares, the
/// two bearer schemes, and the events paymux sends merchants under `webhooks`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "paymux",
        description = "One checkout API in front of five payment providers. Amounts are \
            integers in minor units of their currency (2500 is 25.00 USD). Errors are \
            `{\"error\": {\"code\", \"message\", \"param\"}}`, `param` naming the request \
            field at fault. Lists are `{\"object\": \"list\", \"data\", \"has_more\"}`, newest \
            first, paged with `limit` and `starting_after`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        checkouts::create_checkout,
        checkouts::list_checkouts,
        checkouts::get_checkout,
        checkouts::cancel_checkout,
        refunds::create_refund,
        refunds::get_refund,
        events::list_events,
        export::export_events,
        events::get_event,
        webhook_endpoints::resend_event,
        webhook_endpoints::create_endpoint,
        webhook_endpoints::list_endpoints,
        webhook_endpoints::get_endpoint,
        webhook_endpoints::update_endpoint,
        webhook_endpoints::delete_endpoint,
        webhook_endpoints::rotate_secret,
        webhook_endpoints::list_deliveries,
        webhook_endpoints::replay,
        webhook_endpoints::send_test,
        reconciliation::reconciliation,
        admin::reload,
        admin::providers,
        admin::nodes,
        admin::set_fault,
        admin::clear_fault,
        webhooks::receive,
        health::healthz,
        health::readyz,
        metrics::metrics_endpoint,
    ),
    // The bodies of the webhooks paymux sends, which no path reaches.
    components(schemas(ErrorBody, WebhookPayload)),
    modifiers(&Contract),
    tags(
        (name = "Checkouts", description = "A checkout collects one amount through one provider, \
            picked by the request or by routing."),
        (name = "Refunds", description = "Money sent back to the payer through the checkout's provider."),
        (name = "Events", description = "Every provider event, normalized into one model."),
        (name = "Webhook endpoints", description = "Where paymux sends a merchant its events, \
            signed by the Standard Webhooks scheme, and the attempts to deliver them."),
        (name = "Reconciliation", description = "Totals and discrepancies over a period, for finance."),
        (name = "Inbound webhooks", description = "Where the providers send their webhooks. \
            Not for merchants: each provider's own signature authenticates it."),
        (name = "Operations", description = "Health and metrics, for load balancers and monitoring."),
        (name = "Admin", description = "Providers, configuration and sandbox faults, with the \
            admin token."),
    ),
)]
pub struct ApiDoc;

/// The document as served and committed: pretty JSON, ending in a newline.
pub fn document() -> String {
    let json = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    format!("{json}\n")
}

/// The component holding each provider's rules for a checkout, under `$defs`.
const CHECKOUT_RULES: &str = "CheckoutRules";

/// The body of `POST /v1/checkouts` with what each provider requires of it: `provider` names
/// one the registry knows, and `provider_options` only such keys; a named provider's rules
/// apply (`if` it is named, `then` its rules), and without one, routing needs some provider
/// whose rules the order meets. These are JSON Schema conditionals, which utoipa's types have
/// no field for: they go in as extra keywords, one per schema object, so that the document's
/// text keeps one order (utoipa keeps extra keywords in a hash map).
fn with_provider_rules(components: &mut Components, registry: &Registry) {
    let Some(RefOr::T(Schema::Object(checkout))) = components.schemas.get_mut("CheckoutIn") else {
        return;
    };
    let rules: Map<String, Value> = registry
        .ids()
        .filter_map(|id| Some((id.to_owned(), registry.get(id)?.checkout_rules())))
        .collect();
    let ids: Vec<&str> = rules.keys().map(String::as_str).collect();
    let rules_of =
        |id: &str| json!({ "$ref": format!("#/components/schemas/{CHECKOUT_RULES}/$defs/{id}") });
    let mut conditionals: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({
                "if": { "required": ["provider"], "properties": { "provider": { "const": id } } },
                "then": rules_of(id),
            })
        })
        .collect();
    conditionals.push(json!({
        "if": { "properties": { "provider": { "type": "null" } } },
        "then": { "anyOf": ids.iter().map(|id| rules_of(id)).collect::<Vec<_>>() },
    }));
    extend(
        &mut checkout.extensions,
        "allOf",
        Value::Array(conditionals),
    );
    if let Some(RefOr::T(Schema::Object(provider))) = checkout.properties.get_mut("provider") {
        let choices = ids.iter().map(|id| json!(id)).chain([Value::Null]);
        provider.enum_values = Some(choices.collect());
    }
    for field in ["success_url", "cancel_url"] {
        if let Some(RefOr::T(Schema::Object(url))) = checkout.properties.get_mut(field) {
            url.pattern = Some(paymux_providers::rules::return_url(false, ""));
        }
    }
    if let Some(RefOr::T(Schema::Object(options))) = checkout.properties.get_mut("provider_options")
    {
        extend(
            &mut options.extensions,
            "propertyNames",
            json!({ "enum": ids }),
        );
    }
    let mut definitions = ObjectBuilder::new()
        .description(Some(
            "What each provider requires of a checkout, by provider id (`$defs`): the \
             conditionals of `CheckoutIn` apply them.",
        ))
        .build();
    extend(&mut definitions.extensions, "$defs", Value::Object(rules));
    components.schemas.insert(
        CHECKOUT_RULES.to_owned(),
        RefOr::T(Schema::Object(definitions)),
    );
}

/// Adds a keyword utoipa has no field for to a schema object.
fn extend(extensions: &mut Option<Extensions>, keyword: &str, value: Value) {
    extensions
        .get_or_insert_with(Extensions::default)
        .insert(keyword.to_owned(), value);
}

/// `GET /openapi.json`: the document is the same for the life of the process, so it is built
/// once, on the first request.
pub async fn openapi_json() -> HttpResponse {
    static DOCUMENT: LazyLock<String> = LazyLock::new(document);
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.as_str())
}

/// The Redoc standalone bundle (npm `redoc` 3.0.1, MIT), vendored so that `/docs` needs no
/// network, at build time or at run time.
const REDOC_BUNDLE: &str = include_str!("../../assets/redoc.standalone.js");
/// What starts it on `/docs`, with its telemetry off.
const DOCS_SCRIPT: &str = include_str!("../../assets/docs.js");

/// `GET /docs`: the reference page. No inline script: its module loads the bundle.
pub async fn docs_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, DOCS_POLICY))
        .body(DOCS_PAGE)
}

/// `GET /docs/{asset}`: the page's two scripts.
pub async fn docs_asset(asset: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let script = match asset.as_str() {
        "redoc.standalone.js" => REDOC_BUNDLE,
        "docs.js" => DOCS_SCRIPT,
        other => return Err(ApiError::not_found("asset", other)),
    };
    Ok(HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(script))
}

/// Redoc styles itself inline and searches in a worker made from a blob; nothing may be
/// fetched from elsewhere (Redoc's logo comes from a CDN: it hides itself when refused).
const DOCS_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' \
    'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; \
    frame-ancestors 'none'";

const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>paymux API reference</title>
</head>
<body>
<div id="reference"></div>
<script type="module" src="/docs/docs.js"></script>
</body>
</html>
"#;

/// The security schemes, the error answers every route shares, and the outbound events.
struct Contract;

/// Seconds after which a retry may succeed.
fn retry_after() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(u64::schema()))
        .description(Some("Seconds after which a retry may succeed."))
        .build()
}

/// An error answer with `description`, `Retry-After` when `retry` says so.
fn error_response(description: &str, retry: bool) -> Response {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ErrorBody::name())))
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content);
    match retry {
        true => response.header("Retry-After", retry_after()).build(),
        false => response.build(),
    }
}

const MERCHANT_KEY: &str = "merchant_key";
const ADMIN_TOKEN: &str = "admin_token";

/// The scheme a route is signed in with, by where it stands: the admin API with the admin
/// token, the rest of `/v1/` with a merchant's key, nothing else with either.
fn scheme_of(path: &str) -> Option<&'static str> {
    if path.starts_with("/v1/admin/") {
        Some(ADMIN_TOKEN)
    } else if path.starts_with("/v1/") {
        Some(MERCHANT_KEY)
    } else {
        None
    }
}

/// The error answers any operation of a kind can give, whatever the route.
fn shared_errors(path: &str, operation: &Operation) -> Vec<(&'static str, Response)> {
    let mut errors = vec![];
    if operation.request_body.is_some() {
        errors.push((
            "400",
            error_response(
                "The request is invalid: a body that is not JSON, or a field missing, unknown, \
                 mistyped or out of range (`param` names it).",
                false,
            ),
        ));
        errors.push((
            "413",
            error_response("The body is larger than allowed.", false),
        ));
    }
    let queried = operation.parameters.iter().flatten().any(|parameter| {
        matches!(parameter, RefOr::T(parameter) if parameter.parameter_in == ParameterIn::Query)
    });
    if queried {
        errors.push((
            "400",
            error_response(
                "A query parameter is invalid or unknown (`param` names it).",
                false,
            ),
        ));
    }
    match scheme_of(path) {
        Some(ADMIN_TOKEN) => errors.push((
            "401",
            error_response(
                "No admin token, or a wrong one (`invalid_admin_token`).",
                false,
            ),
        )),
        Some(_) => {
            errors.push((
                "401",
                error_response("No API key, or an unknown one (`invalid_api_key`).", false),
            ));
            errors.push((
                "429",
                error_response("Too many requests with this key (`rate_limited`).", true),
            ));
        }
        None => {}
    }
    let unavailable = if path.starts_with("/webhooks/") {
        Some(
            "Not stored: the store is unreachable or its write queue is full \
             (`webhook_not_stored`), or the provider could not confirm a payment \
             (`webhook_not_confirmed`); the provider delivers it again.",
        )
    } else if path.starts_with("/v1/") || path == "/readyz" {
        Some(
            "The store is unreachable or its write queue is full (`database_unavailable`, \
             `database_busy`); retry.",
        )
    } else {
        None
    };
    if let Some(description) = unavailable {
        errors.push(("503", error_response(description, true)));
    }
    errors
}

impl Modify for Contract {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        with_provider_rules(components, &Registry::standard());
        let bearer = |description: &str| {
            let mut scheme = HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(description))
                .build();
            scheme.bearer_format = Some("opaque".to_owned());
            SecurityScheme::Http(scheme)
        };
        components.add_security_scheme(
            MERCHANT_KEY,
            bearer("A merchant's API key (`pmx_…`): every `/v1/` route but the admin ones."),
        );
        components.add_security_scheme(
            ADMIN_TOKEN,
            bearer("The admin token (config `admin.token`): `/v1/admin/` only."),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            for operation in operations(item) {
                if let Some(scheme) = scheme_of(path) {
                    let requirement = SecurityRequirement::new(scheme, Vec::<String>::new());
                    operation.security = Some(vec![requirement]);
                }
                for (status, response) in shared_errors(path, operation) {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert(RefOr::T(response));
                }
            }
        }
        openapi.webhooks = Some(outbound_webhooks());
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.patch,
        &mut item.put,
        &mut item.delete,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// One entry per event type paymux sends a merchant's endpoints: a POST of the event with the
/// Standard Webhooks headers, which the endpoint acknowledges with any 2xx.
fn outbound_webhooks() -> utoipa::openapi::Paths {
    let header = |name: &str, description: &str| {
        utoipa::openapi::path::ParameterBuilder::new()
            .name(name)
            .parameter_in(utoipa::openapi::path::ParameterIn::Header)
            .required(Required::True)
            .schema(Some(String::schema()))
            .description(Some(description))
    };
    let types = EventType::ALL
        .iter()
        .map(|event_type| event_type.as_str())
        .chain([TEST_EVENT]);
    let mut paths = utoipa::openapi::Paths::new();
    for event_type in types {
        let body = RequestBodyBuilder::new()
            .required(Some(Required::True))
            .description(Some(format!(
                "`{{\"type\": \"{event_type}\", \"timestamp\", \"data\"}}`"
            )))
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(WebhookPayload::name())))
                    .build(),
            )
            .build();
        let operation = OperationBuilder::new()
            .summary(Some(format!("`{event_type}`")))
            .description(Some(
                "Sent to every enabled endpoint whose `enabled_events` has this type (or `*`), \
                 signed with the endpoint's secret: `webhook-signature` is \
                 `v1,<base64 HMAC-SHA256 of \"webhook-id.webhook-timestamp.body\">`. Any 2xx \
                 acknowledges it; anything else, or no answer within the timeout, is retried \
                 with backoff for up to five days under the same `webhook-id`. A 410 disables \
                 the endpoint.",
            ))
            .tag("Webhook endpoints")
            .parameter(header(
                "webhook-id",
                "The message id: the same on every attempt, so a receiver can drop duplicates.",
            ))
            .parameter(header(
                "webhook-timestamp",
                "Unix seconds at which this attempt was signed.",
            ))
            .parameter(header(
                "webhook-signature",
                "`v1,<base64 signature>`, space-separated when several.",
            ))
            .request_body(Some(body))
            .response(
                "2XX",
                ResponseBuilder::new().description("Received.").build(),
            )
            .build();
        paths.add_path_operation(event_type, vec![HttpMethod::Post], operation);
    }
    paths
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;
    use crate::routes::{Documented, table};

    fn generated() -> Value {
        serde_json::from_str(&document()).unwrap()
    }

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let committed = include_str!("../../../docs/openapi.json");
        assert!(
            committed == document(),
            "docs/openapi.json differs from what the code generates: run \
             `cargo run -- openapi > docs/openapi.json` and review the diff"
        );
    }

    #[test]
    fn every_route_is_documented_or_left_out_with_a_reason_and_nothing_else_is() {
        let document = generated();
        let described: BTreeSet<(String, String)> = document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| (method.to_uppercase(), path.clone()))
            })
            .collect();
        let mut served = BTreeSet::new();
        for route in table() {
            let key = (route.method.to_string(), route.path.to_owned());
            match route.documented {
                Documented::Yes => {
                    assert!(
                        described.contains(&key),
                        "{key:?} is served but not documented"
                    );
                    served.insert(key);
                }
                Documented::No(reason) => {
                    assert!(!reason.is_empty());
                    assert!(
                        !described.contains(&key),
                        "{key:?} is left out, yet documented"
                    );
                }
            }
        }
        assert_eq!(described, served, "documented routes that are not served");
    }

    /// Every `$ref` in `value`.
    fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target);
                }
                map.values().for_each(|value| refs(value, found));
            }
            Value::Array(items) => items.iter().for_each(|value| refs(value, found)),
            _ => {}
        }
    }

    /// Each provider the registry knows brings its rules: named, its own apply; unnamed, some
    /// provider's must.
    #[test]
    fn a_named_provider_brings_its_rules_and_routing_needs_some_providers() {
        let document = generated();
        let ids: Vec<&str> = Registry::standard().ids().collect();
        let checkout = &document["components"]["schemas"]["CheckoutIn"];
        let mut choices = ids.iter().map(|id| json!(id)).collect::<Vec<_>>();
        choices.push(Value::Null);
        assert_eq!(checkout["properties"]["provider"]["enum"], json!(choices));
        let conditionals = checkout["allOf"].as_array().unwrap();
        assert_eq!(conditionals.len(), ids.len() + 1);
        for (id, conditional) in ids.iter().zip(conditionals) {
            assert_eq!(conditional["if"]["properties"]["provider"]["const"], *id);
            assert_eq!(
                conditional["then"]["$ref"],
                format!("#/components/schemas/{CHECKOUT_RULES}/$defs/{id}")
            );
        }
        let unnamed = &conditionals[ids.len()];
        assert_eq!(
            unnamed["then"]["anyOf"].as_array().unwrap().len(),
            ids.len()
        );
        let definitions = &document["components"]["schemas"][CHECKOUT_RULES]["$defs"];
        for id in &ids {
            let rules = &definitions[*id];
            assert!(
                rules["properties"]["currency"]["enum"].is_array(),
                "{id}: its rules name no currency"
            );
        }
    }

    #[test]
    fn it_is_openapi_3_1_and_every_reference_resolves() {
        let document = generated();
        assert_eq!(document["openapi"], "3.1.0");
        let mut found = vec![];
        refs(&document, &mut found);
        assert!(found.len() > 50, "{}", found.len());
        for target in found {
            let pointer = target.strip_prefix('#').unwrap();
            assert!(
                document.pointer(pointer).is_some(),
                "{target} resolves to nothing"
            );
        }
    }

    #[test]
    fn every_operation_answers_errors_with_the_error_body_and_merchant_routes_need_a_key() {
        let document = generated();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                for (status, response) in responses {
                    assert!(
                        response["description"]
                            .as_str()
                            .is_some_and(|text| !text.is_empty())
                    );
                    if status.starts_with(['4', '5']) {
                        assert_eq!(
                            response["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/ErrorBody",
                            "{method} {path} {status}"
                        );
                    }
                }
                let scheme = match path.as_str() {
                    path if path.starts_with("/v1/admin/") => Some("admin_token"),
                    path if path.starts_with("/v1/") => Some("merchant_key"),
                    _ => None,
                };
                let security = &operation["security"][0];
                match scheme {
                    Some(scheme) => {
                        assert!(security.get(scheme).is_some(), "{method} {path}");
                        assert!(responses.contains_key("401"), "{method} {path}");
                    }
                    None => assert!(security.is_null(), "{method} {path}"),
                }
            }
        }
    }

    #[test]
    fn each_event_type_is_a_webhook_with_the_standard_webhooks_headers() {
        let document = generated();
        let webhooks = document["webhooks"].as_object().unwrap();
        let expected: BTreeSet<&str> = EventType::ALL
            .iter()
            .map(|event_type| event_type.as_str())
            .chain([TEST_EVENT])
            .collect();
        assert_eq!(
            webhooks.keys().map(String::as_str).collect::<BTreeSet<_>>(),
            expected
        );
        for (event_type, item) in webhooks {
            let headers: BTreeSet<&str> = item["post"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|parameter| parameter["in"] == "header")
                .map(|parameter| parameter["name"].as_str().unwrap())
                .collect();
            assert_eq!(
                headers,
                BTreeSet::from(["webhook-id", "webhook-timestamp", "webhook-signature"]),
                "{event_type}"
            );
        }
    }
}
