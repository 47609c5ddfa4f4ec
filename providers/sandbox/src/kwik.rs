//! The simulated Kwik: `POST /checkout/link` as the doc describes it (HTTP Basic
//! `api_key:api_secret`, the request `signature` checked when the account has a passphrase,
//! validation of the documented fields), hosted checkout pages that pay, decline, cancel or
//! expire, and the signed webhooks each outcome sends, at `/sandbox/kwik/2.0/checkout/link`.
//!
//! What the doc leaves open, and what the simulator does:
//! - Errors: the doc shows no error body. Kwik's success envelope is `{"status": true,
//!   "result": …}`, so refusals are `{"status": false, "message": "…"}`: 401 for bad
//!   credentials and for a missing or wrong signature, 400 for an invalid request.
//! - The sandbox makes one-off, fixed-amount links of inline products only: no catalogue
//!   (`product_id`), no subscriptions (`RECURRING`, other frequencies), no tax, and
//!   `item.amount` is required.
//! - Webhooks go to the checkout's `notification.webhook_url` (the doc's rule), or else to the
//!   account's endpoint (the "platform webhooks configured separately"). They are retried
//!   "up to 3 times with exponential backoff": after 60 s, 120 s and 240 s; Kwik is given
//!   10 s to get a 2xx.
//! - A declined attempt sends `checkout.failed` and leaves the link open, like a declined
//!   card; paying sends `checkout.completed`, cancelling `checkout.cancelled` (and goes to
//!   `cancel_url`), expiring `checkout.expired`. A link whose `expires_at` passed reads as
//!   expired; `expire` on it still sends the `checkout.expired` nobody sent yet.
//! - `success_url` is followed as given: the doc says Kwik "may append `signature`" without
//!   saying what it signs, so nothing is appended.
//! - Links are kept in a [`BoundedMap`]: past its capacity the oldest finished links (paid,
//!   cancelled, expired) are forgotten first.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use paymux_domain::{Currency, Money};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use paymux_providers::ConfigError;
use paymux_providers::kwik::signature::{
    SIGNATURE_FIELD, SIGNATURE_HEADER, TIMESTAMP_HEADER, WEBHOOK_USER_AGENT, parse_exact,
    sign_webhook, verify_request,
};
use paymux_providers::kwik::wire::{
    self, CheckoutType, CreateLink, Customer, EventKind, KwikAddress, LinkResponse, LinkResult,
    ONE_TIME, Webhook, WebhookCheckout, WebhookData,
};
use paymux_providers::kwik::{Credentials, ID};
use paymux_providers::signing::constant_time_eq;

use crate::memory::{Accounts, BoundedMap, Credential, Finished, Locked};
use crate::sender::schedule;
use crate::simulator::{
    ApiAnswer, ApiCall, ControlResult, Field, HostedPage, Look, Method, Outcome, OutgoingWebhook,
    Press, SandboxAccount, SandboxCall, SandboxError, SandboxResponse, Simulator, Standing,
};

/// Redeliveries after a failed attempt: "up to 3 times with exponential backoff".
const RETRY_DELAYS_SECS: [u64; 3] = [60, 120, 240];
/// How long Kwik waits for a webhook's 2xx (the doc does not say).
const REPLY_WITHIN: Duration = Duration::from_secs(10);
/// The failure text of a declined attempt: the doc's own `payment.failed` sample.
const DECLINE_MESSAGE: &str = "Your transaction was declined due to insufficient funds";
/// How Kwik's pages look: the colour of the doc's own `customization.brand` example, its
/// default button text.
const LOOK: Look = Look {
    name: "Kwik",
    colour: "#00dc82",
    on_colour: "#06281a",
    pay_label: "Pay",
};
/// The characters of Kwik's ids (`chk_HVpCeoNys1f22X7QcuWHY`, `ses_G-xkVKoxHgEBrY8suKgR3`).
const ID_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

struct Account {
    api_secret: SecretString,
    passphrase: Option<SecretString>,
    webhook_secret: SecretString,
    webhook_url: Url,
    pay_page_base: Url,
}

/// A simulated checkout's state, in the words of Kwik's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkStatus {
    Open,
    Completed,
    Cancelled,
    Expired,
}

impl LinkStatus {
    const fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Open => "open",
            LinkStatus::Completed => "completed",
            LinkStatus::Cancelled => "cancelled",
            LinkStatus::Expired => "expired",
        }
    }
}

struct SimulatedLink {
    id: String,
    session_id: String,
    /// The API key that created it.
    owner: String,
    amount: Money,
    title: String,
    customer_id: Option<String>,
    /// The inline `customer`, which pre-fills the payer form.
    customer: Option<Customer>,
    success_url: Option<String>,
    cancel_url: Option<String>,
    /// Where this checkout's webhooks go.
    webhook_url: Url,
    expires_at: Option<DateTime<Utc>>,
    status: LinkStatus,
    /// Whether `checkout.expired` was sent.
    expiry_announced: bool,
}

impl SimulatedLink {
    /// Marks an open link whose time has passed as expired.
    fn expire_if_due(&mut self, now: DateTime<Utc>) {
        if self.status == LinkStatus::Open && self.expires_at.is_some_and(|at| at <= now) {
            self.status = LinkStatus::Expired;
        }
    }
}

impl Finished for SimulatedLink {
    /// Completed, cancelled or expired, also by its time having passed; a link with only
    /// declined attempts is still open.
    fn finished(&self, now: DateTime<Utc>) -> bool {
        self.status != LinkStatus::Open || self.expires_at.is_some_and(|at| at <= now)
    }
}

/// One payment attempt.
struct Transaction {
    id: String,
    status: &'static str,
    card_id: Option<String>,
    message: Option<String>,
}

/// The simulated Kwik, shared by every merchant whose Kwik section sets `sandbox = true`.
#[derive(Default)]
pub struct KwikSandbox {
    state: Locked<State>,
}

#[derive(Default)]
struct State {
    /// By API key.
    accounts: Accounts<Account>,
    /// By checkout id.
    links: BoundedMap<String, SimulatedLink>,
}

/// A new id: `prefix` and 21 characters of Kwik's alphabet.
fn new_id(prefix: &str) -> String {
    let mut bits = ulid::Ulid::new().0;
    let mut id = String::with_capacity(prefix.len() + 21);
    id.push_str(prefix);
    for _ in 0..21 {
        id.push(char::from(ID_ALPHABET[(bits & 63) as usize]));
        bits >>= 6;
    }
    id
}

/// A refusal in the shape the simulator gives Kwik's errors.
fn refusal(status: u16, message: impl Into<String>) -> SandboxResponse {
    SandboxResponse {
        status,
        body: serde_json::to_value(wire::ErrorBody {
            status: false,
            message: message.into(),
        })
        .unwrap_or(Value::Null),
    }
}

fn unauthorized() -> SandboxResponse {
    refusal(401, "Unauthorized: invalid API key or secret.")
}

