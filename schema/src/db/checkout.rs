//! Checkouts: one attempt to collect an amount through one provider.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::column::{Json, OptionalText, Text, in_row};
use super::receipt::WebhookReceipt;
use super::schema::{checkouts, events, webhook_receipts};
use super::{DbConnection, Page, PageRequest, WithInsert};
use paymux_domain::money::{Currency, Money};
use paymux_domain::payments::{self, NotCounted, Payments};
use paymux_domain::status::{CheckoutStatus, StatusInput, Transition, next_status};
use paymux_domain::{CheckoutId, EventId, EventType};

/// A checkout row. Its status changes only through the status machine: [`Checkout::apply`],
/// [`Checkout::record_payment`], [`Checkout::refund`].
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = checkouts)]
#[diesel(treat_none_as_default_value = false)]
pub struct Checkout {
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub id: CheckoutId,
    pub merchant: String,
    pub provider: String,
    pub provider_checkout_id: Option<String>,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub status: CheckoutStatus,
    pub amount: i64,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub currency: Currency,
    pub amount_refunded: i64,
    pub reference: Option<String>,
    pub description: Option<String>,
    #[diesel(deserialize_as = OptionalText, serialize_as = OptionalText)]
    pub customer: Option<Json<serde_json::Value>>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    #[diesel(deserialize_as = OptionalText, serialize_as = OptionalText)]
    pub metadata: Option<Json<serde_json::Value>>,
    #[diesel(deserialize_as = OptionalText, serialize_as = OptionalText)]
    pub items: Option<Json<serde_json::Value>>,
    pub redirect_url: Option<String>,
    /// What a page must run when the provider has no redirect URL (SpankPay's frame).
    #[diesel(deserialize_as = OptionalText, serialize_as = OptionalText)]
    pub client_action: Option<Json<serde_json::Value>>,
    pub expires_at: Option<NaiveDateTime>,
    pub livemode: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The provider ids routing tried, in order; the last is `provider`. `None` on checkouts
    /// made before routing recorded it.
    #[diesel(deserialize_as = OptionalText, serialize_as = OptionalText)]
    pub providers_tried: Option<Json<Vec<String>>>,
    /// The sum of the successful payments received, in minor units of `currency`.
    pub amount_received: i64,
}

/// What an event says that names its checkout ([`Checkout::find_linked`]).
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    pub payment_id: Option<&'a str>,
    /// Our checkout id as the provider echoed it back, when it is one.
    pub checkout_id: Option<&'a str>,
    pub reference: Option<&'a str>,
    /// A success or a refund: linked more strictly.
    pub moves_money: bool,
}

/// The id of the checkout an event names ([`Checkout::find_linked`]): the first of three
/// lookups that finds one. Hand-written, since diesel builds no limited scalar subqueries, and
/// a fragment of its own so that it is prepared once per connection (diesel prepares its `sql`
/// literals again on every run).
#[derive(Debug, Clone, Copy)]
struct LinkedId<'a> {
    merchant: &'a str,
    provider: &'a str,
    link: Link<'a>,
}

impl Expression for LinkedId<'_> {
    type SqlType = diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

impl diesel::query_builder::QueryId for LinkedId<'_> {
    type QueryId = LinkedId<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::expression::ValidGrouping<()> for LinkedId<'_> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl<QS> AppearsOnTable<QS> for LinkedId<'_> {}

