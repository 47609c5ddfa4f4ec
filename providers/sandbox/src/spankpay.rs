//! The simulated SpankPay: a stand-in for the purchase frame. A page opens it with the frame
//! parameters paymux's `client_action` carries ([`Frames::open`]); its `pay`
//! button pays in a chosen input currency (optionally a partial `amount`), `decline` makes a
//! failed payment, and each sends the signed `text/plain` webhook to the purchase's callback.
//!
//! Delivery is as the doc says: `{"received": true}` in a 2xx delivers; a 4xx or
//! `{"received": false}` fails the payment for good (SpankPay refunds the payer); anything
//! else is retried 10 times 30 s apart, 10 times 5 min apart, then 10 times 1 h apart.
//!
//! Purchases are kept in a [`BoundedMap`]: past its capacity the oldest complete ones are
//! forgotten first.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use paymux_domain::{Currency, Money};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

use paymux_providers::ConfigError;
use paymux_providers::spankpay::wire::{
    self, FrameParams, KEY_HEADER, PaymentStatus, REFERENCE_METADATA, SIGNATURE_HEADER, format_e8,
};
use paymux_providers::spankpay::{ID, Settings};

use crate::memory::{Accounts, BoundedMap, Credential, Finished, Locked};
use crate::simulator::{
    ApiAnswer, ApiCall, ControlResult, Field, FramedCheckout, Frames, HostedPage, Look, Outcome,
    OutgoingWebhook, Press, SandboxAccount, SandboxError, Simulator, Standing, Verdict,
};

/// How SpankPay's frame looks.
const LOOK: Look = Look {
    name: "SpankPay",
    colour: "#e11d74",
    on_colour: "#ffffff",
    pay_label: "Send payment",
};

/// How long SpankPay waits for a reply (the doc is silent; 10 s).
const REPLY_WITHIN: Duration = Duration::from_secs(10);

/// The fake rates: input currency units, in 10^-8, per US cent. ETH at 100 USD matches the
/// doc's example (69.69 USD ↔ 0.6969 ETH); any other code trades at 1 per USD.
const RATES_E8_PER_CENT: [(&str, u128); 6] = [
    ("ETH", 10_000),       // 100 USD per ETH
    ("BTC", 250),          // 4 000 USD per BTC
    ("LTC", 20_000),       // 50 USD per LTC
    ("DOGE", 500_000_000), // 0.002 USD per DOGE
    ("BOOTY", 1_000_000),  // 1 USD per BOOTY
    ("DAI", 1_000_000),    // 1 USD per DAI
];
const DEFAULT_RATE_E8_PER_CENT: u128 = 1_000_000;

/// The input amount paying `cents` in `currency`, exactly.
fn input_amount(cents: i64, currency: &str) -> String {
    let code = currency.strip_prefix("TEST-").unwrap_or(currency);
    let rate = RATES_E8_PER_CENT
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(code))
        .map_or(DEFAULT_RATE_E8_PER_CENT, |(_, rate)| *rate);
    format_e8(u128::from(cents.unsigned_abs()) * rate)
}

/// The doc's retry schedule: 10 × 30 s, 10 × 5 min, 10 × 1 h.
pub fn retry_delays() -> Vec<Duration> {
    [30u64, 300, 3600]
        .iter()
        .flat_map(|secs| std::iter::repeat_n(Duration::from_secs(*secs), 10))
        .collect()
}

/// What SpankPay makes of a reply: `{"received": true}` in a 2xx delivers; a 4xx or
/// `{"received": false}` fails the payment for good; anything else is retried.
pub fn verdict(status: u16, body: &[u8]) -> Verdict {
    let received = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|body| body.get("received").and_then(Value::as_bool));
    if (400..500).contains(&status) || received == Some(false) {
        Verdict::Refused
    } else if (200..300).contains(&status) && received == Some(true) {
        Verdict::Delivered
    } else {
        Verdict::Retry
    }
}

/// A merchant's account at the simulated SpankPay.
struct Account {
    api_secret: SecretString,
    webhook_url: Url,
}

/// A purchase made by opening the frame.
struct Purchase {
    id: String,
    created_on: DateTime<Utc>,
    params: FrameParams,
    amount: Money,
    callback: Url,
    /// Where the page around the frame sends the payer once the purchase is paid.
    success_url: Option<String>,
    /// What successful payments brought in so far (minor units of USD).
    paid: i64,
}

