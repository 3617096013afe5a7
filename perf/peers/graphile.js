// graphile-worker on PostgreSQL: the three-email workload (see common.js). The task runs one
// statement (so one transaction) that inserts the progress record (contact, step, time, Message-ID) and adds
// the contact's next step (due at once) with graphile_worker.add_job; the worker completes
// jobs in batches (completeJobBatchDelay). pollInterval is 100 ms, not the default 2 s: a job
// added with a future run_at sends no NOTIFY, so it waits for a poll.
//
//   node graphile.js --url postgres://... --n N --concurrency C --local Q           (burst)
//   node graphile.js --url ... --mode rate --rate R --duration S ...                (real clock)
// rate: first steps get run_at so R contacts/s fall due for S seconds; reports each first
// step's lateness (commit of its record - due time).
'use strict';
const { run, makeWorkerUtils, Logger } = require('graphile-worker');
const { Pool } = require('pg');
const c = require('./common');

const opt = c.options({ url: 'postgres://127.0.0.1/bench', mode: 'burst', n: 10000,
  concurrency: 30, local: 100, completeDelay: 50, poll: 100, rate: 1000, duration: 10,
  lead: 3000 });

async function main() {
  const pool = new Pool({ connectionString: opt.url, max: opt.concurrency + 4 });
  pool.on('error', (err) => console.error('pool error', err));
  pool.on('connect', (client) => client.on('error', (err) => console.error('client error', err)));
  // Warnings and errors only: an info line per job would cost more than the job.
  const logger = new Logger(() => (level, message) => {
    if (level === 'error' || level === 'warning') console.error(message);
  });
  await pool.query('DROP SCHEMA IF EXISTS graphile_worker CASCADE');
  await pool.query('DROP TABLE IF EXISTS progress');
  await pool.query('CREATE TABLE progress (contact int, step int, at timestamptz NOT NULL, ' +
    'message_id text NOT NULL, PRIMARY KEY (contact, step))');
  const utils = await makeWorkerUtils({ pgPool: pool, logger });
  await utils.migrate();

  const rate = opt.mode === 'rate';
  const n = rate ? Math.round(opt.rate * opt.duration) : opt.n;
  const lateness = [];
  let done = 0;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });

  const addStart = Date.now();
  const start = addStart + (rate ? opt.lead + n / 2 : 0);
  for (let first = 0; first < n; first += 1000) {
    const specs = [];
    for (let i = first; i < Math.min(n, first + 1000); ++i) {
      const spec = { identifier: 'step', payload: { contact: c.contactOf(i), step: 0 } };
      if (rate) {
        spec.payload.due = c.dueOf(i, start, opt.rate);
        spec.runAt = new Date(spec.payload.due);
      }
      specs.push(spec);
    }
    await utils.addJobs(specs);
  }
  const addSeconds = (Date.now() - addStart) / 1000;
  if (rate && Date.now() > start) throw new Error('adding took past the first due time');

  const taskList = {
    step: async (payload, helpers) => {
      const { contact, step } = payload;
      const now = Date.now();
      const messageId = c.runStep(contact, step, now);
      // One statement, so one round trip and one transaction: the record and the next job.
      await helpers.query('WITH p AS (INSERT INTO progress VALUES ($1, $2, ' +
        'to_timestamp($3::float8 / 1000), $4) ON CONFLICT DO NOTHING) ' +
        'SELECT graphile_worker.add_job($5, $6::json) WHERE $7',
      [contact.id, step, now, messageId, 'step', JSON.stringify({ contact, step: step + 1 }),
        step < 2]);
      if (rate && step === 0) lateness.push(Date.now() - payload.due);
      if (++done >= 3 * n) finish();
    },
  };

  const runStart = Date.now();
  const runner = await run({
    pgPool: pool, taskList, noHandleSignals: true, logger,
    preset: { worker: { concurrentJobs: opt.concurrency, pollInterval: opt.poll,
      localQueue: { size: opt.local }, completeJobBatchDelay: opt.completeDelay,
      failJobBatchDelay: opt.completeDelay } },
  });
  const deadline = rate ? start + opt.duration * 1000 + 30000 : Infinity;
  const timer = rate ? setTimeout(finish, Math.max(0, deadline - Date.now())) : null;
  await finished;
  const wall = (Date.now() - runStart) / 1000;
  if (timer) clearTimeout(timer);
  await runner.stop();
  const stored = (await pool.query('SELECT count(*)::int AS n FROM progress')).rows[0].n;
  const result = { system: 'graphile-worker', mode: opt.mode, concurrency: opt.concurrency,
    local_queue: opt.local, n, steps: done, stored_records: stored, add_per_s: n / addSeconds };
  if (rate) {
    Object.assign(result, { offered_steps_per_s: 3 * opt.rate,
      done_after_last_due_s: (Date.now() - (start + opt.duration * 1000)) / 1000 },
    c.latenessSummary(lateness));
  } else {
    Object.assign(result, { wall_s: wall, steps_per_s: done / wall });
  }
  c.report(result);
  await utils.release();
  await pool.end();
  process.exit(0);
}

main().catch((err) => { console.error(err); process.exit(1); });
