//! Tests of the configuration: defaults, the example file, overrides, validation.

use super::*;

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

#[test]
fn example_file_parses_and_equals_the_built_in_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.example.toml");
    let config = Config::load(Some(&path), no_env()).unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn unknown_keys_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "server_nmae = \"x\"\n").unwrap();
    let err = Config::load(Some(&path), no_env()).unwrap_err();
    assert!(err.0[0].contains("server_nmae"), "{err}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "server_name = \"bad name!\"\n[http]\nbind = [\"nonsense\"]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/99\"]\n[registration]\nshared_secret = \"short\"\n",
    )
    .unwrap();
    let err = Config::load(Some(&path), no_env()).unwrap_err();
    assert_eq!(err.0.len(), 4, "{err}");
    assert!(err.to_string().contains("trusted_proxies"), "{err}");
}

#[test]
fn env_overrides_apply_typed_and_string_values() {
    let env = vec![
        ("CITADEL_SERVER_NAME".to_owned(), "example.org".to_owned()),
        ("CITADEL_REGISTRATION__MODE".to_owned(), "open".to_owned()),
        (
            "CITADEL_HTTP__BIND".to_owned(),
            "[\"127.0.0.1:9000\"]".to_owned(),
        ),
        (
            "CITADEL_RATE_LIMITS__ENABLED".to_owned(),
            "false".to_owned(),
        ),
        ("CITADEL_CONFIG".to_owned(), "/ignored".to_owned()),
        ("HOME".to_owned(), "/root".to_owned()),
    ];
    let config = Config::load(None, env).unwrap();
    assert_eq!(config.server_name, "example.org");
    assert_eq!(config.registration.mode, RegistrationMode::Open);
    assert_eq!(config.http.bind, ["127.0.0.1:9000"]);
    assert!(!config.rate_limits.enabled);
}

#[test]
fn env_override_with_unknown_key_is_an_error() {
    let env = vec![("CITADEL_REGISTRATION__MOOD".to_owned(), "open".to_owned())];
    assert!(Config::load(None, env).is_err());
}
