//! Claim tokens: the secret that fences every lease operation.

use std::fmt;

use subtle::ConstantTimeEq;

/// The secret a successful claim hands out once; every later operation on the lease
/// (`start`, `heartbeat`, `complete`, `fail`, `release`) must present it.
///
/// A token is a secret:
/// - [`generate`](Self::generate) draws 128 bits from the operating system's CSPRNG
///   (through [`getrandom`]), so a token cannot be guessed from other tokens;
/// - equality compares every byte, exactly (no case folding, trimming or prefix match),
///   in constant time for tokens of equal length (with [`subtle`]), so a caller cannot
///   learn a token byte by byte from response times;
/// - `Debug` prints `ClaimToken(<redacted>)` and there is no `Display`, so a token does
///   not end up in logs or error messages by accident;
/// - [`expose_secret`](Self::expose_secret) is the one explicit way to read it (to
///   store it, or hand it to the worker).
///
/// ```
/// use scheduler_core::lease::ClaimToken;
///
/// let token = ClaimToken::generate();
/// assert_eq!(format!("{token:?}"), "ClaimToken(<redacted>)");
/// assert_eq!(token, ClaimToken::new(token.expose_secret()));
/// assert_ne!(token, ClaimToken::new(token.expose_secret().to_uppercase()));
/// assert_ne!(token, ClaimToken::generate());
/// ```
#[derive(Clone)]
pub struct ClaimToken(Box<str>);

impl ClaimToken {
    /// Bytes of randomness in a generated token.
    pub const RANDOM_BYTES: usize = 16;

    /// Wraps an existing secret (a token read back from storage, or presented by a
    /// worker).
    pub fn new(secret: impl Into<String>) -> Self {
        ClaimToken(secret.into().into_boxed_str())
    }

    /// A fresh token: `ct_` and 32 lowercase hex digits encoding 128 random bits from
    /// the operating system.
    ///
    /// # Panics
    /// When the operating system's random source fails, which `getrandom` documents
    /// as not happening on supported platforms once the system has booted.
    pub fn generate() -> Self {
        let mut bytes = [0u8; Self::RANDOM_BYTES];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        let mut secret = String::with_capacity(3 + 2 * Self::RANDOM_BYTES);
        secret.push_str("ct_");
        for b in bytes {
            for nibble in [b >> 4, b & 0xf] {
                secret.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
            }
        }
        ClaimToken(secret.into_boxed_str())
    }

    /// The secret itself. Handle with care: never log it or put it in an error.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether `other` is the same token: byte for byte, in constant time for equal
    /// lengths.
    pub fn matches(&self, other: &ClaimToken) -> bool {
        self.matches_secret(other.expose_secret())
    }

    /// Whether `secret` is this token's secret: byte for byte, in constant time for
    /// equal lengths. For a store that reads the presented token's secret.
    pub fn matches_secret(&self, secret: &str) -> bool {
        self.0.as_bytes().ct_eq(secret.as_bytes()).into()
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
            assert!(a.expose_secret()[3..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            for b in &tokens[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn equality_is_exact_and_debug_redacts() {
        let a = ClaimToken::new("ct_secret");
        assert_eq!(a, ClaimToken::new(String::from("ct_secret")));
        for other in ["ct_secreT", "ct_secret2", "ct_secre", " ct_secret", "ct_secret ", ""] {
            assert_ne!(a, ClaimToken::new(other), "{other:?}");
            assert!(!a.matches_secret(other), "{other:?}");
        }
        let debug = format!("{a:?}");
        assert!(!debug.contains("secret"), "{debug}");
    }
}
