// node-postgres through tenantwall: parameterised and named prepared queries, a refusal, an
// error inside a transaction. Prints one JSON object with what it saw; the test asserts it.
const { Client } = require('pg');

async function main() {
  const [port, user, password] = process.argv.slice(2);
  const c = new Client({ host: '127.0.0.1', port: Number(port), user, password, database: 'app' });
  await c.connect();
  const seen = {};
  seen.customers = (await c.query(
      'SELECT id, tenant_id, name, email, ssn FROM customers WHERE id = ANY($1::int[]) ORDER BY id',
      [[1, 2, 3, 4, 5]])).rows;
  const named = { name: 'orders_over', text: 'SELECT count(*)::int AS n FROM orders WHERE amount > $1' };
  seen.over50 = (await c.query({ ...named, values: [50] })).rows[0].n;
  seen.over200 = (await c.query({ ...named, values: [200] })).rows[0].n;
  try {
    await c.query('SELECT * FROM internal_audit WHERE id = $1', [1]);
    seen.refusal = 'not refused';
  } catch (e) {
    seen.refusal = e.code;
  }
  seen.after_refusal = (await c.query('SELECT $1::text AS echo', ['alive'])).rows[0].echo;
  await c.query('BEGIN');
  try {
    await c.query("SELECT * FROM customers WHERE tenant_id = 'globex'");
  } catch (e) {
    seen.in_tx = e.code;
  }
  try {
    await c.query('SELECT 1');
  } catch (e) {
    seen.aborted = e.code;
  }
  await c.query('ROLLBACK');
  seen.binary_int = (await c.query({ text: 'SELECT id FROM customers ORDER BY id LIMIT 1',
                                     binary: true })).rows[0].id;
  await c.end();
  console.log(JSON.stringify(seen));
}

main().catch((e) => { console.error('FAIL', e); process.exit(1); });
