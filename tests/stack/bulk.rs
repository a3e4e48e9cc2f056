//! The bulk push path on the stack: batches written as gzip CSV, `PUT` into the temporary
//! table's stage (encrypted client-side, uploaded to the emulator's presigned URL), `COPY`ed and
//! merged; COPY's load history; a destination gaining a column the platform added.

use snowsync::runner::Mode;
use snowsync::snowflake::stage::put_file;
use snowsync::snowflake::{int_at, text_at};

use crate::helpers::{record_stage_secrets, sf_rows, spawn_stack};
use crate::push::{assert_exported_exactly, counts, push_with, seed_actions, seed_stages, setup};

/// Actions whose text is hard for CSV: empty against NULL, leading zeros, quotes, commas,
/// line breaks, a backslash-N.
async fn seed_awkward_actions(stack: &crate::helpers::TestStack, tenant: &str, from: i64) {
    stack
        .pg
        .execute(
            "INSERT INTO platform.actions (tenant, id, occurred_at, action_type, visitor_id, account_domain, channel, properties) VALUES \
             ($1, $2, '2026-02-03 04:05:06.000001+00', '', NULL, '007', NULL, '{\"s\": \"\"}'), \
             ($1, $2 + 1, '2026-02-03 04:05:06+00', 'a,b', '', 'line\nbreak, \"quoted\"', '\\N', '[]'), \
             ($1, $2 + 2, '2026-02-03 04:05:06.5+00', '\"', ' lead and trail ', '', 'x\r\ny', 'null')",
            &[&tenant, &from],
        )
        .await
        .expect("seed awkward actions");
}

#[tokio::test]
async fn bulk_push_loads_staged_files_exactly_once_with_exact_values() {
    let stack = spawn_stack().await;
    let (tenant, _db, sf) = setup(&stack, "SVC").await;
    seed_actions(&stack, &tenant, 1, 2997).await;
    seed_awkward_actions(&stack, &tenant, 2998).await;
    seed_stages(&stack, &tenant, 2000).await;

    // Every batch of 1,000 rows goes as a file.
    let r = push_with(&stack, &tenant, Mode::Incremental, 1000, 1).await;
    for e in &r {
        assert_eq!(e.outcome.as_str(), "complete", "{e:?}");
    }
    assert_eq!((r[0].rows_written, r[0].pages), (3000, 3));
    assert_eq!((r[1].rows_written, r[1].pages), (2000, 2));
    assert_eq!(counts(&sf, "PLATFORM_ACTIONS").await, (3000, 3000, 1, 3000));
    assert_eq!(
        files_loaded(&sf).await,
        vec![
            vec![
                Some("SNOWSYNC_PUSH_ACTIONS".into()),
                Some("3".into()),
                Some("3000".into())
            ],
            vec![
                Some("SNOWSYNC_PUSH_STAGES".into()),
                Some("2".into()),
                Some("2000".into())
            ],
        ],
        "every batch went as a file, loaded once"
    );
    assert_exported_exactly(&stack, &sf, &tenant, "actions", "bulk push").await;
    assert_exported_exactly(&stack, &sf, &tenant, "stages", "bulk push").await;
    let awkward = sf_rows(
        &sf,
        "SELECT ACTION_TYPE, VISITOR_ID, ACCOUNT_DOMAIN, CHANNEL FROM PUBLIC.PLATFORM_ACTIONS WHERE ID >= 2998 ORDER BY ID",
    )
    .await;
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        awkward,
        vec![
            vec![s(""), None, s("007"), None],
            vec![s("a,b"), s(""), s("line\nbreak, \"quoted\""), s("\\N")],
            vec![s("\""), s(" lead and trail "), s(""), s("x\r\ny")],
        ],
        "NULL and empty text stay apart, text stays text"
    );

    // A small increment goes as INSERTs (under the threshold), into the same destination.
    seed_actions(&stack, &tenant, 3001, 10).await;
    let r = push_with(&stack, &tenant, Mode::Incremental, 1000, 50).await;
    assert_eq!(r[0].rows_written, 10, "{r:?}");
    // A backfill in files again: every row merged once more, none doubled.
    let r = push_with(&stack, &tenant, Mode::Backfill, 1000, 1).await;
    assert_eq!(r[0].rows_written, 3010, "{r:?}");
    assert_eq!(counts(&sf, "PLATFORM_ACTIONS").await, (3010, 3010, 1, 3010));
    assert_exported_exactly(&stack, &sf, &tenant, "actions", "bulk backfill").await;
    record_stage_secrets().await;
}

