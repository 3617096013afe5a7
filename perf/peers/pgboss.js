// pg-boss on PostgreSQL: the three-email workload (see common.js). `loops` work() loops fetch
// `batch` jobs each; for each batch one transaction inserts the progress records
// (contact, step, time, Message-ID), inserts the next steps' jobs (due at once) and completes
// the batch's jobs, so a step is done and its successor scheduled atomically.
//
//   node pgboss.js --url postgres://... --n N --loops L --batch B               (burst)
//   node pgboss.js --url ... --mode rate --rate R --duration S --loops L ...    (real clock)
// rate: first steps get startAfter so R contacts/s fall due for S seconds; reports each
// first step's lateness (commit of its record - due time).
'use strict';
const PgBoss = require('pg-boss');
const { Pool } = require('pg');
const c = require('./common');

const opt = c.options({ url: 'postgres://127.0.0.1/bench', mode: 'burst', n: 10000, loops: 4,
  batch: 1000, poll: 0.5, rate: 1000, duration: 10, lead: 3000 });

async function main() {
  const pool = new Pool({ connectionString: opt.url, max: opt.loops + 2 });
  await pool.query('DROP SCHEMA IF EXISTS pgboss CASCADE');
  await pool.query('DROP TABLE IF EXISTS progress');
  await pool.query('CREATE TABLE progress (contact int, step int, at timestamptz NOT NULL, ' +
    'message_id text NOT NULL, PRIMARY KEY (contact, step))');
  const boss = new PgBoss({ connectionString: opt.url, max: opt.loops + 4, supervise: false,
    schedule: false, migrate: true });
  boss.on('error', (err) => console.error('pg-boss error', err));
  await boss.start();
  await boss.createQueue('steps');

  const rate = opt.mode === 'rate';
  const n = rate ? Math.round(opt.rate * opt.duration) : opt.n;
  const lateness = [];
  let done = 0;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });

  const addStart = Date.now();
  const start = addStart + (rate ? opt.lead + n / 2 : 0);
  for (let first = 0; first < n; first += 1000) {
    const jobs = [];
    for (let i = first; i < Math.min(n, first + 1000); ++i) {
      const job = { name: 'steps', data: { contact: c.contactOf(i), step: 0 } };
      if (rate) {
        job.data.due = c.dueOf(i, start, opt.rate);
        job.startAfter = new Date(job.data.due).toISOString();
      }
      jobs.push(job);
    }
    await boss.insert(jobs);
  }
  const addSeconds = (Date.now() - addStart) / 1000;
  if (rate && Date.now() > start) throw new Error('adding took past the first due time');

  const handler = async (jobs) => {
    const now = Date.now();
    const contacts = [], steps = [], ids = [], next = [];
    for (const job of jobs) {
      const { contact, step } = job.data;
      contacts.push(contact.id); steps.push(step); ids.push(c.runStep(contact, step, now));
      if (step < 2) next.push({ name: 'steps', data: { contact, step: step + 1 } });
    }
    const client = await pool.connect();
    try {
      const db = { executeSql: (text, values) => client.query(text, values) };
      await client.query('BEGIN');
      await client.query('INSERT INTO progress SELECT * FROM unnest($1::int[], $2::int[], ' +
        "array_fill(to_timestamp($3::float8 / 1000), ARRAY[cardinality($1::int[])]), $4::text[]) " +
        'ON CONFLICT DO NOTHING', [contacts, steps, now, ids]);
      if (next.length) await boss.insert(next, { db });
      await boss.complete('steps', jobs.map((job) => job.id), null, { db });
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      client.release();
    }
    const durable = Date.now();
    for (const job of jobs) if (rate && job.data.step === 0) lateness.push(durable - job.data.due);
    done += jobs.length;
    if (done >= 3 * n) finish();
  };

  const runStart = Date.now();
  for (let i = 0; i < opt.loops; ++i) {
    await boss.work('steps', { batchSize: opt.batch, pollingIntervalSeconds: opt.poll }, handler);
  }
  const deadline = rate ? start + opt.duration * 1000 + 30000 : Infinity;
  const timer = rate ? setTimeout(finish, Math.max(0, deadline - Date.now())) : null;
  await finished;
  const wall = (Date.now() - runStart) / 1000;
  if (timer) clearTimeout(timer);
  const stored = (await pool.query('SELECT count(*)::int AS n FROM progress')).rows[0].n;
  const result = { system: 'pg-boss', mode: opt.mode, loops: opt.loops, batch: opt.batch, n,
    steps: done, stored_records: stored, add_per_s: n / addSeconds };
  if (rate) {
    Object.assign(result, { offered_steps_per_s: 3 * opt.rate,
      done_after_last_due_s: (Date.now() - (start + opt.duration * 1000)) / 1000 },
    c.latenessSummary(lateness));
  } else {
    Object.assign(result, { wall_s: wall, steps_per_s: done / wall });
  }
  c.report(result);
  await boss.stop({ graceful: false, wait: false });
  await pool.end();
  process.exit(0);
}

main().catch((err) => { console.error(err); process.exit(1); });
