//! Both credential stores, Secrets Manager against moto's server.

use cosell_partner_center::RefreshTokenSink;
use cosell_secrets::{CredentialStore, SecretsError};
use cosell_transport::Secret;

const DOCUMENT: &str = r#"{
  "partner_center": {"client_id": "pc-app", "client_secret": "pc-secret", "refresh_token": "rt-1"},
  "dataverse": {"tenant_id": "tenant", "client_id": "dv-app", "client_secret": "dv-secret", "webhook_key": "dv-webhook-key"},
  "note": "kept by the operator"
}"#;

async fn secrets_manager() -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&cosell_testkit::aws_config().await)
}

/// A new secret holding `value`; its name.
async fn new_secret(client: &aws_sdk_secretsmanager::Client, prefix: &str, value: &str) -> String {
    let name = cosell_testkit::unique_table(prefix);
    client
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    name
}

async fn check_round_trip(store: &CredentialStore) {
    let credentials = store.load().await.unwrap();
    assert_eq!(credentials.partner_center.client_id, "pc-app");
    assert_eq!(credentials.partner_center.refresh_token.expose(), "rt-1");
    assert_eq!(credentials.dataverse.tenant_id, "tenant");
    assert_eq!(credentials.dataverse.client_secret.expose(), "dv-secret");
    assert_eq!(
        credentials
            .dataverse
            .webhook_key
            .as_ref()
            .map(Secret::expose),
        Some("dv-webhook-key")
    );
    assert!(!format!("{credentials:?}").contains("pc-secret"));

    store.store(&Secret::new("rt-2")).await.unwrap();
    let reloaded = store.load().await.unwrap();
    assert_eq!(reloaded.partner_center.refresh_token.expose(), "rt-2");
    assert_eq!(reloaded.partner_center.client_secret.expose(), "pc-secret");
}

#[tokio::test]
async fn secrets_manager_loads_and_takes_a_rotated_refresh_token() {
    let client = secrets_manager().await;
    let name = new_secret(&client, "cosell-credentials", DOCUMENT).await;
    let store = CredentialStore::SecretsManager {
        client: client.clone(),
        secret_id: name.clone(),
        token_secret_id: None,
    };
    check_round_trip(&store).await;
    let raw = client
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .unwrap();
    assert!(
        raw.secret_string()
            .unwrap()
            .contains("kept by the operator")
    );
}

#[tokio::test]
async fn a_file_loads_and_is_rewritten_owner_only() {
    let dir = std::env::temp_dir().join(cosell_testkit::unique_table("cosell-secrets"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("credentials.json");
    std::fs::write(&path, DOCUMENT).unwrap();
    let store = CredentialStore::File(path.clone());
    check_round_trip(&store).await;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("kept by the operator"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn an_invalid_document_names_the_field_and_never_a_value() {
    let dir = std::env::temp_dir().join(cosell_testkit::unique_table("cosell-secrets"));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.json");
    std::fs::write(
        &missing,
        r#"{"partner_center": {"client_id": "a", "client_secret": "s3cr3t"}, "dataverse": {"tenant_id": "t", "client_id": "c", "client_secret": "s"}}"#,
    )
    .unwrap();
    let error = CredentialStore::File(missing).load().await.unwrap_err();
    assert!(matches!(error, SecretsError::Invalid { .. }));
    assert!(
        error
            .to_string()
            .contains("partner_center: missing field `refresh_token`"),
        "{error}"
    );

    let wrong_type = dir.join("wrong.json");
    std::fs::write(
        &wrong_type,
        r#"{"partner_center": {"client_id": "a", "client_secret": "s3cr3t", "refresh_token": 987654}, "dataverse": {"tenant_id": "t", "client_id": "c", "client_secret": ["s3cr3t"]}}"#,
    )
    .unwrap();
    let error = CredentialStore::File(wrong_type).load().await.unwrap_err();
    assert!(!error.to_string().contains("987654"), "{error}");
    assert!(!error.to_string().contains("s3cr3t"), "{error}");
}

/// The document without a webhook key, as before `cosell setup` makes one.
const WITHOUT_KEY: &str = r#"{
  "partner_center": {"client_id": "pc-app", "client_secret": "pc-secret", "refresh_token": "rt-1"},
  "dataverse": {"tenant_id": "tenant", "client_id": "dv-app", "client_secret": "dv-secret"}
}"#;

async fn secret_without_key() -> CredentialStore {
    let client = secrets_manager().await;
    let name = new_secret(&client, "cosell-credentials", WITHOUT_KEY).await;
    CredentialStore::SecretsManager {
        client,
        secret_id: name,
        token_secret_id: None,
    }
}

#[tokio::test]
async fn a_webhook_key_is_made_once_and_kept() {
    let store = secret_without_key().await;
    let (made, created) = store
        .ensure_webhook_key(|| Secret::new("generated-key"))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(made.expose(), "generated-key");
    let (again, created) = store
        .ensure_webhook_key(|| Secret::new("another-key"))
        .await
        .unwrap();
    assert!(!created, "the stored key is kept");
    assert_eq!(again.expose(), "generated-key");
    let loaded = store.load().await.unwrap();
    assert_eq!(
        loaded.dataverse.webhook_key.as_ref().map(Secret::expose),
        Some("generated-key")
    );
    assert_eq!(loaded.partner_center.refresh_token.expose(), "rt-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_written_between_read_and_write_is_not_lost() {
    // The key's writer reads the document; the token's rotation writes a new one before the
    // key's writer puts its own: the swap is refused, the document read again, and both survive.
    let store = secret_without_key().await;
    let rotation = store.clone();
    let reads = std::sync::atomic::AtomicU32::new(0);
    store
        .update(|document| {
            if reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current()
                        .block_on(rotation.store_refresh_token(&Secret::new("rt-2")))
                })
                .unwrap();
            }
            document["dataverse"]["webhook_key"] = "k".into();
            Ok(true)
        })
        .await
        .unwrap();
    assert_eq!(reads.into_inner(), 2, "read again after the refused swap");
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.partner_center.refresh_token.expose(), "rt-2");
    assert_eq!(
        loaded.dataverse.webhook_key.as_ref().map(Secret::expose),
        Some("k")
    );
}

