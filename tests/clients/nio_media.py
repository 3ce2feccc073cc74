"""An encrypted attachment through matrix-nio: Alice encrypts a file client-side and
uploads the ciphertext; Bob downloads it through the authenticated media API and
decrypts it byte-identical.

Usage: python nio_media.py BASE_URL
"""
import asyncio
import io
import os
import sys
import uuid

from nio import AsyncClient, DownloadResponse, RegisterResponse, RoomCreateResponse, UploadResponse
from nio.crypto.attachments import decrypt_attachment


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


async def main(base):
    alice = await new_user(base, "alice")
    bob = await new_user(base, "bob")
    original = os.urandom(200_000)

    resp, keys = await alice.upload(
        lambda *_: io.BytesIO(original), content_type="application/pdf",
        filename="report.pdf", encrypt=True, filesize=len(original),
    )
    check(isinstance(resp, UploadResponse), "encrypted upload", resp)
    check(keys is not None and "key" in keys, "client-side encryption keys", keys)
    mxc = resp.content_uri

    created = await alice.room_create(invite=[bob.user_id])
    check(isinstance(created, RoomCreateResponse), "create room", created)
    await bob.join(created.room_id)
    content = {"msgtype": "m.file", "body": "report.pdf", "file": {"url": mxc, **keys}}
    await alice.room_send(created.room_id, "m.room.message", content)

    resp = await bob.download(mxc)
    check(isinstance(resp, DownloadResponse), "bob downloads through the authenticated media API", resp)
    check(resp.body != original, "the server only ever held ciphertext")
    plaintext = decrypt_attachment(resp.body, keys["key"]["k"], keys["hashes"]["sha256"], keys["iv"])
    check(plaintext == original, "bob decrypts it byte-identical", len(plaintext))

    await alice.close()
    await bob.close()


asyncio.run(main(sys.argv[1]))
