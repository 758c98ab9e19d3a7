//! Behaviour section 6: settings, defaults and normalisation through the builder.

mod common;

use common::{Rig, mins, secs};
use scheduler_core::ladder::Thresholds;
use scheduler_core::{BuildError, Settings};

fn counts(t: &Thresholds) -> (u32, u32, u32, u32) {
    (t.fan_out_after, t.spawn_after, t.event_after, t.needs_attention_after)
}

#[test]
fn defaults() {
    let rig = Rig::new();
    let b = rig.builder();
    let st = b.settings();
    assert_eq!(st.interval(), secs(15));
    assert_eq!(st.wake_cooldown(), mins(1));
    assert_eq!(st.sweep_limit(), 100);
    assert_eq!(st.sweep_reason(), "scheduler_sweep");
    assert_eq!(st.wake_reason(), "pending_task_run");
    assert_eq!(st.actor(), "scheduler");
    assert_eq!(counts(st.thresholds()), (2, 4, 6, 10));
    assert_eq!(st.thresholds().min_queued_age, mins(2));
    assert_eq!(st, &Settings::default());
    let s = b.build().unwrap();
    assert_eq!(s.settings(), &Settings::default());
    assert_eq!(s.cooldown().period(), mins(1));
}

#[test]
fn interval_zero_takes_the_default() {
    let rig = Rig::new();
    assert_eq!(rig.builder().interval(secs(0)).settings().interval(), secs(15));
    assert_eq!(rig.builder().interval(secs(5)).settings().interval(), secs(5));
    let s = rig.builder().interval(secs(0)).build().unwrap();
    assert_eq!(s.settings().interval(), secs(15));
}

#[test]
fn cooldown_zero_disables_it() {
    let rig = Rig::new();
    let s = rig.builder().wake_cooldown(secs(0)).build().unwrap();
    assert_eq!(s.settings().wake_cooldown(), secs(0));
    assert!(!s.cooldown().is_enabled());
    let s = rig.builder().wake_cooldown(secs(7)).build().unwrap();
    assert_eq!(s.settings().wake_cooldown(), secs(7));
    assert_eq!(s.cooldown().period(), secs(7));
}

#[test]
fn sweep_limit_passes_through() {
    let rig = Rig::new();
    assert_eq!(rig.builder().sweep_limit(0).settings().sweep_limit(), 0);
    assert_eq!(rig.builder().sweep_limit(7).settings().sweep_limit(), 7);
    assert_eq!(rig.builder().sweep_limit(u32::MAX).build().unwrap().settings().sweep_limit(), u32::MAX);
}

#[test]
fn blank_reasons_take_the_defaults() {
    let rig = Rig::new();
    for blank in ["", " ", "   "] {
        let b = rig.builder().sweep_reason(blank).wake_reason(blank);
        let st = b.settings();
        assert_eq!(st.sweep_reason(), "scheduler_sweep", "{blank:?}");
        assert_eq!(st.wake_reason(), "pending_task_run", "{blank:?}");
        assert_eq!(st.actor(), "scheduler", "{blank:?}");
        assert!(b.build().is_ok());
    }
}

#[test]
fn given_reasons_and_actor_are_kept() {
    let rig = Rig::new();
    let s = rig.builder().sweep_reason("nightly").wake_reason("nudge").actor("daemon").build().unwrap();
    let st = s.settings();
    assert_eq!((st.sweep_reason(), st.wake_reason(), st.actor()), ("nightly", "nudge", "daemon"));
}

#[test]
fn control_characters_are_rejected_naming_the_setting() {
    let rig = Rig::new();
    let invalid = |r: Result<_, BuildError>, want: &str| match r {
        Err(BuildError::InvalidText { setting, value, problem }) => {
            assert_eq!(setting, want);
            assert!(value.contains('\u{7}') || value.contains('\n'), "{value:?}");
            assert!(problem.contains("control"), "{problem}");
        }
        Ok(_) => panic!("{want}: accepted a control character"),
        Err(other) => panic!("{want}: {other:?}"),
    };
    invalid(rig.builder().sweep_reason("a\nb").build().map(|_| ()), "sweep_reason");
    invalid(rig.builder().wake_reason("ding\u{7}").build().map(|_| ()), "wake_reason");
    invalid(rig.builder().actor("bad\nactor").build().map(|_| ()), "actor");
    let err = rig.builder().actor("bad\nactor").build().map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("`actor`"), "{err}");
}