/// Files COPY loaded per temporary table, and their rows (the emulator keeps the load history
/// of the test's database in `INFORMATION_SCHEMA.LOAD_HISTORY`).
async fn files_loaded(sf: &snowsync::snowflake::Session) -> Vec<Vec<Option<String>>> {
    sf_rows(
        sf,
        "SELECT TABLE_NAME, TO_VARCHAR(COUNT(*)), TO_VARCHAR(CAST(SUM(ROW_COUNT) AS INTEGER)) FROM INFORMATION_SCHEMA.LOAD_HISTORY WHERE STATUS = 'LOADED' GROUP BY TABLE_NAME ORDER BY TABLE_NAME",
    )
    .await
}

/// A gzip CSV of two rows, for the temporary table below.
fn two_rows() -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"\"1\",\"one\"\n\"2\",\"two\"\n")
        .expect("gzip");
    gz.finish().expect("gzip")
}

#[tokio::test]
async fn a_file_put_again_under_its_name_is_not_loaded_twice_unless_forced() {
    let stack = spawn_stack().await;
    let db = crate::helpers::unique("DB_").to_uppercase();
    let sf = stack.snowflake(&db).await;
    sf.execute("CREATE TEMPORARY TABLE LOADS (ID NUMBER(38,0), NAME VARCHAR)")
        .await
        .expect("table");
    let copy = |force: &str| {
        format!("COPY INTO LOADS FROM @%LOADS FILES = ('batch_1_2.csv.gz') FILE_FORMAT = (TYPE = CSV COMPRESSION = GZIP FIELD_OPTIONALLY_ENCLOSED_BY = '\"'){force}")
    };
    let status = |b: &[arrow_array::RecordBatch]| {
        (
            b.first().and_then(|b| text_at(b, 1, 0)),
            b.first().and_then(|b| int_at(b, 3, 0)),
        )
    };
    let count = || async {
        let b = sf.query("SELECT COUNT(*) FROM LOADS").await.expect("count");
        b.first().and_then(|b| int_at(b, 0, 0))
    };

    // Encrypted with the stage's key and uploaded to the presigned URL: COPY decrypts it.
    put_file(&sf, "@%LOADS", "batch_1_2.csv.gz", two_rows())
        .await
        .expect("put");
    let b = sf.query(&copy("")).await.expect("copy");
    assert_eq!(status(&b), (Some("LOADED".into()), Some(2)));
    assert_eq!(count().await, Some(2));

    // The same batch put again (a retried upload): its COPY finds it in the load history.
    put_file(&sf, "@%LOADS", "batch_1_2.csv.gz", two_rows())
        .await
        .expect("put again");
    let b = sf.query(&copy("")).await.expect("copy again");
    assert_eq!(status(&b), (Some("LOAD_SKIPPED".into()), Some(0)));
    assert_eq!(count().await, Some(2), "loaded once");

    let b = sf.query(&copy(" FORCE = TRUE")).await.expect("forced");
    assert_eq!(status(&b), (Some("LOADED".into()), Some(2)));
    assert_eq!(count().await, Some(4), "FORCE loads it again");
}

