-- 00004: rows that something holds inside their refresh window leave the
-- due index, so that a claim, next_due and the metrics read only rows that
-- are claimable (or about to be) instead of filtering the same held rows
-- on every call. Three things hold a row: a lease (a worker is refreshing
-- it), a backoff (its last attempt failed) and its schedule
-- (refresh_not_before: a short-lived token already inside the window
-- waits for half its lifetime).
--
-- held_until is the end of that hold (the latest of the three, schedule
-- included once the row is held), kept by the before-write trigger from
-- the row's own columns, so that no statement (nor an operator's SQL) can
-- leave it wrong:
--   lease:    updating_until, while updating;
--   backoff:  next_attempt_at;
--   schedule: refresh_not_before, when the worker, storing the token,
--             found that the schedule comes after the row enters its
--             window (a token shorter than twice TOKENS_REFRESH_BEFORE) and
--             parked the row there (store_success.sql). Only the worker
--             knows the window, so the trigger keeps a parked schedule but
--             never parks one itself. Most schedules (a 1 h token's 30 min)
--             pass before the window opens: holding those would only move
--             rows to the held index and back for nothing. A schedule
--             written otherwise (an operator's SQL, a row stored before
--             this migration or under another window) is filtered by the
--             claims as before, until it passes.
-- held_until only ever says what the row's own columns already forbid (a
-- claim before it), so it never changes when a row is claimed, only which
-- index finds it: oauth_tokens_due_idx (not held, by expiry) or
-- oauth_tokens_held_idx (held, by the end of the hold).
--
-- The new indexes are built in this migration's transaction, which blocks
-- writes to oauth_tokens while they build (about a second per million
-- rows): run `worker migrate` before starting the new workers, as always.
--
-- +goose Up

ALTER TABLE oauth_tokens ADD COLUMN IF NOT EXISTS held_until timestamptz;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION tokenwarden_before_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    -- A new expiry written without a schedule (an operator's SQL, clear,
    -- import, Invalidate) is a request to follow the expiry: drop the
    -- schedule the last refresh set.
    IF TG_OP = 'UPDATE'
       AND NEW.access_token_expires IS DISTINCT FROM OLD.access_token_expires
       AND NEW.refresh_not_before IS NOT DISTINCT FROM OLD.refresh_not_before THEN
        NEW.refresh_not_before := NULL;
    END IF;
    -- What holds the row in its refresh window, if anything: its lease, its
    -- backoff, and its schedule if the writer parked it there (set
    -- held_until to refresh_not_before); GREATEST ignores NULL. A parked
    -- schedule lasts while refresh_not_before does. A held row is held
    -- until its schedule too, so that held_until is when it may next be
    -- claimed.
    NEW.held_until := GREATEST(
        NEW.next_attempt_at,
        CASE WHEN NEW.updating THEN NEW.updating_until END,
        CASE WHEN NEW.held_until = NEW.refresh_not_before THEN NEW.refresh_not_before END);
    IF NEW.held_until IS NOT NULL THEN
        NEW.held_until := GREATEST(NEW.held_until, NEW.refresh_not_before);
    END IF;
    -- Plaintext tokens (an operator's SQL, or no encryption) are hashed
    -- here; the worker supplies the hash of the tokens it seals.
    IF NEW.access_token IS NULL THEN
        NEW.access_token_sha256 := NULL;
    ELSIF NEW.access_token NOT LIKE 'twenc:v_:%' THEN
        NEW.access_token_sha256 := sha256(convert_to(NEW.access_token, 'UTF8'));
    END IF;
    -- A row without an access token must be refreshed now; treating a NULL
    -- expiry as "never" here would leave it unusable forever.
    IF NEW.access_token IS NULL OR NEW.access_token = '' THEN
        NEW.access_token := NULL;
        IF NEW.access_token_expires IS NULL OR NEW.access_token_expires > now() THEN
            NEW.access_token_expires := now();
        END IF;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd

-- The rows held now, leases and backoffs (no schedule is parked yet):
-- the trigger computes held_until for each row written.
UPDATE oauth_tokens
SET held_until = NULL
WHERE updating OR next_attempt_at IS NOT NULL;

-- The rows a claim finds by expiry: refreshable and not held.
DROP INDEX IF EXISTS oauth_tokens_due_idx;
CREATE INDEX oauth_tokens_due_idx
    ON oauth_tokens (access_token_expires)
    WHERE status = 'active' AND refresh_token IS NOT NULL AND held_until IS NULL;

-- The held rows, by the end of their hold: a claim takes those whose hold
-- has ended, without reading those whose hold has not.
CREATE INDEX IF NOT EXISTS oauth_tokens_held_idx
    ON oauth_tokens (held_until)
    WHERE status = 'active' AND refresh_token IS NOT NULL AND held_until IS NOT NULL;

-- The connections out of service (needs_reauth, disabled), few in a
-- healthy table, so that the metrics count them without reading the rest.
CREATE INDEX IF NOT EXISTS oauth_tokens_inactive_idx
    ON oauth_tokens (status)
    WHERE status <> 'active';
