// Two matrix-js-sdk clients running their normal sync loops (as Element does, with lazy
// loading of members): create a room, invite, join, send, edit, react, reply in a
// thread, redact, set the topic, and watch it all arrive through the SDK's own models.
//
// Usage: node js_sdk_rooms.mjs BASE_URL
import { createClient, RoomEvent } from "matrix-js-sdk";
import { check, until, syncedClient } from "./harness.mjs";

const base = process.argv[2];
const account = (prefix) =>
    syncedClient(base, prefix, { initialSyncLimit: 20, lazyLoadMembers: true, threadSupport: true });

const alice = await account("alice");
const bob = await account("bob");
check(true, "both clients synced");

const { room_id: roomId } = await alice.createRoom({ name: "JS room", invite: [bob.getUserId()] });
check(roomId.startsWith("!"), "room created", roomId);

await until(() => bob.getRoom(roomId)?.getMyMembership() === "invite", "bob sees the invite");
await bob.joinRoom(roomId);
await until(() => alice.getRoom(roomId)?.getMember(bob.getUserId())?.membership === "join", "alice sees bob join");

const { event_id: hello } = await alice.sendTextMessage(roomId, "hello from js");
await until(() => bob.getRoom(roomId)?.findEventById(hello), "bob's timeline has the message");

const { event_id: edit } = await alice.sendMessage(roomId, {
    msgtype: "m.text", body: "* hello from js!",
    "m.new_content": { msgtype: "m.text", body: "hello from js!" },
    "m.relates_to": { rel_type: "m.replace", event_id: hello },
});
await until(() => bob.getRoom(roomId)?.findEventById(hello)?.replacingEventId() === edit, "bob sees the edit applied");

const { event_id: reaction } = await bob.sendEvent(roomId, "m.reaction", {
    "m.relates_to": { rel_type: "m.annotation", event_id: hello, key: "🎉" },
});
await until(() => alice.getRoom(roomId)?.findEventById(reaction), "alice sees the reaction");

const { event_id: reply } = await bob.sendMessage(roomId, {
    msgtype: "m.text", body: "threaded",
    "m.relates_to": { rel_type: "m.thread", event_id: hello, is_falling_back: true, "m.in_reply_to": { event_id: hello } },
});
await until(() => {
    const thread = alice.getRoom(roomId)?.getThread(hello);
    return thread && thread.length >= 1;
}, "alice sees the thread");
check(true, "thread reply " + reply);

await alice.setRoomTopic(roomId, "js topic");
await until(() => bob.getRoom(roomId)?.currentState.getStateEvents("m.room.topic", "")?.getContent().topic === "js topic", "bob sees the topic");

const { event_id: oops } = await bob.sendTextMessage(roomId, "oops");
await bob.redactEvent(roomId, oops);
await until(() => alice.getRoom(roomId)?.findEventById(oops)?.isRedacted(), "alice sees the redaction");

// Scrollback goes through /messages.
const fresh = createClient({ baseUrl: base, userId: bob.getUserId(), accessToken: bob.getAccessToken() });
const page = await fresh.createMessagesRequest(roomId, null, 50, "b");
const ids = page.chunk.map((e) => e.event_id);
check([hello, edit, reaction, reply, oops].every((id) => ids.includes(id)), "every event in /messages", ids);

alice.stopClient();
bob.stopClient();
process.exit(0);
