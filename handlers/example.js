#!/usr/bin/env node
// An example command handler: node example.js <job_type> <client_id>
// fnf gives the client in the arguments and in FNF_* environment variables, enforces the
// deadline (FNF_DEADLINE) itself, and reads the count from the last line printed.
const [jobType, clientId] = process.argv.slice(2);
if (!jobType || !clientId) {
  console.error("usage: node example.js <job_type> <client_id>");
  process.exit(64);
}
const count = [...clientId].reduce((sum, ch) => sum + ch.charCodeAt(0), 0) % 25;
console.error(`${jobType} for client ${clientId} (stream ${process.env.FNF_STREAM}): ${count} items`);
console.log(JSON.stringify({ count }));