#[tokio::test]
async fn a_field_the_platform_added_becomes_a_column_of_an_existing_destination() {
    let stack = spawn_stack().await;
    let (tenant, _db, sf) = setup(&stack, "SVC").await;
    // The destination as an older release made it: no CHANNEL, no EXPORTED_AT yet.
    sf.execute(
        "CREATE TABLE PUBLIC.PLATFORM_ACTIONS (ID NUMBER(38,0) NOT NULL, OCCURRED_AT TIMESTAMP_TZ, ACTION_TYPE VARCHAR, VISITOR_ID VARCHAR, ACCOUNT_DOMAIN VARCHAR, PROPERTIES VARIANT, INGESTED_AT TIMESTAMP_TZ)",
    )
    .await
    .expect("old destination");
    seed_actions(&stack, &tenant, 1, 40).await;
    for (bulk_min, when) in [(1, "bulk"), (1_000_000, "inserts")] {
        let r = push_with(&stack, &tenant, Mode::Backfill, 25, bulk_min).await;
        assert_eq!(r[0].outcome.as_str(), "complete", "{when}: {r:?}");
        assert_eq!(r[0].rows_written, 40, "{when}");
        assert_exported_exactly(&stack, &sf, &tenant, "actions", when).await;
    }
    let cols = sf_rows(
        &sf,
        "SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 'PLATFORM_ACTIONS' AND COLUMN_NAME IN ('CHANNEL', 'EXPORTED_AT') ORDER BY 1",
    )
    .await;
    assert_eq!(
        cols,
        vec![
            vec![Some("CHANNEL".to_owned())],
            vec![Some("EXPORTED_AT".to_owned())]
        ]
    );
    let b = sf
        .query("SELECT COUNT(*) FROM PUBLIC.PLATFORM_ACTIONS WHERE CHANNEL = 'web' AND EXPORTED_AT IS NOT NULL")
        .await
        .expect("q");
    assert_eq!(b.first().and_then(|b| int_at(b, 0, 0)), Some(40));
}

#[tokio::test]
async fn a_stage_on_s3_gets_each_file_encrypted_with_the_stage_credentials() {
    let stack = spawn_stack().await;
    // This user's stages answer PUT with an S3 location in the stack's moto and temporary
    // credentials, as an AWS account's do; COPY reads the objects back from moto.
    let (tenant, _db, sf) = setup(&stack, "SNOWSYNC_S3_STAGE").await;
    seed_actions(&stack, &tenant, 1, 1500).await;
    seed_awkward_actions(&stack, &tenant, 1501).await;
    let r = push_with(&stack, &tenant, Mode::Incremental, 500, 1).await;
    assert_eq!((r[0].rows_written, r[0].pages), (1503, 4), "{r:?}");
    assert_exported_exactly(&stack, &sf, &tenant, "actions", "push through S3").await;
    assert_eq!(
        files_loaded(&sf).await[0][1].as_deref(),
        Some("4"),
        "every batch a file"
    );

    // The objects in moto: ciphertext, with the envelope the drivers write as user metadata.
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    );
    // The batches' files are named by their ranges: (ingested_at, id) of the first and last row.
    let positions = stack
        .pg_text(&format!(
            "SELECT to_char(ingested_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS'), id::text FROM platform.actions a WHERE tenant = '{tenant}' ORDER BY a.ingested_at, a.id"
        ))
        .await;
    let at = |i: usize| {
        let p = &positions[i.min(positions.len() - 1)];
        format!(
            "{}_{}",
            p[0].as_deref().unwrap_or(""),
            p[1].as_deref().unwrap_or("")
        )
    };
    let names: Vec<String> = (0..4)
        .map(|k| format!("/actions_{}_{}.csv.gz", at(k * 500), at(k * 500 + 499)))
        .collect();
    let listed = s3
        .list_objects_v2()
        .bucket("snowemu-stages")
        .send()
        .await
        .expect("list the stage bucket");
    let ours: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .filter(|k| names.iter().any(|n| k.ends_with(n.as_str())))
        .map(str::to_owned)
        .collect();
    assert_eq!(ours.len(), 4, "the batches' files {names:?} among {ours:?}");
    for key in &ours {
        let obj = s3
            .get_object()
            .bucket("snowemu-stages")
            .key(key)
            .send()
            .await
            .expect("object");
        let meta = obj.metadata().cloned().unwrap_or_default();
        for field in ["x-amz-key", "x-amz-iv", "x-amz-matdesc", "sfc-digest"] {
            assert!(meta.contains_key(field), "{key}: no {field} in {meta:?}");
        }
        let body = obj.body.collect().await.expect("body").into_bytes();
        assert_eq!(body.len() % 16, 0, "{key}: AES-CBC blocks");
        assert!(!body.starts_with(&[0x1f, 0x8b]), "{key}: not plain gzip");
    }
    record_stage_secrets().await;
}
