//! The audit log: one row per action taken through the dashboard or the admin and endpoint
//! APIs, only ever added to.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use paymux_domain::{AuditAction, AuditActor, AuditChannel, AuditId};

use super::column::Text;
use super::schema::audit_log;
use super::{DbConnection, Page};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
#[diesel(treat_none_as_default_value = false)]
pub struct AuditEntry {
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub id: AuditId,
    pub at: NaiveDateTime,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub actor: AuditActor,
    /// The merchant whose objects the action touched; `None` when it concerns every merchant.
    pub merchant: Option<String>,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub channel: AuditChannel,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub action: AuditAction,
    /// The id of the object acted on, when there is one.
    pub target: Option<String>,
    /// The action in words, without secrets or payload values.
    pub detail: String,
    pub client_address: Option<String>,
}

impl AuditEntry {
    pub fn insert(conn: &mut DbConnection, entry: &AuditEntry) -> QueryResult<()> {
        diesel::insert_into(audit_log::table)
            .values(entry.clone())
            .execute(conn)
            .map(drop)
    }

    /// The newest `limit` entries older than `before` (all when `None`): of one merchant, or of
    /// every merchant and none when `merchant` is `None`.
    pub fn page(
        conn: &mut DbConnection,
        merchant: Option<&str>,
        before: Option<&AuditId>,
        limit: i64,
    ) -> QueryResult<Page<AuditEntry>> {
        let mut query = audit_log::table
            .select(AuditEntry::as_select())
            .order(audit_log::id.desc())
            .limit(limit + 1)
            .into_boxed();
        if let Some(merchant) = merchant {
            query = query.filter(audit_log::merchant.eq(merchant.to_owned()));
        }
        if let Some(before) = before {
            query = query.filter(audit_log::id.lt(before.to_string()));
        }
        Ok(Page::from_overfetch(query.load(conn)?, limit))
    }
}
