//! IDs other servers remember must never repeat: after a server's data directory is
//! reset (a reinstall, or a restore of an older backup) under the same name and signing
//! key, what it sends must still arrive; a failed transaction is retried under its ID.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use citadel_storage::{EngineOptions, Storage};
use serde_json::{Value, json};

use crate::common::*;
use crate::federation::{TestCa, federating_server, federating_server_with, free_port};
use crate::federation_rooms::{join_via, name_of, wait_for_text};

/// Empties a stopped server's data directory as a reinstall would, keeping only its
/// signing key (as an operator who kept the key, or restored it, would).
pub fn reset_keeping_signing_key(data_dir: &Path) {
    let options = EngineOptions {
        cache_bytes: 1 << 20,
    };
    let key = {
        let storage = Storage::open(&data_dir.join("db"), &options).unwrap();
        storage
            .server_keys
            .own_key()
            .unwrap()
            .expect("a signing key")
    };
    std::fs::remove_dir_all(data_dir).unwrap();
    std::fs::create_dir_all(data_dir).unwrap();
    let storage = Storage::open(&data_dir.join("db"), &options).unwrap();
    assert!(storage.server_keys.put_own_key(&key.0, &key.1).unwrap());
    storage.flush_blocking().unwrap();
}

/// Starts a federating server on `dir` under a fixed name (`127.0.0.1:<port>`).
pub fn federating_server_named(
    ca: &TestCa,
    name: &str,
    server_name: &str,
    dir: &Path,
) -> TestServer {
    let server_name = server_name.to_owned();
    federating_server_with(ca, name, Some(dir), move |c| {
        if let Some(tls) = c.tls.as_mut() {
            tls.bind = server_name.clone();
        }
        c.server_name = server_name;
        c.federation.max_retry_interval_secs = 1;
    })
}

/// The scenario of the issue: alice on A talks in a room `other` hosts; A is reset (its
/// data directory emptied, signing key and name kept); a new alice joins again and talks:
/// every message must reach `other`'s user.
pub async fn messages_arrive_after_a_reset(ca: &TestCa, other: &User, other_name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("127.0.0.1:{}", free_port());
    let a = federating_server_named(ca, "a", &name, dir.path());
    let room = other
        .create_room(json!({"preset": "public_chat", "name": "Shared"}))
        .await;
    let alice = a.client().register("alice", "pw-alice-1").await;
    let (status, body) = join_via(&alice, &room, other_name).await;
    assert_eq!(status, 200, "{body}");
    for i in 1..=5 {
        let text = format!("before the reset {i}");
        alice.send_text(&room, &text).await;
        wait_for_text(other, &room, &text).await;
    }
    a.stop();

    reset_keeping_signing_key(dir.path());
    let a = federating_server_named(ca, "a", &name, dir.path());
    let alice = a.client().register("alice", "pw-alice-1").await;
    let (status, body) = join_via(&alice, &room, other_name).await;
    assert_eq!(status, 200, "{body}");
    for i in 1..=5 {
        let text = format!("after the reset {i}");
        alice.send_text(&room, &text).await;
        wait_for_text(other, &room, &text).await;
    }
}

#[tokio::test]
async fn messages_sent_after_a_reset_reach_the_other_server() {
    let ca = TestCa::new();
    let b = federating_server(&ca, "b");
    let bob = b.client().register("bob", "pw-bob-1").await;
    messages_arrive_after_a_reset(&ca, &bob, &name_of(&b)).await;
}

/// A destination that only records the transactions it gets, failing the first
/// `failures` of them with a 500.
struct FakeDestination {
    name: String,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeDestination {
    fn start(ca: &TestCa, failures: usize) -> Self {
        use actix_web::{App, HttpResponse, HttpServer, web};
        let port = free_port();
        let name = format!("127.0.0.1:{port}");
        let (certificate, private_key) = ca.leaf("fake");
        let tls = citadel::tls_config(&citadel::config::TlsConfig {
            bind: name.clone(),
            certificate,
            private_key,
        })
        .unwrap();
        let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let recorded = Arc::clone(&seen);
        let (tx, rx) = std::sync::mpsc::channel();
        let bind = name.clone();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    let recorded = Arc::clone(&recorded);
                    App::new().route(
                        "/_matrix/federation/v1/send/{txn}",
                        web::put().to(move |txn: web::Path<String>, body: web::Json<Value>| {
                            let recorded = Arc::clone(&recorded);
                            async move {
                                let mut seen = recorded.lock().unwrap();
                                seen.push((txn.into_inner(), body.into_inner()));
                                if seen.len() <= failures {
                                    HttpResponse::InternalServerError().finish()
                                } else {
                                    HttpResponse::Ok().json(json!({"pdus": {}}))
                                }
                            }
                        }),
                    )
                })
                .workers(1)
                .bind_rustls_0_23(&bind, tls)
                .unwrap()
                .run();
                tx.send(server.handle()).unwrap();
                server.await.ok();
            })
        });
        let handle = rx.recv().unwrap();
        FakeDestination {
            name,
            seen,
            handle,
            thread: Some(thread),
        }
    }

    /// Waits until `n` transactions have arrived and returns them.
    async fn transactions(&self, n: usize) -> Vec<(String, Value)> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let seen = self.seen.lock().unwrap().clone();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "only {} transactions: {seen:?}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for FakeDestination {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

