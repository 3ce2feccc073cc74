//! Synapse's admin API: authorization on every route, the user endpoints' shapes,
//! pagination and filters, and their errors.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

/// Creates `root` and makes it a server admin through `citadel admin`'s actions
/// (`create-user`, then `set-admin`), and logs it in.
pub async fn admin(server: &TestServer) -> User {
    for action in [
        citadel::admin::Action::CreateUser {
            username: "root".into(),
            password: "pw-root-1".into(),
            admin: false,
        },
        citadel::admin::Action::SetAdmin {
            username: "root".into(),
            admin: true,
        },
    ] {
        let (status, body) = admin_action(server, action).await;
        assert_eq!(status, 200, "{body}");
    }
    let client = server.client();
    let (status, login) = client.login("root", "pw-root-1").await;
    assert_eq!(status, 200, "{login}");
    User {
        user_id: login["user_id"].as_str().unwrap().to_owned(),
        device_id: login["device_id"].as_str().unwrap().to_owned(),
        password: "pw-root-1".into(),
        client: client.with_token(login["access_token"].as_str().unwrap()),
    }
}

/// Admin paths that do not take an admin's token, on purpose: shared-secret
/// registration and the CLI's channel (authenticated by the shared secret), Synapse's
/// public server version, and the panel's static files (which hold no data).
const NOT_ADMIN_AUTHENTICATED: &[&str] = &[
    "/_synapse/admin/v1/register",
    "/_synapse/admin/v1/server_version",
    "/_citadel/admin/v1/cli",
    "/_citadel/admin",
    "/_citadel/admin/",
    "/_citadel/admin/assets/{hash}/{path:.*}",
];

/// Every admin route the server serves (from its own route table, so a route added
/// later is walked too), with its path arguments filled in: `user` for users, a room
/// ID for rooms, `x` for anything else.
fn routes(user: &str) -> Vec<(Method, String, Option<Value>)> {
    let routes: Vec<_> = citadel::api::route_table()
        .into_iter()
        .filter(|(_, path)| {
            citadel::api::is_admin_path(path) && !NOT_ADMIN_AUTHENTICATED.contains(&path.as_str())
        })
        .map(|(method, pattern)| {
            let path: Vec<String> = pattern
                .split('/')
                .map(|segment| match segment.strip_prefix('{') {
                    Some(name) if name.starts_with("user_id") => enc(user),
                    Some(name) if name.starts_with("room_id") => enc("!r:localhost"),
                    Some(_) => "x".to_owned(),
                    None => segment.to_owned(),
                })
                .collect();
            let method = Method::from_bytes(method.as_str().as_bytes()).unwrap();
            let body = (method != Method::GET).then(|| json!({}));
            (method, path.join("/"), body)
        })
        .collect();
    // The table is real: it holds the routes this file's other tests exercise.
    assert!(routes.len() > 70, "only {} admin routes", routes.len());
    routes
}

#[tokio::test]
async fn every_admin_route_refuses_non_admins_and_anonymous_callers() {
    let server = TestServer::spawn();
    let client = server.client();
    let root = admin(&server).await;
    let mallory = client.register("mallory", "pw-mallory-1").await;
    // Paths name another user: whois of oneself is open to everyone (the spec's
    // client whois), so it would not be an admin-only call.
    for (method, path, body) in routes(&root.user_id) {
        let response = mallory
            .client
            .request(method.clone(), &path, body.clone())
            .await;
        assert_eq!(
            (response.0.as_u16(), response.1["errcode"].as_str()),
            (403, Some("M_FORBIDDEN")),
            "{method} {path}: {}",
            response.1
        );
        let response = client.request(method.clone(), &path, body.clone()).await;
        assert_error(&response, 401, "M_MISSING_TOKEN");
        let response = client
            .with_token("not-a-token")
            .request(method, &path, body)
            .await;
        assert_error(&response, 401, "M_UNKNOWN_TOKEN");
    }
    // Nothing changed: mallory is still a plain, active user with her name.
    let (_, me) = mallory
        .client
        .get(&format!(
            "/_matrix/client/v3/profile/{}/displayname",
            enc(&mallory.user_id)
        ))
        .await;
    assert_eq!(me["displayname"], "mallory");
    // The version is public, as in Synapse.
    let (status, version) = client.get("/_synapse/admin/v1/server_version").await;
    assert_eq!(status, 200);
    assert!(
        version["server_version"]
            .as_str()
            .unwrap()
            .starts_with("Citadel ")
    );
}

