-- information_schema.columns of one CREATE TABLE, as PostgreSQL 15 gives
-- it (tests/clients/information_schema.expected). Run in a transaction that
-- is rolled back, so it leaves nothing behind.
BEGIN;
CREATE TABLE is_probe (
  id SERIAL PRIMARY KEY,
  small SMALLINT NOT NULL DEFAULT 7,
  med INTEGER,
  big BIGINT DEFAULT -5,
  name VARCHAR(40) NOT NULL DEFAULT 'anon',
  code CHAR(3),
  body TEXT DEFAULT 'it''s',
  flag BOOLEAN DEFAULT true,
  ratio DOUBLE PRECISION,
  price NUMERIC(10,2) DEFAULT 1.50,
  amount NUMERIC,
  born DATE,
  at TIMESTAMP,
  atz TIMESTAMPTZ,
  tod TIME,
  span INTERVAL,
  uid UUID,
  doc JSONB,
  raw BYTEA
);
SELECT column_name, ordinal_position, column_default, is_nullable, data_type,
       character_maximum_length, character_octet_length, numeric_precision,
       numeric_precision_radix, numeric_scale, datetime_precision, udt_name,
       is_identity, is_generated, is_updatable
FROM information_schema.columns WHERE table_name = 'is_probe' ORDER BY ordinal_position;
ROLLBACK;
