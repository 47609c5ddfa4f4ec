//! The simulated Skipify: the PayLink API (`POST {base}` with `x-merchant-id` and
//! `Authorization: ApiKey …`, 401 for unknown credentials, 400 for invalid bodies), hosted
//! PayLinks that pay, fail or expire, and webhooks carrying the merchant's secret in the body
//! and, when configured, its custom header, at `/sandbox/skipify/`.
//!
//! What the doc says about delivery, and how it is simulated: Skipify waits 5 s for a 2xx,
//! does not follow redirects (a 3xx is a failed attempt), and retries a failed webhook "3 times
//! over the course of 12 hours", taken here as three retries 4 h apart.
//!
//! PayLinks are kept in a [`BoundedMap`]: past its capacity the oldest finished ones (paid, or
//! expired) are forgotten first.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use paymux_domain::{Currency, Money};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::Value;
use url::Url;

use paymux_providers::ConfigError;
use paymux_providers::skipify::authenticity::WebhookAuth;
use paymux_providers::skipify::wire::{
    self, Charge, CreatePaylink, EventName, ExpiredPayload, MerchantSet, OrderPayload,
    OutgoingEnvelope,
};
use paymux_providers::skipify::{API_KEY_SCHEME, ID, Settings};

use crate::memory::{Accounts, BoundedMap, Credential, Finished, Locked};
use crate::simulator::{
    ApiAnswer, ApiCall, ControlResult, Field, HostedPage, Look, Method, Outcome, OutgoingWebhook,
    Press, SandboxAccount, SandboxError, SandboxResponse, Simulator, Standing,
};

/// "Each failed webhook attempt will be retried 3 times over the course of 12 hours": three
/// retries, 4 h apart.
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(4 * 3600),
    Duration::from_secs(4 * 3600),
    Duration::from_secs(4 * 3600),
];
/// "Your endpoint must respond within 5 seconds".
const REPLY_WITHIN: Duration = Duration::from_secs(5);
/// The card the page offers, and a payment made without one is made with.
const TEST_CARD: &str = "4111 1111 1111 1111";
/// How Skipify's pages look.
const LOOK: Look = Look {
    name: "Skipify",
    colour: "#5b21b6",
    on_colour: "#ffffff",
    pay_label: "Pay",
};

/// A merchant's account at the simulated Skipify.
struct Account {
    /// The paymux merchant: its [`Account::business_name`] is the one the webhooks and pages
    /// show, since the PayLink request names the merchant by id only.
    merchant: String,
    auth: WebhookAuth,
    webhook_url: Url,
    pay_page_base: Url,
}

impl Account {
    /// The merchant's business name in Skipify's system (`merchantSet.merchantName`, upper
    /// case as in the doc's samples).
    fn business_name(&self) -> String {
        self.merchant.to_uppercase()
    }
}

/// A PayLink's state, in the words of Skipify's dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PaylinkStatus {
    Open,
    Paid,
    Expired,
}

impl PaylinkStatus {
    const fn as_str(self) -> &'static str {
        match self {
            PaylinkStatus::Open => "Open",
            PaylinkStatus::Paid => "Paid",
            PaylinkStatus::Expired => "Expired",
        }
    }
}

struct SimulatedPaylink {
    /// The account's key: (merchant id, API key).
    owner: (String, String),
    request: CreatePaylink,
    status: PaylinkStatus,
}

impl SimulatedPaylink {
    /// Open but past its `expiration`: the next click tells the merchant it expired.
    fn past_expiration(&self, now: DateTime<Utc>) -> bool {
        self.status == PaylinkStatus::Open
            && self
                .request
                .expiration
                .is_some_and(|expiration| expiration <= now)
    }
}

impl Finished for SimulatedPaylink {
    /// Paid or expired, also by its `expiration` having passed; a PayLink with only failed
    /// attempts is still open.
    fn finished(&self, now: DateTime<Utc>) -> bool {
        self.status != PaylinkStatus::Open || self.past_expiration(now)
    }
}

#[derive(Default)]
struct State {
    /// By (merchant id, API key): the pair the PayLink API authenticates.
    accounts: Accounts<Account, (String, String)>,
    paylinks: BoundedMap<String, SimulatedPaylink>,
}

/// The PayLink object the API answers with: what a create returns.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaylinkObject<'a> {
    paylink_id: &'a str,
    link: &'a str,
    merchant_invoice_id: Option<&'a str>,
    currency_code: &'static str,
    merchant_id: &'a str,
    description: Option<&'a str>,
    total: i64,
    status: &'static str,
    expiration: Option<String>,
    created_at: String,
}

/// The simulated Skipify. One per gateway, shared by every merchant with a Skipify account.
#[derive(Default)]
pub struct SkipifySandbox {
    state: Locked<State>,
}

