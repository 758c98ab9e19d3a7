//! The owned cycle result: `into_result` keeps the typed errors, `to_result` renders
//! them as text.

mod common;

use common::{Rig, block_on};
use scheduler_core::{Call, Error};
use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};

#[test]
fn into_result_keeps_the_typed_errors() {
    let rig = Rig::new();
    rig.tasks.set_pending([RunSnapshot::queued("run-1", "task-1")]);
    rig.sessions.set([SessionSnapshot::active("sess-1")]);
    rig.waker.fail_run("run-1");
    let mut s = rig.build();

    let report = block_on(s.run_once());
    let text = report.to_result();
    let owned = report.into_result();
    assert_eq!(owned.errors.len(), 1);
    let Error::Wake { run_id, session_id, source } = &owned.errors[0] else {
        panic!("not a wake error: {:?}", owned.errors);
    };
    assert_eq!((run_id.as_str(), session_id.as_str(), source.op), ("run-1", "sess-1", "wake"));
    assert_eq!(owned.errors[0].call(), Call::Wake);
    assert_eq!(text.errors, [owned.errors[0].to_string()]);
    assert_eq!((owned.counts, owned.selected_run_ids.clone()), (text.counts, text.selected_run_ids));

    // The next cycle reports its own errors again.
    let report = block_on(s.run_once());
    assert_eq!(report.errors().len(), 1);
}
