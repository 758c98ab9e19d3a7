//! Claim tokens: the secret that fences every lease operation.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use subtle::ConstantTimeEq;

/// The secret a successful claim hands out once; every later operation on the lease
/// (`start`, `heartbeat`, `complete`, `fail`, `release`) must present it.
///
/// A token is a secret:
/// - equality is decided in constant time (for equal lengths), with [`subtle`], so a
///   caller cannot learn a token byte by byte from response times;
/// - `Debug` prints `ClaimToken(<redacted>)`, and there is no `Display`, so a token
///   does not end up in logs or error messages by accident;
/// - [`expose_secret`](Self::expose_secret) is the one explicit way to read it (to
///   store it, or send it to the worker).
///
/// ```
/// use scheduler_testkit::service::ClaimToken;
///
/// let token = ClaimToken::generate();
/// assert_eq!(format!("{token:?}"), "ClaimToken(<redacted>)");
/// assert_eq!(token, ClaimToken::new(token.expose_secret()));
/// assert_ne!(token, ClaimToken::generate());
/// ```
#[derive(Clone)]
pub struct ClaimToken(Box<str>);

impl ClaimToken {
    /// Wraps an existing secret (a token read back from storage, say).
    pub fn new(secret: impl Into<String>) -> Self {
        ClaimToken(secret.into().into_boxed_str())
    }

    /// A fresh, unpredictable token: `ct_` and 32 hex digits, from a process-wide
    /// counter hashed with randomly keyed SipHash (std's `RandomState`). Unique within
    /// the process and not guessable from other tokens; good enough for a test double,
    /// not a replacement for a CSPRNG in production.
    pub fn generate() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut secret = String::with_capacity(35);
        secret.push_str("ct_");
        for lane in 0..2u64 {
            let mut h = RandomState::new().build_hasher();
            h.write_u64(n);
            h.write_u64(lane);
            let word = h.finish();
            for shift in (0..16).rev() {
                let nibble = ((word >> (shift * 4)) & 0xf) as u32;
                secret.push(char::from_digit(nibble, 16).unwrap_or('0'));
            }
        }
        ClaimToken(secret.into_boxed_str())
    }

    /// The secret itself. Handle with care: never log it or put it in an error.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether `other` is the same token, compared in constant time.
    pub fn matches(&self, other: &ClaimToken) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl PartialEq for ClaimToken {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other)
    }
}

impl Eq for ClaimToken {}

impl fmt::Debug for ClaimToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClaimToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_distinct_and_well_formed() {
        let tokens: Vec<_> = (0..200).map(|_| ClaimToken::generate()).collect();
        for (i, a) in tokens.iter().enumerate() {
            assert_eq!(a.expose_secret().len(), 35);
            assert!(a.expose_secret().starts_with("ct_"));
            assert!(a.expose_secret()[3..].bytes().all(|b| b.is_ascii_hexdigit()));
            for b in &tokens[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn equality_is_by_secret_and_debug_redacts() {
        let a = ClaimToken::new("ct_secret");
        assert_eq!(a, ClaimToken::new(String::from("ct_secret")));
        assert_ne!(a, ClaimToken::new("ct_secreT"));
        assert_ne!(a, ClaimToken::new("ct_secret2"));
        assert_ne!(a, ClaimToken::new(""));
        let debug = format!("{a:?}");
        assert!(!debug.contains("secret"), "{debug}");
    }
}
