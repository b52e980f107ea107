//! Bearer tokens and their hashes. A token is 32 random bytes from the OS, written as URL-safe
//! base64 without padding; only its SHA-256 (of the token's exact bytes, as
//! `printf %s "$TOKEN" | sha256sum` computes it) is ever stored, and hashes are compared in
//! constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// Random bytes in a new token: 256 bits, twice the 128 that make guessing hopeless.
const TOKEN_BYTES: usize = 32;

/// The SHA-256 of a bearer token.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of a token's exact bytes.
    pub(crate) fn of(token: &[u8]) -> TokenHash {
        TokenHash(Sha256::digest(token).into())
    }

    /// Reads a hash written as 64 hex digits (either case).
    pub(crate) fn parse_hex(text: &str) -> Result<TokenHash, String> {
        let digits = text.chars().count();
        if digits != 64 {
            return Err(format!(
                "token_sha256 must be 64 hex digits (the SHA-256 of the token, as \
                 `printf %s \"$TOKEN\" | sha256sum` prints it); this one has {digits}"
            ));
        }
        if let Some(bad) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(format!(
                "token_sha256 must be 64 hex digits; {bad:?} is not a hex digit"
            ));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|e| format!("token_sha256: {e}"))?;
        Ok(TokenHash(bytes))
    }

    /// 64 lower-case hex digits.
    pub(crate) fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    /// Equality that takes as long whatever the bytes.
    pub(crate) fn ct_eq(&self, other: &TokenHash) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

/// Never shows the hash: it is not the token, but it need not travel through logs either.
impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(…)")
    }
}

/// A fresh random token from the operating system's generator.
pub(crate) fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_sha256sum_of_the_exact_bytes() {
        let cases = [
            // printf %s 'Xb3kQ9-vL2_pR7tY' | sha256sum
            (
                "Xb3kQ9-vL2_pR7tY",
                "e6934743adaafccb852330753e54c6d7635e319dd1dfc1bd0f5ab05e0103e641",
            ),
            // printf %s test | sha256sum
            (
                "test",
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            ),
        ];
        for (token, hex) in cases {
            assert_eq!(TokenHash::of(token.as_bytes()).to_hex(), hex, "{token}");
        }
    }

    #[test]
    fn hex_reads_back_in_either_case_and_refuses_anything_else() {
        let hash = TokenHash::of(b"test");
        assert!(TokenHash::parse_hex(&hash.to_hex()).unwrap() == hash);
        assert!(TokenHash::parse_hex(&hash.to_hex().to_uppercase()).unwrap() == hash);
        let short = TokenHash::parse_hex("9f86d081").unwrap_err();
        assert!(
            short.contains("64 hex digits") && short.contains("has 8"),
            "{short}"
        );
        let not_hex = TokenHash::parse_hex(&"g".repeat(64)).unwrap_err();
        assert!(not_hex.contains("'g' is not a hex digit"), "{not_hex}");
        let wide = TokenHash::parse_hex(&"é".repeat(64)).unwrap_err();
        assert!(wide.contains("'é' is not a hex digit"), "{wide}");
    }

    #[test]
    fn new_tokens_are_long_url_safe_and_different() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        // 32 bytes in base64 without padding.
        assert_eq!(a.len(), 43, "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{a}"
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), TOKEN_BYTES);
    }

    #[test]
    fn comparison_needs_every_byte() {
        let hash = TokenHash::of(b"s3cret");
        assert!(bool::from(hash.ct_eq(&TokenHash::of(b"s3cret"))));
        assert!(!bool::from(hash.ct_eq(&TokenHash::of(b"s3creT"))));
        assert!(!bool::from(hash.ct_eq(&TokenHash::of(b"s3cret "))));
    }
}
