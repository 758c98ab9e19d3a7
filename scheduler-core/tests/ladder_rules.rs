//! The ladder's small rules, each pinned on its own (mutation testing found them unpinned;
//! see `MUTATION.md`).

use scheduler_core::ladder::Tier;

/// A tier's number is what durable stores keep: 0 to 4 in ladder order, and each number
/// reads back as its tier; no other number is a tier.
#[test]
fn tier_numbers_are_stable_and_read_back() {
    let tiers = [Tier::None, Tier::FanOut, Tier::Spawn, Tier::Event, Tier::NeedsAttention];
    for (n, tier) in tiers.into_iter().enumerate() {
        assert_eq!(tier.as_u8(), n as u8, "{tier:?}");
        assert_eq!(Tier::from_u8(n as u8), Some(tier), "{n}");
    }
    for n in 5..=u8::MAX {
        assert_eq!(Tier::from_u8(n), None, "{n}");
    }
}