impl<'a, DB> diesel::query_builder::QueryFragment<DB> for LinkedId<'a>
where
    DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<diesel::sql_types::Bool>,
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
    bool: diesel::serialize::ToSql<diesel::sql_types::Bool, DB>,
    Option<&'a str>:
        diesel::serialize::ToSql<diesel::sql_types::Nullable<diesel::sql_types::Text>, DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Bool, Nullable, Text};
        let link = &self.link;
        // The money rule, on the row a lookup found.
        let same_payment = |out: &mut diesel::query_builder::AstPass<'_, 'b, DB>| {
            out.push_sql(" (NOT ");
            out.push_bind_param::<Bool, _>(&link.moves_money)?;
            out.push_sql(" OR provider_checkout_id IS NULL OR provider_checkout_id = ");
            out.push_bind_param::<Nullable<Text>, _>(&link.payment_id)
        };
        // Each lookup finds one row at most, and COALESCE runs the next only when the one
        // before found nothing.
        out.push_sql("COALESCE((SELECT id FROM checkouts WHERE merchant = ");
        out.push_bind_param::<Text, _>(self.merchant)?;
        out.push_sql(" AND provider = ");
        out.push_bind_param::<Text, _>(self.provider)?;
        out.push_sql(" AND provider_checkout_id = ");
        out.push_bind_param::<Nullable<Text>, _>(&link.payment_id)?;
        out.push_sql(" LIMIT 1), (SELECT id FROM checkouts WHERE merchant = ");
        out.push_bind_param::<Text, _>(self.merchant)?;
        out.push_sql(" AND id = ");
        out.push_bind_param::<Nullable<Text>, _>(&link.checkout_id)?;
        out.push_sql(" AND provider = ");
        out.push_bind_param::<Text, _>(self.provider)?;
        out.push_sql(" AND");
        same_payment(&mut out)?;
        out.push_sql(
            " OR provider_checkout_id = id)), (SELECT id FROM (SELECT id, provider_checkout_id \
             FROM checkouts WHERE merchant = ",
        );
        out.push_bind_param::<Text, _>(self.merchant)?;
        out.push_sql(" AND provider = ");
        out.push_bind_param::<Text, _>(self.provider)?;
        out.push_sql(" AND reference = ");
        out.push_bind_param::<Nullable<Text>, _>(&link.reference)?;
        out.push_sql(" ORDER BY id DESC LIMIT 1) AS by_reference WHERE");
        same_payment(&mut out)?;
        out.push_sql(")))");
        Ok(())
    }
}

/// What a reported payment did to its checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentApplied {
    /// `None` when the payment paid nothing: see `not_counted`.
    pub transition: Option<Transition>,
    pub not_counted: Option<NotCounted>,
    /// This payment took what the checkout received past its amount.
    pub overpaid: bool,
}

/// Filters of `GET /v1/checkouts`; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct CheckoutFilter {
    pub status: Option<CheckoutStatus>,
    pub provider: Option<String>,
    pub provider_checkout_id: Option<String>,
    pub reference: Option<String>,
    pub created_gte: Option<NaiveDateTime>,
    pub created_lt: Option<NaiveDateTime>,
}

impl Checkout {
    pub fn insert(conn: &mut DbConnection, checkout: &Checkout) -> QueryResult<()> {
        diesel::insert_into(checkouts::table)
            .values(checkout.clone())
            .execute(conn)
            .map(drop)
    }

    /// The merchant's checkout with this id; another merchant's is `None`, like a missing one.
    pub fn find(
        conn: &mut DbConnection,
        merchant: &str,
        id: &CheckoutId,
    ) -> QueryResult<Option<Checkout>> {
        let found = checkouts::table
            .filter(checkouts::merchant.eq(merchant))
            .filter(checkouts::id.eq(id.to_string()))
            .select(Checkout::as_select())
            .first(conn)
            .optional();
        in_row(found, "checkouts", id)
    }

    /// The checkout with this id, whoever's it is: only for pages a payer opens by the
    /// checkout's unguessable id (`/pay/{id}`), never for the API.
    pub fn find_for_payer(
        conn: &mut DbConnection,
        id: &CheckoutId,
    ) -> QueryResult<Option<Checkout>> {
        let found = checkouts::table
            .filter(checkouts::id.eq(id.to_string()))
            .select(Checkout::as_select())
            .first(conn)
            .optional();
        in_row(found, "checkouts", id)
    }

    /// The merchant's checkout, locked until the transaction ends so that concurrent writers
    /// (two refunds, a refund and a webhook) see each other's effect. PostgreSQL takes a row
    /// lock; SQLite needs none because its write transactions are serialized
    /// ([`super::write_transaction`] begins them IMMEDIATE).
    pub fn find_for_update(
        conn: &mut DbConnection,
        merchant: &str,
        id: &CheckoutId,
    ) -> QueryResult<Option<Checkout>> {
        // `all_columns` rather than `as_select()`: the query must not fix its backend before
        // the match below picks one.
        let query = checkouts::table
            .filter(checkouts::merchant.eq(merchant))
            .filter(checkouts::id.eq(id.to_string()))
            .select(checkouts::all_columns);
        let found = match conn {
            DbConnection::Postgresql(conn) => query.for_update().first(conn).optional(),
            DbConnection::Sqlite(conn) => query.first(conn).optional(),
        };
        in_row(found, "checkouts", id)
    }