impl Purchase {
    /// Paid in full: the frame takes no more payments.
    fn complete(&self) -> bool {
        self.paid >= self.amount.minor
    }

    /// What is still to pay.
    fn rest(&self) -> Money {
        Money::new((self.amount.minor - self.paid).max(0), self.amount.currency)
    }

    fn status(&self) -> String {
        if self.complete() {
            "complete"
        } else {
            "awaiting-payment"
        }
        .to_owned()
    }
}

impl Finished for Purchase {
    /// Complete (paid in full); a frame with only failed or partial payments is still open.
    fn finished(&self, _now: DateTime<Utc>) -> bool {
        self.complete()
    }
}

#[derive(Default)]
struct State {
    /// By public key.
    accounts: Accounts<Account>,
    /// By paymux checkout id (the provider checkout id paymux stores).
    purchases: BoundedMap<String, Purchase>,
}

/// The simulated SpankPay. One per gateway, shared by every merchant with a SpankPay account.
#[derive(Default)]
pub struct SpankPaySandbox {
    state: Locked<State>,
}

/// `prefix` and 11 random hex digits, the shape of the doc's `pay_c493715653c`.
fn new_id(prefix: &str) -> String {
    let random = ulid::Ulid::new().random() & 0xfff_ffff_ffff;
    format!("{prefix}{random:011x}")
}

/// A random transaction hash: `0x` and 64 hex digits.
fn new_tx_hash() -> String {
    let mut hash = String::from("0x");
    for _ in 0..4 {
        hash.push_str(&format!("{:016x}", ulid::Ulid::new().random() as u64));
    }
    hash
}

fn refused(message: impl Into<String>) -> SandboxError {
    SandboxError::Refused(message.into())
}

impl Frames for SpankPaySandbox {
    /// Opens the frame for a checkout: registers a purchase from the frame parameters (the
    /// `client_action` paymux returned: key, amount, currency, acceptCurrencies, metadata,
    /// callback). An unknown key is refused; opening the frame again for the same checkout
    /// keeps the purchase it made first.
    ///
    /// The stand-in frame also plays the page around the real one, which on the frame's
    /// `payment` event sends the payer on (the doc's `window.location.href =
    /// '/order-complete'`): so it keeps the checkout's success URL.
    fn open(&self, checkout: &FramedCheckout, now: DateTime<Utc>) -> Result<(), SandboxError> {
        let checkout_id = checkout.id.as_str();
        let mut state = self.state.lock();
        if state.purchases.contains_key(checkout_id) {
            return Ok(());
        }
        let params: FrameParams = serde_json::from_value(checkout.params.clone())
            .map_err(|error| refused(format!("invalid frame parameters: {error}")))?;
        let account = state
            .accounts
            .get(&params.key)
            .ok_or_else(|| refused(format!("unknown SpankPay key `{}`", params.key)))?;
        let currency = wire::output_currency(&params.key);
        if params.currency != currency {
            return Err(refused(format!(
                "the currency of key `{}` is {currency}, not {}",
                params.key, params.currency
            )));
        }
        let amount = Money::parse_decimal(&params.amount, Currency::Usd)
            .ok()
            .filter(|amount| amount.minor > 0)
            .ok_or_else(|| {
                refused(format!(
                    "amount `{}` is not a positive amount in cents",
                    params.amount
                ))
            })?;
        if params.accept_currencies.is_empty() {
            return Err(refused("acceptCurrencies names no currency"));
        }
        let callback = match &params.callback {
            Some(callback) => Url::parse(callback)
                .map_err(|error| refused(format!("invalid callback URL: {error}")))?,
            None => account.webhook_url.clone(),
        };
        state.purchases.insert(
            checkout_id.to_owned(),
            Purchase {
                id: new_id("pur_"),
                created_on: now,
                params,
                amount,
                callback,
                success_url: checkout.success_url.clone(),
                paid: 0,
            },
            now,
        );
        Ok(())
    }
}

