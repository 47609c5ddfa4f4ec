//! What the audit log records: each action a person took through the dashboard or the admin and
//! endpoint APIs, who took it and through which door.

crate::text_enum! {
    /// An action the audit log keeps.
    pub enum AuditAction("audit action") {
        SignIn => "sign_in",
        /// A token that signs nobody in: kept, since a run of them is someone guessing.
        SignInRefused => "sign_in_refused",
        SignOut => "sign_out",
        /// The configuration read again; the detail says what changed or why it was refused.
        Reload => "config.reload",
        FaultSet => "provider.fault_set",
        FaultCleared => "provider.fault_cleared",
        CheckoutCanceled => "checkout.cancel",
        RefundCreated => "refund.create",
        EndpointCreated => "endpoint.create",
        EndpointUpdated => "endpoint.update",
        EndpointDeleted => "endpoint.delete",
        SecretRotated => "endpoint.rotate_secret",
        TestSent => "endpoint.test",
        Replayed => "endpoint.replay",
        Resent => "event.resend",
    }
}

crate::text_enum! {
    /// Who acted, by the credential they held.
    pub enum AuditActor("audit actor") {
        /// The admin token.
        Ops => "ops",
        /// A merchant's API key: the merchant the entry names.
        Merchant => "merchant",
        /// No credential that signs anyone in.
        Unknown => "unknown",
    }
}

crate::text_enum! {
    /// The door an action came through.
    pub enum AuditChannel("audit channel") {
        Dashboard => "dashboard",
        /// The merchant API (`/v1/`).
        Api => "api",
        /// The admin API (`/v1/admin/`).
        AdminApi => "admin_api",
    }
}
