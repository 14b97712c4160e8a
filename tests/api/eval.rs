//! `ragway eval beir` in-process: a tiny BEIR folder is ingested through the real pipeline,
//! its queries scored, and a second run reuses the ingested corpus.

use std::path::Path;

use crate::cli::eval::{beir, BeirArgs, Mode};
use ragway::config::Config;
use serde_json::json;

use crate::helpers::models_data_dir;

/// 16 short documents on distinct topics; `_id`s are numbers and strings, one has no title.
const CORPUS: &[(&str, &str, &str)] = &[
    ("d1", "Honeybee dances", "Honeybees perform a waggle dance to tell their hive mates the direction and distance of flowers rich in nectar."),
    ("d2", "Volcanic eruptions", "Magma rising through the crust erupts as lava, ash and gas when a volcano's pressure is released."),
    ("d3", "Sourdough bread", "Sourdough bread is leavened by a starter of wild yeast and lactic acid bacteria, which gives it a sour taste."),
    ("d4", "Chess openings", "The Sicilian Defence is a chess opening in which Black answers White's e4 with the c5 pawn move."),
    ("d5", "Photosynthesis", "Plants turn sunlight, water and carbon dioxide into glucose and oxygen in their chloroplasts."),
    ("d6", "The Roman aqueducts", "Roman engineers built aqueducts that carried water across valleys to cities by gravity alone."),
    ("d7", "Black holes", "A black hole is a region of spacetime where gravity is so strong that not even light can escape its event horizon."),
    ("d8", "Marathon running", "Marathon runners train for months to race 42 kilometres, and many hit the wall when their glycogen runs out."),
    ("d9", "Coffee roasting", "Roasting green coffee beans browns them through the Maillard reaction and develops their aroma."),
    ("d10", "Tides", "Ocean tides rise and fall twice a day because of the gravitational pull of the Moon and the Sun."),
    ("d11", "Origami", "Origami is the Japanese art of folding a single sheet of paper into cranes, boxes and flowers."),
    ("d12", "Vaccines", "Vaccines train the immune system to recognise a pathogen by exposing it to a harmless antigen."),
    ("d13", "Glaciers", "Glaciers are slow rivers of ice that carve U-shaped valleys as they grind over bedrock."),
    ("d14", "Jazz improvisation", "Jazz musicians improvise melodies over chord changes, trading solos during a performance."),
    ("d15", "", "Wind turbines convert the kinetic energy of moving air into electricity with large rotating blades."),
    ("16", "Honey production", "Beekeepers harvest honey from the wax combs of their hives and spin it out in an extractor."),
];

/// (query id, text, [(corpus id, grade)]): q1 has a graded second relevant document.
type Query = (&'static str, &'static str, &'static [(&'static str, u32)]);
const QUERIES: &[Query] = &[
    (
        "q1",
        "How do honeybees tell their hive where flowers are?",
        &[("d1", 2), ("16", 1)],
    ),
    ("q2", "What makes sourdough bread taste sour?", &[("d3", 1)]),
    ("q3", "Why can light not escape a black hole?", &[("d7", 1)]),
    ("q4", "What causes the ocean tides each day?", &[("d10", 1)]),
    (
        "q5",
        "How do wind turbines generate electricity?",
        &[("d15", 1)],
    ),
];

fn write_beir(dir: &Path) {
    let corpus: String = CORPUS
        .iter()
        .map(|(id, title, text)| {
            // One numeric `_id`, as some BEIR sets have.
            let id = match id.parse::<u64>() {
                Ok(n) => json!(n),
                Err(_) => json!(id),
            };
            format!("{}\n", json!({"_id": id, "title": title, "text": text}))
        })
        .collect();
    std::fs::write(dir.join("corpus.jsonl"), corpus).unwrap();
    let mut queries: String = QUERIES
        .iter()
        .map(|(id, text, _)| format!("{}\n", json!({"_id": id, "text": text, "metadata": {}})))
        .collect();
    // A query without judgements is not evaluated.
    queries += &format!("{}\n", json!({"_id": "q9", "text": "unjudged"}));
    std::fs::write(dir.join("queries.jsonl"), queries).unwrap();
    std::fs::create_dir(dir.join("qrels")).unwrap();
    let mut qrels = String::from("query-id\tcorpus-id\tscore\n");
    for (q, _, rels) in QUERIES {
        for (d, g) in *rels {
            qrels += &format!("{q}\t{d}\t{g}\n");
        }
    }
    std::fs::write(dir.join("qrels/test.tsv"), qrels).unwrap();
}

