"""Account lifecycle through matrix-nio, used exactly as a normal client would.

Usage: python nio_accounts.py BASE_URL
Exits non-zero (with the failing step) if any step does not behave as the spec says.
"""
import asyncio
import sys
import uuid

from nio import (
    AsyncClient,
    DeleteDevicesAuthResponse,
    DeleteDevicesResponse,
    DevicesResponse,
    LoginError,
    LoginResponse,
    LogoutResponse,
    ProfileGetDisplayNameResponse,
    ProfileSetDisplayNameResponse,
    RegisterResponse,
    UpdateDeviceResponse,
    WhoamiError,
    WhoamiResponse,
)


def check(condition, step, detail=""):
    if not condition:
        print(f"FAILED: {step}: {detail}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {step}")


async def main(base):
    name = "nio" + uuid.uuid4().hex[:8]
    password = "correct horse battery staple"
    user_id = f"@{name}:localhost"

    first = AsyncClient(base, name)
    resp = await first.register(name, password, device_name="nio laptop")
    check(isinstance(resp, RegisterResponse), "register (dummy auth)", resp)
    check(resp.user_id == user_id, "registered user id", resp.user_id)
    laptop = resp.device_id

    resp = await first.whoami()
    check(isinstance(resp, WhoamiResponse) and resp.user_id == user_id, "whoami", resp)
    check(resp.device_id == laptop, "whoami device", resp.device_id)

    second = AsyncClient(base, user_id)
    resp = await second.login(password, device_name="nio phone")
    check(isinstance(resp, LoginResponse), "login with password", resp)
    phone = resp.device_id

    bad = AsyncClient(base, user_id)
    resp = await bad.login("wrong password")
    check(isinstance(resp, LoginError) and resp.status_code == "M_FORBIDDEN", "wrong password refused", resp)
    await bad.close()

    resp = await first.devices()
    check(isinstance(resp, DevicesResponse), "list devices", resp)
    names = {d.id: d.display_name for d in resp.devices}
    check(names == {laptop: "nio laptop", phone: "nio phone"}, "device names", names)

    resp = await first.update_device(phone, {"display_name": "renamed phone"})
    check(isinstance(resp, UpdateDeviceResponse), "rename device", resp)
    resp = await second.devices()
    names = {d.id: d.display_name for d in resp.devices}
    check(names[phone] == "renamed phone", "rename visible to the other device", names)

    resp = await first.set_displayname("Nio User")
    check(isinstance(resp, ProfileSetDisplayNameResponse), "set display name", resp)
    resp = await second.get_displayname()
    check(isinstance(resp, ProfileGetDisplayNameResponse) and resp.displayname == "Nio User", "get display name", resp)

    # Deleting a device takes user-interactive auth: first the challenge, then the password.
    resp = await first.delete_devices([phone])
    check(isinstance(resp, DeleteDevicesAuthResponse), "delete device asks for auth", resp)
    auth = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user_id},
        "password": password,
        "session": resp.session,
    }
    resp = await first.delete_devices([phone], auth)
    check(isinstance(resp, DeleteDevicesResponse), "delete device with password", resp)
    resp = await second.whoami()
    check(isinstance(resp, WhoamiError), "deleted device's token is dead", resp)

    resp = await first.logout()
    check(isinstance(resp, LogoutResponse), "logout", resp)
    resp = await first.whoami()
    check(isinstance(resp, WhoamiError), "token dead after logout", resp)

    await first.close()
    await second.close()


asyncio.run(main(sys.argv[1]))
