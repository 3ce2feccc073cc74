//! Synapse's admin API on accounts: deactivation leaving rooms, erasure (and what
//! later joiners then see), reactivation, and third-party identifiers.

use serde_json::json;

use crate::admin_api::admin;
use crate::common::*;

#[tokio::test]
async fn deactivation_leaves_rooms_records_erase_and_reactivation_needs_a_password() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let client = server.client();
    let (alice, bob, public) = client.alice_and_bob_in_a_public_room().await;
    let invited_to = alice.create_room(json!({})).await;
    let (status, _) = alice
        .client
        .post(
            &format!("/_matrix/client/v3/rooms/{}/invite", enc(&invited_to)),
            json!({"user_id": bob.user_id}),
        )
        .await;
    assert_eq!(status, 200);
    let deactivate = |body: &'static [u8]| {
        let (c, path) = (
            root.client.clone(),
            format!("/_synapse/admin/v1/deactivate/{}", enc(&bob.user_id)),
        );
        async move { c.raw(reqwest::Method::POST, &path, body).await }
    };
    assert_error(&deactivate(br#"{"erase": "yes"}"#).await, 400, "M_BAD_JSON");
    assert_error(&deactivate(b"{nope").await, 400, "M_NOT_JSON");
    let (status, body) = deactivate(br#"{"erase": true}"#).await;
    assert_eq!(status, 200, "{body}");

    // Bob left the room he was in and declined the invite.
    let membership = |room: &str| {
        let (c, path) = (
            alice.client.clone(),
            format!(
                "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
                enc(room),
                enc(&bob.user_id)
            ),
        );
        async move { c.get(&path).await.1["membership"].clone() }
    };
    assert_eq!(membership(&public).await, "leave");
    assert_eq!(membership(&invited_to).await, "leave");
    let user_path = format!("/_synapse/admin/v2/users/{}", enc(&bob.user_id));
    let (_, info) = root.client.get(&user_path).await;
    assert_eq!(info["deactivated"], true);
    assert_eq!(info["erased"], true);
    let (_, audit) = root
        .client
        .get("/_citadel/admin/v1/audit?action=admin.user.deactivate")
        .await;
    assert_eq!(audit["entries"][0]["details"]["erase"], true);

    // Coming back needs a new password, and ends the erasure.
    assert_error(
        &root
            .client
            .put(&user_path, json!({"deactivated": false}))
            .await,
        400,
        "M_UNKNOWN",
    );
    assert_ne!(client.login("bob", "pw-bob-1").await.0, 200);
    let (status, info) = root
        .client
        .put(
            &user_path,
            json!({"deactivated": false, "password": "pw-bob-2"}),
        )
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["deactivated"], false);
    assert_eq!(info["erased"], false);
    assert_eq!(client.login("bob", "pw-bob-2").await.0, 200);
}

#[tokio::test]
async fn admins_attach_third_party_ids_one_account_each() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let client = server.client();
    let alice = client.register("alice", "pw-alice-1").await;
    let bob = client.register("bob", "pw-bob-1").await;
    let path = |user: &User| format!("/_synapse/admin/v2/users/{}", enc(&user.user_id));
    let lookup = "/_synapse/admin/v1/threepid/email/users/a%40example.org";
    let (status, info) = root
        .client
        .put(
            &path(&alice),
            json!({"threepids": [
                {"medium": "email", "address": "a@example.org"},
                {"medium": "msisdn", "address": "4412345678"},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{info}");
    let threepids = info["threepids"].as_array().unwrap();
    assert_eq!(threepids.len(), 2, "{info}");
    assert_eq!(threepids[0]["medium"], "email");
    assert_eq!(threepids[0]["address"], "a@example.org");
    assert!(threepids[0]["added_at"].as_u64().unwrap() > 0);
    assert!(threepids[0]["validated_at"].as_u64().unwrap() > 0);
    assert_eq!(
        root.client.get(lookup).await,
        (reqwest::StatusCode::OK, json!({"user_id": alice.user_id}))
    );
    let (_, mine) = alice.client.get("/_matrix/client/v3/account/3pid").await;
    assert_eq!(mine["threepids"].as_array().unwrap().len(), 2, "{mine}");

    // One account each; malformed entries are refused as a whole.
    let taken = root
        .client
        .put(
            &path(&bob),
            json!({"threepids": [{"medium": "email", "address": "a@example.org"}]}),
        )
        .await;
    assert_error(&taken, 400, "M_THREEPID_IN_USE");
    let missing = root
        .client
        .put(&path(&alice), json!({"threepids": [{"medium": "email"}]}))
        .await;
    assert_error(&missing, 400, "M_MISSING_PARAM");
    let (_, unchanged) = root.client.get(&path(&alice)).await;
    assert_eq!(unchanged["threepids"].as_array().unwrap().len(), 2);

    // Released, the address can go to bob; his deactivation releases it again.
    let (status, info) = root
        .client
        .put(
            &path(&alice),
            json!({"threepids": [{"medium": "msisdn", "address": "4412345678"}]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(info["threepids"].as_array().unwrap().len(), 1);
    let (status, _) = root
        .client
        .put(
            &path(&bob),
            json!({"threepids": [{"medium": "email", "address": "a@example.org"}]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(root.client.get(lookup).await.1["user_id"], bob.user_id);
    let (status, _) = root
        .client
        .post(
            &format!("/_synapse/admin/v1/deactivate/{}", enc(&bob.user_id)),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    assert_error(&root.client.get(lookup).await, 404, "M_NOT_FOUND");
    assert_error(&alice.client.get(lookup).await, 403, "M_FORBIDDEN");
}

#[tokio::test]
async fn an_erased_users_messages_are_pruned_for_those_who_join_later() {
    let server = TestServer::spawn();
    let root = admin(&server).await;
    let client = server.client();
    let (alice, bob, room) = client.alice_and_bob_in_a_public_room().await;
    let said = bob.send_text(&room, "words to forget").await;
    let (status, _) = root
        .client
        .post(
            &format!("/_synapse/admin/v1/deactivate/{}", enc(&bob.user_id)),
            json!({"erase": true}),
        )
        .await;
    assert_eq!(status, 200);
    let carol = client.register("carol", "pw-carol-1").await;
    assert_eq!(carol.join(&room).await.0, 200);

    let body_seen_by = |user: &User| {
        let (c, messages, event) = (
            user.client.clone(),
            format!(
                "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50",
                enc(&room)
            ),
            format!(
                "/_matrix/client/v3/rooms/{}/event/{}",
                enc(&room),
                enc(&said)
            ),
        );
        let said = said.clone();
        async move {
            let (_, page) = c.get(&messages).await;
            let listed = page["chunk"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["event_id"] == said.as_str())
                .cloned()
                .unwrap_or_else(|| panic!("{said} not listed: {page}"));
            let (status, single) = c.get(&event).await;
            assert_eq!(status, 200, "{single}");
            assert_eq!(listed["content"], single["content"]);
            listed["content"].clone()
        }
    };
    // Alice was there: she keeps what she saw. Carol came later: the content is gone.
    assert_eq!(body_seen_by(&alice).await["body"], "words to forget");
    assert_eq!(body_seen_by(&carol).await, json!({}));
    let (_, sync) = carol
        .client
        .get("/_matrix/client/v3/sync?filter=%7B%22room%22%3A%7B%22timeline%22%3A%7B%22limit%22%3A50%7D%7D%7D")
        .await;
    let timeline = sync["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .unwrap();
    let in_sync = timeline
        .iter()
        .find(|e| e["event_id"] == said.as_str())
        .unwrap_or_else(|| panic!("not in carol's sync: {sync}"));
    assert_eq!(in_sync["content"], json!({}), "{in_sync}");
}
