//! Token secrets: generated from the OS RNG, shown once, stored as SHA-256 hashes. The secrets
//! carry 192 random bits, so a fast hash is enough (no password stretching needed).

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::store::tenancy::TokenKind;

/// A fresh secret for a token of `kind`: `rgw_pat_…` or `rgw_sk_…` plus 48 hex characters.
pub fn generate(kind: TokenKind) -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let tag = match kind {
        TokenKind::Pat => "pat",
        TokenKind::ServiceKey => "sk",
    };
    format!("rgw_{tag}_{}", hex::encode(bytes))
}

/// The stored form of a secret.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The displayable start of a secret (kind tag and 4 random characters).
pub fn prefix(secret: &str) -> String {
    let end = secret.len().min(secret.rfind('_').map_or(0, |i| i + 5));
    secret[..end].to_owned()
}

/// Compare two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (ha, hb) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    ha.iter()
        .zip(hb.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_hashed_and_prefixed() {
        let a = generate(TokenKind::Pat);
        let b = generate(TokenKind::Pat);
        assert_ne!(a, b);
        assert!(a.starts_with("rgw_pat_") && a.len() == 8 + 48, "{a}");
        assert!(generate(TokenKind::ServiceKey).starts_with("rgw_sk_"));
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
        assert!(!hash(&a).contains(&a[8..]));
        assert_eq!(prefix(&a), a[..12]);
        assert!(constant_time_eq(&a, &a.clone()));
        assert!(!constant_time_eq(&a, &b));
    }
}
