-- Two-tenant sample schema and data, shared by the demo and the integration tests.
CREATE TABLE tenants (
  id   text PRIMARY KEY,
  name text NOT NULL
);

CREATE TABLE customers (
  id         serial PRIMARY KEY,
  tenant_id  text NOT NULL REFERENCES tenants(id),
  name       text NOT NULL,
  email      text,
  phone      text,
  ssn        text,
  notes      text            -- hidden: not listed in the policy
);

CREATE TABLE orders (
  id          serial PRIMARY KEY,
  tenant_id   text NOT NULL REFERENCES tenants(id),
  customer_id integer NOT NULL REFERENCES customers(id),
  amount      numeric(10,2) NOT NULL,
  status      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Shared reference data: readable by every tenant, no tenant column.
CREATE TABLE countries (
  code text PRIMARY KEY,
  name text NOT NULL
);

-- Not mentioned in the policy at all: every reference must be refused.
CREATE TABLE internal_audit (
  id      serial PRIMARY KEY,
  payload text
);

INSERT INTO tenants VALUES ('acme', 'Acme Corp'), ('globex', 'Globex Inc');

INSERT INTO customers (tenant_id, name, email, phone, ssn, notes) VALUES
  ('acme',   'Alice Anders',  'alice.anders@acme.example',  '+1-555-0101', '123-45-6789', 'acme vip'),
  ('acme',   'Arthur Abbott', 'arthur@acme.example',        '+1-555-0102', '234-56-7890', 'acme churn risk'),
  ('acme',   'Amy Adams',     NULL,                         '+1-555-0103', '345-67-8901', NULL),
  ('globex', 'Gina Grant',    'gina.grant@globex.example',  '+1-555-0201', '456-78-9012', 'globex secret'),
  ('globex', 'Gus Gold',      'gus@globex.example',         '+1-555-0202', '567-89-0123', 'globex board');

INSERT INTO orders (tenant_id, customer_id, amount, status, created_at) VALUES
  ('acme',   1, 100.00, 'paid',    '2026-01-05 10:00+00'),
  ('acme',   1, 250.50, 'pending', '2026-02-11 12:30+00'),
  ('acme',   2,  75.25, 'paid',    '2026-03-02 09:15+00'),
  ('globex', 4, 999.99, 'paid',    '2026-01-20 16:45+00'),
  ('globex', 5, 500.00, 'refunded','2026-02-28 08:00+00'),
  ('globex', 5, 120.00, 'paid',    '2026-03-15 14:10+00');

INSERT INTO countries VALUES ('US', 'United States'), ('DE', 'Germany'), ('JP', 'Japan');
INSERT INTO internal_audit (payload) VALUES ('do not leak');
