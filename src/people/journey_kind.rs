//! The five journey kinds a synthetic person can need, and the weighted mix
//! that decides which person needs which.

use serde::{Deserialize, Serialize};

/// A journey kind; its name is the goose scenario's name and the report's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JourneyKind {
    SignIn,
    ForgotUsername,
    ForgotPassword,
    /// J4e: the second factor is email, the temporary password goes by post.
    TempPasswordPostal,
    /// J4s: the second factor is SMS, the temporary password goes by email.
    TempPasswordEmail,
}

impl JourneyKind {
    pub const ALL: [JourneyKind; 5] = [
        JourneyKind::SignIn,
        JourneyKind::ForgotUsername,
        JourneyKind::ForgotPassword,
        JourneyKind::TempPasswordPostal,
        JourneyKind::TempPasswordEmail,
    ];

    pub fn name(self) -> &'static str {
        match self {
            JourneyKind::SignIn => "sign_in",
            JourneyKind::ForgotUsername => "forgot_username",
            JourneyKind::ForgotPassword => "forgot_password",
            JourneyKind::TempPasswordPostal => "temp_password_postal",
            JourneyKind::TempPasswordEmail => "temp_password_email",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Integer weights of the journey kinds, in the order of [`JourneyKind::ALL`].
///
/// People are assigned kinds by a smooth weighted round robin over one cycle
/// of `sum(weights)` indexes, so that every prefix of the population is mixed
/// in proportion and the k-th person of a kind is found in constant time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyMix {
    weights: [u32; 5],
    /// One cycle of the round robin: the kind at each position.
    cycle: Vec<JourneyKind>,
    /// For each kind, its positions within the cycle.
    positions: [Vec<u32>; 5],
}

impl JourneyMix {
    /// Builds the mix; the caller has checked that some weight is positive.
    pub fn new(weights: [u32; 5]) -> Self {
        let total: u32 = weights.iter().sum();
        assert!(total > 0, "a journey mix needs a positive weight");
        let mut current = [0i64; 5];
        let mut cycle = Vec::with_capacity(total as usize);
        let mut positions: [Vec<u32>; 5] = Default::default();
        for position in 0..total {
            for (kind, weight) in weights.iter().enumerate() {
                current[kind] += i64::from(*weight);
            }
            let chosen = (0..5)
                .max_by_key(|&kind| (current[kind], std::cmp::Reverse(kind)))
                .expect("five kinds");
            current[chosen] -= i64::from(total);
            cycle.push(JourneyKind::ALL[chosen]);
            positions[chosen].push(position);
        }
        Self {
            weights,
            cycle,
            positions,
        }
    }

    pub fn weight(&self, kind: JourneyKind) -> u32 {
        self.weights[kind.index()]
    }

    /// Returns the kinds with a positive weight.
    pub fn active_kinds(&self) -> impl Iterator<Item = JourneyKind> + '_ {
        JourneyKind::ALL
            .into_iter()
            .filter(|kind| self.weight(*kind) > 0)
    }

    /// Returns the kind of journey person `index` needs.
    pub fn kind_of(&self, index: u64) -> JourneyKind {
        self.cycle[(index % self.cycle.len() as u64) as usize]
    }

    /// Returns the population index of the `nth` person (from 0) needing `kind`.
    pub fn nth_of_kind(&self, kind: JourneyKind, nth: u64) -> Option<u64> {
        let positions = &self.positions[kind.index()];
        if positions.is_empty() {
            return None;
        }
        let per_cycle = positions.len() as u64;
        let cycle = nth / per_cycle;
        Some(cycle * self.cycle.len() as u64 + u64::from(positions[(nth % per_cycle) as usize]))
    }

    /// Returns how many of `users` load users run each kind, in the order of
    /// [`JourneyKind::ALL`]. Users are allocated as goose's round-robin
    /// scheduler does it: the weights are divided by their greatest common
    /// divisor, then each kind with weight left gets one user in turn, and
    /// that cycle repeats.
    pub fn users_per_kind(&self, users: usize) -> [usize; 5] {
        let cycle = self.user_cycle();
        let mut counts = [0usize; 5];
        for user in 0..users {
            counts[cycle[user % cycle.len()].index()] += 1;
        }
        counts
    }

    /// Returns one cycle of goose's user allocation, described at
    /// [`JourneyMix::users_per_kind`]: load user `n` runs the kind at
    /// position `n % len`.
    pub fn user_cycle(&self) -> Vec<JourneyKind> {
        let active: Vec<JourneyKind> = self.active_kinds().collect();
        let divisor = active.iter().map(|kind| self.weight(*kind)).fold(0, gcd);
        let mut left: Vec<u32> = active
            .iter()
            .map(|kind| self.weight(*kind) / divisor)
            .collect();
        let mut cycle = Vec::new();
        while left.iter().any(|weight| *weight > 0) {
            for (slot, weight) in left.iter_mut().enumerate() {
                if *weight > 0 {
                    *weight -= 1;
                    cycle.push(active[slot]);
                }
            }
        }
        cycle
    }

    /// Returns how many of the first `population` people need `kind`.
    pub fn count_of_kind(&self, kind: JourneyKind, population: u64) -> u64 {
        let positions = &self.positions[kind.index()];
        let cycle_len = self.cycle.len() as u64;
        let full_cycles = population / cycle_len;
        let remainder = population % cycle_len;
        let partial = positions
            .iter()
            .filter(|&&position| u64::from(position) < remainder)
            .count() as u64;
        full_cycles * positions.len() as u64 + partial
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_follows_weights_in_each_cycle() {
        let mix = JourneyMix::new([3, 1, 2, 1, 1]);
        let counts = JourneyKind::ALL.map(|kind| mix.count_of_kind(kind, 80));
        assert_eq!(counts, [30, 10, 20, 10, 10]);
    }

    #[test]
    fn users_follow_goose_round_robin() {
        let mix = JourneyMix::new([4, 2, 2, 0, 2]);
        // Reduced weights 2, 1, 1, 1: one cycle is sign_in, forgot_username,
        // forgot_password, temp_password_email, sign_in.
        assert_eq!(mix.users_per_kind(5), [2, 1, 1, 0, 1]);
        assert_eq!(mix.users_per_kind(4), [1, 1, 1, 0, 1]);
        assert_eq!(mix.users_per_kind(12), [5, 3, 2, 0, 2]);
    }

    #[test]
    fn nth_of_kind_inverts_kind_of() {
        let mix = JourneyMix::new([5, 0, 2, 1, 3]);
        for kind in JourneyKind::ALL {
            for nth in 0..40 {
                match mix.nth_of_kind(kind, nth) {
                    Some(index) => {
                        assert_eq!(mix.kind_of(index), kind, "kind {kind:?} nth {nth}");
                        assert_eq!(
                            mix.count_of_kind(kind, index),
                            nth,
                            "people of {kind:?} before index {index}"
                        );
                    }
                    None => assert_eq!(mix.weight(kind), 0),
                }
            }
        }
    }
}
