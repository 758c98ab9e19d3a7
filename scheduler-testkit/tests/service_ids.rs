//! The in-memory task service stores ids trimmed (behaviour section 8: ids are compared
//! after trimming): a task enqueued or re-described under a padded id is the task of the
//! trimmed id, and every run of it sees the description.

use std::time::{Duration, SystemTime};

use scheduler_core::model::Priority;
use scheduler_testkit::service::{MemoryTaskService, RunSpec, TaskSpec};

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

#[test]
fn a_task_enqueued_under_a_padded_id_is_stored_under_the_trimmed_id() {
    let s = MemoryTaskService::new();
    s.enqueue(&TaskSpec::new(" task-1 "), &RunSpec::new("run-1"), t0()).unwrap();
    let task = s.task("task-1").expect("stored under the trimmed id");
    assert_eq!(task.task_id, "task-1");
    assert_eq!(s.snapshot("run-1").unwrap().task_id, "task-1");
    // A second run of the same task, named without the padding, joins it.
    s.enqueue(&TaskSpec::new("task-1").priority(Priority::High), &RunSpec::new("run-2"), t0()).unwrap();
    assert_eq!(s.snapshot("run-1").unwrap().priority, Priority::High, "one task, re-described for every run");
}

#[test]
fn a_task_updated_under_a_padded_id_reaches_every_run_of_the_trimmed_id() {
    let s = MemoryTaskService::new();
    s.enqueue(&TaskSpec::new("task-1"), &RunSpec::new("run-1"), t0()).unwrap();
    s.enqueue(&TaskSpec::new("task-1"), &RunSpec::new("run-2"), t0()).unwrap();
    s.update_task(&TaskSpec::new(" task-1 ").priority(Priority::Urgent), t0()).unwrap();
    assert_eq!(s.task("task-1"), Some(TaskSpec::new("task-1").priority(Priority::Urgent)));
    for run in ["run-1", "run-2"] {
        let snap = s.snapshot(run).unwrap();
        assert_eq!((snap.task_id.as_str(), snap.priority), ("task-1", Priority::Urgent), "{run}");
    }
}
