//! The run id and where shards record.

use super::*;

#[test]
fn the_run_id_is_given_or_taken_from_the_job_and_must_name_a_directory() {
    let none = |_: &str| None;
    assert_eq!(
        run_id(Some("nightly-42"), none).as_deref(),
        Ok("nightly-42")
    );
    let batch = |v: &str| (v == "AWS_BATCH_JOB_ID").then(|| "4c2f-11:3".to_owned());
    assert_eq!(run_id(None, batch).as_deref(), Ok("4c2f-11"));
    let both = |v: &str| match v {
        "RESTOREPROOF_RUN_ID" => Some("mine".to_owned()),
        "AWS_BATCH_JOB_ID" => Some("job:1".to_owned()),
        _ => None,
    };
    assert_eq!(run_id(None, both).as_deref(), Ok("mine"));
    assert!(run_id(None, none).unwrap_err().contains("--run-id"));
    for bad in ["../up", "a/b", "", ".hidden"] {
        assert!(run_id(Some(bad), none).is_err(), "{bad}");
    }
    let s = Shard { index: 2, count: 5 };
    assert_eq!(
        shard_dir(Path::new("/v"), "r", s),
        PathBuf::from("/v/r/shard-2-of-5")
    );
}
