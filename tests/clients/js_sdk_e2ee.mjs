// End-to-end encryption with matrix-js-sdk and its Rust crypto (the stack Element
// uses): two users, each with their own device keys; Alice sends in an encrypted room,
// Bob's client decrypts. The server only relays keys and ciphertext.
//
// Usage: node js_sdk_e2ee.mjs BASE_URL
import { RoomEvent, MatrixEventEvent } from "matrix-js-sdk";
import { check, until, syncedClient } from "./harness.mjs";

const base = process.argv[2];
const account = (prefix) =>
    syncedClient(base, prefix, { initialSyncLimit: 20 }, (client) => client.initRustCrypto({ useIndexedDB: false }));

const alice = await account("alice");
const bob = await account("bob");
check(true, "both clients started with Rust crypto");

const { room_id: roomId } = await alice.createRoom({
    name: "Secret room",
    invite: [bob.getUserId()],
    initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
});
await until(() => bob.getRoom(roomId)?.getMyMembership() === "invite", "bob sees the invite");
await bob.joinRoom(roomId);
await until(() => alice.getRoom(roomId)?.getMember(bob.getUserId())?.membership === "join", "alice sees bob join");
await until(async () => (await alice.getCrypto().isEncryptionEnabledInRoom(roomId)), "alice's client knows the room is encrypted");

// Alice's client fetches Bob's device keys from the server before encrypting.
const devices = await alice.getCrypto().getUserDeviceInfo([bob.getUserId()], true);
check(devices.get(bob.getUserId())?.size === 1, "alice's client downloaded bob's device keys", [...(devices.get(bob.getUserId())?.keys() ?? [])]);

const secret = "meet me at the old mill " + Math.random().toString(36).slice(2);
const { event_id: eventId } = await alice.sendTextMessage(roomId, secret);

let decrypted;
await until(async () => {
    const event = bob.getRoom(roomId)?.findEventById(eventId);
    if (!event) return false;
    if (event.isBeingDecrypted() || event.isDecryptionFailure()) {
        await event.getDecryptionPromise?.();
    }
    decrypted = event.getClearContent()?.body;
    return decrypted !== undefined;
}, "bob's client decrypts alice's message");
check(decrypted === secret, "the plaintext matches", decrypted);

const wire = bob.getRoom(roomId).findEventById(eventId).getWireType();
check(wire === "m.room.encrypted", "it travelled as m.room.encrypted", wire);

alice.stopClient();
bob.stopClient();
process.exit(0);
