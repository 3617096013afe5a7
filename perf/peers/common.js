// What every peer's step does, the same as seqd's auto_email with `transport: discard`:
// render the step's message from the contact's fields (~630 bytes, the headers seqd writes),
// discard it, and hand back the Message-ID for the progress record. Also the run options and
// the lateness summary shared by bullmq.js, pgboss.js and graphile.js.
'use strict';
const crypto = require('crypto');

const STEPS = [
  { id: 'intro', subject: 'Quick question, {{first_name}}',
    body: 'Hi {{first_name|there}}, teams like {{company|yours}} spend hours every week on ' +
      'follow-ups that nobody reads. We built a small tool that sends the right note at the ' +
      'right time and stops the moment someone replies. Worth a look?\n\nAlice\n' },
  { id: 'bump', subject: 'Re: quick question, {{first_name}}',
    body: 'Hi {{first_name|there}}, bumping this up in case it got buried. A short call this ' +
      'week to see whether it fits {{company|your team}}? Fifteen minutes is enough, and I ' +
      'will keep it to the point.\n\nAlice\n' },
  { id: 'breakup', subject: 'Last note, {{first_name}}',
    body: 'Hi {{first_name|there}}, I will stop writing after this one. If follow-ups at ' +
      '{{company|your company}} ever become a problem worth fixing, reply to this and I will ' +
      'send a short overview with prices.\n\nAlice\n' },
];

function render(template, contact) {
  return template.replace(/\{\{(\w+)(?:\|([^}]*))?\}\}/g, (_, field, fallback) => {
    const value = contact[field];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    throw new Error('missing variable ' + field);
  });
}

// The contact of index i, with the fields the CSV for seqd carries.
function contactOf(i) {
  return { id: i, email: `c${i}@ex${i % 97}.test`, first_name: `First${i}`,
    last_name: `Last${i}`, company: `Company ${i % 500}`, score: String(i % 100) };
}

// Renders step `step` (0-based) for `contact`, discards it, returns its Message-ID.
function runStep(contact, step, nowMs) {
  const spec = STEPS[step];
  const hash = crypto.createHash('sha256').update(`bench\0${spec.id}\0${contact.email}`)
    .digest('hex').slice(0, 16);
  const messageId = `<bench.${spec.id}.${hash}@acme.test>`;
  const message =
    'From: Bench Sender <bench@acme.test>\r\n' +
    `To: ${contact.first_name} ${contact.last_name} <${contact.email}>\r\n` +
    `Subject: ${render(spec.subject, contact)}\r\n` +
    `Date: ${new Date(nowMs).toUTCString().replace('GMT', '+0000')}\r\n` +
    `Message-ID: ${messageId}\r\n` +
    'List-Unsubscribe: <mailto:bench@acme.test?subject=unsubscribe>\r\n' +
    'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n' +
    'Content-Transfer-Encoding: 7bit\r\nX-Seqd-Sequence: bench\r\n' +
    `X-Seqd-Step: ${spec.id}\r\nX-Seqd-Contact: ${contact.email}\r\n\r\n` +
    render(spec.body, contact).replace(/\n/g, '\r\n');
  discard(message);
  return messageId;
}

let discarded = 0;
function discard(message) { discarded += message.length; }
function discardedBytes() { return discarded; }

// --name value options; numbers where the default is a number.
function options(defaults) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in defaults)) throw new Error('unknown option ' + argv[i]);
    out[key] = typeof defaults[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  return out;
}

// Due times of first steps on the real clock: contact i falls due at start + i / rate.
function dueOf(i, startMs, ratePerS) { return startMs + Math.floor((i * 1000) / ratePerS); }

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

// lateness: ms of each first step, durable time - due time.
function latenessSummary(lateness) {
  const sorted = Float64Array.from(lateness).sort();
  return { p50_ms: percentile(sorted, 0.5), p99_ms: percentile(sorted, 0.99),
    p999_ms: percentile(sorted, 0.999), max_ms: sorted.length ? sorted[sorted.length - 1] : null };
}

function report(result) { process.stdout.write(JSON.stringify(result) + '\n'); }

function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

module.exports = { STEPS, contactOf, runStep, discardedBytes, options, dueOf, latenessSummary,
  report, sleep };
