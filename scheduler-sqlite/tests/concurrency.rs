//! Atomicity over independent handles: several `Store`s opened on one file (each with
//! its own writer connection and readers), and separate OS processes. A check that
//! "two claims never both win" only means something here: one connection that
//! serialises every call would prove nothing.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::{LEASE, run, t, temp_db};
use scheduler_core::lease::{ClaimRequest, LeaseService, RunSpec, TaskSpec};
use scheduler_core::seam::{Recovery, TaskSource};
use scheduler_core::view::RecoveredView;
use scheduler_sqlite::Store;

const RUNS: usize = 120;

fn fill(path: &Path, runs: usize) {
    let store = Store::open(path).unwrap();
    let tasks = store.tasks();
    run(async {
        for i in 0..runs {
            tasks
                .enqueue(&TaskSpec::new(format!("t{}", i % 7)), &RunSpec::new(format!("r{i:04}")), t(i as u64))
                .await
                .unwrap();
        }
    });
}

/// Claims and completes runs as session `who` until none is left; returns the run ids
/// won.
fn drain(store: &Store, who: &str) -> Vec<String> {
    let tasks = store.tasks();
    run(async {
        let mut won = Vec::new();
        while let Some(lease) = tasks.claim(&ClaimRequest::session(who), LEASE, t(1_000)).await.unwrap() {
            tasks.complete(&lease.run_id, &lease.token, t(1_001)).await.unwrap();
            won.push(lease.run_id);
        }
        won
    })
}

fn assert_one_winner_per_run(won: &[String], runs: usize) {
    let unique: HashSet<&String> = won.iter().collect();
    assert_eq!(unique.len(), won.len(), "a run was won twice");
    assert_eq!(won.len(), runs, "every run was won once");
}

#[test]
fn independent_stores_on_one_file_never_both_win_a_run() {
    let (_dir, path) = temp_db();
    fill(&path, RUNS);
    let stores: Vec<Store> = (0..4).map(|_| Store::open(&path).unwrap()).collect();
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (store, barrier) = (stores[i % 4].clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                drain(&store, &format!("sess-{i}"))
            })
        })
        .collect();
    let won: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert_one_winner_per_run(&won, RUNS);
}

#[test]
fn one_session_claiming_through_two_stores_wins_at_most_once() {
    let (_dir, path) = temp_db();
    fill(&path, 20);
    let (a, b) = (Store::open(&path).unwrap(), Store::open(&path).unwrap());
    for round in 0..10 {
        let barrier = Arc::new(Barrier::new(2));
        let claims: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .map(|store| {
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    run(store.tasks().claim(&ClaimRequest::session("same"), LEASE, t(2_000)))
                })
            })
            .collect();
        let results: Vec<_> = claims.into_iter().map(|h| h.join().unwrap()).collect();
        let wins: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok().and_then(Option::as_ref)).collect();
        assert_eq!(wins.len(), 1, "round {round}: {results:?}");
        run(a.tasks().complete(&wins[0].run_id, &wins[0].token, t(2_001))).unwrap();
    }
}

#[test]
fn concurrent_sweeps_recover_each_lease_once() {
    let (_dir, path) = temp_db();
    fill(&path, 40);
    let (a, b) = (Store::open(&path).unwrap(), Store::open(&path).unwrap());
    run(async {
        for i in 0..40 {
            a.tasks()
                .claim(&ClaimRequest::session(format!("s{i}")), Duration::from_secs(10), t(100))
                .await
                .unwrap()
                .unwrap();
        }
    });
    let barrier = Arc::new(Barrier::new(4));
    let sweeps: Vec<_> = [a.clone(), b.clone(), a, b]
        .into_iter()
        .map(|store| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                let mut out = Vec::new();
                let request = Recovery { now: t(500), reason: "sweep", limit: 7, actor: "scheduler" };
                let tasks = store.tasks();
                loop {
                    let before = out.len();
                    run(tasks.recover_expired_leases(request, &mut out)).unwrap();
                    if out.len() == before {
                        return out.iter().map(|r| r.run_id().to_owned()).collect::<Vec<_>>();
                    }
                }
            })
        })
        .collect();
    let recovered: Vec<String> = sweeps.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert_one_winner_per_run(&recovered, 40);
}

const CHILD_ENV: &str = "SCHEDULER_SQLITE_CHILD_DB";

/// Not a test on its own: the body of a child process of
/// `two_processes_on_one_file_have_one_winner_per_run`, which re-runs this test binary
/// with the database path in the environment.
#[test]
fn child_claimer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else { return };
    let store = Store::open(PathBuf::from(path)).unwrap();
    for run_id in drain(&store, &format!("child-{}", std::process::id())) {
        println!("CLAIMED {run_id}");
    }
}

#[test]
fn two_processes_on_one_file_have_one_winner_per_run() {
    let (_dir, path) = temp_db();
    fill(&path, RUNS);
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "child_claimer", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, &path)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // This process claims too.
    let mut won = drain(&Store::open(&path).unwrap(), "parent");
    let mut per_child = Vec::new();
    for mut child in children {
        let out = BufReader::new(child.stdout.take().unwrap());
        let claimed: Vec<String> =
            // libtest prints its own "test child_claimer ... " before the first line.
            out.lines().map_while(Result::ok).filter_map(|l| l.split_once("CLAIMED ").map(|(_, id)| id.to_owned())).collect();
        assert!(child.wait().unwrap().success());
        per_child.push(claimed.len());
        won.extend(claimed);
    }
    assert_one_winner_per_run(&won, RUNS);
    assert_eq!(per_child.len(), 2);
}
