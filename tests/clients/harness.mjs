// Shared helpers for the matrix-js-sdk scenarios: step checks that stop the run at the
// first failure (so the Rust test shows the failing step), polling with a deadline, and
// a registered client started with its normal sync loop.
import { createClient, ClientEvent } from "matrix-js-sdk";

export function check(condition, step, detail = "") {
    if (!condition) {
        console.error(`FAILED: ${step}: ${JSON.stringify(detail)}`);
        process.exit(1);
    }
    console.log(`ok: ${step}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function until(predicate, step, timeoutMs = 30000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        if (await predicate()) return;
        await sleep(100);
    }
    check(false, step, "timed out");
}

/// Registers a fresh user through user-interactive auth (first request for the session,
/// then m.login.dummy), lets `prepare` set the client up (crypto, say), starts its sync
/// loop with `startOpts` and resolves once the first sync is PREPARED.
export async function syncedClient(base, prefix, startOpts, prepare = async () => {}) {
    const name = prefix + Math.random().toString(36).slice(2, 9);
    const anonymous = createClient({ baseUrl: base });
    let session;
    try {
        await anonymous.registerRequest({ username: name, password: "pw " + name });
    } catch (e) {
        session = e.data.session;
    }
    const r = await anonymous.registerRequest({
        username: name, password: "pw " + name, auth: { type: "m.login.dummy", session },
    });
    const client = createClient({ baseUrl: base, userId: r.user_id, deviceId: r.device_id, accessToken: r.access_token });
    await prepare(client);
    const prepared = new Promise((resolve) => client.once(ClientEvent.Sync, (s) => s === "PREPARED" && resolve()));
    await client.startClient(startOpts);
    await prepared;
    return client;
}