/// A random version-4 UUID, the shape of Skipify's ids.
fn new_uuid() -> String {
    let random = ulid::Ulid::new().random() ^ (ulid::Ulid::new().random() << 48);
    let bits = (random & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A MongoDB-style ObjectId, as Skipify's `orderId`s are: its first four bytes are `now`.
fn new_order_id(now: DateTime<Utc>) -> String {
    let seconds = u32::try_from(now.timestamp()).unwrap_or(0);
    let random = ulid::Ulid::new().random() as u64;
    format!("{seconds:08x}{random:016x}")
}

/// A PSP transaction id: eight digits, like the doc's `35472160`.
fn new_psp_transaction_id() -> String {
    format!("{:08}", ulid::Ulid::new().random() % 100_000_000)
}

/// Skipify's checks on `POST {base}`, with its messages.
fn validate(request: &CreatePaylink, merchant_id: &str, now: DateTime<Utc>) -> Result<(), String> {
    if request.merchant_id != merchant_id {
        return Err("merchantId must be the merchant named in x-merchant-id.".to_owned());
    }
    if request.total < 1 {
        return Err("total must be a positive number of cents.".to_owned());
    }
    if let Some(invoice_id) = &request.merchant_invoice_id
        && invoice_id.chars().count() > wire::MAX_INVOICE_ID_CHARS
    {
        return Err("merchantInvoiceId must be at most 255 characters.".to_owned());
    }
    if request
        .expiration
        .is_some_and(|expiration| expiration <= now)
    {
        return Err("expiration must be in the future.".to_owned());
    }
    for item in request.line_items.iter().flatten() {
        if item.description.trim().is_empty() {
            return Err("Every line item needs a description.".to_owned());
        }
        if item.quantity < 1 {
            return Err("A line item's quantity must be at least 1.".to_owned());
        }
        if item.price < 0 {
            return Err("A line item's price must not be negative.".to_owned());
        }
    }
    Ok(())
}

/// The account of `Authorization: ApiKey <key>` and `x-merchant-id`, or a 401.
fn authenticate(
    state: &State,
    authorization: Option<&str>,
    merchant_id: Option<&str>,
) -> Result<(String, String), SandboxResponse> {
    let key = authorization
        .and_then(|value| value.strip_prefix(API_KEY_SCHEME))
        .and_then(|rest| rest.strip_prefix(' '))
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| {
            SandboxResponse::error(401, "Missing API key: send Authorization: ApiKey <key>.")
        })?;
    let merchant_id = merchant_id
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| SandboxResponse::error(401, "Missing x-merchant-id header."))?;
    let account = (merchant_id.to_owned(), key.to_owned());
    if state.accounts.get(&account).is_none() {
        return Err(SandboxResponse::error(
            401,
            "Invalid API key for this merchant.",
        ));
    }
    Ok(account)
}

/// Reads the control call's optional `charges`: `[{"type": "…", "amount": <cents>}]`.
fn charges_option(options: &Value, total: i64) -> Result<Option<Vec<Charge>>, SandboxError> {
    let refused = || {
        SandboxError::Refused(
            "charges must be a list of {\"type\": \"SURCHARGE_FEE\", \"amount\": <cents>} with \
             amounts from 0 up to the PayLink's total"
                .to_owned(),
        )
    };
    let charges = match options.get("charges") {
        None | Some(Value::Null) => return Ok(None),
        Some(charges) => charges,
    };
    let charges: Vec<Charge> = serde_json::from_value(charges.clone()).map_err(|_| refused())?;
    let mut sum: i64 = 0;
    for charge in &charges {
        if charge.amount < 0 {
            return Err(refused());
        }
        sum = sum.checked_add(charge.amount).ok_or_else(refused)?;
    }
    if sum > total {
        return Err(refused());
    }
    Ok(Some(charges))
}

impl SkipifySandbox {
    /// `POST {base}`: creates a PayLink, answering as Skipify's PayLink API would. `link` is
    /// the account's hosted page base plus the new `paylinkId`.
    pub fn create_paylink(
        &self,
        authorization: Option<&str>,
        merchant_id_header: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> SandboxResponse {
        self.state.as_caller(
            |state| authenticate(state, authorization, merchant_id_header),
            |state, owner| create(state, owner, body, now),
        )
    }
}

/// Creates a PayLink for the account `owner` (merchant id, API key).
fn create(
    state: &mut State,
    owner: (String, String),
    body: &[u8],
    now: DateTime<Utc>,
) -> SandboxResponse {
    let request: CreatePaylink = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(error) => {
            return SandboxResponse::error(400, format!("Invalid JSON body: {error}"));
        }
    };
    if let Err(message) = validate(&request, &owner.0, now) {
        return SandboxResponse::error(400, message);
    }
    let Some(account) = state.accounts.get(&owner) else {
        return SandboxResponse::error(401, "Invalid API key for this merchant.");
    };
    let paylink_id = new_uuid();
    let link = match account.pay_page_base.join(&paylink_id) {
        Ok(link) => link.to_string(),
        Err(error) => {
            return SandboxResponse::error(500, format!("cannot build the link: {error}"));
        }
    };
    let answer = PaylinkObject {
        paylink_id: &paylink_id,
        link: &link,
        merchant_invoice_id: request.merchant_invoice_id.as_deref(),
        currency_code: "USD",
        merchant_id: &request.merchant_id,
        description: request.description.as_deref(),
        total: request.total,
        status: PaylinkStatus::Open.as_str(),
        expiration: request.expiration.map(wire::millis),
        created_at: wire::millis(now),
    };
    let body = serde_json::to_value(&answer).unwrap_or(Value::Null);
    let paylink = SimulatedPaylink {
        owner,
        request,
        status: PaylinkStatus::Open,
    };
    state.paylinks.insert(paylink_id, paylink, now);
    SandboxResponse::ok(body)
}

