-- The platform's own data that snowsync pushes into customers' Snowflake accounts.
-- Idempotent: applied by scripts/stack up and by snowsync on start when missing.
CREATE SCHEMA IF NOT EXISTS platform;

CREATE TABLE IF NOT EXISTS platform.actions (
    tenant text NOT NULL,
    id bigint NOT NULL,
    occurred_at timestamptz,
    action_type text,
    visitor_id text,
    account_domain text,
    channel text,
    properties jsonb,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, id)
);

CREATE TABLE IF NOT EXISTS platform.stages (
    tenant text NOT NULL,
    id bigint NOT NULL,
    opportunity_id text,
    stage text,
    entered_at timestamptz,
    amount numeric(18,2),
    owner text,
    properties jsonb,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, id)
);

-- Pushes read each tenant's rows in (ingested_at, id) order past a watermark.
CREATE INDEX IF NOT EXISTS actions_push_order ON platform.actions (tenant, ingested_at, id);
CREATE INDEX IF NOT EXISTS stages_push_order ON platform.stages (tenant, ingested_at, id);
