//! Checkouts: one attempt to collect an amount through one provider.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::checkouts;
use super::{DbConnection, Page, PageRequest};
use crate::status::{CheckoutStatus, StatusInput, Transition, next_status};

/// A checkout row. JSON columns (`customer`, `metadata`, `items`, `client_action`) hold text.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = checkouts)]
pub struct Checkout {
    pub id: String,
    pub merchant: String,
    pub provider: String,
    pub provider_checkout_id: Option<String>,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub amount_refunded: i64,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub customer: Option<String>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub metadata: Option<String>,
    pub items: Option<String>,
    pub redirect_url: Option<String>,
    pub client_action: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub livemode: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// JSON array of the provider ids routing tried, in order; the last is `provider`. `None`
    /// on checkouts made before routing recorded it.
    pub providers_tried: Option<String>,
    /// The sum of the successful payments received, in minor units of `currency`.
    pub amount_received: i64,
}

/// Filters of `GET /v1/checkouts`; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct CheckoutFilter {
    pub status: Option<String>,
    pub provider: Option<String>,
    pub reference: Option<String>,
    pub created_gte: Option<NaiveDateTime>,
    pub created_lt: Option<NaiveDateTime>,
}

impl Checkout {
    pub fn insert(conn: &mut DbConnection, checkout: &Checkout) -> QueryResult<()> {
        diesel::insert_into(checkouts::table)
            .values(checkout)
            .execute(conn)
            .map(drop)
    }

    /// The merchant's checkout with this id; another merchant's is `None`, like a missing one.
    pub fn find(
        conn: &mut DbConnection,
        merchant: &str,
        id: &str,
    ) -> QueryResult<Option<Checkout>> {
        checkouts::table
            .filter(checkouts::merchant.eq(merchant))
            .filter(checkouts::id.eq(id))
            .select(Checkout::as_select())
            .first(conn)
            .optional()
    }

    /// The checkout with this id, whoever's it is: only for pages a payer opens by the
    /// checkout's unguessable id (`/pay/{id}`), never for the API.
    pub fn find_for_payer(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Checkout>> {
        checkouts::table
            .filter(checkouts::id.eq(id))
            .select(Checkout::as_select())
            .first(conn)
            .optional()
    }

    /// The merchant's checkout, locked until the transaction ends so that concurrent writers
    /// (two refunds, a refund and a webhook) see each other's effect. PostgreSQL takes a row
    /// lock; SQLite needs none because its write transactions are serialized
    /// ([`super::write_transaction`] begins them IMMEDIATE).
    pub fn find_for_update(
        conn: &mut DbConnection,
        merchant: &str,
        id: &str,
    ) -> QueryResult<Option<Checkout>> {
        // `all_columns` rather than `as_select()`: the query must not fix its backend before
        // the match below picks one.
        let query = checkouts::table
            .filter(checkouts::merchant.eq(merchant))
            .filter(checkouts::id.eq(id))
            .select(checkouts::all_columns);
        match conn {
            DbConnection::Postgresql(conn) => query.for_update().first(conn).optional(),
            DbConnection::Sqlite(conn) => query.first(conn).optional(),
        }
    }

    /// The checkout a provider knows under `provider_checkout_id`.
    pub fn find_by_provider_checkout_id(
        conn: &mut DbConnection,
        merchant: &str,
        provider: &str,
        provider_checkout_id: &str,
    ) -> QueryResult<Option<Checkout>> {
        checkouts::table
            .filter(checkouts::merchant.eq(merchant))
            .filter(checkouts::provider.eq(provider))
            .filter(checkouts::provider_checkout_id.eq(provider_checkout_id))
            .select(Checkout::as_select())
            .first(conn)
            .optional()
    }

    /// The newest checkout of this merchant and provider with this order reference.
    pub fn find_by_reference(
        conn: &mut DbConnection,
        merchant: &str,
        provider: &str,
        reference: &str,
    ) -> QueryResult<Option<Checkout>> {
        checkouts::table
            .filter(checkouts::merchant.eq(merchant))
            .filter(checkouts::provider.eq(provider))
            .filter(checkouts::reference.eq(reference))
            .order(checkouts::id.desc())
            .select(Checkout::as_select())
            .first(conn)
            .optional()
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
        if let Some(status) = &filter.status {
            query = query.filter(checkouts::status.eq(status));
        }
        if let Some(provider) = &filter.provider {
            query = query.filter(checkouts::provider.eq(provider));
        }
        if let Some(reference) = &filter.reference {
            query = query.filter(checkouts::reference.eq(reference));
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

    /// Applies `input` through the status machine and stores the new status if it changed.
    /// `self` is updated to match the row.
    pub fn apply(
        &mut self,
        conn: &mut DbConnection,
        input: StatusInput,
        now: NaiveDateTime,
    ) -> QueryResult<Transition> {
        let current = self
            .status
            .parse::<CheckoutStatus>()
            .map_err(|error| diesel::result::Error::DeserializationError(Box::new(error)))?;
        let transition = next_status(current, input);
        if transition.status != current {
            Checkout::update_status(
                conn,
                &self.id,
                transition.status.as_str(),
                self.amount_refunded,
                now,
            )?;
            self.status = transition.status.as_str().to_owned();
            self.updated_at = now;
        }
        Ok(transition)
    }

    /// Records a new status and refunded total.
    pub fn update_status(
        conn: &mut DbConnection,
        id: &str,
        status: &str,
        amount_refunded: i64,
        now: NaiveDateTime,
    ) -> QueryResult<()> {
        diesel::update(checkouts::table.find(id))
            .set((
                checkouts::status.eq(status),
                checkouts::amount_refunded.eq(amount_refunded),
                checkouts::updated_at.eq(now),
            ))
            .execute(conn)
            .map(drop)
    }
}
