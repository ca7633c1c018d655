-- Webhooks as Meta sends them (issue 9).

-- Meta retries a webhook it did not see answered 200, so one event can arrive several
-- times. Every delivery is stored; dedup_key (whatsapp.WebhookChangeKey: entry id, time,
-- field and value) marks the repeats, and only the first delivery of a key is acted on.
-- The partial unique index makes "first" a fact of the database, not of one process.
ALTER TABLE webhook_events ADD COLUMN dedup_key TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_events ADD COLUMN duplicate BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX webhook_events_first_delivery ON webhook_events(dedup_key)
    WHERE duplicate = 0 AND dedup_key <> '';
-- "When did the last account-level event for this business account arrive?": one
-- index lookup per field.
CREATE INDEX webhook_events_waba_field_time ON webhook_events(waba_id, field, received_at);

-- A display-name change Meta approved for a number that is already registered takes
-- effect only with a new register call made after the approval. Set at the approval,
-- cleared by the first successful register call that started after it.
ALTER TABLE inboxes ADD COLUMN name_change_approved_at BIGINT;

-- What GET /{waba-id}/subscribed_apps said last: whether this app is subscribed to the
-- inbox's business account (NULL: never checked), when, and which apps were listed.
ALTER TABLE inboxes ADD COLUMN webhook_apps_checked_at BIGINT;
ALTER TABLE inboxes ADD COLUMN webhook_apps TEXT NOT NULL DEFAULT '';
