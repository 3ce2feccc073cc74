"""Two users chatting through matrix-nio: create, invite, join, send, edit, react,
reply in a thread, redact, set a topic, and see all of it through /sync and /messages.

Usage: python nio_rooms.py BASE_URL
"""
import asyncio
import sys
import uuid

from nio import (
    AsyncClient,
    JoinResponse,
    RegisterResponse,
    RoomCreateResponse,
    RoomInviteResponse,
    RoomMessagesResponse,
    RoomPutStateResponse,
    RoomRedactResponse,
    RoomSendResponse,
    SyncResponse,
)


def check(condition, step, detail=""):
    if not condition:
        print(f"FAILED: {step}: {detail}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {step}")


async def new_user(base, prefix):
    name = prefix + uuid.uuid4().hex[:8]
    client = AsyncClient(base, name)
    resp = await client.register(name, "password of " + name)
    check(isinstance(resp, RegisterResponse), f"register {prefix}", resp)
    return client


async def sync_until(client, predicate, step, rounds=10):
    for _ in range(rounds):
        resp = await client.sync(timeout=3000)
        check(isinstance(resp, SyncResponse), f"{step}: sync", resp)
        if predicate(resp):
            return resp
    check(False, step, "never seen in /sync")


async def main(base):
    alice = await new_user(base, "alice")
    bob = await new_user(base, "bob")
    await alice.sync(timeout=0)
    await bob.sync(timeout=0)

    resp = await alice.room_create(name="Plans", topic="first topic", invite=[bob.user_id])
    check(isinstance(resp, RoomCreateResponse), "create room", resp)
    room_id = resp.room_id

    await sync_until(bob, lambda r: room_id in r.rooms.invite, "bob sees the invite")
    resp = await bob.join(room_id)
    check(isinstance(resp, JoinResponse), "bob joins", resp)

    resp = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "hello bob"})
    check(isinstance(resp, RoomSendResponse), "alice sends", resp)
    hello = resp.event_id

    def has_event(r, event_id):
        room = r.rooms.join.get(room_id)
        return room is not None and any(getattr(e, "event_id", None) == event_id for e in room.timeline.events)

    await sync_until(bob, lambda r: has_event(r, hello), "bob receives the message")

    edit = {
        "msgtype": "m.text",
        "body": "* hello bob!",
        "m.new_content": {"msgtype": "m.text", "body": "hello bob!"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": hello},
    }
    resp = await alice.room_send(room_id, "m.room.message", edit)
    check(isinstance(resp, RoomSendResponse), "alice edits", resp)
    edit_id = resp.event_id

    resp = await bob.room_send(room_id, "m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": hello, "key": "👍"}})
    check(isinstance(resp, RoomSendResponse), "bob reacts", resp)
    reaction_id = resp.event_id

    thread_reply = {
        "msgtype": "m.text",
        "body": "in a thread",
        "m.relates_to": {"rel_type": "m.thread", "event_id": hello, "is_falling_back": True, "m.in_reply_to": {"event_id": hello}},
    }
    resp = await bob.room_send(room_id, "m.room.message", thread_reply)
    check(isinstance(resp, RoomSendResponse), "bob replies in a thread", resp)
    thread_id = resp.event_id

    resp = await alice.room_put_state(room_id, "m.room.topic", {"topic": "second topic"})
    check(isinstance(resp, RoomPutStateResponse), "alice sets the topic", resp)
    topic_id = resp.event_id

    resp = await bob.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "oops"})
    oops = resp.event_id
    resp = await bob.room_redact(room_id, oops, reason="typo")
    check(isinstance(resp, RoomRedactResponse), "bob redacts his message", resp)
    redaction_id = resp.event_id

    wanted = {edit_id, reaction_id, thread_id, topic_id, redaction_id}
    seen = set()

    def collect(r):
        room = r.rooms.join.get(room_id)
        if room:
            seen.update(getattr(e, "event_id", None) for e in room.timeline.events)
        return wanted <= seen

    await sync_until(alice, collect, "alice sees edit, reaction, thread reply, topic and redaction")
    room = alice.rooms[room_id]
    check(room.topic == "second topic", "topic in nio's room state", room.topic)
    check(bob.user_id in room.users, "bob in nio's member list", list(room.users))

    resp = await bob.room_messages(room_id, start="", limit=50)
    check(isinstance(resp, RoomMessagesResponse), "bob pages /messages", resp)
    ids = [getattr(e, "event_id", None) for e in resp.chunk]
    check(wanted | {hello} <= set(ids), "every event in /messages", ids)
    redacted = [e for e in resp.chunk if getattr(e, "event_id", None) == oops]
    check(redacted and type(redacted[0]).__name__ == "RedactedEvent", "redacted event comes back redacted", redacted)

    await alice.close()
    await bob.close()


asyncio.run(main(sys.argv[1]))
