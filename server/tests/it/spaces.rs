//! Spaces: the client's `/hierarchy` walk (order, visibility, pages, depth, suggested
//! children) and the admin API's walk, which sees every room.

use serde_json::{Value, json};

use crate::admin_api::admin;
use crate::common::*;

/// The room IDs of a hierarchy page, in order.
fn ids(page: &Value) -> Vec<String> {
    page["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn add_child(owner: &User, space: &str, child: &str, content: Value) {
    let (status, body) = owner
        .client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{}/state/m.space.child/{}",
                enc(space),
                enc(child)
            ),
            content,
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_space_tree_is_walked_in_order_with_visibility_pages_and_depth() {
    let server = TestServer::spawn();
    let alice = server.client().register("alice", "pw-alice-1").await;
    let bob = server.client().register("bob", "pw-bob-1").await;
    let space_of = |name: &str| json!({"preset": "public_chat", "name": name, "creation_content": {"type": "m.space"}});
    let space = alice.create_room(space_of("Space")).await;
    let public = alice
        .create_room(json!({"preset": "public_chat", "name": "Public", "topic": "open"}))
        .await;
    let private = alice
        .create_room(json!({"preset": "private_chat", "name": "Private"}))
        .await;
    let members_only = alice
        .create_room(json!({"preset": "private_chat", "name": "Members",
            "initial_state": [{"type": "m.room.join_rules", "state_key": "", "content":
                {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": space}]}}]}))
        .await;
    let subspace = alice.create_room(space_of("Subspace")).await;
    let deep = alice
        .create_room(json!({"preset": "public_chat", "name": "Deep"}))
        .await;
    let removed = alice
        .create_room(json!({"preset": "public_chat", "name": "Removed"}))
        .await;
    let via = json!(["localhost"]);
    add_child(
        &alice,
        &space,
        &public,
        json!({"via": via, "order": "b", "suggested": true}),
    )
    .await;
    add_child(
        &alice,
        &space,
        &members_only,
        json!({"via": via, "order": "a"}),
    )
    .await;
    add_child(&alice, &space, &private, json!({"via": via})).await;
    add_child(&alice, &space, &subspace, json!({"via": via})).await;
    add_child(&alice, &space, &removed, json!({})).await;
    add_child(&alice, &subspace, &deep, json!({"via": via})).await;
    let hierarchy = |who: &User, room: &str, query: &str| {
        let (client, path) = (
            who.client.clone(),
            format!("/_matrix/client/v1/rooms/{}/hierarchy{query}", enc(room)),
        );
        async move { client.get(&path).await }
    };

    // Alice sees every room with a valid `via`: ordered ones first, then by time.
    let (status, all) = hierarchy(&alice, &space, "").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        ids(&all),
        [
            space.as_str(),
            members_only.as_str(),
            public.as_str(),
            private.as_str(),
            subspace.as_str(),
            deep.as_str()
        ]
    );
    assert!(all.get("next_batch").is_none(), "{all}");
    let root = &all["rooms"][0];
    assert_eq!(root["name"], "Space");
    assert_eq!(root["room_type"], "m.space");
    assert_eq!(root["num_joined_members"], 1);
    assert_eq!(root["world_readable"], false);
    assert_eq!(root["guest_can_join"], false);
    let children = root["children_state"].as_array().unwrap();
    assert_eq!(children.len(), 4, "the removed child is not listed: {root}");
    assert_eq!(children[0]["type"], "m.space.child");
    assert_eq!(children[0]["state_key"], members_only);
    assert_eq!(children[0]["sender"], alice.user_id);
    assert_eq!(children[0]["content"], json!({"via": via, "order": "a"}));
    assert!(children[0]["origin_server_ts"].as_u64().unwrap() > 0);
    let open = &all["rooms"][2];
    assert_eq!(open["topic"], "open");
    assert_eq!(open["children_state"], json!([]), "not a space");
    assert!(
        open["room_version"].as_str().is_some_and(|v| !v.is_empty()),
        "{open}"
    );
    assert_eq!(all["rooms"][1]["join_rule"], "restricted");
    assert_eq!(all["rooms"][1]["allowed_room_ids"], json!([space]));

    // Bob, in none of them, sees the public rooms; joining the space shows him the
    // room restricted to its members.
    let (_, outside) = hierarchy(&bob, &space, "").await;
    assert_eq!(
        ids(&outside),
        [
            space.as_str(),
            public.as_str(),
            subspace.as_str(),
            deep.as_str()
        ]
    );
    assert_eq!(bob.join(&space).await.0, 200);
    let (_, inside) = hierarchy(&bob, &space, "").await;
    assert_eq!(
        ids(&inside),
        [
            space.as_str(),
            members_only.as_str(),
            public.as_str(),
            subspace.as_str(),
            deep.as_str()
        ]
    );
    assert_error(&hierarchy(&bob, &private, "").await, 403, "M_FORBIDDEN");
    assert_error(
        &hierarchy(&bob, "!unknown:localhost", "").await,
        403,
        "M_FORBIDDEN",
    );

    // Pages of two; the token holds the parameters it was made with.
    let (_, first) = hierarchy(&alice, &space, "?limit=2").await;
    assert_eq!(ids(&first), [space.as_str(), members_only.as_str()]);
    let token = first["next_batch"].as_str().unwrap().to_owned();
    let (_, second) = hierarchy(&alice, &space, &format!("?limit=2&from={}", enc(&token))).await;
    assert_eq!(ids(&second), [public.as_str(), private.as_str()]);
    let token = second["next_batch"].as_str().unwrap().to_owned();
    let (_, third) = hierarchy(&alice, &space, &format!("?limit=2&from={}", enc(&token))).await;
    assert_eq!(ids(&third), [subspace.as_str(), deep.as_str()]);
    assert!(third.get("next_batch").is_none(), "{third}");
    assert_error(
        &hierarchy(
            &alice,
            &space,
            &format!("?max_depth=1&from={}", enc(&token)),
        )
        .await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &hierarchy(&alice, &space, "?from=nonsense").await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(
        &hierarchy(&alice, &space, "?limit=0").await,
        400,
        "M_INVALID_PARAM",
    );

    // Depth and suggested children.
    let (_, shallow) = hierarchy(&alice, &space, "?max_depth=0").await;
    assert_eq!(ids(&shallow), [space.as_str()]);
    let (_, one_level) = hierarchy(&alice, &space, "?max_depth=1").await;
    assert_eq!(
        ids(&one_level),
        [
            space.as_str(),
            members_only.as_str(),
            public.as_str(),
            private.as_str(),
            subspace.as_str()
        ]
    );
    let (_, suggested) = hierarchy(&alice, &space, "?suggested_only=true").await;
    assert_eq!(ids(&suggested), [space.as_str(), public.as_str()]);

    // The admin API walks every room whatever the admin's membership, with Synapse's
    // shape (the join rule always present).
    let root_admin = admin(&server).await;
    let admin_path = format!("/_synapse/admin/v1/rooms/{}/hierarchy", enc(&space));
    let (status, seen) = root_admin.client.get(&admin_path).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(
        ids(&seen),
        [
            space.as_str(),
            members_only.as_str(),
            public.as_str(),
            private.as_str(),
            subspace.as_str(),
            deep.as_str()
        ]
    );
    assert_eq!(seen["rooms"][2]["join_rule"], "public");
    let (_, limited) = root_admin
        .client
        .get(&format!("{admin_path}?limit=1&max_depth=1"))
        .await;
    assert_eq!(ids(&limited), [space.as_str()]);
    assert!(limited["next_batch"].is_string());
    let (_, unknown) = root_admin
        .client
        .get("/_synapse/admin/v1/rooms/!unknown:localhost/hierarchy")
        .await;
    assert_eq!(unknown, json!({"rooms": []}));
    assert_error(
        &root_admin
            .client
            .get("/_synapse/admin/v1/rooms/not-a-room/hierarchy")
            .await,
        400,
        "M_INVALID_PARAM",
    );
    assert_error(&bob.client.get(&admin_path).await, 403, "M_FORBIDDEN");
}