    /// The checkout an event names, locked as by [`Checkout::find_for_update`], found in one
    /// statement (one round trip on the webhook path): by the provider's payment id, else by
    /// our id echoed back (`hint`), else by the newest checkout with the order reference.
    /// When the event moves money, the last two match only a checkout the provider knows under
    /// the event's payment id or under none yet (by our id, also one it knows under our id).
    ///
    /// A webhook's `receipt`, when given, is stored first; on PostgreSQL in the same statement
    /// ([`WithInsert`]), which saves the webhook a round trip.
    pub fn find_linked(
        conn: &mut DbConnection,
        merchant: &str,
        provider: &str,
        link: &Link<'_>,
        receipt: Option<&WebhookReceipt>,
    ) -> QueryResult<Option<Checkout>> {
        let chosen = LinkedId {
            merchant,
            provider,
            link: *link,
        };
        let query = checkouts::table
            .filter(checkouts::merchant.eq(merchant))
            .filter(checkouts::id.nullable().eq(chosen))
            .select(checkouts::all_columns)
            .limit(1);
        if let (DbConnection::Sqlite(_), Some(receipt)) = (&*conn, receipt) {
            WebhookReceipt::insert(conn, receipt)?;
        }
        let found = match conn {
            DbConnection::Postgresql(conn) => match receipt {
                None => query.for_update().get_result(conn),
                Some(receipt) => WithInsert {
                    insert: diesel::insert_into(webhook_receipts::table).values(receipt.clone()),
                    query: query.for_update(),
                }
                .get_result(conn),
            },
            DbConnection::Sqlite(conn) => query.get_result(conn),
        };
        let found = found.optional();
        in_row(found, "checkouts", &"linked to an event")
    }

    /// Up to `limit` checkouts, of any merchant, that have received nothing and are past
    /// their expiry time at `now`, the longest expired first.
    pub fn past_expiry(
        conn: &mut DbConnection,
        now: NaiveDateTime,
        limit: i64,
    ) -> QueryResult<Vec<Checkout>> {
        let awaiting: Vec<&str> = CheckoutStatus::ALL
            .iter()
            .filter(|status| status.awaits_payment())
            .map(|status| status.as_str())
            .collect();
        // Statuses are compared as the text the column holds.
        checkouts::table
            .filter(checkouts::status.eq_any(awaiting))
            .filter(checkouts::expires_at.le(now))
            .order(checkouts::expires_at.asc())
            .limit(limit)
            .select(Checkout::as_select())
            .load(conn)
    }

    /// How many of the merchant's checkouts created in `[from, to)` stand at each status, by
    /// provider: `(provider, status, count)`.
    pub fn count_statuses(
        conn: &mut DbConnection,
        merchant: &str,
        (from, to): (NaiveDateTime, NaiveDateTime),
    ) -> QueryResult<Vec<(String, String, i64)>> {
        checkouts::table
            .filter(checkouts::merchant.eq(merchant))
            .filter(checkouts::created_at.ge(from))
            .filter(checkouts::created_at.lt(to))
            .group_by((checkouts::provider, checkouts::status))
            .select((
                checkouts::provider,
                checkouts::status,
                diesel::dsl::count_star(),
            ))
            .load(conn)
    }

    /// A page of the merchant's checkouts, newest first.
    pub fn list(
        conn: &mut DbConnection,
        merchant: &str,
        filter: &CheckoutFilter,
        page: &PageRequest,
    ) -> QueryResult<Page<Checkout>> {
        let mut query = checkouts::table
            .filter(checkouts::merchant.eq(merchant))
            .select(Checkout::as_select())
            .into_boxed();
        if let Some(status) = filter.status {
            query = query.filter(checkouts::status.eq(status.as_str()));
        }
        if let Some(provider) = &filter.provider {
            query = query.filter(checkouts::provider.eq(provider));
        }
        if let Some(reference) = &filter.reference {
            query = query.filter(checkouts::reference.eq(reference));
        }
        if let Some(provider_checkout_id) = &filter.provider_checkout_id {
            query = query.filter(checkouts::provider_checkout_id.eq(provider_checkout_id));
        }
        if let Some(gte) = filter.created_gte {
            query = query.filter(checkouts::created_at.ge(gte));
        }
        if let Some(lt) = filter.created_lt {
            query = query.filter(checkouts::created_at.lt(lt));
        }
        if let Some(after) = &page.starting_after {
            query = query.filter(checkouts::id.lt(after));
        }
        let rows = query
            .order(checkouts::id.desc())
            .limit(page.limit + 1)
            .load(conn)?;
        Ok(Page::from_overfetch(rows, page.limit))
    }

    /// What the checkout is for.
    pub fn due(&self) -> Money {
        Money::new(self.amount, self.currency)
    }