fn main_config(data_dir: &Path) -> Config {
    let models = models_data_dir();
    let mut config = Config::from_figment(figment::Figment::new()).unwrap();
    config.data_dir = data_dir.to_path_buf();
    config.embedding.model_dir = Some(models.join("models/all-minilm-l6-v2"));
    config.embedding.onnxruntime_path = Some(models.join("runtime/libonnxruntime.so"));
    config.ingest.parser_program = Some(env!("CARGO_BIN_EXE_ragway").into());
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beir_eval_scores_an_answerable_set_and_reuses_the_ingested_corpus() {
    let root = tempfile::tempdir().unwrap();
    let corpus_dir = root.path().join("tiny-beir");
    std::fs::create_dir(&corpus_dir).unwrap();
    write_beir(&corpus_dir);
    let config = main_config(&root.path().join("data"));
    let mut args = BeirArgs::new(&corpus_dir, "test");
    args.modes = vec![Mode::Hybrid, Mode::Dense, Mode::Sparse];

    let first = beir::run(&config, &args).await.expect("first run");
    // Its own data dir under the main one, named after the folder.
    assert_eq!(first.data_dir, root.path().join("data/eval/tiny-beir"));
    let i = &first.ingest;
    assert!(!i.cached);
    assert_eq!((i.documents, i.queued, i.processed), (16, 16, 16));
    assert_eq!((i.failed, i.removed, i.empty), (0, 0, 0));
    assert!(i.chunks >= 16, "{i:?}");
    assert_eq!(first.results.len(), 3);
    for r in &first.results {
        assert_eq!(r.queries, 5, "{r:?}");
        for m in [r.ndcg_at_10, r.recall_at_10, r.recall_at_100, r.mrr_at_10] {
            assert!((0.0..=1.0).contains(&m), "{r:?}");
        }
        assert!(r.p50_ms > 0.0 && r.p50_ms <= r.p99_ms, "{r:?}");
        // 16 documents: everything is within the top 100.
        assert_eq!(r.recall_at_100, 1.0, "{r:?}");
    }
    let hybrid = &first.results[0];
    assert_eq!(hybrid.config, "hybrid");
    assert!(hybrid.ndcg_at_10 > 0.8, "{hybrid:?}");
    assert!(hybrid.mrr_at_10 > 0.8, "{hybrid:?}");
    let line = serde_json::to_value(hybrid).unwrap();
    for key in [
        "config",
        "ndcg_at_10",
        "recall_at_10",
        "recall_at_100",
        "mrr_at_10",
        "p50_ms",
        "p99_ms",
        "queries",
    ] {
        assert!(line.get(key).is_some(), "{line}");
    }
    assert!(first.table().contains("hybrid"));

    // Unchanged corpus: no ingestion, same scores.
    args.modes = vec![Mode::Hybrid];
    args.limit_queries = Some(3);
    let second = beir::run(&config, &args).await.expect("second run");
    assert!(second.ingest.cached, "{:?}", second.ingest);
    assert_eq!(second.ingest.processed, 0);
    assert_eq!(second.ingest.chunks, i.chunks);
    assert_eq!(second.results[0].queries, 3);

    // One document changed, one gone: only that one is processed again, the other removed.
    let corpus = std::fs::read_to_string(corpus_dir.join("corpus.jsonl")).unwrap();
    let corpus: String = corpus
        .lines()
        .filter(|l| !l.contains("\"d14\""))
        .map(|l| format!("{}\n", l.replace("twice a day", "about twice a day")))
        .collect();
    std::fs::write(corpus_dir.join("corpus.jsonl"), corpus).unwrap();
    let third = beir::run(&config, &args).await.expect("third run");
    let i = &third.ingest;
    assert!(!i.cached);
    assert_eq!(
        (i.documents, i.queued, i.processed, i.removed),
        (15, 1, 1, 1)
    );
    assert!(third.results[0].ndcg_at_10 > 0.8, "{:?}", third.results);
}
