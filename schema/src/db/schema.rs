//! Diesel table definitions, written in the SQL types both backends share.
//! Keep in step with `migrations/{sqlite,postgres}`.

diesel::table! {
    checkouts (id) {
        id -> Text,
        merchant -> Text,
        provider -> Text,
        provider_checkout_id -> Nullable<Text>,
        status -> Text,
        amount -> BigInt,
        currency -> Text,
        amount_refunded -> BigInt,
        reference -> Nullable<Text>,
        description -> Nullable<Text>,
        customer -> Nullable<Text>,
        success_url -> Nullable<Text>,
        cancel_url -> Nullable<Text>,
        metadata -> Nullable<Text>,
        items -> Nullable<Text>,
        redirect_url -> Nullable<Text>,
        client_action -> Nullable<Text>,
        expires_at -> Nullable<Timestamp>,
        livemode -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        providers_tried -> Nullable<Text>,
        amount_received -> BigInt,
    }
}

diesel::table! {
    webhook_receipts (id) {
        id -> Text,
        merchant -> Text,
        provider -> Text,
        headers -> Text,
        body -> Binary,
        outcome -> Text,
        reason -> Nullable<Text>,
        event_count -> Integer,
        received_at -> Timestamp,
        body_length -> BigInt,
        body_sha256 -> Nullable<Text>,
        duplicate_of -> Nullable<Text>,
        checkout_id -> Nullable<Text>,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        event_type -> Text,
        merchant -> Text,
        provider -> Text,
        provider_event_id -> Text,
        checkout_id -> Nullable<Text>,
        provider_payment_id -> Nullable<Text>,
        reference -> Nullable<Text>,
        amount -> Nullable<BigInt>,
        currency -> Nullable<Text>,
        fee -> Nullable<BigInt>,
        occurred_at -> Timestamp,
        received_at -> Timestamp,
        livemode -> Bool,
        details -> Text,
        receipt_id -> Nullable<Text>,
        source -> Text,
    }
}

diesel::table! {
    refunds (id) {
        id -> Text,
        merchant -> Text,
        checkout_id -> Text,
        provider -> Text,
        provider_refund_id -> Nullable<Text>,
        amount -> BigInt,
        currency -> Text,
        status -> Text,
        failure_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_keys (merchant, idempotency_key) {
        merchant -> Text,
        idempotency_key -> Text,
        request_method -> Text,
        request_path -> Text,
        request_hash -> Text,
        resource_id -> Text,
        locked_until -> Nullable<Timestamp>,
        response_status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
        providers_tried -> Nullable<Text>,
    }
}

diesel::table! {
    dashboard_sessions (token_hash) {
        token_hash -> Text,
        merchant -> Nullable<Text>,
        csrf_token -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        credential_hash -> Text,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> Timestamp,
        actor -> Text,
        merchant -> Nullable<Text>,
        channel -> Text,
        action -> Text,
        target -> Nullable<Text>,
        detail -> Text,
        client_address -> Nullable<Text>,
    }
}

diesel::table! {
    nodes (id) {
        id -> Text,
        host -> Text,
        role -> Text,
        version -> Text,
        config_hash -> Text,
        started_at -> Timestamp,
        last_seen -> Timestamp,
    }
}

diesel::table! {
    job_leases (name) {
        name -> Text,
        holder -> Text,
        leased_until -> Timestamp,
    }
}

diesel::joinable!(events -> checkouts (checkout_id));
diesel::joinable!(events -> webhook_receipts (receipt_id));
diesel::joinable!(refunds -> checkouts (checkout_id));
diesel::joinable!(webhook_messages -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_messages -> outbound_events (event_id));

diesel::allow_tables_to_appear_in_same_query!(
    job_leases,
    nodes,
    audit_log,
    checkouts,
    webhook_receipts,
    events,
    refunds,
    idempotency_keys,
    dashboard_sessions,
    webhook_endpoints,
    outbound_events,
    webhook_messages,
    webhook_attempts,
);

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        merchant -> Text,
        url -> Text,
        description -> Nullable<Text>,
        enabled_events -> Text,
        status -> Text,
        disabled_reason -> Nullable<Text>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamp>,
        failing_since -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    outbound_events (id) {
        id -> Text,
        merchant -> Text,
        event_type -> Text,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_messages (id) {
        id -> Text,
        merchant -> Text,
        endpoint_id -> Text,
        event_id -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        leased_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Text,
        message_id -> Text,
        endpoint_id -> Text,
        event_id -> Text,
        attempt -> Integer,
        response_status -> Nullable<Integer>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
        attempted_at -> Timestamp,
        next_attempt_at -> Nullable<Timestamp>,
    }
}
