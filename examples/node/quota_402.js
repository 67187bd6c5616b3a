// Maps a zechat_billing refusal (SQLSTATE PT402) to an HTTP 402 response.
const { Client } = require('pg');

// What an HTTP handler does to send a message: insert it; the database
// enforces the tenant's plan.
async function sendMessage(db, tenantId, body) {
  try {
    await db.query('INSERT INTO messages (tenant_id, body) VALUES ($1, $2)', [tenantId, body]);
    return { status: 201, body: { sent: true } };
  } catch (err) {
    if (err.code === 'PT402') {
      const detail = JSON.parse(err.detail); // {tenant_id, resource, limit, used, requested, reason}
      return {
        status: 402,
        body: { error: `limit of ${detail.resource} reached - upgrade`, detail },
      };
    }
    throw err;
  }
}

async function main() {
  const db = new Client(); // PGHOST, PGPORT, PGUSER, PGDATABASE from the environment
  await db.connect();
  try {
    for (let i = 1; i <= 4; i++) {
      const response = await sendMessage(db, process.argv[2] || 'acme', `hello ${i}`);
      console.log(response.status, JSON.stringify(response.body));
    }
  } finally {
    await db.end();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

module.exports = { sendMessage };
