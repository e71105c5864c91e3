-- The fleet as the dashboard and `godotz fleet status` see it (issue #7).
--
-- Every fleet agent registers its node and heartbeats into the JetStream KV bucket `godotz_fleet`
-- (the fleet's live registry, read by agents over NATS) AND upserts the same record here, because
-- the edge runs as a Cloudflare Worker that cannot speak NATS but reads Postgres. A node whose
-- heartbeat lapses (3 heartbeat intervals) reads as down; agents also mark lapsed nodes down here.

CREATE TABLE fleet_nodes (
  id                    text PRIMARY KEY,
  hostname              text NOT NULL,
  os                    text NOT NULL,
  arch                  text NOT NULL,
  cpus                  integer NOT NULL,
  memory_bytes          bigint NOT NULL,
  labels                text[] NOT NULL DEFAULT '{}',
  capabilities          text[] NOT NULL DEFAULT '{}',
  roles                 text[] NOT NULL DEFAULT '{}',
  version               text NOT NULL,
  capacity              integer NOT NULL,
  running_tasks         text[] NOT NULL DEFAULT '{}',
  status                text NOT NULL CHECK (status IN ('up', 'draining', 'stopped', 'down')),
  heartbeat_interval_ms integer NOT NULL,
  started_at            timestamptz NOT NULL,
  last_heartbeat        timestamptz NOT NULL,
  updated_at            timestamptz NOT NULL DEFAULT now()
);

-- The lapse sweep looks only at nodes that claim to be alive.
CREATE INDEX fleet_nodes_alive ON fleet_nodes (last_heartbeat) WHERE status IN ('up', 'draining');