#[tokio::test]
async fn admins_list_create_modify_and_deactivate_users() {
    let server = TestServer::spawn();
    let client = server.client();
    let root = admin(&server).await;
    for name in ["alice", "bob", "carol"] {
        client.register(name, &format!("pw-{name}-1")).await;
    }
    // Create: 201 with the user's description.
    let dave = format!("@dave:{}", "localhost");
    let (status, created) = root
        .client
        .put(
            &format!("/_synapse/admin/v2/users/{}", enc(&dave)),
            json!({"password": "pw-dave-1", "displayname": "Dave D.", "admin": false}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], dave);
    assert_eq!(created["displayname"], "Dave D.");
    assert_eq!(created["admin"], false);
    assert_eq!(created["deactivated"], false);
    // In seconds for one user, as Synapse answers (its lists use milliseconds).
    let created_s = created["creation_ts"].as_u64().unwrap();
    assert!(
        (1_600_000_000..100_000_000_000).contains(&created_s),
        "{created}"
    );
    assert_eq!(client.login("dave", "pw-dave-1").await.0, 200);
    // Modify: 200; a new password logs the old devices out.
    let (_, login) = client.login("dave", "pw-dave-1").await;
    let dave_client = client.with_token(login["access_token"].as_str().unwrap());
    let (status, changed) = root
        .client
        .put(
            &format!("/_synapse/admin/v2/users/{}", enc(&dave)),
            json!({"password": "pw-dave-2", "displayname": ""}),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["displayname"], Value::Null);
    assert_error(
        &dave_client.get("/_matrix/client/v3/account/whoami").await,
        401,
        "M_UNKNOWN_TOKEN",
    );
    assert_eq!(client.login("dave", "pw-dave-2").await.0, 200);

    // List: ordered by name, paginated with next_token, filtered.
    let (status, page) = root.client.get("/_synapse/admin/v2/users?limit=2").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 5);
    // Lists give milliseconds.
    assert!(page["users"][0]["creation_ts"].as_u64().unwrap() > 1_600_000_000_000);
    let names: Vec<&str> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["@alice:localhost", "@bob:localhost"]);
    assert_eq!(page["next_token"], "2");
    let (_, last) = root
        .client
        .get("/_synapse/admin/v2/users?from=4&limit=2")
        .await;
    assert_eq!(last["users"].as_array().unwrap().len(), 1);
    assert!(last.get("next_token").is_none(), "{last}");
    let (_, found) = root.client.get("/_synapse/admin/v2/users?name=CAR").await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["users"][0]["name"], "@carol:localhost");
    let (_, admins) = root
        .client
        .get("/_synapse/admin/v2/users?admins=true")
        .await;
    assert_eq!(admins["users"][0]["name"], "@root:localhost");
    assert_eq!(admins["total"], 1);
    let (_, backwards) = root
        .client
        .get("/_synapse/admin/v2/users?dir=b&limit=1")
        .await;
    assert_eq!(backwards["users"][0]["name"], "@root:localhost");

    // Deactivate: the user can no longer log in, and lists hide them unless asked.
    let (status, body) = root
        .client
        .post(
            &format!("/_synapse/admin/v1/deactivate/{}", enc("@bob:localhost")),
            json!({"erase": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(client.login("bob", "pw-bob-1").await.0, 200);
    let (_, v2) = root.client.get("/_synapse/admin/v2/users").await;
    assert_eq!(v2["total"], 4);
    let (_, v2_all) = root
        .client
        .get("/_synapse/admin/v2/users?deactivated=true")
        .await;
    assert_eq!(v2_all["total"], 5);
    let (_, v3_only) = root
        .client
        .get("/_synapse/admin/v3/users?deactivated=true")
        .await;
    assert_eq!(v3_only["total"], 1);
    assert_eq!(v3_only["users"][0]["deactivated"], true);

    // The admin flag, and whois at both paths.
    let alice = "@alice:localhost";
    let path = format!("/_synapse/admin/v1/users/{}/admin", enc(alice));
    assert_eq!(root.client.get(&path).await.1, json!({"admin": false}));
    assert_eq!(root.client.put(&path, json!({"admin": true})).await.0, 200);
    assert_eq!(root.client.get(&path).await.1, json!({"admin": true}));
    for whois in [
        format!("/_synapse/admin/v1/whois/{}", enc(&root.user_id)),
        format!("/_matrix/client/v3/admin/whois/{}", enc(&root.user_id)),
    ] {
        let (status, body) = root.client.get(&whois).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user_id"], root.user_id);
        let sessions = &body["devices"][&root.device_id]["sessions"][0]["connections"];
        assert_eq!(sessions[0]["ip"], "127.0.0.1", "{body}");
    }
}

#[tokio::test]
async fn admin_user_endpoints_answer_bad_input_as_synapse_does() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let c = &root.client;
    assert_error(
        &c.get(&format!(
            "/_synapse/admin/v2/users/{}",
            enc("@nobody:localhost")
        ))
        .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.get(&format!(
            "/_synapse/admin/v2/users/{}",
            enc("@x:elsewhere.org")
        ))
        .await,
        400,
        "M_UNKNOWN",
    );
    assert_error(
        &c.get(&format!("/_synapse/admin/v2/users/{}", enc("not-a-user")))
            .await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &c.get("/_synapse/admin/v2/users?deactivated=maybe").await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &c.get("/_synapse/admin/v2/users?limit=-1").await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &c.get("/_synapse/admin/v2/users?order_by=shoe_size").await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &c.get("/_synapse/admin/v2/users?dir=sideways").await,
        400,
        "M_INVALID_PARAM",
    );
    let put = format!("/_synapse/admin/v2/users/{}", enc("@eve:localhost"));
    assert_error(&c.raw(Method::PUT, &put, b"{oops").await, 400, "M_NOT_JSON");
    assert_error(
        &c.put(&put, json!({"admin": "yes"})).await,
        400,
        "M_BAD_JSON",
    );
    assert_error(
        &c.put(&put, json!({"user_type": "wizard"})).await,
        400,
        "M_UNKNOWN",
    );
    // Nobody was created by the refused requests.
    assert_error(&c.get(&put).await, 404, "M_NOT_FOUND");
    // An admin cannot demote themselves.
    let own = format!("/_synapse/admin/v1/users/{}/admin", enc(&root.user_id));
    assert_error(
        &c.put(&own, json!({"admin": false})).await,
        400,
        "M_UNKNOWN",
    );
    assert_error(&c.put(&own, json!({})).await, 400, "M_MISSING_PARAM");
    assert_error(
        &c.post(
            &format!("/_synapse/admin/v1/deactivate/{}", enc("@nobody:localhost")),
            json!({}),
        )
        .await,
        404,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn admins_manage_registration_tokens() {
    let server = TestServer::spawn_with(|c| {
        c.registration.mode = citadel::config::RegistrationMode::Token;
    });
    let root = admin(&server).await;
    let c = &root.client;
    const BASE: &str = "/_synapse/admin/v1/registration_tokens";
    let (status, random) = c.post(&format!("{BASE}/new"), json!({})).await;
    assert_eq!(status, 200, "{random}");
    assert_eq!(random["token"].as_str().unwrap().len(), 16);
    assert_eq!(random["uses_allowed"], Value::Null);
    assert_eq!(random["pending"], 0);
    assert_eq!(random["completed"], 0);
    assert_eq!(random["expiry_time"], Value::Null);
    let (status, short) = c
        .post(
            &format!("{BASE}/new"),
            json!({"length": 5, "uses_allowed": 1}),
        )
        .await;
    assert_eq!(status, 200, "{short}");
    assert_eq!(short["token"].as_str().unwrap().len(), 5);
    let (status, named) = c
        .post(
            &format!("{BASE}/new"),
            json!({"token": "defg", "uses_allowed": 1}),
        )
        .await;
    assert_eq!(status, 200, "{named}");
    assert_eq!(
        named,
        json!({"token": "defg", "uses_allowed": 1, "pending": 0, "completed": 0, "expiry_time": null})
    );
    // Used once, it is no longer valid.
    let (status, body) = server
        .client()
        .post(
            "/_matrix/client/v3/register",
            json!({"username": "newbie", "password": "pw-newbie-1",
                   "auth": {"type": "m.login.registration_token", "token": "defg"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, got) = c.get(&format!("{BASE}/defg")).await;
    assert_eq!(got["completed"], 1);
    let (_, invalid) = c.get(&format!("{BASE}?valid=false")).await;
    let names: Vec<&str> = invalid["registration_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["defg"]);
    let (_, all) = c.get(BASE).await;
    assert_eq!(all["registration_tokens"].as_array().unwrap().len(), 3);
    // Update: more uses makes it valid again; null clears; omitted fields stay.
    let (status, updated) = c
        .put(&format!("{BASE}/defg"), json!({"uses_allowed": 5}))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["uses_allowed"], 5);
    let (_, updated) = c
        .put(
            &format!("{BASE}/defg"),
            json!({"expiry_time": 4781243146000u64}),
        )
        .await;
    assert_eq!(updated["uses_allowed"], 5);
    assert_eq!(updated["expiry_time"], 4781243146000u64);
    let (_, updated) = c
        .put(&format!("{BASE}/defg"), json!({"uses_allowed": null}))
        .await;
    assert_eq!(updated["uses_allowed"], Value::Null);
    // Delete, then it is gone.
    assert_eq!(
        c.delete(&format!("{BASE}/defg"), json!({})).await,
        (reqwest::StatusCode::OK, json!({}))
    );
    assert_error(&c.get(&format!("{BASE}/defg")).await, 404, "M_NOT_FOUND");
    assert_error(
        &c.delete(&format!("{BASE}/defg"), json!({})).await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.put(&format!("{BASE}/nope"), json!({"uses_allowed": 1}))
            .await,
        404,
        "M_NOT_FOUND",
    );
    // Bad input.
    for body in [
        json!({"token": "has space"}),
        json!({"token": "x".repeat(65)}),
        json!({"length": 0}),
        json!({"length": 65}),
        json!({"uses_allowed": -1}),
        json!({"uses_allowed": "three"}),
        json!({"expiry_time": 1000}),
    ] {
        assert_error(
            &c.post(&format!("{BASE}/new"), body).await,
            400,
            "M_INVALID_PARAM",
        );
    }
    assert_eq!(
        c.post(&format!("{BASE}/new"), json!({"token": "dup"}))
            .await
            .0,
        200
    );
    assert_error(
        &c.post(&format!("{BASE}/new"), json!({"token": "dup"}))
            .await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &c.post(&format!("{BASE}/new"), json!([])).await,
        400,
        "M_BAD_JSON",
    );
    assert_error(
        &c.get(&format!("{BASE}?valid=perhaps")).await,
        400,
        "M_INVALID_PARAM",
    );
}

#[tokio::test]
async fn admin_apis_can_be_kept_to_their_own_listener() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin_bind = format!("127.0.0.1:{port}");
    let server = TestServer::spawn_with(|c| c.http.admin_bind = vec![admin_bind.clone()]);
    let public = server.client();
    let private = TestClient {
        base: format!("http://{admin_bind}"),
        ..server.client()
    };
    // The CLI channel is an admin API too: reachable on the admin listener only.
    assert_error(
        &public.get("/_citadel/admin/v1/cli").await,
        404,
        "M_UNRECOGNIZED",
    );
    assert_eq!(private.get("/_citadel/admin/v1/cli").await.0, 200);

    let root = public.register("root", "pw-root-1").await;
    let action = citadel::admin::Action::SetAdmin {
        username: "root".into(),
        admin: true,
    };
    assert_eq!(admin_action_via(&private, action).await.0, 200);
    let token = root.client.token.clone().unwrap();
    let (public, private) = (public.with_token(&token), private.with_token(&token));
    for path in [
        "/_synapse/admin/v2/users".to_owned(),
        format!("/_matrix/client/v3/admin/whois/{}", enc(&root.user_id)),
        "/_citadel/admin/v1/audit".to_owned(),
    ] {
        assert_error(&public.get(&path).await, 404, "M_UNRECOGNIZED");
        let (status, body) = private.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    // Everything else is served on both.
    assert_eq!(public.get("/_matrix/client/v3/account/whoami").await.0, 200);
    assert_eq!(
        private.get("/_matrix/client/v3/account/whoami").await.0,
        200
    );
}
