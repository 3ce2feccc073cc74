// End-to-end encryption with matrix-js-sdk and its Rust crypto (the stack Element
// uses), in Element Web's invite flow: Alice creates a private encrypted room, invites
// Bob from inside it, Bob accepts, and each decrypts the other's message. The server
// only relays keys and ciphertext.
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

// Element Web's flow: a private encrypted room created without invitees, then the People
// panel's Invite button, which Element enables when `room.canInvite(me)` holds. This SDK
// version predates room version 12's creator rule, so it sees the creator at level 0:
// the room's `invite` level must be 0, as Synapse sets it for private chats.
const { room_id: roomId } = await alice.createRoom({
    preset: "private_chat",
    name: "Secret room",
    initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
});
await until(() => alice.getRoom(roomId)?.getMyMembership() === "join", "alice's client shows her new room");
check(alice.getRoom(roomId).canInvite(alice.getUserId()), "the Invite button is enabled for alice (room.canInvite)");
await alice.invite(roomId, bob.getUserId());
await until(() => bob.getRoom(roomId)?.getMyMembership() === "invite", "bob sees the invite");
await bob.joinRoom(roomId);
await until(() => alice.getRoom(roomId)?.getMember(bob.getUserId())?.membership === "join", "alice sees bob join");
check(bob.getRoom(roomId).canInvite(bob.getUserId()), "bob, a plain member, may invite too");
await until(async () => (await alice.getCrypto().isEncryptionEnabledInRoom(roomId)), "alice's client knows the room is encrypted");

// Alice's client fetches Bob's device keys from the server before encrypting.
const devices = await alice.getCrypto().getUserDeviceInfo([bob.getUserId()], true);
check(devices.get(bob.getUserId())?.size === 1, "alice's client downloaded bob's device keys", [...(devices.get(bob.getUserId())?.keys() ?? [])]);

/** Sends `text` from `from` and waits until `to` has decrypted it. */
async function exchange(from, to, who) {
    const secret = `${who}: meet me at the old mill ` + Math.random().toString(36).slice(2);
    const { event_id: eventId } = await from.sendTextMessage(roomId, secret);
    let decrypted;
    await until(async () => {
        const event = to.getRoom(roomId)?.findEventById(eventId);
        if (!event) return false;
        if (event.isBeingDecrypted() || event.isDecryptionFailure()) {
            await event.getDecryptionPromise?.();
        }
        decrypted = event.getClearContent()?.body;
        return decrypted !== undefined;
    }, `the other client decrypts ${who}'s message`);
    check(decrypted === secret, `${who}'s plaintext matches`, decrypted);
    const wire = to.getRoom(roomId).findEventById(eventId).getWireType();
    check(wire === "m.room.encrypted", `${who}'s message travelled as m.room.encrypted`, wire);
}
await exchange(alice, bob, "alice");
await exchange(bob, alice, "bob");

alice.stopClient();
bob.stopClient();
process.exit(0);
