//! Password hashing (Argon2id) and keyed digests (HMAC-SHA-256).
//!
//! Passwords, temporary passwords and security answers are hashed with
//! Argon2id. SSNs and one-time codes are stored as keyed digests instead: an
//! SSN must be found by value, and a code lives ten minutes and allows three
//! guesses, so a fast digest under a server key is enough for it.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Argon2id cost settings, named in every report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashProfile {
    /// OWASP's minimum for Argon2id: 19 MiB of memory, 2 passes, 1 lane.
    Production,
    /// Cheap parameters for functional tests and load runs that exercise the
    /// flows rather than the hashing.
    Fast,
}

impl HashProfile {
    pub fn name(self) -> &'static str {
        match self {
            HashProfile::Production => "production",
            HashProfile::Fast => "fast",
        }
    }

    fn params(self) -> Params {
        let (memory_kib, passes) = match self {
            HashProfile::Production => (19 * 1024, 2),
            HashProfile::Fast => (64, 1),
        };
        Params::new(memory_kib, passes, 1, None).expect("the built-in Argon2 parameters are valid")
    }
}

impl std::str::FromStr for HashProfile {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "production" => Ok(HashProfile::Production),
            "fast" => Ok(HashProfile::Fast),
            other => Err(format!(
                "unknown hash profile {other:?}; use \"production\" or \"fast\""
            )),
        }
    }
}

/// Hashes and verifies secrets with one Argon2id profile.
#[derive(Clone)]
pub struct PasswordHasherProfile {
    profile: HashProfile,
    argon2: Argon2<'static>,
    /// A hash of a random value, verified against when no account matched so
    /// that a sign-in for an unknown user costs as much as one for a known user.
    decoy_hash: String,
}

impl PasswordHasherProfile {
    pub fn new(profile: HashProfile) -> Self {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, profile.params());
        let salt = SaltString::generate(&mut OsRng);
        let decoy_hash = argon2
            .hash_password(salt.as_str().as_bytes(), &salt)
            .expect("hashing a short value with valid parameters succeeds")
            .to_string();
        Self {
            profile,
            argon2,
            decoy_hash,
        }
    }

    pub fn profile(&self) -> HashProfile {
        self.profile
    }

    /// Hashes `secret` into a PHC string with a fresh random salt.
    pub fn hash(&self, secret: &str) -> String {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2
            .hash_password(secret.as_bytes(), &salt)
            .expect("Argon2 accepts any input length up to 4 GiB")
            .to_string()
    }

    /// Checks `secret` against a PHC string; a malformed hash never matches.
    pub fn verify(&self, secret: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(parsed) => self
                .argon2
                .verify_password(secret.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Spends the time of one verification without matching anything.
    pub fn verify_decoy(&self, secret: &str) {
        let _ = self.verify(secret, &self.decoy_hash);
    }
}

/// Computes keyed digests under the server secret.
#[derive(Clone)]
pub struct KeyedDigest {
    key: Vec<u8>,
}

impl KeyedDigest {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    /// Returns the hex HMAC-SHA-256 of `value` under the key, with a domain
    /// label so that an SSN digest can never equal a code digest.
    pub fn digest(&self, domain: &str, value: &str) -> String {
        hex::encode(self.mac(domain, value).finalize().into_bytes())
    }

    /// Compares `value` with a stored digest in constant time.
    pub fn matches(&self, domain: &str, value: &str, stored_hex: &str) -> bool {
        match hex::decode(stored_hex) {
            Ok(stored) => self.mac(domain, value).verify_slice(&stored).is_ok(),
            Err(_) => false,
        }
    }

    fn mac(&self, domain: &str, value: &str) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_profile_hashes_and_verifies() {
        let hasher = PasswordHasherProfile::new(HashProfile::Fast);
        let hash = hash_for(&hasher, "correct horse battery");
        assert!(hasher.verify("correct horse battery", &hash));
        assert!(!hasher.verify("correct horse batterY", &hash));
        assert!(!hasher.verify("anything", "not a phc string"));
    }

    #[test]
    fn keyed_digest_separates_domains() {
        let digest = KeyedDigest::new(b"server key");
        let ssn = digest.digest("ssn", "900-12-3456");
        assert!(digest.matches("ssn", "900-12-3456", &ssn));
        assert!(!digest.matches("code", "900-12-3456", &ssn));
        assert!(!digest.matches("ssn", "900-12-3456", "zz"));
    }

    fn hash_for(hasher: &PasswordHasherProfile, secret: &str) -> String {
        let hash = hasher.hash(secret);
        assert!(
            hash.starts_with("$argon2id$"),
            "PHC string names the algorithm"
        );
        hash
    }
}
