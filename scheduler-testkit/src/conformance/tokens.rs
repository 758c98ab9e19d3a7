//! Claim tokens: every fenced operation checks them, exactly; a refusal changes
//! nothing; each claim gets a fresh, long token; stale tokens are refused; an ended but
//! unswept lease still answers to its token; tokens never show in errors.

use std::fmt;
use std::time::SystemTime;

use scheduler_core::lease::{ClaimToken, ErrorKind, LeaseService, ServiceError};
use scheduler_core::model::RunStatus;

use super::support::*;
use super::{Backend, Fixture, Runner, checks};

pub(super) async fn run<'a, B: Backend + ?Sized>(r: &mut Runner<'a, B>) {
    checks!(r;
        wrong_token_is_refused ["token.fenced", "token.changes_nothing"] Fresh,
        token_is_compared_exactly ["token.exact"] Fresh,
        tokens_are_fresh_and_long ["token.fresh"] Fresh,
        stale_token_is_refused ["token.stale"] Fresh,
        expired_unswept_lease_answers_to_its_token ["token.expired_unswept"] Fresh,
        tokens_stay_secret ["token.secret"] Fresh,
    );
}

/// The token-fenced operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Start,
    Heartbeat,
    Complete,
    Fail,
    Release,
}

impl Op {
    pub(super) const ALL: [Op; 5] = [Op::Start, Op::Heartbeat, Op::Complete, Op::Fail, Op::Release];

    pub(super) async fn apply<S: LeaseService>(
        self,
        svc: &S,
        run_id: &str,
        token: &ClaimToken,
        now: SystemTime,
    ) -> Result<(), S::Error> {
        match self {
            Op::Start => svc.start(run_id, token, now).await,
            Op::Heartbeat => svc.heartbeat(run_id, token, LEASE, now).await.map(drop),
            Op::Complete => svc.complete(run_id, token, now).await,
            Op::Fail => svc.fail(run_id, token, "conformance", now).await,
            Op::Release => svc.release(run_id, token, now).await,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Start => "start",
            Op::Heartbeat => "heartbeat",
            Op::Complete => "complete",
            Op::Fail => "fail",
            Op::Release => "release",
        })
    }
}

/// Fails `rule` unless `op` with `token` is refused as `TokenRejected`.
pub(super) async fn refused<S: LeaseService>(
    c: Check,
    svc: &S,
    op: Op,
    run_id: &str,
    token: &ClaimToken,
    label: &str,
    rule: &'static str,
) -> Result<S::Error, Failure> {
    let result = op.apply(svc, run_id, token, at(30)).await;
    c.err(result, ErrorKind::TokenRejected, rule, format_args!("{op} of {run_id} with {label}"))
}

/// `token.fenced`, `token.changes_nothing`: every fenced operation refuses a token that
/// is not the run's (another run's, a forged one, an empty one) as `TokenRejected`,
/// and a refusal changes nothing (runs, leases, pending and active reads).
pub async fn wrong_token_is_refused<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("wrong_token_is_refused");
    let svc = fx.tasks();
    put_plain(c, svc, "run-a", at(0)).await?;
    put_plain(c, svc, "run-b", at(1)).await?;
    claim_run(c, svc, "sess-a", "run-a", LEASE, at(2)).await?;
    let b = claim_run(c, svc, "sess-b", "run-b", LEASE, at(2)).await?;
    let before = observe(c, svc, &["run-a", "run-b"], "token.changes_nothing").await?;
    let forged = ClaimToken::generate();
    let empty = ClaimToken::new("");
    for op in Op::ALL {
        for (token, label) in [(&b.token, "run-b's token"), (&forged, "a forged token"), (&empty, "an empty token")] {
            refused(c, svc, op, "run-a", token, label, "token.fenced").await?;
        }
    }
    let after = observe(c, svc, &["run-a", "run-b"], "token.changes_nothing").await?;
    c.eq(after, before, "token.changes_nothing", "the service after every refusal")
}

/// `token.exact`: tokens compare byte for byte: the right token in another case, with
/// spaces around, cut short, extended, or with its last character changed is refused.
pub async fn token_is_compared_exactly<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("token_is_compared_exactly");
    let rule = "token.exact";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    let lease = claim_run(c, svc, "sess-1", "run-1", LEASE, at(1)).await?;
    let secret = lease.token.expose_secret();
    let mut last_changed = secret.to_owned();
    let last = last_changed.pop().unwrap_or('x');
    last_changed.push(if last == '0' { '1' } else { '0' });
    let variants = [
        (secret.to_uppercase(), "the token upper-cased"),
        (format!(" {secret} "), "the token with spaces around"),
        (secret[..secret.len() - 1].to_owned(), "the token without its last character"),
        (format!("{secret}0"), "the token with a character added"),
        (last_changed, "the token with its last character changed"),
        (secret.chars().take(8).collect(), "the token's first 8 characters"),
    ];
    for (variant, label) in &variants {
        if variant == secret {
            continue;
        }
        for op in [Op::Release, Op::Complete] {
            refused(c, svc, op, "run-1", &ClaimToken::new(variant.clone()), label, rule).await?;
        }
    }
    c.ok(svc.release("run-1", &lease.token, at(31)).await, rule, "release with the exact token")
}