impl Simulator for SpankPaySandbox {
    fn add_account(&self, account: SandboxAccount<'_>) -> Result<(), ConfigError> {
        let credentials = Settings::parse(account.settings)?
            .resolve(|key, secret| account.secret(key, secret))?;
        let credential = Credential {
            key: "public_key",
            name: "SpankPay public key",
            value: credentials.public_key,
        };
        let opened = Account {
            api_secret: credentials.api_secret,
            webhook_url: account.webhook_url,
        };
        (self.state.lock().accounts).open(credential, account.merchant, opened)
    }

    /// SpankPay's API is the frame's: paymux calls none.
    fn api(&self, call: &ApiCall<'_>, _now: DateTime<Utc>) -> ApiAnswer {
        call.unrouted(ID)
    }

    fn frames(&self) -> Option<&dyn Frames> {
        Some(self)
    }

    fn look(&self) -> &'static Look {
        &LOOK
    }

    /// The purchase frame: the amount in the output currency, a choice of the accepted input
    /// currencies with what each would send, and the sandbox's partial amount. A purchase has
    /// no description: the order named in its metadata stands for one, as the doc suggests
    /// metadata carry it.
    fn page(&self, checkout_id: &str, _now: DateTime<Utc>) -> Option<HostedPage> {
        let state = self.state.lock();
        let purchase = state.purchases.get(checkout_id)?;
        let merchant = state.accounts.merchant(&purchase.params.key)?.to_owned();
        let rest = purchase.rest();
        let currencies = purchase
            .params
            .accept_currencies
            .iter()
            .map(|code| {
                let sent = format!("{} {code}", input_amount(rest.minor, code));
                (code.clone(), sent)
            })
            .collect();
        let first = purchase.params.accept_currencies.first().cloned();
        Some(HostedPage {
            merchant,
            amount: Some(purchase.amount),
            description: purchase.params.metadata[REFERENCE_METADATA]
                .as_str()
                .map(|reference| format!("Order {reference}")),
            status: purchase.status(),
            standing: if purchase.complete() {
                Standing::Paid
            } else {
                Standing::Open
            },
            form: vec![
                Field::new("inputCurrency", "Pay with", first.unwrap_or_default())
                    .suggest(currencies),
            ],
            sandbox_options: vec![Field::new(
                "amount",
                "Amount sent (USD; less is a partial payment)",
                rest.to_decimal_string(),
            )],
            outcomes: &[Outcome::Pay, Outcome::Decline],
            notice: (purchase.paid > 0 && !purchase.complete()).then(|| {
                let paid = Money::new(purchase.paid, purchase.amount.currency);
                format!(
                    "Received {} so far: {} still to pay.",
                    paid.to_price_string(),
                    rest.to_price_string()
                )
            }),
        })
    }

    /// `pay` sends a succeeded payment in `inputCurrency` (default the first accepted one)
    /// for `amount` (default what is still to pay; less is a partial payment, and the frame
    /// takes further payments until the whole amount is in); `decline` sends a failed payment
    /// and leaves the frame open. The frame has no
    /// cancel or expiry: those are refused.
    fn control(&self, press: Press<'_>) -> Result<ControlResult, SandboxError> {
        let checkout_id = press.checkout_id;
        let status = match press.outcome {
            Outcome::Pay => PaymentStatus::Succeeded,
            Outcome::Decline => PaymentStatus::Failed,
            Outcome::Cancel | Outcome::Expire => {
                return Err(refused("the frame has no such outcome: close the frame"));
            }
        };
        let mut state = self.state.lock();
        let state = &mut *state;
        let purchase = state.purchases.checkout_mut(checkout_id)?;
        if purchase.complete() {
            return Err(refused(format!(
                "the purchase of checkout {checkout_id} is complete"
            )));
        }
        let account = state.accounts.get(&purchase.params.key).ok_or_else(|| {
            refused(format!(
                "checkout {checkout_id} belongs to no configured account"
            ))
        })?;
        let (input_currency, amount) = paid_with(purchase, press.options)?;
        let payment = FramePayment {
            id: new_id("pay_"),
            status,
            amount,
            input_currency,
        };
        let webhook = payment_webhook(account, purchase, &payment, press.now)?;
        if status == PaymentStatus::Succeeded {
            purchase.paid = purchase.paid.saturating_add(amount.minor);
        }
        // Paid in full: the page around the frame sends the payer to the success URL.
        let redirect_url = (status == PaymentStatus::Succeeded && purchase.complete())
            .then(|| purchase.success_url.clone())
            .flatten();
        Ok(ControlResult {
            status: purchase.status(),
            redirect_url,
            webhook: Some(webhook),
        })
    }
}

