//! This process as one node among several on one store: who it is, and the heartbeat row it
//! writes (what it runs and when it was last seen, listed by `GET /v1/admin/nodes`; the
//! heartbeat task is [`crate::jobs::beat_forever`]).

use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use paymux_domain::ids::{Id, IdKind};
use paymux_schema::db::node::Node;
use sha2::{Digest, Sha256};

use crate::settings::{Role, Settings};

/// How often a node writes its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A node not seen for this long is listed as gone.
pub const ALIVE_WITHIN: TimeDelta = TimeDelta::seconds(15);
/// A node not seen for this long is forgotten.
pub const FORGOTTEN_AFTER: TimeDelta = TimeDelta::days(1);

/// The prefix of node ids (`node_…`).
pub enum NodeKind {}
impl IdKind for NodeKind {
    const PREFIX: &'static str = "node_";
    const NAME: &'static str = "NodeId";
}

/// Who this process is: made at start, so a restarted process is a new node.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    pub id: String,
    pub host: String,
    pub role: Role,
    pub started_at: NaiveDateTime,
}

impl NodeIdentity {
    pub fn new(role: Role) -> NodeIdentity {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".to_owned());
        NodeIdentity {
            id: Id::<NodeKind>::generate().to_string(),
            host,
            role,
            started_at: paymux_schema::db::now(),
        }
    }

    /// This node's heartbeat row, at `now`, running `settings`.
    pub fn row(&self, settings: &Settings, now: NaiveDateTime) -> Node {
        Node {
            id: self.id.clone(),
            host: self.host.clone(),
            role: self.role.as_str().to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            config_hash: config_hash(settings),
            started_at: self.started_at,
            last_seen: now,
        }
    }
}

/// SHA-256 of the configuration as it reads (secrets by reference, literal ones hidden), so
/// nodes given the same configuration show the same hash, whatever role each was started in.
pub fn config_hash(settings: &Settings) -> String {
    let mut shared = settings.clone();
    shared.server.role = Role::default();
    hex::encode(Sha256::digest(format!("{shared:?}").as_bytes()))
}
