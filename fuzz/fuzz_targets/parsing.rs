//! Arbitrary text through every parser of `scheduler_core::model`: no panic, the
//! lenient and strict parsers agree, known values round-trip, and `Owner::from_parts`
//! keeps the reference it was given.
#![no_main]

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use scheduler_core::model::{Owner, Priority, RunStatus, Scope, SessionState, TaskStatus};

macro_rules! check_enum {
    ($ty:ty, $text:expr) => {{
        let text: &str = $text;
        let lenient = <$ty>::from_text(text);
        match <$ty as FromStr>::from_str(text) {
            Ok(strict) => {
                assert_eq!(strict, lenient, "strict and lenient parse disagree on {text:?}");
                assert_ne!(strict, <$ty>::Unknown);
            }
            Err(e) => {
                assert_eq!(lenient, <$ty>::Unknown, "strict parse refused {text:?} that lenient parse knows");
                assert_eq!(e.value, text);
                let _ = e.to_string();
            }
        }
        // Canonical spellings round-trip, also padded and upper-cased.
        if lenient != <$ty>::Unknown {
            let canonical = lenient.as_str();
            assert_eq!(<$ty>::from_text(canonical), lenient);
            assert_eq!(<$ty>::from_text(&format!("  {}\t", canonical.to_uppercase())), lenient);
            assert_eq!(lenient.to_string(), canonical);
        }
        // Surrounding white space never matters.
        assert_eq!(<$ty>::from_text(&format!(" {text} ")), <$ty>::from_text(text.trim()));
        lenient
    }};
}

fuzz_target!(|input: (String, String)| {
    let (a, b) = (&input.0, &input.1);
    let status = check_enum!(RunStatus, a);
    // An unknown run status is never queued, and never makes a session busy.
    if status == RunStatus::Unknown {
        assert!(!status.holds_session());
    }
    check_enum!(TaskStatus, a);
    let p = check_enum!(Priority, a);
    assert!(p.rank() <= 3);
    if p == Priority::Unknown {
        assert_eq!(p.rank(), Priority::Medium.rank());
    }
    check_enum!(Scope, a);
    check_enum!(SessionState, a);

    match Owner::from_parts(a, b) {
        Owner::Pool(r) | Owner::AgentSession(r) => assert_eq!(r, b.as_str(), "owner ref altered"),
        Owner::None => assert!(a.trim().is_empty() || a.trim().eq_ignore_ascii_case("none")),
        Owner::Unknown => assert!(!a.trim().is_empty()),
    }
    let _ = scheduler_core::model::id(a);
});
