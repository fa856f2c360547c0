-- Fewer index entries per payment creation (issue #17): every index on payments is one more
-- B-tree insert, and one more dirty page to write, on the path every payment takes.
-- (merchant_id, created_at) is a prefix of migration 17's (merchant_id, created_at, id), which
-- serves every query it served. A live route's provider id is set after creation, so the
-- unique key on it covers only the payments that have one: a new payment costs it nothing.
DROP INDEX payments_merchant_created;
DROP INDEX payments_route_upstream;
CREATE UNIQUE INDEX payments_route_upstream ON payments (route, upstream_id) WHERE upstream_id IS NOT NULL;
