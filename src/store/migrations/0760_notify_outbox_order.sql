-- Webhooks leave in write order per endpoint (issue 17): messages are numbered as they are
-- written, and an endpoint's first attempts are claimed in that order (src/notify/delivery.ts).
-- Message ids are random, so they cannot order two messages written in one transaction.
alter table notify_messages add column if not exists seq bigint generated always as identity;
-- The first attempts still to be made, per endpoint: what a claim checks for earlier messages.
create index if not exists notify_deliveries_first_pending on notify_deliveries (endpoint_id)
  where status = 'pending' and attempts = 0;