/// The webhook Skipify sends for `payload` to the PayLink owner's endpoint: the secret in the
/// body, the custom header (when configured) on the request.
fn outgoing_webhook<P: Serialize>(
    account: &Account,
    merchant_id: &str,
    name: EventName,
    event_id: String,
    payload: P,
) -> Result<OutgoingWebhook, SandboxError> {
    let envelope = OutgoingEnvelope {
        event_name: name.as_str(),
        merchant_id,
        payload,
        manual_retry_id: None,
        merchant_set: MerchantSet {
            merchant_id: merchant_id.to_owned(),
            merchant_name: account.business_name(),
            merchant_industry: "RETAIL".to_owned(),
            top_level_merchant_id: None,
            parent_merchant: None,
            direct_lineage: vec![merchant_id.to_owned()],
        },
        secret: account.auth.secret().expose_secret(),
    };
    let body = serde_json::to_vec(&envelope).map_err(|error| {
        SandboxError::Refused(format!(
            "cannot write the {} webhook: {error}",
            name.as_str()
        ))
    })?;
    let custom_header = account.auth.custom_header().map(|custom| custom.pair());
    let url = account.webhook_url.clone();
    Ok(OutgoingWebhook {
        sign: Arc::new(move |_at: DateTime<Utc>, _body: &[u8]| {
            custom_header.clone().into_iter().collect()
        }),
        retry_delays: RETRY_DELAYS.to_vec(),
        reply_within: REPLY_WITHIN,
        ..OutgoingWebhook::json(url, body, name.as_str().to_owned(), event_id)
    })
}

/// The brand and last four digits of the card number `card`, as the webhooks name them.
fn card_brand_and_last_four(card: &str) -> (&'static str, String) {
    let digits: String = card.chars().filter(char::is_ascii_digit).collect();
    let leading = |count: usize| {
        digits
            .get(..count)
            .and_then(|lead| lead.parse::<u32>().ok())
    };
    let brand = match (leading(1), leading(2), leading(3), leading(4)) {
        (Some(4), ..) => "visa",
        (_, Some(34 | 37), ..) => "amex",
        (_, Some(51..=55), ..) | (.., Some(2221..=2720)) => "mastercard",
        (_, Some(65), ..) | (.., Some(644..=649), _) | (.., Some(6011)) => "discover",
        _ => "unknown",
    };
    let last_four = digits[digits.len().saturating_sub(4)..].to_owned();
    (brand, last_four)
}

/// ORDER_PAYMENT_SUCCEEDED or ORDER_PAYMENT_FAILED for a whole-total attempt with `card`. A
/// failure has no `completedAt` and no `isPartialAuthorization`, as in the doc's sample.
fn order_payload(
    id: &str,
    paylink: &SimulatedPaylink,
    name: EventName,
    charges: Option<Vec<Charge>>,
    card: &str,
    now: DateTime<Utc>,
) -> OrderPayload {
    let (brand, last_four) = card_brand_and_last_four(card);
    let succeeded = name == EventName::OrderPaymentSucceeded;
    OrderPayload {
        psp_transaction_id: Some(new_psp_transaction_id()),
        merchant_invoice_id: paylink.request.merchant_invoice_id.clone(),
        paylink_id: id.to_owned(),
        completed_at: succeeded.then_some(now),
        psp_raw_response: Some(Value::String(if succeeded {
            "<CreditSaleResponse><Status>Approved</Status></CreditSaleResponse>".to_owned()
        } else {
            "<CreditSaleResponse><Status>Declined</Status></CreditSaleResponse>".to_owned()
        })),
        transaction_amount: Some(paylink.request.total),
        charges,
        skipify_transaction_id: Some(new_uuid()),
        is_partial_authorization: succeeded.then_some(false),
        card_brand: Some(brand.to_owned()),
        card_last_four: Some(last_four),
        is_split_payment: Some(false),
        order_id: Some(new_order_id(now)),
        order_amount: Some(paylink.request.total),
    }
}

impl Simulator for SkipifySandbox {
    fn add_account(&self, account: SandboxAccount<'_>) -> Result<(), ConfigError> {
        let credentials = Settings::parse(account.settings)?
            .resolve(|key, secret| account.secret(key, secret))?;
        let opened = Account {
            merchant: account.merchant.to_owned(),
            auth: credentials.auth,
            webhook_url: account.webhook_url,
            pay_page_base: account.pay_page_base,
        };
        let credential = Credential {
            key: "merchant_id",
            name: "Skipify merchant id and API key",
            value: (
                credentials.merchant_id,
                credentials.api_key.expose_secret().to_owned(),
            ),
        };
        (self.state.lock().accounts).open(credential, account.merchant, opened)
    }