/// `token.fresh`: every claim hands out a new token (a run claimed, released and
/// claimed again gets a different one each time) of at least 128 bits (16 bytes).
pub async fn tokens_are_fresh_and_long<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("tokens_are_fresh_and_long");
    let rule = "token.fresh";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    let mut seen: Vec<String> = Vec::new();
    for i in 0..12 {
        let lease = claim_run(c, svc, &format!("sess-{i}"), "run-1", LEASE, at(1 + i)).await?;
        let secret = lease.token.expose_secret().to_owned();
        c.ensure(secret.len() >= 16, rule, format_args!("claim {i}'s token"), "at least 16 bytes", || {
            format!("{} bytes", secret.len())
        })?;
        c.ensure(
            !seen.contains(&secret),
            rule,
            format_args!("claim {i}'s token"),
            "a token no earlier claim had",
            || "a token handed out before".to_owned(),
        )?;
        seen.push(secret);
        c.setup(svc.release("run-1", &lease.token, at(1 + i)).await, "release run-1")?;
    }
    Ok(())
}

/// `token.stale`: once a lease is over (released, completed, failed) its token is
/// refused, also after another session claimed the run again, whose lease is untouched.
pub async fn stale_token_is_refused<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("stale_token_is_refused");
    let rule = "token.stale";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    let old = claim_run(c, svc, "sess-a", "run-1", LEASE, at(2)).await?;
    c.setup(svc.release("run-1", &old.token, at(3)).await, "release run-1")?;
    for op in Op::ALL {
        refused(c, svc, op, "run-1", &old.token, "the released lease's token", rule).await?;
    }
    let new = claim_run(c, svc, "sess-b", "run-1", LEASE, at(4)).await?;
    for op in Op::ALL {
        refused(c, svc, op, "run-1", &old.token, "the previous lease's token", rule).await?;
    }
    let lease = record(c, svc, "run-1", rule).await?.map(|r| (r.status, r.session_id, r.lease_until));
    let expected = (RunStatus::Claimed, Some("sess-b".to_owned()), Some(at(64)));
    c.eq(lease, Some(expected), rule, "(status, session, lease end) of run-1: sess-b's lease")?;
    c.setup(svc.start("run-1", &new.token, at(5)).await, "start run-1")?;
    c.setup(svc.complete("run-1", &new.token, at(5)).await, "complete run-1")?;
    refused(c, svc, Op::Release, "run-1", &new.token, "the completed lease's token", rule).await?;
    put_plain(c, svc, "run-2", at(6)).await?;
    let done = claim_run(c, svc, "sess-c", "run-2", LEASE, at(6)).await?;
    c.setup(svc.start("run-2", &done.token, at(7)).await, "start run-2")?;
    c.setup(svc.fail("run-2", &done.token, "boom", at(7)).await, "fail run-2")?;
    refused(c, svc, Op::Complete, "run-2", &done.token, "the failed lease's token", rule).await?;
    let status = record(c, svc, "run-2", rule).await?.map(|r| r.status);
    c.eq(status, Some(RunStatus::Failed), rule, "status of run-2")
}

/// `token.expired_unswept`: a lease that ended but was not recovered yet still answers
/// to its token: the run can still be started with it.
pub async fn expired_unswept_lease_answers_to_its_token<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("expired_unswept_lease_answers_to_its_token");
    let rule = "token.expired_unswept";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    let lease = claim_run(c, svc, "sess-1", "run-1", LEASE, at(0)).await?;
    c.ok(svc.start("run-1", &lease.token, at(90)).await, rule, "start at T0+90s (lease ended at T0+60s)")?;
    let expected = leased(RunStatus::Running, "sess-1", at(60), at(0));
    c.eq(record(c, svc, "run-1", rule).await?, Some(expected), rule, "record of run-1")
}

fn leaks<E: ServiceError>(error: &E, secrets: &[&str]) -> Option<String> {
    let texts = [error.to_string(), format!("{error:?}")];
    secrets.iter().find(|s| texts.iter().any(|t| t.contains(*s))).map(|s| format!("an error quoting a token: {s:?}"))
}

/// `token.secret`: no token shows in an error's message or `Debug` (neither the one
/// presented nor the run's own), nor in a lease's `Debug`.
pub async fn tokens_stay_secret<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("tokens_stay_secret");
    let rule = "token.secret";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    let lease = claim_run(c, svc, "sess-1", "run-1", LEASE, at(1)).await?;
    let forged = ClaimToken::generate();
    let secrets = [lease.token.expose_secret(), forged.expose_secret()];
    let debug = format!("{lease:?}");
    c.ensure(!debug.contains(secrets[0]), rule, "Debug of the lease", "no token", || debug.clone())?;
    // Whether each refusal happens is other checks' business; here only its text.
    for op in Op::ALL {
        if let Err(e) = op.apply(svc, "run-1", &forged, at(2)).await {
            if let Some(leak) = leaks(&e, &secrets) {
                return Err(c.fail(
                    rule,
                    format_args!("{op} refusing a forged token"),
                    "an error without tokens",
                    leak,
                ));
            }
        }
    }
    c.setup(svc.release("run-1", &lease.token, at(2)).await, "release run-1")?;
    if let Err(e) = Op::Complete.apply(svc, "run-1", &lease.token, at(3)).await {
        if let Some(leak) = leaks(&e, &secrets) {
            return Err(c.fail(rule, "complete refusing a stale token", "an error without tokens", leak));
        }
    }
    Ok(())
}