#[tokio::test]
async fn file_writers_take_turns() {
    let dir = std::env::temp_dir().join(cosell_testkit::unique_table("cosell-secrets"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("credentials.json");
    std::fs::write(&path, WITHOUT_KEY).unwrap();
    let store = CredentialStore::File(path);
    let mut writers = tokio::task::JoinSet::new();
    for n in 0..20 {
        let store = store.clone();
        writers.spawn(async move {
            if n == 7 {
                store
                    .ensure_webhook_key(|| Secret::new("file-key"))
                    .await
                    .map(|_| ())
            } else {
                store
                    .store_refresh_token(&Secret::new(format!("rt-{n}")))
                    .await
            }
        });
    }
    while let Some(written) = writers.join_next().await {
        written.unwrap().unwrap();
    }
    let loaded = store.load().await.unwrap();
    assert_eq!(
        loaded.dataverse.webhook_key.as_ref().map(Secret::expose),
        Some("file-key"),
        "no rotation wrote back a document read before the key"
    );
}

/// The refresh token in its own secret, as `template.yaml` deploys it: read from there when it
/// holds one, from the credentials document until then (a stack deployed before it existed),
/// and every rotation written there alone — the credentials document is never rewritten.
#[tokio::test]
async fn a_token_secret_takes_the_rotations_and_the_credentials_stay_untouched() {
    let client = secrets_manager().await;
    let device_code = DOCUMENT.replace(
        r#""refresh_token": "rt-1""#,
        r#""refresh_token": "rt-1", "public_client": true"#,
    );
    let name = new_secret(&client, "cosell-credentials", &device_code).await;
    let token_name = new_secret(&client, "cosell-refresh-token", "{}").await;
    let store = CredentialStore::SecretsManager {
        client: client.clone(),
        secret_id: name.clone(),
        token_secret_id: Some(token_name.clone()),
    };
    let versions = |secret: &str| {
        let client = client.clone();
        let secret = secret.to_owned();
        async move {
            let listed = client
                .list_secret_version_ids()
                .secret_id(secret)
                .send()
                .await
                .unwrap();
            listed.versions().len()
        }
    };
    let before = versions(&name).await;

    // Nothing moved yet: the credentials document's token.
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.partner_center.refresh_token.expose(), "rt-1");
    assert!(loaded.partner_center.public_client);

    // A rotation lands in the token secret, with how the token is redeemed carried along.
    store.store(&Secret::new("rt-2")).await.unwrap();
    let token: serde_json::Value = serde_json::from_str(
        client
            .get_secret_value()
            .secret_id(&token_name)
            // moto answers the first version unless the stage is named (see the store's read).
            .version_stage("AWSCURRENT")
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(token["refresh_token"], "rt-2");
    assert_eq!(token["public_client"], true);
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.partner_center.refresh_token.expose(), "rt-2");
    assert!(loaded.partner_center.public_client);
    assert_eq!(loaded.partner_center.client_secret.expose(), "pc-secret");

    // `cosell login` writes there too; the credentials document was never written.
    store
        .store_sign_in(&Secret::new("rt-3"), false)
        .await
        .unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.partner_center.refresh_token.expose(), "rt-3");
    assert!(!loaded.partner_center.public_client);
    assert_eq!(versions(&name).await, before);

    // A `cosell login` run without the token secret configured writes the credentials
    // document: newer, it is the one used, until the next rotation moves it again.
    let without = CredentialStore::SecretsManager {
        client: client.clone(),
        secret_id: name.clone(),
        token_secret_id: None,
    };
    without
        .store_sign_in(&Secret::new("rt-4"), true)
        .await
        .unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.partner_center.refresh_token.expose(), "rt-4");
    assert!(loaded.partner_center.public_client);
    // Its rotation moves it back, redeemed as the token it replaces was (the login's device
    // code, not the token secret's earlier sign-in).
    store.store(&Secret::new("rt-5")).await.unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.partner_center.refresh_token.expose(), "rt-5");
    assert!(loaded.partner_center.public_client);
}