/// Standard base64 with padding (RFC 4648 §4), as HTTP Basic credentials are encoded.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn sextet(byte: u8) -> Option<u32> {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        Some(u32::from(value))
    }
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return None;
    }
    let groups = bytes.len() / 4;
    let mut decoded = Vec::with_capacity(groups * 3);
    for (index, group) in bytes.chunks(4).enumerate() {
        let padding = group.iter().rev().take_while(|&&b| b == b'=').count();
        if padding > 2 || (padding > 0 && index + 1 != groups) {
            return None;
        }
        let mut bits: u32 = 0;
        for &byte in &group[..4 - padding] {
            bits = (bits << 6) | sextet(byte)?;
        }
        bits <<= 6 * padding as u32;
        let [_, a, b, c] = bits.to_be_bytes();
        decoded.extend_from_slice(&[a, b, c][..3 - padding]);
    }
    Some(decoded)
}

/// The account of `Authorization: Basic base64(api_key:api_secret)`, or a 401.
fn authenticate(state: &State, authorization: Option<&str>) -> Result<String, SandboxResponse> {
    let encoded = authorization
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, credentials)| credentials.trim())
        .ok_or_else(|| {
            refusal(
                401,
                "Unauthorized: send HTTP Basic credentials (API key and secret).",
            )
        })?;
    let credentials = decode_base64(encoded)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(unauthorized)?;
    let (key, secret) = credentials.split_once(':').ok_or_else(unauthorized)?;
    let account = state.accounts.get(key).ok_or_else(unauthorized)?;
    if !constant_time_eq(
        secret.as_bytes(),
        account.api_secret.expose_secret().as_bytes(),
    ) {
        return Err(unauthorized());
    }
    Ok(key.to_owned())
}

/// What a valid request creates.
struct Valid {
    amount: Money,
    title: String,
}

fn too_long(field: &str, value: Option<&str>, max: usize) -> Result<(), String> {
    match value {
        Some(value) if value.chars().count() > max => Err(format!(
            "The {field} field must not exceed {max} characters."
        )),
        _ => Ok(()),
    }
}

fn country(field: &str, address: Option<&KwikAddress>) -> Result<(), String> {
    match address.and_then(|address| address.country.as_deref()) {
        Some(code) if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) => Err(
            format!("The {field} field must be an ISO 3166-1 alpha-2 code such as ZA."),
        ),
        _ => Ok(()),
    }
}

fn validate_customer(customer: &Customer) -> Result<(), String> {
    too_long(
        "customer.reference",
        customer.reference.as_deref(),
        wire::MAX_CUSTOMER_REFERENCE_CHARS,
    )?;
    too_long(
        "customer.company_name",
        customer.company_name.clone().flatten().as_deref(),
        wire::MAX_COMPANY_NAME_CHARS,
    )?;
    too_long(
        "customer.person_name",
        customer.person_name.as_deref(),
        wire::MAX_PERSON_NAME_CHARS,
    )?;
    too_long(
        "customer.person_surname",
        customer.person_surname.as_deref(),
        wire::MAX_PERSON_SURNAME_CHARS,
    )?;
    too_long(
        "customer.id_number",
        customer.id_number.as_deref(),
        wire::MAX_ID_NUMBER_CHARS,
    )?;
    too_long(
        "customer.email",
        customer.email.as_deref(),
        wire::MAX_EMAIL_CHARS,
    )?;
    too_long(
        "customer.contact_number",
        customer.contact_number.as_deref(),
        wire::MAX_CONTACT_NUMBER_CHARS,
    )?;
    country(
        "customer.billing_address.country",
        customer.billing_address.as_ref(),
    )?;
    if let Some(shipping) = &customer.shipping {
        too_long(
            "customer.shipping.contact_number",
            shipping.contact_number.as_deref(),
            wire::MAX_CONTACT_NUMBER_CHARS,
        )?;
        country(
            "customer.shipping.address.country",
            shipping.address.as_ref(),
        )?;
    }
    Ok(())
}

fn rand_amount(field: &str, text: &str) -> Result<Money, String> {
    Money::parse_decimal(text, Currency::Zar)
        .map_err(|_| format!("The {field} field must be an amount in rand such as \"1200.00\"."))
}

/// The amount and title of a `CHOOSE_WHAT_TO_PAY` link.
fn validate_item(link: &CreateLink) -> Result<Valid, String> {
    let item = link
        .item
        .as_ref()
        .ok_or("The item field is required for CHOOSE_WHAT_TO_PAY checkouts.")?;
    let title = item
        .title
        .as_deref()
        .map(str::trim)
        .filter(|title| !title.is_empty())
        .ok_or("The item.title field is required.")?;
    if let Some(frequency) = &item.frequency
        && frequency.iter().any(|f| f != ONE_TIME)
    {
        return Err(
            "The sandbox takes one-time payments only: item.frequency must be [\"ONE_TIME\"]."
                .to_owned(),
        );
    }
    if item
        .amount_options
        .as_ref()
        .is_some_and(|options| options.len() > wire::MAX_AMOUNT_OPTIONS)
    {
        return Err("The item.amount_options field may hold at most 5 amounts.".to_owned());
    }
    let amount = item
        .amount
        .as_deref()
        .ok_or("The sandbox makes fixed-amount links only: send item.amount.")?;
    Ok(Valid {
        amount: rand_amount("item.amount", amount)?,
        title: title.to_owned(),
    })
}

/// The total and product names of a `PRODUCTS_AND_SUBSCRIPTIONS` link.
fn validate_items(link: &CreateLink) -> Result<Valid, String> {
    let lines = link
        .items
        .as_deref()
        .filter(|lines| !lines.is_empty())
        .ok_or("The items field is required for PRODUCTS_AND_SUBSCRIPTIONS checkouts.")?;
    let mut total: i64 = 0;
    let mut names = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        let field = |name: &str| format!("items.{index}.{name}");
        if line.product_id.is_some() {
            return Err(format!(
                "The {} field refers to a catalogue product; the sandbox has no catalogue, \
                 define the product inline.",
                field("product_id")
            ));
        }
        let name = line
            .name
            .as_deref()
            .filter(|name| !name.trim().is_empty())
            .ok_or_else(|| format!("The {} field is required.", field("name")))?;
        if line
            .code
            .as_deref()
            .is_none_or(|code| code.trim().is_empty())
        {
            return Err(format!("The {} field is required.", field("code")));
        }
        match line.pricing_type.as_deref() {
            Some(ONE_TIME) => {}
            Some("RECURRING") => {
                return Err(format!(
                    "The sandbox takes one-time payments only: {} must be ONE_TIME.",
                    field("pricing_type")
                ));
            }
            Some(_) => {
                return Err(format!(
                    "The {} field must be RECURRING or ONE_TIME.",
                    field("pricing_type")
                ));
            }
            None => return Err(format!("The {} field is required.", field("pricing_type"))),
        }
        if line.is_tax == Some(true) {
            return Err(format!(
                "The sandbox computes no tax: {} must be false.",
                field("is_tax")
            ));
        }
        let price = line
            .price_excl
            .as_deref()
            .ok_or_else(|| format!("The {} field is required.", field("price_excl")))?;
        let price = rand_amount(&field("price_excl"), price)?;
        let qty = line.qty.unwrap_or(1);
        if qty < 1 {
            return Err(format!("The {} field must be at least 1.", field("qty")));
        }
        total = price
            .minor
            .checked_mul(i64::from(qty))
            .and_then(|amount| total.checked_add(amount))
            .ok_or("The items' total is too large.")?;
        names.push(name.trim().to_owned());
    }
    Ok(Valid {
        amount: Money::new(total, Currency::Zar),
        title: names.join(", "),
    })
}

