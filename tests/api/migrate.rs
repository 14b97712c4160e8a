//! `ragway migrate`: an embedded deployment (SQLite + Qdrant Edge) moved to PostgreSQL and
//! the Qdrant server under test answers as before: same token, same knowledge base, same
//! documents and points, same search results. Compiled as ignored (with the reason) unless
//! `QDRANT_URL` was set at build time (see build.rs).

use reqwest::Method;
use serde_json::json;

use crate::documents::Kb;
use crate::helpers::{
    collection_prefix, fresh_postgres_database, spawn_with, test_config, Backend,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(qdrant_server), ignore = "needs a Qdrant server: set QDRANT_URL")]
async fn migrate_moves_an_embedded_deployment_to_scale_out() {
    let embedded_dir = tempfile::tempdir().unwrap();
    let mut config = test_config(embedded_dir.path(), Backend::Sqlite).await;
    config.vector_store = Default::default(); // the embedded default, whatever QDRANT_URL says
    let app = spawn_with(config.clone(), None).await;
    let token = app.user_with_project("ana", "p").await;
    let kb = Kb::create(&app, &token, "handbook").await;
    let texts = [
        (
            "otters",
            "Sea otters hold hands while they sleep so that they do not drift apart.",
        ),
        (
            "beavers",
            "Beavers build dams from branches and mud to create deep ponds.",
        ),
        (
            "bees",
            "Honey bees dance to tell the hive where the flowers are.",
        ),
    ];
    for (id, text) in texts {
        let (s, b) = kb.put_text(id, text, json!({"animal": id})).await;
        assert_eq!(s, 200, "{b}");
    }
    let before = kb.search("where do bees find flowers", json!({})).await;
    let points = kb.point_count().await;
    let (_, described) = kb.call(Method::GET, "", None).await;
    app.shutdown().await;

    let target_dir = tempfile::tempdir().unwrap();
    let args = crate::cli::migrate::MigrateArgs {
        to_database: fresh_postgres_database().await,
        to_qdrant: crate::helpers::qdrant_url().unwrap(),
        qdrant_api_key: crate::helpers::qdrant_api_key(),
        collection_prefix: collection_prefix(target_dir.path()),
        batch: 2, // several pages per collection
    };
    let moved = crate::cli::migrate::run(&config, &args).await.unwrap();
    assert_eq!(moved.collections.len(), 1);
    assert_eq!(moved.collections[0].1, points);
    assert!(moved
        .tables
        .iter()
        .any(|(t, n)| *t == "document_sources" && *n == 3));
    let again = crate::cli::migrate::run(&config, &args).await.unwrap_err();
    assert!(format!("{again:#}").contains("not empty"), "{again:#}");

    let mut scaled = config.clone();
    scaled.data_dir = target_dir.path().to_path_buf();
    scaled.database.url = Some(args.to_database.clone());
    scaled.vector_store.url = Some(args.to_qdrant.clone());
    scaled.vector_store.api_key = args.qdrant_api_key.clone().map(Into::into);
    scaled.vector_store.collection_prefix = args.collection_prefix.clone();
    let app = spawn_with(scaled, Some(target_dir)).await;
    let kb = Kb::open(&app, &token, "handbook").await; // the same PAT works
    let (s, now) = kb.call(Method::GET, "", None).await;
    assert_eq!(s, 200, "{now}");
    assert_eq!(now["documents"], described["documents"]);
    assert_eq!(now["chunks"], described["chunks"]);
    assert_eq!(kb.point_count().await, points);
    let after = kb.search("where do bees find flowers", json!({})).await;
    let ids = |hits: &[serde_json::Value]| {
        hits.iter()
            .map(|h| h["external_id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&after), ids(&before));
    assert_eq!(after[0]["external_id"], "bees");
    // And it keeps working: a new document is ingested on the new stores.
    let (s, b) = kb
        .put_text("ants", "Ants farm aphids for their honeydew.", json!({}))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        kb.search("ants farming aphids", json!({})).await[0]["external_id"],
        "ants"
    );
    app.shutdown().await;
}