async fn send_to_device(user: &User, to: &str, txn: &str, n: u32) {
    let (status, body) = user
        .client
        .put(
            &format!("/_matrix/client/v3/sendToDevice/m.test/{txn}"),
            json!({"messages": {to: {"DEVICE": {"n": n}}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_failed_transaction_is_retried_under_its_id_and_body() {
    let ca = TestCa::new();
    let fake = FakeDestination::start(&ca, 1);
    let to = format!("@bob:{}", fake.name);
    let a = federating_server(&ca, "a");
    let alice = a.client().register("alice", "pw-alice-1").await;

    send_to_device(&alice, &to, "m1", 1).await;
    let seen = fake.transactions(2).await;
    // The first attempt failed; the retry carries the same ID and the same body.
    assert_eq!(seen[0].0, seen[1].0, "{seen:?}");
    assert_eq!(seen[0].1, seen[1].1);
    let edus = seen[0].1["edus"].as_array().unwrap();
    assert_eq!(edus.len(), 1, "{seen:?}");
    assert_eq!(edus[0]["edu_type"], "m.direct_to_device");
    assert_eq!(edus[0]["content"]["messages"][&to]["DEVICE"]["n"], 1);
    // The next transaction has an ID of its own.
    send_to_device(&alice, &to, "m2", 2).await;
    let seen = fake.transactions(3).await;
    assert_ne!(seen[2].0, seen[1].0);
    assert_eq!(
        seen[2].1["edus"][0]["content"]["messages"][&to]["DEVICE"]["n"],
        2
    );
}

/// The same steps from an empty database before and after a reset hand out the same
/// sequence numbers; the IDs derived from them must still differ.
#[tokio::test]
async fn transaction_and_message_ids_differ_after_a_restart_and_after_a_reset() {
    let ca = TestCa::new();
    let fake = FakeDestination::start(&ca, 0);
    let to = format!("@bob:{}", fake.name);
    let dir = tempfile::tempdir().unwrap();
    let name = format!("127.0.0.1:{}", free_port());
    let steps = |n: usize| {
        let (ca, name, dir, to, fake) = (&ca, &name, dir.path(), &to, &fake);
        async move {
            let a = federating_server_named(ca, "a", name, dir);
            let alice = a.client().register("alice", "pw-alice-1").await;
            send_to_device(&alice, to, "m1", 1).await;
            fake.transactions(n).await;
            a.stop();
        }
    };
    steps(1).await;
    // A restart, then a reset: each time the same steps from the same start.
    let a = federating_server_named(&ca, "a", &name, dir.path());
    a.stop();
    reset_keeping_signing_key(dir.path());
    steps(2).await;
    reset_keeping_signing_key(dir.path());
    steps(3).await;
    let seen = fake.transactions(3).await;
    let ids: std::collections::BTreeSet<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 3, "{seen:?}");
    // To-device message IDs, by which receivers drop repeats, differ too.
    let message_ids: std::collections::BTreeSet<String> = seen
        .iter()
        .map(|(_, body)| body["edus"][0]["content"]["message_id"].to_string())
        .collect();
    assert_eq!(message_ids.len(), 3, "{seen:?}");
}

/// Synapse's federation admin API: the servers this one shares rooms with.
#[tokio::test]
async fn admins_see_federation_destinations_and_reset_them() {
    let ca = TestCa::new();
    let a = federating_server(&ca, "a");
    let b = federating_server(&ca, "b");
    let root = crate::admin_api::admin(&a).await;
    let alice = a.client().register("alice", "pw-alice-1").await;
    let bob = b.client().register("bob", "pw-bob-1").await;
    let room = bob.create_room(json!({"preset": "public_chat"})).await;
    let (status, body) = join_via(&alice, &room, &name_of(&b)).await;
    assert_eq!(status, 200, "{body}");
    alice.send_text(&room, "hello b").await;
    wait_for_text(&bob, &room, "hello b").await;

    let c = &root.client;
    let (status, list) = c.get("/_synapse/admin/v1/federation/destinations").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 1);
    let entry = &list["destinations"][0];
    assert_eq!(entry["destination"], name_of(&b));
    assert_eq!(entry["failure_ts"], Value::Null);
    assert_eq!(entry["retry_interval"], 0);
    let one = format!(
        "/_synapse/admin/v1/federation/destinations/{}",
        enc(&name_of(&b))
    );
    assert_eq!(c.get(&one).await.1["destination"], name_of(&b));
    let (_, rooms) = c.get(&format!("{one}/rooms")).await;
    assert_eq!(rooms["total"], 1);
    assert_eq!(rooms["rooms"][0]["room_id"], room);
    let (status, _) = c.post(&format!("{one}/reset_connection"), json!({})).await;
    assert_eq!(status, 200);
    let unknown = "/_synapse/admin/v1/federation/destinations/nowhere.test";
    assert_error(&c.get(unknown).await, 404, "M_NOT_FOUND");
    assert_error(
        &c.post(&format!("{unknown}/reset_connection"), json!({}))
            .await,
        404,
        "M_NOT_FOUND",
    );
    assert_error(
        &c.get("/_synapse/admin/v1/federation/destinations?order_by=size")
            .await,
        400,
        "M_INVALID_PARAM",
    );
}