/// Refuses a URL field that is not an absolute http(s) URL.
fn absolute_url(field: &str, text: Option<&str>) -> Result<(), String> {
    match text.map(Url::parse) {
        None => Ok(()),
        Some(Ok(url)) if matches!(url.scheme(), "http" | "https") => Ok(()),
        Some(_) => Err(format!("The {field} field must be a valid URL.")),
    }
}

/// Kwik's documented checks on `POST /checkout/link`, with messages in its style.
fn validate(link: &CreateLink) -> Result<Valid, String> {
    let valid = match link.kind {
        CheckoutType::ChooseWhatToPay if link.items.is_some() => {
            return Err("The items field is for PRODUCTS_AND_SUBSCRIPTIONS checkouts.".to_owned());
        }
        CheckoutType::ProductsAndSubscriptions if link.item.is_some() => {
            return Err("The item field is for CHOOSE_WHAT_TO_PAY checkouts.".to_owned());
        }
        CheckoutType::ChooseWhatToPay => validate_item(link)?,
        CheckoutType::ProductsAndSubscriptions => validate_items(link)?,
    };
    if valid.amount.minor <= 0 {
        return Err("The checkout amount must be greater than 0.00.".to_owned());
    }
    if link.customer_id.is_some() && link.customer.is_some() {
        return Err("Send either customer_id or customer, not both.".to_owned());
    }
    if let Some(customer) = &link.customer {
        validate_customer(customer)?;
    }
    if link
        .settings
        .and_then(|settings| settings.expiry_time)
        .is_some_and(|minutes| minutes < 1)
    {
        return Err("The settings.expiry_time field must be at least 1.".to_owned());
    }
    if let Some(redirects) = &link.redirects {
        absolute_url("redirects.success_url", redirects.success_url.as_deref())?;
        absolute_url("redirects.cancel_url", redirects.cancel_url.as_deref())?;
    }
    if let Some(notification) = &link.notification {
        absolute_url(
            "notification.webhook_url",
            notification.webhook_url.as_deref(),
        )?;
    }
    Ok(valid)
}

impl KwikSandbox {
    /// `POST /2.0/checkout/link`: checks the Basic credentials, then the signature when the
    /// account has a passphrase, then the request; answers `{"status": true, "result": …}`.
    pub fn create_link(&self, call: SandboxCall<'_>, now: DateTime<Utc>) -> SandboxResponse {
        self.state.as_caller(
            |state| authenticate(state, call.authorization),
            |state, key| {
                let Some(account) = state.accounts.get(&key) else {
                    return unauthorized();
                };
                let created = read_request(account, call.body)
                    .and_then(|(link, valid)| new_link(account, key, &link, valid, now));
                match created {
                    Ok((simulated, response)) => {
                        let body = serde_json::to_value(response).unwrap_or(Value::Null);
                        state.links.insert(simulated.id.clone(), simulated, now);
                        SandboxResponse::ok(body)
                    }
                    Err(refusal) => refusal,
                }
            },
        )
    }
}

/// A create body as Kwik reads it: its signature checked when `account` has a passphrase,
/// then its fields; the request and what it creates, or the refusal.
fn read_request(account: &Account, body: &[u8]) -> Result<(CreateLink, Valid), SandboxResponse> {
    // Read as Kwik's JavaScript reads it, so the signature is checked over the same values.
    let body = std::str::from_utf8(body)
        .map_err(|error| error.to_string())
        .and_then(|text| parse_exact(text).map_err(|error| error.to_string()))
        .map_err(|error| refusal(400, format!("Invalid JSON body: {error}")))?;
    if let Some(passphrase) = &account.passphrase {
        match body.get(SIGNATURE_FIELD) {
            None => {
                return Err(refusal(
                    401,
                    "Missing signature: this API key requires signed payloads.",
                ));
            }
            Some(_) if !verify_request(passphrase.expose_secret().as_bytes(), &body) => {
                return Err(refusal(401, "Invalid signature."));
            }
            Some(_) => {}
        }
    }
    let link = CreateLink::deserialize(&body)
        .map_err(|error| refusal(400, format!("Invalid request: {error}.")))?;
    let valid = validate(&link).map_err(|message| refusal(400, message))?;
    Ok((link, valid))
}

/// The checkout link `link` asks for, for `account` (of API key `key`), and the answer
/// that tells of it.
fn new_link(
    account: &Account,
    key: String,
    link: &CreateLink,
    valid: Valid,
    now: DateTime<Utc>,
) -> Result<(SimulatedLink, LinkResponse), SandboxResponse> {
    let id = new_id("chk_");
    let link_url = account
        .pay_page_base
        .join(&id)
        .map_err(|_| refusal(500, "Could not build the checkout link."))?;
    let webhook_url = link
        .notification
        .as_ref()
        .and_then(|notification| notification.webhook_url.as_deref())
        .and_then(|url| Url::parse(url).ok())
        .unwrap_or_else(|| account.webhook_url.clone());
    let expires_at = link
        .settings
        .and_then(|settings| settings.expiry_time)
        .and_then(|minutes| i64::try_from(minutes).ok())
        .and_then(TimeDelta::try_minutes)
        .and_then(|lifetime| now.checked_add_signed(lifetime));
    let simulated = SimulatedLink {
        id: id.clone(),
        session_id: new_id("ses_"),
        owner: key,
        amount: valid.amount,
        title: valid.title,
        customer_id: link
            .customer_id
            .clone()
            .or_else(|| link.customer.as_ref().map(|_| new_id("cus_"))),
        customer: link.customer.clone(),
        success_url: link.redirects.as_ref().and_then(|r| r.success_url.clone()),
        cancel_url: link.redirects.as_ref().and_then(|r| r.cancel_url.clone()),
        webhook_url,
        expires_at,
        status: LinkStatus::Open,
        expiry_announced: false,
    };
    let response = LinkResponse {
        status: true,
        result: Some(LinkResult {
            id,
            session_id: Some(simulated.session_id.clone()),
            amount: Some(simulated.amount.to_decimal_string()),
            currency: Some(simulated.amount.currency.code().to_owned()),
            customer_id: simulated.customer_id.clone(),
            link_url: link_url.into(),
            expires_at,
        }),
    };
    Ok((simulated, response))
}

