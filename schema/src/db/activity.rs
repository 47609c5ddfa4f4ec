//! How much each merchant's providers were used, from the store: what the admin view
//! (`GET /v1/admin/providers`, `paymux providers`) shows beside the config.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::dsl::{count_star, max};
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{checkouts, events};

/// One merchant's use of one provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderActivity {
    pub checkouts: i64,
    pub events: i64,
    pub last_checkout_at: Option<NaiveDateTime>,
    pub last_event_at: Option<NaiveDateTime>,
}

/// Activity by `(merchant, provider)`; pairs with no checkout and no event are absent.
pub fn by_merchant_and_provider(
    conn: &mut DbConnection,
) -> QueryResult<BTreeMap<(String, String), ProviderActivity>> {
    let mut activity: BTreeMap<(String, String), ProviderActivity> = BTreeMap::new();
    let checkout_rows: Vec<(String, String, i64, Option<NaiveDateTime>)> = checkouts::table
        .group_by((checkouts::merchant, checkouts::provider))
        .select((
            checkouts::merchant,
            checkouts::provider,
            count_star(),
            max(checkouts::created_at),
        ))
        .load(conn)?;
    for (merchant, provider, count, last) in checkout_rows {
        let entry = activity.entry((merchant, provider)).or_default();
        entry.checkouts = count;
        entry.last_checkout_at = last;
    }
    let event_rows: Vec<(String, String, i64, Option<NaiveDateTime>)> = events::table
        .group_by((events::merchant, events::provider))
        .select((
            events::merchant,
            events::provider,
            count_star(),
            max(events::received_at),
        ))
        .load(conn)?;
    for (merchant, provider, count, last) in event_rows {
        let entry = activity.entry((merchant, provider)).or_default();
        entry.events = count;
        entry.last_event_at = last;
    }
    Ok(activity)
}
