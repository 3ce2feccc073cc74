// Account lifecycle through matrix-js-sdk, used as a normal client would: registration
// with user-interactive auth, refresh tokens (the SDK refreshes by itself when the
// server soft-logs the access token out), devices, profile, logout.
//
// Usage: node js_sdk_accounts.mjs BASE_URL   (the server's refreshable access tokens
// must expire within a second or two, so the automatic refresh is exercised).
import { createClient } from "matrix-js-sdk";
import { check, sleep } from "./harness.mjs";

const base = process.argv[2];

const name = "js" + Math.random().toString(36).slice(2, 10);
const password = "a long enough password";
const anonymous = createClient({ baseUrl: base });

check(await anonymous.isUsernameAvailable(name), "username available");

let challenge;
try {
    await anonymous.registerRequest({ username: name, password });
} catch (e) {
    challenge = e.data;
}
check(challenge?.flows?.[0]?.stages?.[0] === "m.login.dummy", "registration challenge", challenge);
const registered = await anonymous.registerRequest({
    username: name,
    password,
    initial_device_display_name: "js-sdk",
    refresh_token: true,
    auth: { type: "m.login.dummy", session: challenge.session },
});
check(registered.user_id === `@${name}:localhost`, "registered", registered);
check(typeof registered.refresh_token === "string" && registered.expires_in_ms > 0, "refresh token issued", registered);

let refreshes = 0;
const client = createClient({
    baseUrl: base,
    userId: registered.user_id,
    deviceId: registered.device_id,
    accessToken: registered.access_token,
    refreshToken: registered.refresh_token,
    tokenRefreshFunction: async (refreshToken) => {
        refreshes += 1;
        const r = await anonymous.refreshToken(refreshToken);
        return {
            accessToken: r.access_token,
            refreshToken: r.refresh_token,
            expiry: new Date(Date.now() + r.expires_in_ms),
        };
    },
});

let me = await client.whoami();
check(me.user_id === registered.user_id && me.device_id === registered.device_id, "whoami", me);

await sleep(registered.expires_in_ms + 300);
me = await client.whoami();
check(refreshes >= 1, "expired token refreshed automatically", { refreshes });
check(me.device_id === registered.device_id, "same device after refresh", me);
check(client.getAccessToken() !== registered.access_token, "new access token in use");

const caps = await client.getCapabilities();
check(caps["m.change_password"]?.enabled === true, "capabilities", caps);

await client.setDeviceDetails(registered.device_id, { display_name: "renamed by js-sdk" });
const { devices } = await client.getDevices();
check(devices.length === 1 && devices[0].display_name === "renamed by js-sdk", "rename device", devices);

await client.setDisplayName("JS User");
const profile = await anonymous.getProfileInfo(registered.user_id);
check(profile.displayname === "JS User", "profile", profile);

const login = await anonymous.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: name },
    password,
});
check(login.user_id === registered.user_id && login.device_id !== registered.device_id, "password login", login);

await client.logout();
try {
    await createClient({ baseUrl: base, accessToken: client.getAccessToken() }).whoami();
    check(false, "token dead after logout");
} catch (e) {
    check(e.errcode === "M_UNKNOWN_TOKEN", "token dead after logout", e.errcode);
}
process.exit(0);