/// The signed webhook Kwik sends for `kind` on `link`, `transaction` being the attempt it
/// reports (none for expiry and cancellation: "checkout details only").
fn webhook_for(
    account: &Account,
    link: &SimulatedLink,
    kind: EventKind,
    transaction: Option<&Transaction>,
    now: DateTime<Utc>,
) -> Option<OutgoingWebhook> {
    let created_at = now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let checkout = WebhookCheckout {
        id: link.id.clone(),
        session_id: Some(link.session_id.clone()),
        amount: Some(link.amount.to_decimal_string()),
        currency: Some(link.amount.currency.code().to_owned()),
        customer_id: link.customer_id.clone(),
        card_id: transaction.and_then(|t| t.card_id.clone()),
        transaction_id: transaction.map(|t| t.id.clone()),
        transaction_status: transaction.map(|t| t.status.to_owned()),
        expires_at: link
            .expires_at
            .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        completed_at: (kind == EventKind::Completed).then(|| created_at.clone()),
        message: transaction.and_then(|t| t.message.clone()),
        payment_method: None,
    };
    let event_id = paymux_providers::kwik::wire::event_id(
        kind,
        &link.id,
        checkout.transaction_id.as_deref().unwrap_or_default(),
        &created_at,
        0,
    );
    let webhook = Webhook {
        event: kind,
        data: vec![WebhookData {
            checkout,
            subscription: None,
        }],
        created_at: Some(created_at),
    };
    let body = serde_json::to_vec(&webhook).ok()?;
    let secret = account.webhook_secret.clone();
    let event_type = kind.as_str().to_owned();
    Some(OutgoingWebhook {
        sign: Arc::new(move |at: DateTime<Utc>, body: &[u8]| {
            vec![
                (
                    SIGNATURE_HEADER.to_owned(),
                    sign_webhook(secret.expose_secret().as_bytes(), body),
                ),
                (TIMESTAMP_HEADER.to_owned(), at.timestamp().to_string()),
                ("User-Agent".to_owned(), WEBHOOK_USER_AGENT.to_owned()),
            ]
        }),
        retry_delays: schedule(&RETRY_DELAYS_SECS),
        reply_within: REPLY_WITHIN,
        ..OutgoingWebhook::json(link.webhook_url.clone(), body, event_type, event_id)
    })
}

impl Simulator for KwikSandbox {
    fn add_account(&self, account: SandboxAccount<'_>) -> Result<(), ConfigError> {
        let credentials = Credentials::from_settings(account.settings, |key, secret| {
            account.secret(key, secret)
        })?;
        let credential = Credential {
            key: "api_key",
            name: "Kwik API key",
            value: credentials.api_key.expose_secret().to_owned(),
        };
        let opened = Account {
            api_secret: credentials.api_secret,
            passphrase: credentials.passphrase,
            webhook_secret: credentials.webhook_secret,
            webhook_url: account.webhook_url,
            pay_page_base: account.pay_page_base,
        };
        (self.state.lock().accounts).open(credential, account.merchant, opened)
    }

    fn api(&self, call: &ApiCall<'_>, now: DateTime<Utc>) -> ApiAnswer {
        match (call.method, call.segments().as_slice()) {
            (Method::Post, ["2.0", "checkout", "link"]) => {
                self.create_link(call.call(), now).into()
            }
            _ => call.unrouted(ID),
        }
    }

