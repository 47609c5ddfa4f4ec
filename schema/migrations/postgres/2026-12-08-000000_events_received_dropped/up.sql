-- Every query that reads events by received time also names the merchant or the checkout, so
-- an index on the received time alone serves none of them (events_merchant_received serves the
-- periods), and each event stored paid for keeping it up to date.
DROP INDEX events_received;
