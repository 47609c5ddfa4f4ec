DROP INDEX events_merchant_checkout;
