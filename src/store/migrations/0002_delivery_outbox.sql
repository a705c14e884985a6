-- Durable output delivery (docs/delivery.md "Durability"): a job whose result committed with
-- deliveries owed is marked in the same transaction as its completion, so a node that dies
-- before its deliveries finish leaves a record another node can adopt.
--   delivery_status  NULL: nothing owed; 'pending': owed by delivery_owner; 'done': settled
--   delivery_owner   the node id delivering it (the node that completed it, or an adopter)
ALTER TABLE jobs ADD COLUMN delivery_status TEXT;
ALTER TABLE jobs ADD COLUMN delivery_owner TEXT;
-- Recovery looks only at owed deliveries: a small partial index, untouched by the hot path.
CREATE INDEX ix_jobs_delivery_pending ON jobs (delivery_owner) WHERE delivery_status = 'pending';
