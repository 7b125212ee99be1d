//! FNV-1a 64, the one hash whose output is part of replsim's formats: it derives the seed
//! streams' numbers from their labels (`seed`) and folds the trace into its hash (`sim::trace`).
//!
//! The algorithm is fixed (Fowler–Noll–Vo, 64-bit offset basis and prime), so its output never
//! changes with a Rust release the way `DefaultHasher`'s may. It depends on nothing in the crate.

/// The FNV-1a 64 offset basis: the hash of no input.
pub const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// The FNV 64-bit prime.
pub const PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 over bytes.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h = OFFSET;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