/// A payment made in the frame.
struct FramePayment {
    id: String,
    status: PaymentStatus,
    /// What it brings in, in USD.
    amount: Money,
    /// The currency the payer paid in: `ETH`, `TEST-BTC` …
    input_currency: String,
}

/// What a `pay` press pays with, from the page's fields: the input currency (`inputCurrency`,
/// by default the first the purchase accepts) and the amount (`amount`, by default the rest).
fn paid_with(purchase: &Purchase, options: &Value) -> Result<(String, Money), SandboxError> {
    let option = |name: &str| -> Result<Option<&str>, SandboxError> {
        match options.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.trim())),
            Some(_) => Err(refused(format!("`{name}` must be a string"))),
        }
    };
    let accepted = &purchase.params.accept_currencies;
    let input_currency = match option("inputCurrency")? {
        Some(code) => accepted
            .iter()
            .find(|accepted| *accepted == code)
            .ok_or_else(|| {
                refused(format!(
                    "`{code}` is not accepted for this purchase (accepted: {})",
                    accepted.join(", ")
                ))
            })?,
        None => accepted
            .first()
            .ok_or_else(|| refused("the purchase accepts no currency"))?,
    }
    .clone();
    let amount = match option("amount")? {
        Some(text) => Money::parse_decimal(text, Currency::Usd)
            .ok()
            .filter(|amount| amount.minor > 0)
            .ok_or_else(|| refused(format!("amount `{text}` is not a positive USD amount")))?,
        None => purchase.rest(),
    };
    Ok((input_currency, amount))
}

