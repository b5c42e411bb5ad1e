//! The secrets every storage handles the same way: tokens and enrollment
//! codes are kept only as SHA-256 hashes; a used code keeps its token
//! sealed (XOR a key derived from the code) for the replay window, so that
//! a device whose answer was lost gets the same token again.

use sha2::{Digest, Sha256};

/// How long a used code still answers a retried enrollment with the same
/// token (the response may have been lost on a weak connection).
pub(super) const REPLAY_WINDOW_MS: i64 = 10 * 60 * 1000;
/// `last_seen` is written at most this often per device.
pub(super) const TOUCH_EVERY_MS: i64 = 60 * 1000;
/// Crockford base32: no I, L, O, U, so codes survive being read aloud.
const CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The hash under which a token is stored.
pub(super) fn token_hash(token: &str) -> [u8; 32] {
    sha256(&[token.trim().as_bytes()])
}

/// A code as typed: case, dashes and spaces ignored, look-alikes mapped.
pub(super) fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect()
}

pub(super) fn code_hash(normalised: &str) -> [u8; 32] {
    sha256(&[b"carnet-code:", normalised.as_bytes()])
}

pub(super) fn seal(token: &[u8; 32], normalised_code: &str) -> [u8; 32] {
    let pad = sha256(&[b"carnet-enroll-seal:", normalised_code.as_bytes()]);
    std::array::from_fn(|i| token[i] ^ pad[i])
}

pub(super) fn new_code() -> String {
    let bytes: [u8; 16] = rand::random();
    let chars: String = bytes
        .iter()
        .map(|b| CODE_ALPHABET[(b & 31) as usize] as char)
        .collect();
    format!(
        "{}-{}-{}-{}",
        &chars[0..4],
        &chars[4..8],
        &chars[8..12],
        &chars[12..16]
    )
}

pub(crate) fn is_team_id(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}
