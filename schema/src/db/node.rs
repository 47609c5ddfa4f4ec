//! The gateway processes sharing this store, each seen by its heartbeat, and the leases that
//! let one of them at a time run the periodic jobs.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{job_leases, nodes};

/// One gateway process, as its last heartbeat left it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = nodes)]
#[diesel(treat_none_as_default_value = false)]
pub struct Node {
    /// Made at start: a process that restarts is a new node.
    pub id: String,
    pub host: String,
    /// `api`, `worker` or `all`.
    pub role: String,
    pub version: String,
    /// SHA-256 of the configuration in force, secrets by reference: nodes that differ missed
    /// a reload (or were given another file).
    pub config_hash: String,
    pub started_at: NaiveDateTime,
    pub last_seen: NaiveDateTime,
}

impl Node {
    /// Writes this node's heartbeat: its row, made or brought up to date in one statement (the
    /// heartbeat task and `GET /v1/admin/nodes` may both write it at once).
    pub fn beat(conn: &mut DbConnection, node: &Node) -> QueryResult<()> {
        crate::with_backend!(conn, conn => diesel::insert_into(nodes::table)
            .values(node.clone())
            .on_conflict(nodes::id)
            .do_update()
            .set(node.clone())
            .execute(conn))
        .map(drop)
    }

    /// Every node, the ones seen last first.
    pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<Node>> {
        nodes::table
            .order((nodes::last_seen.desc(), nodes::id.asc()))
            .select(Node::as_select())
            .load(conn)
    }

    /// Forgets the nodes not seen since `cutoff`; how many.
    pub fn delete_unseen_since(
        conn: &mut DbConnection,
        cutoff: NaiveDateTime,
    ) -> QueryResult<usize> {
        diesel::delete(nodes::table.filter(nodes::last_seen.lt(cutoff))).execute(conn)
    }
}

/// Takes or renews the lease `name` for `holder` until `until`, unless another node holds it
/// past `now`: whether `holder` holds it now.
pub fn take_lease(
    conn: &mut DbConnection,
    name: &str,
    holder: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<bool> {
    crate::with_backend!(conn, conn => diesel::insert_into(job_leases::table)
        .values((
            job_leases::name.eq(name),
            job_leases::holder.eq(holder),
            job_leases::leased_until.eq(now),
        ))
        .on_conflict(job_leases::name)
        .do_nothing()
        .execute(conn))?;
    let taken = diesel::update(
        job_leases::table.filter(job_leases::name.eq(name)).filter(
            job_leases::leased_until
                .le(now)
                .or(job_leases::holder.eq(holder)),
        ),
    )
    .set((
        job_leases::holder.eq(holder),
        job_leases::leased_until.eq(until),
    ))
    .execute(conn)?;
    Ok(taken == 1)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::db::test_support::sqlite;

    #[test]
    fn a_lease_is_one_nodes_until_it_lapses_then_anothers() {
        let db = sqlite();
        let mut conn = db.conn();
        let start = crate::db::now();
        let until = start + TimeDelta::seconds(60);
        assert!(take_lease(&mut conn, "jobs", "node_a", start, until).unwrap());
        // Another node is refused while it holds; the holder renews.
        let later = start + TimeDelta::seconds(30);
        assert!(
            !take_lease(
                &mut conn,
                "jobs",
                "node_b",
                later,
                later + TimeDelta::seconds(60)
            )
            .unwrap()
        );
        assert!(
            take_lease(
                &mut conn,
                "jobs",
                "node_a",
                later,
                later + TimeDelta::seconds(60)
            )
            .unwrap()
        );
        // The renewed lease holds past the first one's end; once it lapses, another takes it.
        let past_first = until + TimeDelta::seconds(1);
        assert!(
            !take_lease(
                &mut conn,
                "jobs",
                "node_b",
                past_first,
                past_first + TimeDelta::seconds(60)
            )
            .unwrap()
        );
        let lapsed = later + TimeDelta::seconds(61);
        assert!(
            take_lease(
                &mut conn,
                "jobs",
                "node_b",
                lapsed,
                lapsed + TimeDelta::seconds(60)
            )
            .unwrap()
        );
        assert!(
            !take_lease(
                &mut conn,
                "jobs",
                "node_a",
                lapsed,
                lapsed + TimeDelta::seconds(60)
            )
            .unwrap()
        );
    }

    #[test]
    fn a_heartbeat_makes_its_row_then_keeps_it_up_to_date() {
        let db = sqlite();
        let mut conn = db.conn();
        let now = crate::db::now();
        let mut node = Node {
            id: "node_a".into(),
            host: "host".into(),
            role: "all".into(),
            version: "0.1.0".into(),
            config_hash: "a".repeat(64),
            started_at: now,
            last_seen: now,
        };
        Node::beat(&mut conn, &node).unwrap();
        node.last_seen = now + TimeDelta::seconds(5);
        node.config_hash = "b".repeat(64);
        Node::beat(&mut conn, &node).unwrap();
        assert_eq!(Node::list(&mut conn).unwrap(), vec![node.clone()]);
        assert_eq!(
            Node::delete_unseen_since(&mut conn, now + TimeDelta::seconds(6)).unwrap(),
            1
        );
        assert!(Node::list(&mut conn).unwrap().is_empty());
    }
}