    /// The PayLink API is one call, to the base URL itself.
    fn api(&self, call: &ApiCall<'_>, now: DateTime<Utc>) -> ApiAnswer {
        match (call.method, call.path) {
            (Method::Post, "") => self
                .create_paylink(
                    call.header("authorization"),
                    call.header("x-merchant-id"),
                    call.body,
                    now,
                )
                .into(),
            _ => call.unrouted(ID),
        }
    }

    fn look(&self) -> &'static Look {
        &LOOK
    }

    /// A card form, the e-mail and cardholder pre-filled from the PayLink's `customer`. A
    /// PayLink past its expiration still shows it: Skipify tells the merchant of the expiry
    /// when the payer acts on it.
    fn page(&self, id: &str, now: DateTime<Utc>) -> Option<HostedPage> {
        let state = self.state.lock();
        let paylink = state.paylinks.get(id)?;
        let merchant = state.accounts.get(&paylink.owner)?.business_name();
        let past_expiration = paylink.past_expiration(now);
        let status = if past_expiration {
            PaylinkStatus::Expired
        } else {
            paylink.status
        };
        let customer = paylink.request.customer.clone().unwrap_or_default();
        let mut form = vec![Field::email(customer.email.as_deref())];
        form.extend(Field::card_form(
            &[(TEST_CARD, "Visa")],
            customer.name.as_deref(),
        ));
        Some(HostedPage {
            merchant,
            amount: Some(Money::new(paylink.request.total, Currency::Usd)),
            description: paylink.request.description.clone(),
            status: status.as_str().to_owned(),
            standing: match paylink.status {
                PaylinkStatus::Open => Standing::Open,
                PaylinkStatus::Paid => Standing::Paid,
                PaylinkStatus::Expired => Standing::Expired,
            },
            form,
            sandbox_options: vec![],
            // Skipify has no cancel event.
            outcomes: &[Outcome::Pay, Outcome::Decline, Outcome::Expire],
            notice: past_expiration
                .then(|| "This PayLink has expired: any button tells the merchant so.".to_owned()),
        })
    }

    /// `pay` sends ORDER_PAYMENT_SUCCEEDED (with the options' `charges`, else `charges: null`),
    /// `decline` ORDER_PAYMENT_FAILED (the link stays open), `expire` PAYMENT_REQUEST_EXPIRED
    /// (as does any click on a link past its `expiration`). `cancel` is refused: Skipify has
    /// no cancel event.
    fn control(&self, press: Press<'_>) -> Result<ControlResult, SandboxError> {
        let (id, now) = (press.checkout_id, press.now);
        let mut state = self.state.lock();
        let state = &mut *state;
        let paylink = state.paylinks.checkout_mut(id)?;
        if press.outcome == Outcome::Cancel {
            return Err(SandboxError::Refused(
                "Skipify sends no webhook when a merchant cancels a PayLink (its events are \
                 ORDER_PAYMENT_SUCCEEDED, ORDER_PAYMENT_FAILED and PAYMENT_REQUEST_EXPIRED), and \
                 paymux has no Skipify cancel call: use decline or expire"
                    .to_owned(),
            ));
        }
        if paylink.status != PaylinkStatus::Open {
            return Err(SandboxError::Refused(format!(
                "PayLink {id} is {} and takes no payment",
                paylink.status.as_str()
            )));
        }
        let account = state.accounts.get(&paylink.owner).ok_or_else(|| {
            SandboxError::Refused(format!("PayLink {id} belongs to no configured account"))
        })?;
        let merchant_id = paylink.owner.0.clone();
        let outcome = if paylink.past_expiration(now) {
            Outcome::Expire
        } else {
            press.outcome
        };
        let webhook = match outcome {
            Outcome::Pay | Outcome::Decline => {
                let name = if outcome == Outcome::Pay {
                    EventName::OrderPaymentSucceeded
                } else {
                    EventName::OrderPaymentFailed
                };
                let charges = charges_option(press.options, paylink.request.total)?;
                let card = press
                    .options
                    .get("card")
                    .and_then(Value::as_str)
                    .unwrap_or(TEST_CARD);
                let payload = order_payload(id, paylink, name, charges, card, now);
                let event_id = wire::event_id(
                    name,
                    id,
                    payload.psp_transaction_id.as_deref(),
                    payload.skipify_transaction_id.as_deref(),
                );
                let webhook = outgoing_webhook(account, &merchant_id, name, event_id, payload)?;
                if outcome == Outcome::Pay {
                    paylink.status = PaylinkStatus::Paid;
                }
                webhook
            }
            Outcome::Expire | Outcome::Cancel => {
                let name = EventName::PaymentRequestExpired;
                let payload = ExpiredPayload {
                    paylink_id: id.to_owned(),
                    merchant_invoice_id: paylink.request.merchant_invoice_id.clone(),
                    total: Some(paylink.request.total),
                    expiration: Some(paylink.request.expiration.unwrap_or(now).min(now)),
                };
                let event_id = wire::event_id(name, id, None, None);
                let webhook = outgoing_webhook(account, &merchant_id, name, event_id, payload)?;
                paylink.status = PaylinkStatus::Expired;
                webhook
            }
        };
        Ok(ControlResult {
            status: paylink.status.as_str().to_owned(),
            redirect_url: None,
            webhook: Some(webhook),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{self, press};
    use chrono::TimeDelta;
    use paymux_domain::{CheckoutStatus, EventType, NormalizedEvent};
    use paymux_providers::model::CheckoutRequest;
    use paymux_providers::skipify::SkipifyAdapter;
    use paymux_providers::{Provider, ProviderError};
    use serde_json::json;

    const MERCHANT_ID: &str = "c1brc8b60-6dd4-4136-88e1-c9e5b670f1ca0";
    const API_KEY: &str = "skp_demo_key";
    const SECRET: &str = "abd12345";

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-05-08T18:42:11Z")
            .unwrap()
            .to_utc()
    }

    /// The `demo` merchant's settings; with `custom_header`, its webhooks carry
    /// `X-Api-Key: hdr-7` too.
    fn settings(custom_header: bool) -> Value {
        let mut settings =
            json!({ "merchant_id": MERCHANT_ID, "api_key": API_KEY, "secret": SECRET });
        if custom_header {
            settings["custom_header_name"] = json!("X-Api-Key");
            settings["custom_header_value"] = json!("hdr-7");
        }
        settings
    }

    fn sandbox_with(settings: &Value) -> SkipifySandbox {
        let sandbox = SkipifySandbox::default();
        sandbox
            .add_account(test_support::account(ID, "demo", settings))
            .unwrap();
        sandbox
    }

    /// The adapter configured with `settings`, its API not called.
    fn adapter_for(settings: &Value) -> SkipifyAdapter {
        let base_url = "https://paymux.example/sandbox/skipify/";
        test_support::adapter(SkipifyAdapter::from_context, ID, settings, base_url)
    }

    /// The `demo` merchant's simulator and adapter, its webhooks without a custom header.
    fn demo() -> (SkipifySandbox, SkipifyAdapter) {
        let settings = settings(false);
        (sandbox_with(&settings), adapter_for(&settings))
    }

    fn create_body(total: i64) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "merchantId": MERCHANT_ID,
            "merchantInvoiceId": "order-5821",
            "total": total,
            "description": "Order #5821",
        }))
        .unwrap()
    }

    fn authorization() -> String {
        format!("ApiKey {API_KEY}")
    }

    /// Creates a PayLink and returns its id.
    fn create(sandbox: &SkipifySandbox, total: i64) -> String {
        let response = sandbox.create_paylink(
            Some(&authorization()),
            Some(MERCHANT_ID),
            &create_body(total),
            now(),
        );
        assert_eq!(response.status, 200, "{:?}", response.body);
        response.body["paylinkId"].as_str().unwrap().to_owned()
    }

    /// What paymux makes of a webhook the sandbox would send: its one event.
    fn receive(
        adapter: &SkipifyAdapter,
        webhook: &OutgoingWebhook,
    ) -> Result<NormalizedEvent, ProviderError> {
        let mut events = test_support::receive(adapter, webhook, now())?;
        assert_eq!(events.len(), 1);
        Ok(events.remove(0))
    }

    #[test]
    fn paylinks_stay_within_the_capacity_finished_first() {
        let sandbox = sandbox_with(&settings(false));
        sandbox.state.lock().paylinks = BoundedMap::with_capacity(4);
        let paid = create(&sandbox, 1000);
        press(&sandbox, &paid, Outcome::Pay, now()).unwrap();
        let paylinks = || sandbox.state.lock().paylinks.len();
        let open = || create(&sandbox, 1000);
        test_support::assert_finished_go_first(&sandbox, &paid, open, paylinks, now());
    }

    #[test]
    fn a_paylink_is_created_with_a_hosted_link() {
        let sandbox = sandbox_with(&settings(false));
        let response = sandbox.create_paylink(
            Some(&authorization()),
            Some(MERCHANT_ID),
            &create_body(112),
            now(),
        );
        assert_eq!(response.status, 200);
        let id = response.body["paylinkId"].as_str().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4', "a version-4 UUID: {id}");
        assert_eq!(
            response.body["link"],
            json!(format!("https://paymux.example/sandbox/skipify/pay/{id}"))
        );
        assert_eq!(response.body["merchantInvoiceId"], "order-5821");
        assert_eq!(response.body["total"], 112);
        assert_eq!(response.body["status"], "Open");
        let page = sandbox.page(id, now()).unwrap();
        assert_eq!(page.amount, Some(Money::new(112, Currency::Usd)));
        assert_eq!(page.description.as_deref(), Some("Order #5821"));
        assert_eq!(page.status, "Open");
        assert_eq!(page.standing, Standing::Open);
        // The business name its webhooks give, the card form, no cancel: Skipify has none.
        assert_eq!(page.merchant, "DEMO");
        let fields: Vec<&str> = page.form.iter().map(|field| field.name).collect();
        assert_eq!(fields, ["email", "card", "expiry", "cvc", "holder"]);
        assert_eq!(
            page.outcomes,
            [Outcome::Pay, Outcome::Decline, Outcome::Expire]
        );
        assert!(sandbox.page("nope", now()).is_none());
    }

    #[test]
    fn credentials_are_checked_as_the_paylink_api_would() {
        let sandbox = sandbox_with(&settings(false));
        let body = create_body(112);
        for (authorization, merchant_id) in [
            (None, Some(MERCHANT_ID)),
            (Some("Bearer skp_demo_key"), Some(MERCHANT_ID)),
            (Some("ApiKey "), Some(MERCHANT_ID)),
            (Some("ApiKey skp_other"), Some(MERCHANT_ID)),
            (Some("ApiKey skp_demo_key"), None),
            (Some("ApiKey skp_demo_key"), Some("another-merchant")),
        ] {
            let response = sandbox.create_paylink(authorization, merchant_id, &body, now());
            assert_eq!(response.status, 401, "{authorization:?} {merchant_id:?}");
            assert!(response.body["error"].is_string());
        }
    }

    #[test]
    fn invalid_bodies_are_400s() {
        let sandbox = sandbox_with(&settings(false));
        let auth = authorization();
        let call = |body: Value| {
            sandbox.create_paylink(
                Some(&auth),
                Some(MERCHANT_ID),
                &serde_json::to_vec(&body).unwrap(),
                now(),
            )
        };
        for body in [
            json!({ "merchantId": MERCHANT_ID }),
            json!({ "merchantId": MERCHANT_ID, "total": 0 }),
            json!({ "merchantId": MERCHANT_ID, "total": 1.5 }),
            json!({ "merchantId": "someone-else", "total": 100 }),
            json!({ "merchantId": MERCHANT_ID, "total": 100, "merchantInvoiceId": "x".repeat(256) }),
            json!({ "merchantId": MERCHANT_ID, "total": 100, "expiration": "2026-05-08T18:42:11.000Z" }),
            json!({ "merchantId": MERCHANT_ID, "total": 100,
                    "lineItems": [{ "description": "x", "quantity": 0, "price": 1 }] }),
            json!({ "merchantId": MERCHANT_ID, "total": 100,
                    "lineItems": [{ "description": "x", "quantity": 1, "price": -1 }] }),
        ] {
            assert_eq!(call(body.clone()).status, 400, "{body}");
        }
        let response = sandbox.create_paylink(Some(&auth), Some(MERCHANT_ID), b"{nope", now());
        assert_eq!(response.status, 400);
    }

    #[test]
    fn pay_decline_and_expire_each_send_the_webhook_paymux_reads_as_such() {
        let (sandbox, adapter) = demo();
        for (outcome, total, status, event_name, event_type, open) in [
            (
                Outcome::Pay,
                112,
                "Paid",
                "ORDER_PAYMENT_SUCCEEDED",
                EventType::PaymentSucceeded,
                false,
            ),
            // A failed attempt leaves the link usable.
            (
                Outcome::Decline,
                112,
                "Open",
                "ORDER_PAYMENT_FAILED",
                EventType::PaymentFailed,
                true,
            ),
            (
                Outcome::Expire,
                51,
                "Expired",
                "PAYMENT_REQUEST_EXPIRED",
                EventType::PaymentExpired,
                false,
            ),
        ] {
            let id = create(&sandbox, total);
            let result = press(&sandbox, &id, outcome, now()).unwrap();
            assert_eq!(
                (result.status.as_str(), result.redirect_url),
                (status, None)
            );
            let webhook = result.webhook.unwrap();
            assert_eq!(webhook.event_type, event_name);
            let event = receive(&adapter, &webhook).unwrap();
            assert_eq!(event.event_type, event_type);
            assert_eq!(event.provider_event_id, webhook.event_id);
            // Dated by the order id the sandbox made at `now`, or by the expiry.
            assert_eq!(event.occurred_at, now());
            assert_eq!(event.amount, Some(Money::new(total, Currency::Usd)));
            let page = sandbox.page(&id, now()).unwrap();
            assert_eq!(
                (page.status.as_str(), page.standing == Standing::Open),
                (status, open)
            );
        }
    }

    #[test]
    fn pay_sends_a_succeeded_webhook_that_paymux_accepts() {
        let (sandbox, adapter) = demo();
        let id = create(&sandbox, 112);
        let webhook = test_support::webhook(&sandbox, &id, Outcome::Pay, now());
        assert_eq!(
            webhook.url.as_str(),
            "https://paymux.example/webhooks/demo/skipify"
        );
        assert_eq!(webhook.content_type, "application/json");
        assert_eq!(webhook.retry_delays, vec![Duration::from_secs(14_400); 3]);
        assert_eq!(webhook.reply_within, Duration::from_secs(5));
        assert!(
            ((webhook.delivered)(200, b"") == crate::simulator::Verdict::Delivered)
                && ((webhook.delivered)(204, b"") == crate::simulator::Verdict::Delivered)
        );
        assert!(
            ((webhook.delivered)(302, b"") == crate::simulator::Verdict::Retry)
                && ((webhook.delivered)(401, b"") == crate::simulator::Verdict::Retry)
        );
        // The secret rides in the body; no header is needed without a custom one.
        assert!((webhook.sign)(now(), &webhook.body).is_empty());
        let body: Value = serde_json::from_slice(&webhook.body).unwrap();
        assert_eq!(body["secret"], SECRET);
        assert_eq!(body["payload"]["charges"], Value::Null);
        assert!(!format!("{webhook:?}").contains(SECRET));

        let event = receive(&adapter, &webhook).unwrap();
        assert_eq!(event.provider_payment_id.as_deref(), Some(id.as_str()));
        assert_eq!(event.reference.as_deref(), Some("order-5821"));
        assert_eq!(event.fee, None);
        assert!(!event.livemode);

        // Paid is final.
        let again = press(&sandbox, &id, Outcome::Pay, now());
        assert!(matches!(again, Err(SandboxError::Refused(_))), "{again:?}");
    }

    #[test]
    fn charges_from_the_options_become_the_fee() {
        let (sandbox, adapter) = demo();
        let id = create(&sandbox, 112);
        let options = json!({ "charges": [
            { "type": "SURCHARGE_FEE", "amount": 10 },
            { "type": "GENERAL_FEE", "amount": 12 },
        ]});
        let pay = |id: &str, options: &Value| {
            sandbox.control(Press::new(id, Outcome::Pay, now()).with_options(options))
        };
        let webhook = pay(&id, &options).unwrap().webhook.unwrap();
        let event = receive(&adapter, &webhook).unwrap();
        assert_eq!(event.fee, Some(22));
        assert_eq!(event.details["charges"], options["charges"]);

        let id = create(&sandbox, 112);
        for bad in [
            json!({ "charges": "lots" }),
            json!({ "charges": [{ "type": "X", "amount": -1 }] }),
            json!({ "charges": [{ "type": "X", "amount": 113 }] }),
            json!({ "charges": [{ "type": "X", "amount": 1.5 }] }),
        ] {
            let result = pay(&id, &bad);
            assert!(matches!(result, Err(SandboxError::Refused(_))), "{bad}");
        }
        // Nothing happened to the link.
        assert_eq!(sandbox.page(&id, now()).unwrap().status, "Open");
    }

    #[test]
    fn a_declined_attempt_has_no_completion_and_the_link_can_still_be_paid() {
        let (sandbox, _) = demo();
        let id = create(&sandbox, 112);
        let failed = test_support::webhook(&sandbox, &id, Outcome::Decline, now());
        let body: Value = serde_json::from_slice(&failed.body).unwrap();
        assert!(
            body["payload"].get("completedAt").is_none(),
            "as in the doc's sample"
        );
        // A second attempt is another event, and then paying works.
        let second = test_support::webhook(&sandbox, &id, Outcome::Decline, now());
        assert_ne!(second.event_id, failed.event_id);
        assert_eq!(
            press(&sandbox, &id, Outcome::Pay, now()).unwrap().status,
            "Paid"
        );
    }

    #[test]
    fn an_expired_link_takes_no_payment() {
        let (sandbox, _) = demo();
        let id = create(&sandbox, 51);
        press(&sandbox, &id, Outcome::Expire, now()).unwrap();
        assert!(matches!(
            press(&sandbox, &id, Outcome::Pay, now()),
            Err(SandboxError::Refused(_))
        ));
    }

    #[test]
    fn a_click_on_a_link_past_its_expiration_reports_the_expiry() {
        let (sandbox, adapter) = demo();
        let expiration = now() + TimeDelta::hours(1);
        let body = json!({
            "merchantId": MERCHANT_ID,
            "total": 51,
            "expiration": wire::millis(expiration),
        });
        let response = sandbox.create_paylink(
            Some(&authorization()),
            Some(MERCHANT_ID),
            &serde_json::to_vec(&body).unwrap(),
            now(),
        );
        let id = response.body["paylinkId"].as_str().unwrap().to_owned();
        let later = now() + TimeDelta::hours(2);
        let page = sandbox.page(&id, later).unwrap();
        assert_eq!(
            (page.status.as_str(), page.standing),
            ("Expired", Standing::Open)
        );
        assert!(page.notice.unwrap().contains("expired"));
        let result = sandbox
            .control(Press::new(&id, Outcome::Pay, later))
            .unwrap();
        assert_eq!(result.status, "Expired");
        let webhook = result.webhook.unwrap();
        assert_eq!(webhook.event_type, "PAYMENT_REQUEST_EXPIRED");
        let event = receive(&adapter, &webhook).unwrap();
        assert_eq!(event.occurred_at, expiration);
        assert_eq!(event.checkout_hint, None);
    }

    #[test]
    fn cancel_is_refused_with_the_reason() {
        let sandbox = sandbox_with(&settings(false));
        let id = create(&sandbox, 112);
        match press(&sandbox, &id, Outcome::Cancel, now()) {
            Err(SandboxError::Refused(message)) => {
                assert!(message.contains("no webhook"), "{message}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(sandbox.page(&id, now()).unwrap().status, "Open");
        assert!(matches!(
            press(&sandbox, "nope", Outcome::Pay, now()),
            Err(SandboxError::NotFound(_))
        ));
    }

    #[test]
    fn a_configured_custom_header_is_sent_and_required() {
        let with_header = settings(true);
        let sandbox = sandbox_with(&with_header);
        let id = create(&sandbox, 112);
        let webhook = test_support::webhook(&sandbox, &id, Outcome::Pay, now());
        assert_eq!(
            (webhook.sign)(now(), &webhook.body),
            vec![("x-api-key".to_owned(), "hdr-7".to_owned())]
        );
        assert!(receive(&adapter_for(&with_header), &webhook).is_ok());
        // An adapter with another custom value refuses it, and one with another secret too.
        for (key, value) in [
            ("custom_header_value", "hdr-8"),
            ("secret", "another-secret"),
        ] {
            let mut other = settings(true);
            other[key] = json!(value);
            assert!(
                matches!(
                    receive(&adapter_for(&other), &webhook),
                    Err(ProviderError::InvalidSignature(_))
                ),
                "{key}"
            );
        }
    }

    #[test]
    fn accounts_come_from_the_adapters_settings() {
        let sandbox = sandbox_with(&settings(false));
        let account =
            |settings: &Value| sandbox.add_account(test_support::account(ID, "other", settings));
        assert_eq!(account(&settings(false)).unwrap_err().key, "merchant_id");
        let error = account(&json!({ "merchant_id": "m2", "api_key": "k" })).unwrap_err();
        assert_eq!(error.key, "secret");
        let error = account(&json!({
            "merchant_id": "m2", "api_key": "k", "secret": "s", "custom_header_name": "x-api-key"
        }))
        .unwrap_err();
        assert_eq!(error.key, "custom_header_value");
        // Same merchant id, another key: another account.
        let mut second = settings(false);
        second["api_key"] = json!("skp_second_key");
        account(&second).unwrap();
    }

    #[tokio::test]
    async fn the_adapter_creates_paylinks_on_the_sandbox_end_to_end() {
        let settings = settings(true);
        let sandbox = Arc::new(sandbox_with(&settings));
        let api = test_support::serve(ID, sandbox.clone(), Utc::now()).await;
        let adapter_with = |settings: &Value| {
            test_support::adapter(SkipifyAdapter::from_context, ID, settings, &api.base_url)
        };
        let adapter = adapter_with(&settings);
        let request = CheckoutRequest {
            description: Some("Order #5821".into()),
            ..CheckoutRequest::example(Money::new(112, Currency::Usd))
        };
        let created = adapter.create_checkout(&request).await.unwrap();
        assert_eq!(created.status, CheckoutStatus::Open);
        assert!(!created.livemode);
        let id = created.provider_checkout_id.unwrap();
        assert_eq!(
            created.redirect_url.unwrap(),
            format!("https://paymux.example/sandbox/skipify/pay/{id}")
        );
        let press = Press::new(&id, Outcome::Pay, Utc::now());
        let webhook = sandbox.control(press).unwrap().webhook.unwrap();
        let event = receive(&adapter, &webhook).unwrap();
        // No reference: our checkout id went out as merchantInvoiceId and comes back as a hint.
        assert_eq!(event.checkout_hint, Some(request.checkout_id.to_string()));
        assert_eq!(event.provider_payment_id, Some(id));

        // Another merchant's key is a 401 through the adapter too.
        let mut wrong = settings.clone();
        wrong["api_key"] = json!("skp_wrong");
        let error = adapter_with(&wrong)
            .create_checkout(&request)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ProviderError::Upstream { status: 401, message } if message.contains("Invalid API key")),
            "{error:?}"
        );
    }

    #[test]
    fn the_card_typed_names_the_brand_and_last_four_of_the_webhook() {
        for (card, brand, last_four) in [
            ("4111 1111 1111 1111", "visa", "1111"),
            ("5555 5555 5555 4444", "mastercard", "4444"),
            ("2223 0031 2200 3222", "mastercard", "3222"),
            ("3782 822463 10005", "amex", "0005"),
            ("6011 1111 1111 1117", "discover", "1117"),
            ("9999 0000 0000 0123", "unknown", "0123"),
            ("", "unknown", ""),
        ] {
            assert_eq!(
                card_brand_and_last_four(card),
                (brand, last_four.to_owned()),
                "{card}"
            );
        }
        let (sandbox, adapter) = demo();
        let id = create(&sandbox, 112);
        let card = json!({ "card": "5555 5555 5555 4444" });
        let press = Press::new(&id, Outcome::Pay, now()).with_options(&card);
        let webhook = sandbox.control(press).unwrap().webhook.unwrap();
        let event = receive(&adapter, &webhook).unwrap();
        assert_eq!(
            event.details["card_brand"], "mastercard",
            "{}",
            event.details
        );
        assert_eq!(event.details["card_last_four"], "4444", "{}", event.details);
    }
}
