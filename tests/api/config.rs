//! Configuration: layering (defaults < file < env) and errors that name the bad key.

use figment::providers::{Format, Toml};
use figment::{Figment, Jail};
use ragway::config::{Config, DatabaseKind};

fn load(toml: &str) -> Result<Config, String> {
    Config::from_figment(Figment::new().merge(Toml::string(toml))).map_err(|e| e.to_string())
}

#[test]
fn defaults_are_the_embedded_mode() {
    let c = load("").unwrap();
    assert_eq!(c.server.bind, "127.0.0.1:8080");
    assert_eq!(c.data_dir, std::path::PathBuf::from("./data"));
    assert_eq!(c.database_kind().unwrap(), DatabaseKind::Sqlite);
    assert!(c.database_url().starts_with("sqlite://./data/ragway.db"));
    assert!(c.vector_store.url.is_none());
    assert!(c.auth.admin_token.is_none());
}

#[test]
fn errors_name_the_key() {
    let e = load("[server]\nbind = \"localhost\"").unwrap_err();
    assert!(e.contains("server.bind"), "{e}");
    let e = load("[database]\nurl = \"mysql://x\"").unwrap_err();
    assert!(e.contains("database.url"), "{e}");
    let e = load("[vector_store]\nurl = \"qdrant:6334\"").unwrap_err();
    assert!(e.contains("vector_store.url"), "{e}");
    let e = load("[auth]\nadmin_token = \"short\"").unwrap_err();
    assert!(e.contains("auth.admin_token"), "{e}");
    let e = load("[server]\nshutdown_timeout_secs = \"soon\"").unwrap_err();
    assert!(e.contains("shutdown_timeout_secs"), "{e}");
    let e = load("[server]\nbindd = \"127.0.0.1:1\"").unwrap_err();
    assert!(e.contains("bindd"), "unknown keys are errors: {e}");
    let e = load("[embedding]\nthreads = 0").unwrap_err();
    assert!(e.contains("embedding.threads"), "{e}");
    let e = load("[sparse]\nb = 1.5").unwrap_err();
    assert!(e.contains("sparse.b"), "{e}");
    let e = load("[jobs]\nlease_secs = 1").unwrap_err();
    assert!(e.contains("jobs.lease_secs"), "{e}");
    let e = load("[[embedding.models]]\nname = \"a\"\ndir = \"x\"\n[[embedding.models]]\nname = \"a\"\ndir = \"y\"")
        .unwrap_err();
    assert!(e.contains("embedding.models"), "{e}");
    let c = load("[sparse]\nk1 = 0.9\nb = 0.4").unwrap();
    assert_eq!((c.sparse.bm25().k1, c.sparse.bm25().b), (0.9, 0.4));
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail API returns its own error type
fn env_overrides_file_overrides_defaults() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "ragway.toml",
            "data_dir = \"/srv/from-file\"\n[server]\nbind = \"0.0.0.0:9000\"",
        )?;
        jail.set_env("RAGWAY__SERVER__BIND", "127.0.0.1:7000");
        jail.set_env("RAGWAY__DATABASE__URL", "postgres://u@db:5432/ragway");
        jail.set_env("RAGWAY__AUTH__ADMIN_TOKEN", "a-very-long-admin-token");
        jail.set_env("RAGWAY__VECTOR_STORE__URL", "http://qdrant:6334");
        let c =
            Config::load(Some(std::path::Path::new("ragway.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(c.server.bind, "127.0.0.1:7000");
        assert_eq!(c.data_dir, std::path::PathBuf::from("/srv/from-file"));
        assert_eq!(c.database_kind().unwrap(), DatabaseKind::Postgres);
        assert_eq!(c.vector_store.url.as_deref(), Some("http://qdrant:6334"));
        use secrecy::ExposeSecret;
        assert_eq!(
            c.auth.admin_token.as_ref().unwrap().expose_secret(),
            "a-very-long-admin-token"
        );
        // Secrets never print.
        assert!(!format!("{c:?}").contains("a-very-long-admin-token"));
        Ok(())
    });
}

#[test]
fn a_missing_config_file_is_an_error() {
    let e = Config::load(Some(std::path::Path::new("/nonexistent/ragway.toml")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");
}

#[test]
fn vector_store_layout_keys_are_validated_and_fit_one_node_by_default() {
    let c = load("").unwrap();
    let layout = ragway::vector::CollectionSettings::from(&c.vector_store);
    assert_eq!(layout, ragway::vector::CollectionSettings::default());
    assert_eq!(
        (
            layout.shard_number,
            layout.replication_factor,
            layout.write_consistency_factor
        ),
        (1, 1, 1)
    );
    assert!(!layout.on_disk_vectors && layout.on_disk_payload);
    assert_eq!(c.vector_store.timeout_secs, 10);

    let server = "[vector_store]\nurl = \"http://qdrant:6334\"\n";
    let c = load(&format!(
        "{server}shard_number = 6\nreplication_factor = 3\nwrite_consistency_factor = 2\n\
         on_disk_vectors = true\non_disk_payload = false\ncollection_prefix = \"prod_\""
    ))
    .unwrap();
    let layout = ragway::vector::CollectionSettings::from(&c.vector_store);
    assert_eq!(
        (
            layout.shard_number,
            layout.replication_factor,
            layout.write_consistency_factor
        ),
        (6, 3, 2)
    );
    assert!(layout.on_disk_vectors && !layout.on_disk_payload);
    assert_eq!(c.vector_store.collection_prefix, "prod_");

    for (body, key) in [
        ("shard_number = 0", "vector_store.shard_number"),
        ("replication_factor = 0", "vector_store.replication_factor"),
        (
            "write_consistency_factor = 2",
            "vector_store.write_consistency_factor",
        ),
        ("timeout_secs = 0", "vector_store.timeout_secs"),
        (
            "collection_prefix = \"a/b\"",
            "vector_store.collection_prefix",
        ),
    ] {
        let e = load(&format!("{server}{body}")).unwrap_err();
        assert!(e.contains(key), "{body}: {e}");
    }
    // Qdrant Edge is one local shard: the cluster keys are refused there, by name; the
    // on-disk ones apply.
    for body in [
        "shard_number = 2",
        "replication_factor = 2",
        "collection_prefix = \"x_\"",
    ] {
        let e = load(&format!("[vector_store]\n{body}")).unwrap_err();
        let key = body.split(' ').next().unwrap();
        assert!(
            e.contains(&format!("vector_store.{key}")) && e.contains("vector_store.url"),
            "{body}: {e}"
        );
    }
    assert!(load("[vector_store]\non_disk_vectors = true\non_disk_payload = false").is_ok());
}