/// The signed `text/plain` webhook SpankPay sends for `payment` to the purchase's callback.
fn payment_webhook(
    account: &Account,
    purchase: &Purchase,
    payment: &FramePayment,
    now: DateTime<Utc>,
) -> Result<OutgoingWebhook, SandboxError> {
    let status = payment.status;
    let body = json!({
        "type": "payment",
        "payment_id": payment.id,
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        "status": status.as_str(),
        "purchaseId": purchase.id,
        "purchase": {
            "id": purchase.id,
            "createdOn": purchase.created_on.to_rfc3339_opts(SecondsFormat::Millis, true),
            "key": purchase.params.key,
            "amount": purchase.params.amount,
            "currency": purchase.params.currency,
            "acceptCurrencies": purchase.params.accept_currencies,
            "metadata": purchase.params.metadata,
        },
        "amount": payment.amount.to_decimal_string(),
        "amountCurrency": purchase.params.currency,
        "inputAmount": input_amount(payment.amount.minor, &payment.input_currency),
        "inputCurrency": payment.input_currency,
        "inputTx": new_tx_hash(),
        "receipt": {
            "type": "webhook",
            "url": purchase.callback.as_str(),
            "status": "pending",
            "calledOn": null,
            "responseStatusCode": null,
            "response": null,
        },
    });
    let body = serde_json::to_vec(&body)
        .map_err(|error| refused(format!("cannot encode the webhook: {error}")))?;
    let secret = account.api_secret.clone();
    let key = purchase.params.key.clone();
    Ok(OutgoingWebhook {
        url: purchase.callback.clone(),
        content_type: "text/plain",
        body,
        event_type: format!("payment.{}", status.as_str()),
        event_id: wire::event_id(&payment.id, status),
        sign: Arc::new(move |at: DateTime<Utc>, body: &[u8]| {
            vec![
                (KEY_HEADER.to_owned(), key.clone()),
                (
                    SIGNATURE_HEADER.to_owned(),
                    wire::signature_header(secret.expose_secret().as_bytes(), at.timestamp(), body),
                ),
            ]
        }),
        retry_delays: retry_delays(),
        reply_within: REPLY_WITHIN,
        delivered: verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{self, now};
    use paymux_domain::EventType;
    use paymux_providers::Provider;
    use paymux_providers::spankpay::SpankPayAdapter;

    const CHECKOUT_ID: &str = "chk_01jv5c1x2y3z4a5b6c7d8e9f0g";

    fn settings() -> Value {
        json!({
            "public_key": "test_quickstart_key",
            "api_secret": "sk_spankpay",
            "accept_currencies": ["ETH", "BTC"],
        })
    }

    fn sandbox() -> SpankPaySandbox {
        let sandbox = SpankPaySandbox::default();
        let settings = settings();
        sandbox
            .add_account(test_support::account(ID, "demo", &settings))
            .unwrap();
        sandbox
    }

    /// Where the checkouts of these tests send the payer once paid.
    const SUCCESS_URL: &str = "https://shop.example/thanks?order=sc696969";

    /// Checkout `id` as the host gives it to the frame: `params`, [`SUCCESS_URL`].
    fn framed(id: &str, params: &Value) -> FramedCheckout {
        FramedCheckout {
            id: id.to_owned(),
            params: params.clone(),
            success_url: Some(SUCCESS_URL.to_owned()),
        }
    }

    /// The simulator with the frame of [`CHECKOUT_ID`] opened from its client action.
    async fn opened() -> SpankPaySandbox {
        let sandbox = sandbox();
        let action = client_action().await;
        sandbox.open(&framed(CHECKOUT_ID, &action), now()).unwrap();
        sandbox
    }

    fn adapter() -> SpankPayAdapter {
        let base_url = "https://paymux.example/sandbox/spankpay/";
        test_support::adapter(SpankPayAdapter::from_context, ID, &settings(), base_url)
    }

    async fn client_action() -> Value {
        let request = paymux_providers::model::CheckoutRequest {
            checkout_id: paymux_domain::CheckoutId::parse(CHECKOUT_ID).unwrap(),
            reference: Some("sc696969".into()),
            ..paymux_providers::model::CheckoutRequest::example(Money::new(6969, Currency::Usd))
        };
        let created = adapter().create_checkout(&request).await.unwrap();
        created.client_action.unwrap()
    }

    /// Presses `outcome` on [`CHECKOUT_ID`], the page's fields set to `options`.
    fn press(
        sandbox: &SpankPaySandbox,
        outcome: Outcome,
        options: &Value,
    ) -> Result<ControlResult, SandboxError> {
        sandbox.control(Press::new(CHECKOUT_ID, outcome, now()).with_options(options))
    }

    /// What paymux makes of `webhook` delivered at `at`.
    fn deliver(
        adapter: &SpankPayAdapter,
        webhook: &OutgoingWebhook,
        at: DateTime<Utc>,
    ) -> Vec<paymux_domain::NormalizedEvent> {
        test_support::receive(adapter, webhook, at).unwrap()
    }

    #[tokio::test]
    async fn purchases_stay_within_the_capacity_complete_first() {
        let sandbox = sandbox();
        sandbox.state.lock().purchases = BoundedMap::with_capacity(4);
        let action = client_action().await;
        let mut frames = 0..;
        let mut open_frame = || {
            let checkout_id = format!("chk_capacity_{}", frames.next().unwrap_or_default());
            sandbox.open(&framed(&checkout_id, &action), now()).unwrap();
            checkout_id
        };
        let paid = open_frame();
        sandbox
            .control(Press::new(&paid, Outcome::Pay, now()))
            .unwrap();
        let purchases = || sandbox.state.lock().purchases.len();
        test_support::assert_finished_go_first(&sandbox, &paid, open_frame, purchases, now());
    }

    #[tokio::test]
    async fn the_frame_opens_once_from_the_client_action_and_shows_its_page() {
        let sandbox = sandbox();
        assert!(sandbox.page(CHECKOUT_ID, now()).is_none());
        let action = client_action().await;
        sandbox.open(&framed(CHECKOUT_ID, &action), now()).unwrap();
        let page = sandbox.page(CHECKOUT_ID, now()).unwrap();
        assert_eq!(page.merchant, "demo");
        assert_eq!(page.amount, Some(Money::new(6969, Currency::Usd)));
        assert_eq!(page.description.as_deref(), Some("Order sc696969"));
        assert_eq!(page.status, "awaiting-payment");
        assert_eq!(page.standing, Standing::Open);
        assert_eq!(page.outcomes, [Outcome::Pay, Outcome::Decline]);
        let pay_with = &page.form[0];
        assert_eq!(
            (pay_with.name, pay_with.value.as_str()),
            ("inputCurrency", "ETH")
        );
        assert_eq!(
            pay_with.suggestions[0],
            ("ETH".to_owned(), "0.6969 ETH".to_owned())
        );
        let amount = &page.sandbox_options[0];
        assert_eq!((amount.name, amount.value.as_str()), ("amount", "69.69"));
        assert_eq!(page.notice, None);
        // Opening it again (even with other parameters) keeps the first purchase.
        let mut other = action.clone();
        other["amount"] = json!("1.00");
        sandbox.open(&framed(CHECKOUT_ID, &other), now()).unwrap();
        assert_eq!(
            sandbox.page(CHECKOUT_ID, now()).unwrap().amount,
            Some(Money::new(6969, Currency::Usd))
        );

        let mut unknown = action.clone();
        unknown["key"] = json!("test_unknown");
        assert!(matches!(
            sandbox.open(&framed("chk_other", &unknown), now()),
            Err(SandboxError::Refused(_))
        ));
        let mut live_currency = action;
        live_currency["currency"] = json!("USD");
        assert!(matches!(
            sandbox.open(&framed("chk_other", &live_currency), now()),
            Err(SandboxError::Refused(_))
        ));
    }

    #[tokio::test]
    async fn pay_sends_a_signed_text_webhook_the_adapter_verifies() {
        let sandbox = opened().await;
        let result = press(&sandbox, Outcome::Pay, &json!({})).unwrap();
        assert_eq!(result.status, "complete");
        // Paid in full: the page around the frame sends the payer to the success URL.
        assert_eq!(result.redirect_url.as_deref(), Some(SUCCESS_URL));
        let webhook = result.webhook.unwrap();
        assert_eq!(webhook.content_type, "text/plain");
        assert_eq!(
            webhook.url.as_str(),
            "https://paymux.example/webhooks/demo/spankpay"
        );
        assert_eq!(webhook.reply_within, Duration::from_secs(10));
        assert_eq!(webhook.retry_delays.len(), 30);
        assert_eq!(webhook.retry_delays[0], Duration::from_secs(30));
        assert_eq!(webhook.retry_delays[10], Duration::from_secs(300));
        assert_eq!(webhook.retry_delays[29], Duration::from_secs(3600));
        // Signed at send time: a retry minutes later still verifies.
        let later = now() + chrono::TimeDelta::seconds(3600);
        let events = deliver(&adapter(), &webhook, later);
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.event_type, EventType::PaymentSucceeded);
        assert_eq!(event.provider_event_id, webhook.event_id);
        assert_eq!(event.amount, Some(Money::new(6969, Currency::Usd)));
        assert_eq!(event.checkout_hint.as_deref(), Some(CHECKOUT_ID));
        assert!(
            event
                .provider_payment_id
                .as_deref()
                .is_some_and(|id| id.starts_with("pay_"))
        );
        assert_eq!(event.reference.as_deref(), Some("sc696969"));
        assert!(!event.livemode);
        assert_eq!(event.details["inputCurrency"], "ETH");
        assert_eq!(event.details["inputAmount"], "0.6969");
        let tx = event.details["inputTx"].as_str().unwrap();
        assert!(tx.starts_with("0x") && tx.len() == 66, "{tx}");
        let signature = (webhook.sign)(later, &webhook.body);
        assert!(
            signature
                .iter()
                .any(|(name, value)| name == "X-SpankPay-Key" && value == "test_quickstart_key")
        );
        assert!(
            signature
                .iter()
                .any(|(name, value)| name == "X-SpankPay-Signature"
                    && value.starts_with(&format!("t={}&s=", later.timestamp())))
        );

        let page = sandbox.page(CHECKOUT_ID, now()).unwrap();
        assert_eq!(page.standing, Standing::Paid);
        assert!(matches!(
            press(&sandbox, Outcome::Pay, &json!({})),
            Err(SandboxError::Refused(_))
        ));
    }

    #[tokio::test]
    async fn partial_payments_other_currencies_and_declines() {
        let sandbox = opened().await;
        let adapter = adapter();
        let refused_options = [
            json!({ "inputCurrency": "DOGE" }),
            json!({ "amount": "50.001" }),
            json!({ "amount": "0.00" }),
            json!({ "amount": 50 }),
        ];
        for options in refused_options {
            let refusal = press(&sandbox, Outcome::Pay, &options);
            assert!(
                matches!(refusal, Err(SandboxError::Refused(_))),
                "{options}"
            );
        }
        for outcome in [Outcome::Cancel, Outcome::Expire] {
            assert_eq!(
                press(&sandbox, outcome, &json!({})).unwrap_err(),
                SandboxError::Refused("the frame has no such outcome: close the frame".into())
            );
        }
        let declined = press(&sandbox, Outcome::Decline, &json!({})).unwrap();
        assert_eq!(declined.status, "awaiting-payment");
        assert_eq!(declined.redirect_url, None);
        let events = deliver(&adapter, &declined.webhook.unwrap(), now());
        assert_eq!(events[0].event_type, EventType::PaymentFailed);

        let options = json!({ "inputCurrency": "BTC", "amount": "50.00" });
        let paid = press(&sandbox, Outcome::Pay, &options).unwrap();
        let events = deliver(&adapter, &paid.webhook.unwrap(), now());
        assert_eq!(events[0].event_type, EventType::PaymentSucceeded);
        assert_eq!(events[0].amount, Some(Money::new(5000, Currency::Usd)));
        assert_eq!(events[0].details["inputCurrency"], "BTC");
        assert_eq!(events[0].details["inputAmount"], "0.0125");
        assert_ne!(events[0].provider_event_id, "");
        // Paid in part: the frame waits for the rest, and offers to pay exactly that.
        assert_eq!(paid.status, "awaiting-payment");
        assert_eq!(paid.redirect_url, None, "the payer stays for the rest");
        let page = sandbox.page(CHECKOUT_ID, now()).unwrap();
        assert_eq!(page.standing, Standing::Open);
        assert_eq!(page.sandbox_options[0].value, "19.69");
        assert_eq!(
            page.notice.as_deref(),
            Some("Received USD 50.00 so far: USD 19.69 still to pay.")
        );
        let rest = press(&sandbox, Outcome::Pay, &json!({})).unwrap();
        assert_eq!(rest.status, "complete");
        assert_eq!(rest.redirect_url.as_deref(), Some(SUCCESS_URL));
        let events = deliver(&adapter, &rest.webhook.unwrap(), now());
        assert_eq!(events[0].amount, Some(Money::new(1969, Currency::Usd)));
        assert!(matches!(
            press(&sandbox, Outcome::Pay, &json!({})),
            Err(SandboxError::Refused(_))
        ));

        assert!(matches!(
            sandbox.control(Press::new("chk_missing", Outcome::Pay, now())),
            Err(SandboxError::NotFound(_))
        ));
    }

    #[test]
    fn input_amounts_are_exact() {
        assert_eq!(input_amount(6969, "ETH"), "0.6969");
        assert_eq!(input_amount(6969, "TEST-ETH"), "0.6969");
        assert_eq!(input_amount(6969, "BTC"), "0.0174225");
        assert_eq!(input_amount(6969, "DOGE"), "34845");
        assert_eq!(input_amount(6969, "BOOTY"), "69.69");
    }

    #[test]
    fn the_verdict_follows_the_docs_expected_response() {
        assert_eq!(verdict(200, br#"{"received": true}"#), Verdict::Delivered);
        assert_eq!(
            verdict(201, br#"{"received": true, "order": 5}"#),
            Verdict::Delivered
        );
        assert_eq!(
            verdict(
                200,
                br#"{"received": false, "reason": "checkout canceled"}"#
            ),
            Verdict::Refused
        );
        assert_eq!(verdict(400, br#"{"received": false}"#), Verdict::Refused);
        assert_eq!(verdict(401, b""), Verdict::Refused);
        assert_eq!(verdict(200, b"ok"), Verdict::Retry);
        assert_eq!(verdict(200, b"{}"), Verdict::Retry);
        assert_eq!(verdict(500, br#"{"received": true}"#), Verdict::Retry);
        assert_eq!(verdict(302, b""), Verdict::Retry);
    }

    #[test]
    fn a_public_key_belongs_to_one_merchant() {
        let sandbox = sandbox();
        let settings = settings();
        let other = test_support::account(ID, "other", &settings);
        let error = sandbox.add_account(other).unwrap_err();
        assert_eq!(error.key, "public_key");
    }
}
