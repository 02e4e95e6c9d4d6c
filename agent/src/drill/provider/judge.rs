//! Each sampled version's reference, read before the job (`expect`), and
//! its verdict from the job's completion report (`judge`). A problem on the
//! agent's or the job's side — a report that cannot be read, a row that is
//! missing or unreadable, a task S3 could not run for itself — is an
//! `aborted` verdict (not judged), never a fault of the backup.

use super::*;
use crate::providers::s3::batch::Location;
use crate::verify::identity;

/// The reference a job will compute for `c`, or the verdict it gets at
/// once: its attributes cannot be read, the store answered for another
/// version, or it has no reference S3 could compute.
pub(super) async fn expect(
    source: &dyn RecoverySource,
    c: &Candidate,
    baseline: Option<&Baseline>,
) -> Result<Expected, SampleResult> {
    let mut r = SampleResult::unrecoverable(c.clone());
    r.attempts = 1;
    let attrs = match source.attributes(c).await {
        Ok(a) => a,
        Err(e) => {
            r.verdict = match e.class {
                ErrorClass::Host | ErrorClass::Credentials => Verdict::Aborted,
                _ => Verdict::Unrecoverable,
            };
            r.error_class = Some(e.class);
            r.reason = Some(format!(
                "its attributes cannot be read before the job: {}: {}",
                e.class, e.message
            ));
            return Err(r);
        }
    };
    let bound = identity::bind(identity::Responder::Attributes, c, attrs, None);
    if bound
        .checks
        .iter()
        .any(|ch| ch.outcome == Outcome::Mismatch)
    {
        r.checks = bound.checks;
        r.verdict = Verdict::Mismatch;
        r.reason = Some(restore::mismatch_reason(&r.checks));
        return Err(r);
    }
    choose(&bound.references, baseline).ok_or_else(|| {
        r.verdict = Verdict::NoReference;
        r.checks = bound.checks;
        r.reason = Some(
            "no first-seen baseline, stored checksum or MD5 ETag for S3 to compute and compare with; a restore drill of the source records a baseline".into(),
        );
        r
    })
}

fn aborted(mut r: SampleResult, why: String) -> SampleResult {
    r.verdict = Verdict::Aborted;
    r.reason = Some(why);
    r
}

/// The verdict of `c` from its job's report.
pub(super) fn judge(
    exp: &Expected,
    c: Candidate,
    job: &str,
    state: &JobState,
    report: &Result<Option<Vec<ReportRow>>, String>,
    at: &Location,
) -> SampleResult {
    let mut r = SampleResult::unrecoverable(c.clone());
    r.attempts = 1;
    r.provider_checksum = Some(ProviderCheck {
        job_id: job.to_owned(),
        algorithm: exp.algorithm.clone(),
        checksum_type: exp.checksum_type.clone(),
    });
    let ended = if state.status == "Complete" {
        String::new()
    } else {
        format!(
            "; job {job} ended {}{}",
            state.status,
            if state.failures.is_empty() {
                String::new()
            } else {
                format!(": {}", state.failures.join("; "))
            }
        )
    };
    let rows = match report {
        Err(e) => {
            return aborted(
                r,
                format!("the completion report of job {job} cannot be read: {e}"),
            )
        }
        Ok(None) => {
            return aborted(
                r,
                format!("job {job} wrote no completion report under {at}job-{job}/{ended}"),
            )
        }
        Ok(Some(rows)) => rows,
    };
    let Some(row) = rows
        .iter()
        .find(|row| row.key == c.key && row.version_id == c.version_id)
    else {
        return aborted(
            r,
            format!("the completion report of job {job} has no row for this version{ended}"),
        );
    };
    if row.status != "succeeded" {
        return failed_task(r, row, job, &ended);
    }
    let computed = match batch::computed(&row.message) {
        Ok(v) => v,
        Err(e) => return aborted(r, format!("job {job}'s report row cannot be read: {e}")),
    };
    if let Some(a) = computed
        .algorithm
        .as_deref()
        .filter(|a| *a != exp.algorithm)
    {
        return aborted(
            r,
            format!(
                "job {job} reports a {a} checksum, not the {} it was asked for",
                exp.algorithm
            ),
        );
    }
    let checks = compared(exp, &c, &computed, job);
    r.verdict = verdict(&checks);
    if r.verdict == Verdict::Mismatch {
        r.reason = Some(restore::mismatch_reason(&checks));
    }
    if exp.algorithm == "SHA256" && exp.checksum_type == "FULL_OBJECT" {
        r.sha256 = Some(hex::encode(&computed.digest));
    }
    r.checks = checks;
    r
}

/// The job's checksum against the reference, and the ETag the job saw
/// against the listing's.
fn compared(exp: &Expected, c: &Candidate, computed: &batch::Computed, job: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    if let (Some(listed), Some(seen)) = (c.etag.as_deref(), computed.etag.as_deref()) {
        let same = listed.eq_ignore_ascii_case(seen);
        checks.push(Check {
            name: "identity.report.etag".into(),
            kind: ReferenceKind::Identity,
            expected: listed.to_owned(),
            actual: seen.to_owned(),
            outcome: if same {
                Outcome::Match
            } else {
                Outcome::Mismatch
            },
            note: (!same).then(|| {
                "the job computed the checksum of an object other than the version listed".into()
            }),
        });
    }
    let matched = exp.digest().is_some_and(|d| d == computed.digest);
    checks.push(Check {
        name: exp.reference.clone(),
        kind: exp.kind,
        expected: exp.value.clone(),
        actual: exp.show(&computed.digest),
        outcome: if matched {
            Outcome::Match
        } else {
            Outcome::Mismatch
        },
        note: Some(format!(
            "computed at rest by S3 Batch Operations job {job} ({} {}); nothing was restored",
            exp.algorithm, exp.checksum_type
        )),
    });
    checks
}

