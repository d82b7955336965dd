// node-postgres against Spanlite's PostgreSQL port: connect, parameterised
// queries, and transactions that retry on serialization failures (40001).
// Usage: node test.js PORT    (prints "node-postgres: ok", exits 1 on failure)
'use strict';
const { Client } = require('pg');
const assert = require('assert');

const port = Number(process.argv[2]);
const connect = async () => {
  const c = new Client({ host: '127.0.0.1', port, user: 'root', database: 'spanlite' });
  await c.connect();
  return c;
};

// Runs `body(client)` in a transaction, again after each 40001.
async function inTransaction(client, body) {
  for (let attempt = 1; ; attempt++) {
    await client.query('BEGIN');
    try {
      const result = await body(client);
      await client.query('COMMIT');
      return { result, attempt };
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      if (e.code !== '40001' || attempt >= 20) throw e;
    }
  }
}

(async () => {
  const a = await connect();
  const b = await connect();
  const version = (await a.query('SELECT version()')).rows[0].version;
  assert.match(version, /^PostgreSQL \d+/);
  await a.query('DROP TABLE IF EXISTS np_counters');
  await a.query('CREATE TABLE np_counters (id INT PRIMARY KEY, label TEXT, v BIGINT NOT NULL)');
  await a.query('INSERT INTO np_counters VALUES ($1, $2, $3), ($4, $5, $6)', [1, 'one', 0, 2, "it's two", 0]);
  const r = await a.query('SELECT label, v FROM np_counters WHERE id = $1', [2]);
  assert.deepStrictEqual(r.rows, [{ label: "it's two", v: '0' }]);
  const typed = await a.query('SELECT $1::int + 1 AS n, $2::text AS t, $3::bool AS b', [41, 'x', true]);
  // (Spanlite's integers are 64-bit: n comes back as int8, a string in pg.)
  assert.deepStrictEqual([Number(typed.rows[0].n), typed.rows[0].t, typed.rows[0].b], [42, 'x', true]);

  // A conflict made on purpose: both read the counter under 2PL, the older
  // writes and commits, the younger is wounded (40001) and retries.
  await a.query('BEGIN');
  await a.query('SELECT v FROM np_counters WHERE id = 1');
  let attempts = 0;
  const younger = inTransaction(b, async (c) => {
    attempts++;
    const v = Number((await c.query('SELECT v FROM np_counters WHERE id = 1')).rows[0].v);
    if (attempts === 1) {
      // Let the older transaction write while this one holds its read.
      await a.query('UPDATE np_counters SET v = v + 1 WHERE id = 1');
      await a.query('COMMIT');
    }
    await c.query('UPDATE np_counters SET v = $1 WHERE id = 1', [v + 10]);
  });
  const { attempt } = await younger;
  assert.ok(attempt >= 2, `the younger transaction committed at attempt ${attempt} without a retry`);
  const after = Number((await a.query('SELECT v FROM np_counters WHERE id = 1')).rows[0].v);
  assert.strictEqual(after, 11, 'both increments are kept');

  // Many clients incrementing one row: every increment kept.
  const clients = await Promise.all([1, 2, 3, 4].map(() => connect()));
  let retries = 0;
  await Promise.all(clients.map(async (c) => {
    for (let i = 0; i < 10; i++) {
      const { attempt: n } = await inTransaction(c, async (t) => {
        const v = Number((await t.query('SELECT v FROM np_counters WHERE id = 2')).rows[0].v);
        await t.query('UPDATE np_counters SET v = $1 WHERE id = 2', [v + 1]);
      });
      retries += n - 1;
    }
  }));
  const total = Number((await a.query('SELECT v FROM np_counters WHERE id = 2')).rows[0].v);
  assert.strictEqual(total, 40);
  await a.query('DROP TABLE np_counters');
  await Promise.all([a, b, ...clients].map((c) => c.end()));
  console.log(`node-postgres: ok (${retries} retries among 40 concurrent increments)`);
})().catch((e) => {
  console.error('node-postgres test failed:', e);
  process.exit(1);
});
