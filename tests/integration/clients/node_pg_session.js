// node-postgres (the `pg` package) through tenantwall, one scenario per run, for
// test_clients_node_pg.py. Usage: node node_pg_session.js PORT USER PASSWORD. Prints one JSON
// object: every observation by name (rows as arrays, errors as {code, message}); the Python test
// judges them against the database itself, so nothing here knows the expected answers.
const { Client, Pool } = require('pg');

const CUSTOMER_COLUMNS = 'id, tenant_id, name, email, phone, ssn';

function errorOf(e) {
  return { error: { code: e.code || null, message: String(e.message) } };
}

async function attempt(fn) {
  try {
    return await fn();
  } catch (e) {
    return errorOf(e);
  }
}

async function rows(client, config, values) {
  const q = typeof config === 'string' ? { text: config } : { ...config };
  if (values) q.values = values;
  q.rowMode = 'array';
  const r = await client.query(q);
  return { columns: r.fields.map((f) => f.name), rows: r.rows, command: r.command };
}

async function main() {
  const [port, user, password] = process.argv.slice(2);
  const config = { host: '127.0.0.1', port: Number(port), user, password, database: 'app' };
  const seen = {};
  const c = new Client(config);
  await c.connect();

  // Parameterised (unnamed statements, extended protocol).
  seen.by_ids = await attempt(() => rows(c,
      `SELECT ${CUSTOMER_COLUMNS} FROM customers WHERE id = ANY($1::int[]) ORDER BY id`, [[1, 2, 3, 4, 5, 6]]));
  seen.by_name_like = await attempt(() => rows(c,
      'SELECT id, name, email FROM customers WHERE name LIKE $1 ORDER BY id', ['G%']));
  seen.other_tenant_param = await attempt(() => rows(c,
      'SELECT id, name FROM customers WHERE tenant_id = $1', [user === 'bob' ? 'acme' : 'globex']));
  seen.join = await attempt(() => rows(c,
      'SELECT c.name, c.ssn, o.amount::text AS amount FROM orders o JOIN customers c ON c.id = o.customer_id ' +
      'WHERE o.amount > $1 ORDER BY o.id', [0]));
  seen.sum = await attempt(() => rows(c, 'SELECT sum(amount)::text AS total, count(*)::int AS n FROM orders'));

  // One named prepared statement, reused for every id (Parse once, then Bind/Execute).
  const byId = { name: 'tw_node_by_id', text: `SELECT ${CUSTOMER_COLUMNS} FROM customers WHERE id = $1` };
  seen.named = [];
  for (let round = 0; round < 2; round++) {
    for (let id = 1; id <= 6; id++) seen.named.push(await attempt(() => rows(c, byId, [id])));
  }

  // A refusal, then the same connection and the named statement still work.
  seen.refused_relation = await attempt(() => rows(c, 'SELECT * FROM internal_audit WHERE id = $1', [1]));
  seen.refused_cross_tenant = await attempt(() => rows(c,
      `SELECT * FROM customers WHERE tenant_id = '${user === 'bob' ? 'acme' : 'globex'}'`));
  seen.refused_named = await attempt(() => rows(c, { name: 'tw_node_refused', text: 'SELECT payload FROM internal_audit' }));
  seen.hidden_column = await attempt(() => rows(c, 'SELECT notes FROM customers'));
  seen.after_refusals = await attempt(() => rows(c, byId, [user === 'bob' ? 4 : 1]));
  seen.simple_after_refusals = await attempt(() => rows(c, 'SELECT count(*)::int AS n FROM customers'));

  // An error inside a transaction: everything after it fails (25P02) until ROLLBACK.
  await c.query('BEGIN');
  seen.tx_first = await attempt(() => rows(c, 'SELECT name FROM customers ORDER BY id'));
  seen.tx_refused = await attempt(() => rows(c, 'SELECT * FROM internal_audit'));
  seen.tx_aborted = await attempt(() => rows(c, byId, [1]));
  seen.tx_aborted_simple = await attempt(() => rows(c, 'SELECT 1'));
  seen.tx_rollback = await attempt(() => c.query('ROLLBACK').then((r) => ({ command: r.command })));
  seen.after_rollback = await attempt(() => rows(c, 'SELECT count(*)::int AS n FROM orders'));

  // A savepoint recovers from a refusal inside a transaction.
  await c.query('BEGIN');
  await c.query('SAVEPOINT before_refusal');
  seen.sp_refused = await attempt(() => rows(c, 'SELECT * FROM internal_audit'));
  seen.sp_rollback = await attempt(() => c.query('ROLLBACK TO SAVEPOINT before_refusal').then((r) => ({ command: r.command })));
  seen.sp_after = await attempt(() => rows(c, 'SELECT id, ssn FROM customers ORDER BY id'));
  await c.query('COMMIT');

  // Binary results (format code 1 for every column) and a run-time error from PostgreSQL.
  seen.binary = await attempt(() => c.query({ text: 'SELECT id, name FROM customers ORDER BY id', binary: true })
      .then((r) => ({ rows: r.rows.map((x) => [x.id, x.name]) })));
  seen.division = await attempt(() => rows(c, 'SELECT 1 / (id - id) FROM customers'));

  // Several queries queued at once on one client, and two pooled connections in parallel.
  seen.queued = await Promise.all([1, 2, 3, 4, 5, 6].map((id) => attempt(() => rows(c, byId, [id]))));
  const pool = new Pool({ ...config, max: 3 });
  seen.pooled = await Promise.all([0, 1, 2, 3, 4, 5].map(() => attempt(() =>
      rows(pool, `SELECT ${CUSTOMER_COLUMNS} FROM customers ORDER BY id`))));
  await pool.end();

  await c.end();
  console.log(JSON.stringify(seen));
}

main().catch((e) => {
  console.error('FAIL', e);
  process.exit(1);
});
