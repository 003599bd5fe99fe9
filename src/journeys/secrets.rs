//! Generation of one-time codes, temporary passwords, flow ids and session
//! tokens, all from the operating system's CSPRNG.

use rand::rngs::OsRng;
use rand::TryRngCore;

/// Characters of temporary passwords: no `0 O o 1 l I i` or other look-alikes.
const TEMPORARY_PASSWORD_ALPHABET: &[u8] =
    b"23456789ABCDEFGHJKMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz";
pub const TEMPORARY_PASSWORD_LENGTH: usize = 12;

fn random_u32() -> u32 {
    OsRng
        .try_next_u32()
        .expect("the operating system's random source is available")
}

/// Returns a uniform random number below `bound` without modulo bias.
fn random_below(bound: u32) -> u32 {
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let value = random_u32();
        if value < zone {
            return value % bound;
        }
    }
}

/// Generates a six-digit one-time code.
pub fn one_time_code() -> String {
    format!("{:06}", random_below(1_000_000))
}

/// Generates a 12-character temporary password.
pub fn temporary_password() -> String {
    (0..TEMPORARY_PASSWORD_LENGTH)
        .map(|_| {
            let index = random_below(TEMPORARY_PASSWORD_ALPHABET.len() as u32) as usize;
            char::from(TEMPORARY_PASSWORD_ALPHABET[index])
        })
        .collect()
}

/// Generates an unguessable 128-bit identifier as 32 hex digits.
pub fn opaque_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random source is available");
    hex::encode(bytes)
}

/// Generates a 256-bit session token as 64 hex digits.
pub fn session_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random source is available");
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_has_six_digits() {
        for _ in 0..100 {
            let code = one_time_code();
            assert_eq!(code.len(), 6);
            assert!(code.chars().all(|c| c.is_ascii_digit()));
        }
    }

    #[test]
    fn temporary_password_avoids_lookalikes() {
        for _ in 0..100 {
            let password = temporary_password();
            assert_eq!(password.chars().count(), TEMPORARY_PASSWORD_LENGTH);
            assert!(
                !password.contains(['0', 'O', 'o', '1', 'l', 'I', 'i']),
                "{}",
                password.len()
            );
        }
    }
}