    /// Applies an event that brings no money in through the status machine, and stores the
    /// new status if it changed. `self` is updated to match the row.
    pub fn apply(
        &mut self,
        conn: &mut DbConnection,
        input: StatusInput,
        now: NaiveDateTime,
    ) -> QueryResult<Transition> {
        let transition = next_status(self.status, input);
        if transition.status != self.status {
            self.status = transition.status;
            self.save(conn, now)?;
        }
        Ok(transition)
    }

    /// Records a refund of `amount` that succeeded, and the status it leads to.
    pub fn refund(
        &mut self,
        conn: &mut DbConnection,
        amount: i64,
        now: NaiveDateTime,
    ) -> QueryResult<Transition> {
        self.amount_refunded = self.amount_refunded.saturating_add(amount);
        let fully_refunded = self.amount_refunded >= self.amount_received;
        let transition = next_status(self.status, StatusInput::Refund { fully_refunded });
        self.status = transition.status;
        self.save(conn, now)?;
        Ok(transition)
    }

    /// Records a payment a provider reported: `key` names it (the provider's payment id, from
    /// a webhook; `None` from a lookup), `reported` is what it paid (`None`: the checkout's
    /// amount), reported by event `reported_by` (stored already, so it is left out of the
    /// replay). The checkout's earlier successes are replayed so that a payment reported
    /// twice counts once ([`Payments`]); `amount_received` becomes what the distinct payments
    /// add up to, and the status follows: `succeeded` once that covers the amount,
    /// `partially_paid` below it. A payment of nothing, of another currency or beyond the
    /// bounds pays nothing and changes nothing.
    pub fn record_payment(
        &mut self,
        conn: &mut DbConnection,
        key: Option<&str>,
        reported: Option<Money>,
        reported_by: &EventId,
        now: NaiveDateTime,
    ) -> QueryResult<PaymentApplied> {
        let due = self.due();
        let amount = match payments::payable(reported, due) {
            Ok(amount) => amount,
            Err(reason) => {
                return Ok(PaymentApplied {
                    transition: None,
                    not_counted: Some(reason),
                    overpaid: false,
                });
            }
        };
        let mut payments = self.payments(conn, due, reported_by)?;
        let before = payments.received();
        payments
            .record(key, amount)
            .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?;
        self.amount_received = payments.received();
        let fully_paid = self.amount_received >= self.amount;
        let transition = next_status(self.status, StatusInput::Payment { fully_paid });
        self.status = transition.status;
        self.save(conn, now)?;
        Ok(PaymentApplied {
            transition: Some(transition),
            not_counted: None,
            overpaid: before <= self.amount && self.amount_received > self.amount,
        })
    }

    /// The payments the checkout's stored successes but `except` count, in the order they
    /// were received.
    fn payments(
        &self,
        conn: &mut DbConnection,
        due: Money,
        except: &EventId,
    ) -> QueryResult<Payments> {
        /// A stored success, as far as payments are counted.
        #[derive(Queryable, Selectable)]
        #[diesel(table_name = events)]
        struct Success {
            receipt_id: Option<String>,
            provider_payment_id: Option<String>,
            amount: Option<i64>,
            currency: Option<String>,
        }
        let successes: Vec<Success> = events::table
            .filter(events::checkout_id.eq(self.id.to_string()))
            .filter(events::event_type.eq(EventType::PaymentSucceeded.as_str()))
            .filter(events::id.ne(except.to_string()))
            .order((events::received_at.asc(), events::id.asc()))
            .select(Success::as_select())
            .load(conn)?;
        let mut payments = Payments::default();
        for success in successes {
            let reported = (success.amount, success.currency.as_deref());
            let Ok(amount) = payments::payable_columns(reported.0, reported.1, due) else {
                continue;
            };
            // Only a webhook names its payment; a lookup's success is "the payment".
            let key = success.receipt_id.and(success.provider_payment_id);
            payments
                .record(key.as_deref(), amount)
                .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?;
        }
        Ok(payments)
    }

    /// Stores the status and the money received and refunded.
    fn save(&mut self, conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<()> {
        self.updated_at = now;
        diesel::update(checkouts::table.find(self.id.to_string()))
            .set((
                checkouts::status.eq(self.status.as_str()),
                checkouts::amount_received.eq(self.amount_received),
                checkouts::amount_refunded.eq(self.amount_refunded),
                checkouts::updated_at.eq(now),
            ))
            .execute(conn)
            .map(drop)
    }
}