#[test]
fn over_long_text_is_rejected() {
    let rig = Rig::new();
    let long = "x".repeat(Settings::MAX_TEXT_LEN + 1);
    match rig.builder().wake_reason(long).build().map(|_| ()) {
        Err(BuildError::InvalidText { setting: "wake_reason", .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(rig.builder().wake_reason("x".repeat(Settings::MAX_TEXT_LEN)).build().is_ok());
}

#[test]
fn zero_thresholds_take_the_defaults() {
    let rig = Rig::new();
    let zero = Thresholds {
        fan_out_after: 0,
        spawn_after: 0,
        event_after: 0,
        needs_attention_after: 0,
        min_queued_age: secs(0),
    };
    let b = rig.builder().starvation_thresholds(zero);
    assert_eq!(b.settings().thresholds(), &Thresholds::DEFAULT);
}

#[test]
fn thresholds_are_clamped_monotonic() {
    let rig = Rig::new();
    let raw = Thresholds {
        fan_out_after: 5,
        spawn_after: 3,
        event_after: 0,
        needs_attention_after: 4,
        min_queued_age: secs(30),
    };
    let b = rig.builder().starvation_thresholds(raw);
    assert_eq!(counts(b.settings().thresholds()), (5, 5, 6, 6));
    let raw = Thresholds {
        fan_out_after: 1,
        spawn_after: 2,
        event_after: 3,
        needs_attention_after: 1,
        min_queued_age: secs(30),
    };
    assert_eq!(counts(rig.builder().starvation_thresholds(raw).settings().thresholds()), (1, 2, 3, 3));
    let raw = Thresholds {
        fan_out_after: 12,
        spawn_after: 0,
        event_after: 0,
        needs_attention_after: 0,
        min_queued_age: secs(30),
    };
    assert_eq!(counts(rig.builder().starvation_thresholds(raw).settings().thresholds()), (12, 12, 12, 12));
}

#[test]
fn thresholds_set_the_min_queued_age_zero_takes_two_minutes() {
    let rig = Rig::new();
    let th = |age| Thresholds { min_queued_age: age, ..Thresholds::DEFAULT };
    assert_eq!(rig.builder().starvation_thresholds(th(secs(45))).settings().thresholds().min_queued_age, secs(45));
    assert_eq!(rig.builder().starvation_thresholds(th(secs(0))).settings().thresholds().min_queued_age, mins(2));
}

#[test]
fn starvation_age_alone_is_taken_as_is() {
    let rig = Rig::new();
    let b = rig.builder().starvation_age(secs(0));
    assert_eq!(b.settings().thresholds().min_queued_age, secs(0), "zero disables, not normalised");
    assert_eq!(counts(b.settings().thresholds()), (2, 4, 6, 10));
    let s = rig.builder().starvation_age(secs(45)).build().unwrap();
    assert_eq!(s.settings().thresholds().min_queued_age, secs(45));
}

#[test]
fn last_call_wins() {
    let rig = Rig::new();
    let custom = Thresholds::default()
        .fan_out_after(1)
        .spawn_after(2)
        .event_after(3)
        .needs_attention_after(4)
        .min_queued_age(secs(30));
    let b = rig.builder().starvation_thresholds(custom).starvation_age(secs(0));
    assert_eq!(b.settings().thresholds().min_queued_age, secs(0));
    assert_eq!(counts(b.settings().thresholds()), (1, 2, 3, 4), "the age call keeps the counts");

    let zero_age = Thresholds { min_queued_age: secs(0), ..Thresholds::DEFAULT };
    let b = rig.builder().starvation_age(secs(0)).starvation_thresholds(zero_age);
    assert_eq!(b.settings().thresholds().min_queued_age, mins(2));

    let b = rig
        .builder()
        .interval(secs(5))
        .interval(secs(7))
        .wake_reason("a")
        .wake_reason(" ")
        .sweep_limit(3)
        .sweep_limit(9);
    let st = b.settings();
    assert_eq!((st.interval(), st.wake_reason(), st.sweep_limit()), (secs(7), "pending_task_run", 9));

    let b = rig.builder().wake_cooldown(secs(0)).wake_cooldown(secs(9));
    assert_eq!(b.build().unwrap().cooldown().period(), secs(9));

    // A rejected value overridden before build is no longer rejected.
    assert!(rig.builder().actor("bad\nname").actor("good").build().is_ok());
}

#[test]
fn settings_survive_the_optional_seams_and_clock() {
    let rig = Rig::new();
    let s = rig
        .builder()
        .interval(secs(3))
        .wake_reason("nudge")
        .pause_store(rig.pause.clone())
        .starvation_store(rig.store.clone())
        .escalation_actor(rig.actor.clone())
        .build()
        .unwrap();
    assert_eq!((s.settings().interval(), s.settings().wake_reason()), (secs(3), "nudge"));
}