    fn look(&self) -> &'static Look {
        &LOOK
    }

    /// The payer form the doc describes (name, surname and e-mail always shown, pre-filled
    /// from `customer`) and a card, the tender its webhooks name.
    fn page(&self, id: &str, now: DateTime<Utc>) -> Option<HostedPage> {
        let mut state = self.state.lock();
        let state = &mut *state;
        let link = state.links.get_mut(id)?;
        link.expire_if_due(now);
        let merchant = state.accounts.merchant(&link.owner)?.to_owned();
        let customer = link.customer.clone().unwrap_or_default();
        let holder = [&customer.person_name, &customer.person_surname]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        let mut form = vec![
            Field::new("name", "Name", customer.person_name.unwrap_or_default())
                .autocomplete("given-name"),
            Field::new(
                "surname",
                "Surname",
                customer.person_surname.unwrap_or_default(),
            )
            .autocomplete("family-name"),
            Field::email(customer.email.as_deref()),
        ];
        form.extend(Field::card_form(
            &[("4111 1111 1111 1111", "Visa")],
            Some(&holder),
        ));
        Some(HostedPage {
            merchant,
            amount: Some(link.amount),
            description: Some(link.title.clone()),
            status: link.status.as_str().to_owned(),
            standing: match link.status {
                LinkStatus::Open => Standing::Open,
                LinkStatus::Completed => Standing::Paid,
                LinkStatus::Cancelled => Standing::Canceled,
                LinkStatus::Expired => Standing::Expired,
            },
            form,
            sandbox_options: vec![],
            outcomes: &Outcome::ALL,
            notice: None,
        })
    }

    fn control(&self, press: Press<'_>) -> Result<ControlResult, SandboxError> {
        let (id, outcome, now) = (press.checkout_id, press.outcome, press.now);
        let mut state = self.state.lock();
        let state = &mut *state;
        let link = state.links.checkout_mut(id)?;
        link.expire_if_due(now);
        let overdue_expiry = outcome == Outcome::Expire
            && link.status == LinkStatus::Expired
            && !link.expiry_announced;
        if link.status != LinkStatus::Open && !overdue_expiry {
            return Err(SandboxError::Refused(format!(
                "checkout {id} is {} and accepts no payment",
                link.status.as_str()
            )));
        }
        let (kind, transaction, redirect_url) = match outcome {
            Outcome::Pay => {
                link.status = LinkStatus::Completed;
                let transaction = Transaction {
                    id: new_id("tra_"),
                    // The doc's `checkout.completed` sample says ACTIVE.
                    status: "ACTIVE",
                    card_id: Some(new_id("crd_")),
                    message: None,
                };
                let redirect = link.success_url.clone();
                (EventKind::Completed, Some(transaction), redirect)
            }
            Outcome::Decline => {
                // The link stays open: the payer may try again.
                let transaction = Transaction {
                    id: new_id("tra_"),
                    status: "DECLINED",
                    card_id: None,
                    message: Some(DECLINE_MESSAGE.to_owned()),
                };
                (EventKind::Failed, Some(transaction), None)
            }
            Outcome::Cancel => {
                link.status = LinkStatus::Cancelled;
                (EventKind::Cancelled, None, link.cancel_url.clone())
            }
            Outcome::Expire => {
                link.status = LinkStatus::Expired;
                link.expiry_announced = true;
                if link.expires_at.is_none_or(|at| at > now) {
                    link.expires_at = Some(now);
                }
                (EventKind::Expired, None, None)
            }
        };
        let link = &*link;
        let webhook = state
            .accounts
            .get(&link.owner)
            .and_then(|account| webhook_for(account, link, kind, transaction.as_ref(), now));
        Ok(ControlResult {
            status: link.status.as_str().to_owned(),
            redirect_url,
            webhook,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{self, press};
    use paymux_domain::EventType;
    use paymux_providers::kwik::KwikAdapter;
    use paymux_providers::kwik::signature::{self, canonicalize};
    use paymux_providers::model::CheckoutRequest;
    use paymux_providers::{Provider, ProviderError};
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-09-13T12:30:00Z")
            .unwrap()
            .to_utc()
    }

    const API_KEY: &str = "kwik_key_7Hq2";
    const API_SECRET: &str = "kwik_secret_x9Lm";
    const PASSPHRASE: &str = "your-secure-passphrase";
    const WEBHOOK_SECRET: &str = "kwik_whsec_test";
    /// `Basic base64(API_KEY:API_SECRET)`.
    const BASIC: &str = "Basic a3dpa19rZXlfN0hxMjprd2lrX3NlY3JldF94OUxt";

    /// `Basic base64(kwik_open:open_secret)`: the `other` merchant, without a passphrase.
    const BASIC_OPEN: &str = "Basic a3dpa19vcGVuOm9wZW5fc2VjcmV0";

    /// The `demo` merchant, whose requests are signed with [`PASSPHRASE`], and the `other`.
    fn sandbox() -> KwikSandbox {
        let sandbox = KwikSandbox::default();
        let signed = json!({
            "api_key": API_KEY,
            "api_secret": API_SECRET,
            "passphrase": PASSPHRASE,
            "webhook_secret": WEBHOOK_SECRET,
        });
        sandbox
            .add_account(test_support::account(ID, "demo", &signed))
            .unwrap();
        let open = json!({
            "api_key": "kwik_open",
            "api_secret": "open_secret",
            "webhook_secret": "open_whsec",
        });
        sandbox
            .add_account(test_support::account(ID, "other", &open))
            .unwrap();
        sandbox
    }

    fn basic_body() -> Value {
        json!({
            "type": "CHOOSE_WHAT_TO_PAY",
            "item": { "title": "My product name", "frequency": ["ONE_TIME"], "amount": "1200.00" },
            "redirects": {
                "success_url": "https://shop.example/ok",
                "cancel_url": "https://shop.example/cancel",
            },
            "settings": { "expiry_time": 1440 },
            "notification": { "webhook_url": "https://paymux.example/webhooks/demo/kwik?checkout=1" },
        })
    }

    fn signed(mut body: Value) -> Value {
        signature::sign_request(PASSPHRASE.as_bytes(), body.as_object_mut().unwrap());
        body
    }

    fn create(sandbox: &KwikSandbox, authorization: Option<&str>, body: &[u8]) -> SandboxResponse {
        sandbox.create_link(
            SandboxCall {
                authorization,
                idempotency_key: None,
                body,
            },
            now(),
        )
    }

    fn create_json(sandbox: &KwikSandbox, authorization: &str, body: &Value) -> SandboxResponse {
        create(sandbox, Some(authorization), body.to_string().as_bytes())
    }

    /// Creates the basic link and returns its id.
    fn created(sandbox: &KwikSandbox) -> String {
        let response = create_json(sandbox, BASIC, &signed(basic_body()));
        assert_eq!(response.status, 200, "{}", response.body);
        response.body["result"]["id"].as_str().unwrap().to_owned()
    }

    /// A new basic link with `outcome` pressed on it: the simulator, the link and the result.
    fn pressed(outcome: Outcome) -> (KwikSandbox, String, ControlResult) {
        let sandbox = sandbox();
        let id = created(&sandbox);
        let result = press(&sandbox, &id, outcome, now()).unwrap();
        (sandbox, id, result)
    }

    fn refused_with(response: &SandboxResponse, status: u16, needle: &str) {
        assert_eq!(response.status, status, "{}", response.body);
        assert_eq!(response.body["status"], false, "{}", response.body);
        let message = response.body["message"].as_str().unwrap();
        assert!(message.contains(needle), "{needle}: {message}");
    }

    #[test]
    fn links_stay_within_the_capacity_finished_first() {
        let sandbox = sandbox();
        sandbox.state.lock().links = BoundedMap::with_capacity(4);
        let paid = created(&sandbox);
        press(&sandbox, &paid, Outcome::Pay, now()).unwrap();
        let links = || sandbox.state.lock().links.len();
        let open = || created(&sandbox);
        test_support::assert_finished_go_first(&sandbox, &paid, open, links, now());
    }

    #[test]
    fn base64_decodes_the_rfc_4648_vectors_and_nothing_else() {
        for (encoded, decoded) in [
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
            (
                "a3dpa19rZXlfN0hxMjprd2lrX3NlY3JldF94OUxt",
                "kwik_key_7Hq2:kwik_secret_x9Lm",
            ),
            ("+/+/", "\u{fb}\u{ff}\u{bf}"),
        ] {
            let bytes = decode_base64(encoded).unwrap();
            if encoded == "+/+/" {
                assert_eq!(bytes, vec![0xfb, 0xff, 0xbf]);
            } else {
                assert_eq!(String::from_utf8(bytes).unwrap(), decoded, "{encoded}");
            }
        }
        for bad in [
            "", "Zg=", "Zg", "Z===", "Zg==Zg==", "Zm9v!A==", "Zm 9v", "====",
        ] {
            assert_eq!(decode_base64(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_signed_request_with_the_right_credentials_creates_a_link() {
        let sandbox = sandbox();
        let response = create_json(&sandbox, BASIC, &signed(basic_body()));
        assert_eq!(response.status, 200, "{}", response.body);
        let result = &response.body["result"];
        let id = result["id"].as_str().unwrap();
        assert!(id.starts_with("chk_") && id.len() == 25, "{id}");
        assert!(result["session_id"].as_str().unwrap().starts_with("ses_"));
        assert_eq!(response.body["status"], true);
        assert_eq!(result["amount"], "1200.00");
        assert_eq!(result["currency"], "ZAR");
        assert_eq!(result["customer_id"], Value::Null);
        assert_eq!(
            result["link_url"],
            format!("https://paymux.example/sandbox/kwik/pay/{id}")
        );
        assert_eq!(result["expires_at"], "2025-09-14T12:30:00Z");
        let page = sandbox.page(id, now()).unwrap();
        assert_eq!(page.merchant, "demo");
        assert_eq!(page.amount, Some(Money::new(120_000, Currency::Zar)));
        assert_eq!(page.description.as_deref(), Some("My product name"));
        assert_eq!(
            (page.status.as_str(), page.standing),
            ("open", Standing::Open)
        );
        // The doc's payer form: name, surname and e-mail always show; then the card.
        let fields: Vec<&str> = page.form.iter().map(|field| field.name).collect();
        assert_eq!(
            fields,
            [
                "name", "surname", "email", "card", "expiry", "cvc", "holder"
            ]
        );
        assert_eq!(page.outcomes, Outcome::ALL);
    }

    #[test]
    fn bad_credentials_are_refused_with_401() {
        let sandbox = sandbox();
        let body = signed(basic_body()).to_string();
        for authorization in [
            None,
            Some("Bearer kwik_key_7Hq2"),
            Some("Basic"),
            Some("Basic !!!!"),
            // kwik_key_7Hq2:wrong
            Some("Basic a3dpa19rZXlfN0hxMjp3cm9uZw=="),
            // nobody:kwik_secret_x9Lm
            Some("Basic bm9ib2R5Omt3aWtfc2VjcmV0X3g5TG0="),
            // kwik_key_7Hq2 (no colon)
            Some("Basic a3dpa19rZXlfN0hxMg=="),
        ] {
            let response = create(&sandbox, authorization, body.as_bytes());
            refused_with(&response, 401, "Unauthorized");
        }
        // The scheme is case-insensitive.
        let lower = BASIC.replacen("Basic", "basic", 1);
        assert_eq!(create(&sandbox, Some(&lower), body.as_bytes()).status, 200);
    }

    #[test]
    fn an_account_with_a_passphrase_refuses_unsigned_and_wrongly_signed_requests() {
        let sandbox = sandbox();
        refused_with(
            &create_json(&sandbox, BASIC, &basic_body()),
            401,
            "Missing signature",
        );
        let mut wrong = basic_body();
        signature::sign_request(b"not-the-passphrase", wrong.as_object_mut().unwrap());
        refused_with(
            &create_json(&sandbox, BASIC, &wrong),
            401,
            "Invalid signature.",
        );
        let mut tampered = signed(basic_body());
        tampered["item"]["amount"] = json!("1.00");
        refused_with(
            &create_json(&sandbox, BASIC, &tampered),
            401,
            "Invalid signature.",
        );
        let mut not_text = signed(basic_body());
        not_text["signature"] = json!(42);
        refused_with(
            &create_json(&sandbox, BASIC, &not_text),
            401,
            "Invalid signature.",
        );
        // Without a passphrase, nothing is checked.
        assert_eq!(create_json(&sandbox, BASIC_OPEN, &basic_body()).status, 200);
        assert_eq!(create_json(&sandbox, BASIC_OPEN, &wrong).status, 200);
    }

    #[test]
    fn the_signature_is_checked_over_the_values_javascript_reads() {
        let sandbox = sandbox();
        // Written by hand, as Kwik's JavaScript canonicalizes it: the literals `1.50e0` and
        // `5.413255752064287e-35` are read as the doubles 1.5 and 5.413255752064287e-35.
        let text = r#"{"type":"CHOOSE_WHAT_TO_PAY","extra":[1.50e0,5.413255752064287e-35],"item":{"title":"T","amount":"10.00"}}"#;
        let canonical = r#"{"extra":[1.5,5.413255752064287e-35],"item":{"amount":"10.00","title":"T"},"type":"CHOOSE_WHAT_TO_PAY"}"#;
        let signature = paymux_providers::signing::hmac_sha256_hex(
            PASSPHRASE.as_bytes(),
            &[canonical.as_bytes()],
        );
        let body = text.replacen('{', &format!(r#"{{"signature":"{signature}","#), 1);
        let response = create(&sandbox, Some(BASIC), body.as_bytes());
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(canonicalize(&parse_exact(&body).unwrap()), canonical);
    }

    #[test]
    fn invalid_requests_are_refused_with_400_in_kwiks_shape() {
        let sandbox = sandbox();
        refused_with(
            &create(&sandbox, Some(BASIC_OPEN), b"{not json"),
            400,
            "Invalid JSON",
        );
        for (edit, needle) in [
            (
                Box::new(|b: &mut Value| b["type"] = json!("DONATION")) as Box<dyn Fn(&mut Value)>,
                "DONATION",
            ),
            (
                Box::new(|b| b["item"]["amount"] = json!("12.345")),
                "item.amount",
            ),
            (
                Box::new(|b| b["item"]["amount"] = json!("0.00")),
                "greater than 0.00",
            ),
            (
                Box::new(|b| {
                    b["item"].as_object_mut().unwrap().remove("amount");
                }),
                "fixed-amount",
            ),
            (Box::new(|b| b["item"]["title"] = json!(" ")), "item.title"),
            (
                Box::new(|b| b["item"]["frequency"] = json!(["MONTHLY"])),
                "one-time",
            ),
            (
                Box::new(|b| b["item"]["amount_options"] = json!([1, 2, 3, 4, 5, 6])),
                "at most 5",
            ),
            (
                Box::new(|b| b["items"] = json!([{ "product_id": "pro_abc" }])),
                "PRODUCTS_AND_SUBSCRIPTIONS",
            ),
            (
                Box::new(|b| b["customer"] = json!({ "person_name": "x".repeat(33) })),
                "customer.person_name",
            ),
            (
                Box::new(|b| b["customer"] = json!({ "contact_number": "+2783123456789012" })),
                "customer.contact_number",
            ),
            (
                Box::new(|b| b["customer"] = json!({ "billing_address": { "country": "ZAF" } })),
                "customer.billing_address.country",
            ),
            (
                Box::new(|b| {
                    b["customer"] = json!({ "email": "a@b.co" });
                    b["customer_id"] = json!("cus_1");
                }),
                "not both",
            ),
            (
                Box::new(|b| b["settings"]["expiry_time"] = json!(0)),
                "expiry_time",
            ),
            (
                Box::new(|b| b["settings"]["expiry_time"] = json!(-5)),
                "`-5`",
            ),
            (
                Box::new(|b| b["notification"]["webhook_url"] = json!("not a url")),
                "notification.webhook_url",
            ),
            (
                Box::new(|b| b["customization"] = json!({ "colour": "red" })),
                "colour",
            ),
        ] {
            let mut body = basic_body();
            edit(&mut body);
            refused_with(&create_json(&sandbox, BASIC_OPEN, &body), 400, needle);
        }
    }

    #[test]
    fn baskets_are_priced_from_their_inline_one_time_products() {
        let sandbox = sandbox();
        let basket = |items: Value| {
            json!({
                "type": "PRODUCTS_AND_SUBSCRIPTIONS",
                "items": items,
                "customer": { "person_name": "Thandi", "email": "thandi@example.co.za" },
            })
        };
        let line = |name: &str, price: &str, qty: u32| json!({ "name": name, "code": format!("c-{name}"), "price_excl": price, "qty": qty, "is_tax": false, "pricing_type": "ONE_TIME" });
        let response = create_json(
            &sandbox,
            BASIC_OPEN,
            &basket(json!([
                line("Biltong", "189.90", 2),
                line("Rooibos", "45.00", 1)
            ])),
        );
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(response.body["result"]["amount"], "424.80");
        assert!(
            response.body["result"]["customer_id"]
                .as_str()
                .unwrap()
                .starts_with("cus_")
        );
        assert_eq!(response.body["result"]["expires_at"], Value::Null);
        let id = response.body["result"]["id"].as_str().unwrap();
        assert_eq!(
            sandbox.page(id, now()).unwrap().description.as_deref(),
            Some("Biltong, Rooibos")
        );
        for (items, needle) in [
            (json!([]), "items field is required"),
            (
                json!([{ "product_id": "pro_abc123", "qty": 1 }]),
                "catalogue",
            ),
            (
                json!([{ "name": "A", "price_excl": "1.00", "pricing_type": "ONE_TIME" }]),
                "items.0.code",
            ),
            (
                json!([{ "name": "A", "code": "a", "price_excl": "1.00", "pricing_type": "RECURRING", "billing_period": "MONTHLY" }]),
                "one-time",
            ),
            (
                json!([{ "name": "A", "code": "a", "price_excl": "1.00", "pricing_type": "ONE_TIME", "is_tax": true }]),
                "tax",
            ),
            (
                json!([{ "name": "A", "code": "a", "price_excl": "1,00", "pricing_type": "ONE_TIME" }]),
                "items.0.price_excl",
            ),
            (
                json!([{ "name": "A", "code": "a", "price_excl": "1.00", "pricing_type": "ONE_TIME", "qty": 0 }]),
                "items.0.qty",
            ),
            (
                json!([{ "name": "A", "code": "a", "price_excl": "0.00", "pricing_type": "ONE_TIME" }]),
                "greater than 0.00",
            ),
        ] {
            refused_with(
                &create_json(&sandbox, BASIC_OPEN, &basket(items)),
                400,
                needle,
            );
        }
    }

    /// Checks a simulated webhook's headers the way paymux's adapter does, and returns its body.
    fn delivered(webhook: &OutgoingWebhook, secret: &str, at: DateTime<Utc>) -> Webhook {
        let headers = (webhook.sign)(at, &webhook.body);
        let header = |name: &str| {
            headers
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(header("user-agent"), Some("Kwik-Webhooks/1.0"));
        assert_eq!(
            header("x-timestamp"),
            Some(at.timestamp().to_string().as_str())
        );
        signature::verify_webhook(
            header("x-signature"),
            header("x-timestamp"),
            &webhook.body,
            secret.as_bytes(),
            at,
        )
        .unwrap();
        assert_eq!(webhook.content_type, "application/json");
        assert_eq!(
            webhook.retry_delays,
            [60, 120, 240].map(Duration::from_secs).to_vec()
        );
        assert_eq!(webhook.reply_within, Duration::from_secs(10));
        assert!(
            ((webhook.delivered)(200, b"") == crate::simulator::Verdict::Delivered)
                && ((webhook.delivered)(500, b"") == crate::simulator::Verdict::Retry)
        );
        serde_json::from_slice(&webhook.body).unwrap()
    }

    #[test]
    fn each_outcome_sends_its_signed_event_to_the_checkouts_webhook_url() {
        let success = Some("https://shop.example/ok");
        let cancel = Some("https://shop.example/cancel");
        for (outcome, status, redirect_url, event, open) in [
            (
                Outcome::Pay,
                "completed",
                success,
                EventKind::Completed,
                false,
            ),
            // A declined attempt leaves the link open: the payer may try again.
            (Outcome::Decline, "open", None, EventKind::Failed, true),
            (
                Outcome::Cancel,
                "cancelled",
                cancel,
                EventKind::Cancelled,
                false,
            ),
            (Outcome::Expire, "expired", None, EventKind::Expired, false),
        ] {
            let (sandbox, id, result) = pressed(outcome);
            assert_eq!(result.status, status);
            assert_eq!(result.redirect_url.as_deref(), redirect_url);
            let webhook = result.webhook.unwrap();
            assert_eq!(webhook.event_type, event.as_str());
            assert_eq!(
                webhook.url.as_str(),
                "https://paymux.example/webhooks/demo/kwik?checkout=1"
            );
            let body = delivered(&webhook, WEBHOOK_SECRET, now());
            assert_eq!(
                (body.event, body.data[0].checkout.id.as_str()),
                (event, id.as_str())
            );
            let page = sandbox.page(&id, now()).unwrap();
            assert_eq!(
                (page.status.as_str(), page.standing == Standing::Open),
                (status, open)
            );
        }
    }

    #[test]
    fn paying_completes_the_link_and_sends_a_signed_checkout_completed() {
        let (sandbox, id, result) = pressed(Outcome::Pay);
        assert_eq!(
            result.webhook.as_ref().unwrap().event_type,
            "checkout.completed"
        );
        let webhook = result.webhook.unwrap();
        // Signed when sent: a retry an hour later carries its own timestamp.
        delivered(&webhook, WEBHOOK_SECRET, now() + TimeDelta::hours(1));
        let body = delivered(&webhook, WEBHOOK_SECRET, now());
        assert_eq!(body.created_at.as_deref(), Some("2025-09-13T12:30:00Z"));
        let checkout = &body.data[0].checkout;
        assert_eq!(checkout.amount.as_deref(), Some("1200.00"));
        assert_eq!(checkout.currency.as_deref(), Some("ZAR"));
        assert_eq!(checkout.transaction_status.as_deref(), Some("ACTIVE"));
        let transaction_id = checkout.transaction_id.as_deref().unwrap();
        assert!(transaction_id.starts_with("tra_"), "{transaction_id}");
        assert!(checkout.card_id.as_deref().unwrap().starts_with("crd_"));
        assert_eq!(
            checkout.completed_at.as_deref(),
            Some("2025-09-13T12:30:00Z")
        );
        assert_eq!(checkout.expires_at.as_deref(), Some("2025-09-14T12:30:00Z"));
        let events = body.into_normalized(false).unwrap();
        assert_eq!(events[0].provider_event_id, webhook.event_id);
        assert_eq!(events[0].amount, Some(Money::new(120_000, Currency::Zar)));

        for outcome in [
            Outcome::Pay,
            Outcome::Decline,
            Outcome::Cancel,
            Outcome::Expire,
        ] {
            let again = press(&sandbox, &id, outcome, now());
            assert!(matches!(again, Err(SandboxError::Refused(_))), "{again:?}");
        }
    }

    #[test]
    fn a_decline_sends_checkout_failed_and_leaves_the_link_open() {
        let (sandbox, id, first) = pressed(Outcome::Decline);
        let first = first.webhook.unwrap();
        let body = delivered(&first, WEBHOOK_SECRET, now());
        let checkout = &body.data[0].checkout;
        assert_eq!(checkout.transaction_status.as_deref(), Some("DECLINED"));
        assert_eq!(checkout.message.as_deref(), Some(DECLINE_MESSAGE));
        assert_eq!(checkout.completed_at, None);
        // A second attempt in the same second is another event.
        let second = press(&sandbox, &id, Outcome::Decline, now()).unwrap();
        assert_ne!(second.webhook.unwrap().event_id, first.event_id);
        assert_eq!(sandbox.page(&id, now()).unwrap().standing, Standing::Open);
        let paid = press(&sandbox, &id, Outcome::Pay, now()).unwrap();
        assert_eq!(paid.status, "completed");
    }

    #[test]
    fn cancelling_sends_checkout_cancelled_without_a_transaction() {
        let (_, _, result) = pressed(Outcome::Cancel);
        let body = delivered(&result.webhook.unwrap(), WEBHOOK_SECRET, now());
        let checkout = &body.data[0].checkout;
        assert_eq!(checkout.transaction_id, None);
        assert_eq!(checkout.amount.as_deref(), Some("1200.00"));
    }

    #[test]
    fn expiring_sends_checkout_expired_once() {
        let (sandbox, id, result) = pressed(Outcome::Expire);
        let body = delivered(&result.webhook.unwrap(), WEBHOOK_SECRET, now());
        assert_eq!(
            body.data[0].checkout.expires_at.as_deref(),
            Some("2025-09-13T12:30:00Z")
        );
        assert!(matches!(
            press(&sandbox, &id, Outcome::Expire, now()),
            Err(SandboxError::Refused(_))
        ));
    }

    #[test]
    fn a_link_past_its_expiry_reads_expired_and_expire_still_announces_it() {
        let sandbox = sandbox();
        let id = created(&sandbox);
        let later = now() + TimeDelta::minutes(1440);
        let page = sandbox.page(&id, later).unwrap();
        assert_eq!(
            (page.status.as_str(), page.standing),
            ("expired", Standing::Expired)
        );
        assert!(matches!(
            sandbox.control(Press::new(&id, Outcome::Pay, later)),
            Err(SandboxError::Refused(_))
        ));
        let result = sandbox.control(Press::new(&id, Outcome::Expire, later));
        let body = delivered(&result.unwrap().webhook.unwrap(), WEBHOOK_SECRET, later);
        assert_eq!(body.event, EventKind::Expired);
        // The time it lapsed is kept.
        assert_eq!(
            body.data[0].checkout.expires_at.as_deref(),
            Some("2025-09-14T12:30:00Z")
        );
    }

    #[test]
    fn without_a_webhook_url_the_accounts_endpoint_gets_the_webhooks() {
        let sandbox = sandbox();
        let mut body = basic_body();
        body.as_object_mut().unwrap().remove("notification");
        let response = create_json(&sandbox, BASIC_OPEN, &body);
        let id = response.body["result"]["id"].as_str().unwrap();
        let webhook = test_support::webhook(&sandbox, id, Outcome::Pay, now());
        assert_eq!(
            webhook.url.as_str(),
            "https://paymux.example/webhooks/other/kwik"
        );
        delivered(&webhook, "open_whsec", now());
    }

    #[test]
    fn without_a_webhook_secret_webhooks_are_signed_with_the_passphrase() {
        let sandbox = sandbox();
        let settings =
            json!({ "api_key": "kwik_pp", "api_secret": "pp_secret", "passphrase": "pp-only" });
        sandbox
            .add_account(test_support::account(ID, "third", &settings))
            .unwrap();
        let mut body = basic_body();
        signature::sign_request(b"pp-only", body.as_object_mut().unwrap());
        // kwik_pp:pp_secret
        let response = create_json(&sandbox, "Basic a3dpa19wcDpwcF9zZWNyZXQ=", &body);
        assert_eq!(response.status, 200, "{}", response.body);
        let id = response.body["result"]["id"].as_str().unwrap();
        let webhook = test_support::webhook(&sandbox, id, Outcome::Cancel, now());
        delivered(&webhook, "pp-only", now());
    }

    #[test]
    fn unknown_checkouts_are_not_found() {
        let sandbox = sandbox();
        assert_eq!(sandbox.page("chk_nope", now()), None);
        assert_eq!(
            press(&sandbox, "chk_nope", Outcome::Pay, now()).unwrap_err(),
            SandboxError::NotFound("chk_nope".into())
        );
    }

    #[test]
    fn accounts_are_read_from_the_providers_settings() {
        let sandbox = sandbox();
        let open = |settings: Value| sandbox.add_account(test_support::account(ID, "m", &settings));
        let again = json!({ "api_key": API_KEY, "api_secret": "x", "webhook_secret": "w" });
        assert_eq!(open(again).unwrap_err().key, "api_key");
        let unverifiable = json!({ "api_key": "k2", "api_secret": "x" });
        assert_eq!(open(unverifiable).unwrap_err().key, "webhook_secret");
        let typo =
            json!({ "api_key": "k3", "api_secret": "x", "webhook_secret": "w", "passphrse": "p" });
        assert_eq!(open(typo).unwrap_err().key, "passphrse");
    }

    /// The adapter against the simulated Kwik served over HTTP: the simulator checks the
    /// Basic credentials and the request signature, the hosted page pays, and the signed
    /// webhook it sends is accepted and normalized by the same adapter.
    #[tokio::test]
    async fn the_adapter_and_the_simulator_agree() {
        let sandbox = Arc::new(sandbox());
        let api = test_support::serve(ID, sandbox.clone(), Utc::now()).await;
        let adapter_with = |passphrase: &str| {
            let settings = json!({
                "api_key": API_KEY,
                "api_secret": API_SECRET,
                "passphrase": passphrase,
                "webhook_secret": WEBHOOK_SECRET,
            });
            test_support::adapter(KwikAdapter::from_context, ID, &settings, &api.base_url)
        };
        let adapter = adapter_with(PASSPHRASE);
        let request = CheckoutRequest {
            description: Some("My product name".into()),
            success_url: Some(Url::parse("https://shop.example/ok?order=5821").unwrap()),
            ..CheckoutRequest::example(Money::new(120_000, Currency::Zar))
        };

        let created = adapter.create_checkout(&request).await.unwrap();
        let id = created.provider_checkout_id.clone().unwrap();
        assert_eq!(
            created.redirect_url.as_deref(),
            Some(format!("https://paymux.example/sandbox/kwik/pay/{id}").as_str())
        );
        assert!(!created.livemode);
        // A wrong passphrase is refused as Kwik would.
        assert_eq!(
            adapter_with("not-the-passphrase")
                .create_checkout(&request)
                .await,
            Err(ProviderError::Upstream {
                status: 401,
                message: "Invalid signature.".into()
            })
        );

        let now = Utc::now();
        let press = Press::new(&id, Outcome::Pay, now);
        let webhook = sandbox.control(press).unwrap().webhook.unwrap();
        let events = test_support::receive(&adapter, &webhook, now).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, EventType::PaymentSucceeded);
        assert_eq!(events[0].provider_payment_id.as_deref(), Some(id.as_str()));
        assert_eq!(events[0].provider_event_id, webhook.event_id);
        assert_eq!(events[0].amount, Some(Money::new(120_000, Currency::Zar)));
    }
}
