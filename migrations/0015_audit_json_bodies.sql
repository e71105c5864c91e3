-- Request and response bodies are kept as json (their text, checked to be JSON) instead of jsonb.
-- The audit writes every request and reads bodies rarely: storing json costs Postgres a check of
-- the text where jsonb cost a conversion, the largest avoidable part of each audit batch's CPU,
-- which shares the machine with the gateway (docs/benchmarks.md, "The audit's share of the
-- one-client tail"). The -> and ->> operators read json as they read jsonb; a body keeps its keys in the
-- order the gateway recorded them.
ALTER TABLE audit_log
  ALTER COLUMN request_body TYPE json USING request_body::json,
  ALTER COLUMN response_body TYPE json USING response_body::json;