/// A task S3 could not run: a version that is gone is `unrecoverable`, and
/// so is one the job's role may not read (as a restore that may not read
/// it); S3's own failures (5xx, throttling) leave it not judged.
fn failed_task(mut r: SampleResult, row: &ReportRow, job: &str, ended: &str) -> SampleResult {
    let code = row.error_code.as_deref().unwrap_or("");
    let http = row.http_status.unwrap_or(0);
    let said = format!(
        "S3 Batch Operations job {job} could not read it: {}{}{}{ended}",
        if code.is_empty() { "failed" } else { code },
        if http == 0 {
            String::new()
        } else {
            format!(" (HTTP {http})")
        },
        if row.message.is_empty() {
            String::new()
        } else {
            format!(": {}", row.message)
        }
    );
    let class = if http == 404 || code.starts_with("NoSuch") {
        ErrorClass::NotFound
    } else if http == 403 || code.contains("AccessDenied") || code.contains("KMS") {
        ErrorClass::AccessDenied
    } else if http >= 500 || matches!(code, "SlowDown" | "InternalError" | "ServiceUnavailable") {
        r.error_class = Some(ErrorClass::Server);
        return aborted(r, said);
    } else {
        ErrorClass::Protocol
    };
    r.verdict = Verdict::Unrecoverable;
    r.error_class = Some(class);
    r.reason = Some(if class == ErrorClass::AccessDenied {
        format!("{said}; the job's role needs s3:GetObject and s3:GetObjectVersion on the bucket, and kms:Decrypt for SSE-KMS objects (packaging/aws/iam-role-batch-checksum.json)")
    } else {
        said
    });
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected() -> Expected {
        Expected {
            algorithm: "MD5".into(),
            checksum_type: "FULL_OBJECT".into(),
            reference: "s3.etag".into(),
            kind: ReferenceKind::Etag,
            value: "9e107d9d372bb6826bd81d3542a419d6".into(),
        }
    }

    fn point() -> Candidate {
        Candidate {
            key: "k".into(),
            version_id: Some("v1".into()),
            etag: Some("9e107d9d372bb6826bd81d3542a419d6".into()),
            ..Candidate::default()
        }
    }

    fn row(status: &str, http: u16, code: Option<&str>, message: &str) -> ReportRow {
        ReportRow {
            bucket: "b".into(),
            key: "k".into(),
            version_id: Some("v1".into()),
            status: status.into(),
            http_status: Some(http),
            error_code: code.map(str::to_owned),
            message: message.into(),
        }
    }

    fn complete() -> JobState {
        JobState {
            status: "Complete".into(),
            ..JobState::default()
        }
    }

    fn at() -> Location {
        Location::parse("s3://ops/reports/").expect("location")
    }

    #[test]
    fn the_reference_matched_is_verified() {
        let ok = row("succeeded", 200, None, "{\"checksum_hex\":\"9e107d9d372bb6826bd81d3542a419d6\",\"checksumAlgorithm\":\"MD5\",\"etag\":\"9e107d9d372bb6826bd81d3542a419d6\"}");
        let r = judge(
            &expected(),
            point(),
            "j",
            &complete(),
            &Ok(Some(vec![ok])),
            &at(),
        );
        assert_eq!(r.verdict, Verdict::Verified, "{:?}", r.checks);
    }

    /// A job that computed the checksum of another object (its report names
    /// another ETag than the listing's) proves nothing of the version asked
    /// for, even when the checksum equals the reference.
    #[test]
    fn a_report_naming_another_object_is_a_mismatch() {
        let other = row("succeeded", 200, None, "{\"checksum_hex\":\"9e107d9d372bb6826bd81d3542a419d6\",\"etag\":\"0000000000000000000000000000beef\"}");
        let r = judge(
            &expected(),
            point(),
            "j",
            &complete(),
            &Ok(Some(vec![other])),
            &at(),
        );
        assert_eq!(r.verdict, Verdict::Mismatch);
        assert!(r
            .checks
            .iter()
            .any(|c| c.name == "identity.report.etag" && c.outcome == Outcome::Mismatch));
    }

    #[test]
    fn the_jobs_own_problems_are_never_the_backups() {
        let throttled = row(
            "failed",
            503,
            Some("SlowDown"),
            "Please reduce your request rate",
        );
        let r = judge(
            &expected(),
            point(),
            "j",
            &complete(),
            &Ok(Some(vec![throttled])),
            &at(),
        );
        assert_eq!(r.verdict, Verdict::Aborted);
        let r = judge(
            &expected(),
            point(),
            "j",
            &complete(),
            &Ok(Some(vec![])),
            &at(),
        );
        assert_eq!(r.verdict, Verdict::Aborted, "no row for it");
        let r = judge(&expected(), point(), "j", &complete(), &Ok(None), &at());
        assert_eq!(r.verdict, Verdict::Aborted, "no report");
        let unreadable = row("succeeded", 200, None, "Successful");
        let r = judge(
            &expected(),
            point(),
            "j",
            &complete(),
            &Ok(Some(vec![unreadable])),
            &at(),
        );
        assert_eq!(r.verdict, Verdict::Aborted, "an unreadable row");
        let gone = row(
            "failed",
            404,
            Some("NoSuchVersion"),
            "The specified version does not exist.",
        );
        let r = judge(
            &expected(),
            point(),
            "j",
            &complete(),
            &Ok(Some(vec![gone])),
            &at(),
        );
        assert_eq!(r.verdict, Verdict::Unrecoverable);
        assert_eq!(r.error_class, Some(ErrorClass::NotFound));
    }
}
