// BullMQ on Redis: the three-email workload (see common.js), one job per (contact, step) with
// jobId "<contact>-<step>" so a re-run after a crash is a no-op. The processor renders and
// discards the message, adds the contact's next step (due at once) and returns
// {at, message_id}: completing the job stores that return value, the durable record.
//
//   node bullmq.js --url redis://127.0.0.1:PORT --n N --concurrency C             (burst)
//   node bullmq.js --url ... --mode rate --rate R --duration S --concurrency C    (real clock)
// burst: all first steps added at once (addBulk), then timed until every step completed.
// rate: first steps delayed so R contacts/s fall due for S seconds; reports each first
// step's lateness (completed event - due time).
'use strict';
const IORedis = require('ioredis');
const { Queue, Worker } = require('bullmq');
const c = require('./common');

const opt = c.options({ url: 'redis://127.0.0.1:6379', mode: 'burst', n: 10000,
  concurrency: 200, rate: 1000, duration: 10, lead: 3000 });

async function main() {
  const connection = new IORedis(opt.url, { maxRetriesPerRequest: null });
  await connection.flushall();
  const queue = new Queue('steps', { connection });
  const rate = opt.mode === 'rate';
  const n = rate ? Math.round(opt.rate * opt.duration) : opt.n;
  const lateness = [];
  let completed = 0;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });

  const addStart = Date.now();
  const start = addStart + (rate ? opt.lead + n / 2 : 0);  // room to add the delayed jobs
  for (let first = 0; first < n; first += 1000) {
    const jobs = [];
    for (let i = first; i < Math.min(n, first + 1000); ++i) {
      const contact = c.contactOf(i);
      const due = rate ? c.dueOf(i, start, opt.rate) : 0;
      const opts = { jobId: `${i}-0` };
      if (rate) opts.delay = Math.max(0, due - Date.now());
      jobs.push({ name: 'step', data: { contact, step: 0, due }, opts });
    }
    await queue.addBulk(jobs);
  }
  const addSeconds = (Date.now() - addStart) / 1000;
  if (rate && Date.now() > start) throw new Error('adding took past the first due time');

  const worker = new Worker('steps', async (job) => {
    const { contact, step } = job.data;
    const now = Date.now();
    const messageId = c.runStep(contact, step, now);
    if (step < 2) {
      await queue.add('step', { contact, step: step + 1, due: 0 },
        { jobId: `${contact.id}-${step + 1}` });
    }
    return { at: now, message_id: messageId };
  }, { connection: new IORedis(opt.url, { maxRetriesPerRequest: null }),
    concurrency: opt.concurrency, autorun: false });
  worker.on('completed', (job) => {
    if (rate && job.data.step === 0) lateness.push(Date.now() - job.data.due);
    if (++completed === 3 * n) finish();
  });
  worker.on('failed', (job, err) => { console.error('job failed', job && job.id, err); });

  const runStart = Date.now();
  worker.run();
  const deadline = rate ? start + opt.duration * 1000 + 30000 : Infinity;
  const timer = rate ? setTimeout(finish, Math.max(0, deadline - Date.now())) : null;
  await finished;
  const wall = (Date.now() - runStart) / 1000;
  if (timer) clearTimeout(timer);
  await worker.close();
  const stored = await queue.getCompletedCount();
  const result = { system: 'bullmq', mode: opt.mode, concurrency: opt.concurrency, n,
    steps: completed, stored_records: stored, add_per_s: n / addSeconds };
  if (rate) {
    Object.assign(result, { offered_steps_per_s: 3 * opt.rate,
      done_after_last_due_s: (Date.now() - (start + opt.duration * 1000)) / 1000 },
    c.latenessSummary(lateness));
  } else {
    Object.assign(result, { wall_s: wall, steps_per_s: completed / wall });
  }
  c.report(result);
  await queue.close();
  await connection.quit();
  process.exit(0);
}

main().catch((err) => { console.error(err); process.exit(1); });
