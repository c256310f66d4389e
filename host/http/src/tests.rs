#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn a_loopback_server_answers_to_its_own_names_only() {
    let hosts = hosts_of("127.0.0.1:7700".parse().unwrap());
    assert!(hosts.contains(&"127.0.0.1:7700".to_string()));
    assert!(hosts.contains(&"localhost:7700".to_string()));
    assert!(!hosts.iter().any(|h| h.contains("evil")));
    let public = hosts_of("192.0.2.1:80".parse().unwrap());
    assert_eq!(public, vec!["192.0.2.1:80".to_string()]);
}

#[test]
fn tokens_are_stored_as_hashes_and_found_by_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join(".loom")).unwrap();
    let token = users::add_user(tmp.path(), "ann").unwrap();
    assert_eq!(token.len(), 64);
    let text = std::fs::read_to_string(users::users_path(tmp.path())).unwrap();
    assert!(!text.contains(&token), "the token itself is never stored");
    let u = users::Users::load(tmp.path()).unwrap();
    assert_eq!(u.find(&token).unwrap().name, "ann");
    assert!(u.find("nope").is_none());
    assert!(matches!(
        users::add_user(tmp.path(), "ann"),
        Err(users::UsersError::Exists(_))
    ));
    assert!(matches!(
        users::add_user(tmp.path(), "a b"),
        Err(users::UsersError::BadName(_))
    ));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(users::users_path(tmp.path()))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_problem_names_an_engine_error_kind_as_every_transport_does() {
    use loom_engine::ErrorKind::*;
    for k in [
        Usage, Config, Refused, Bundle, Busy, Conflict, Forbidden, Internal,
    ] {
        assert_eq!(problem::status_of(k).1, loom_views::kind_name(k));
    }
}
