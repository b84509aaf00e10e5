//! What a limit counts against. Accounts are keyed by the one canonical
//! email ([`canonical_email`]), the form the users service compares, so no
//! spelling of an address is a different account to the limiter than to the
//! database. Clients are keyed by address, except that an IPv6 client is its
//! /64: one subscriber or host usually gets a whole /64, and keying by the
//! full address would give it 2^64 budgets. An IPv4-mapped IPv6 address
//! (`::ffff:a.b.c.d`, seen on dual-stack sockets) is its IPv4 address.
//!
//! Keys are hashes (SHA-256, 128 bits kept), so no email or address is
//! stored in Redis or in the process.

use std::net::{IpAddr, Ipv4Addr};

use sha2::{Digest, Sha256};
use syncchain_platform::identity::canonical_email;

/// A client as rate limits see it: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(Ipv4Addr),
    /// The first 64 bits of the address.
    V6Net([u8; 8]),
}

impl From<IpAddr> for ClientKey {
    fn from(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4),
                None => {
                    let mut net = [0; 8];
                    net.copy_from_slice(&v6.octets()[..8]);
                    Self::V6Net(net)
                }
            },
        }
    }
}

impl ClientKey {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Self::V4(v4) => [&[4][..], &v4.octets()].concat(),
            Self::V6Net(net) => [&[6][..], net].concat(),
        }
    }
}

/// One counter's identity: a kind of limit and what it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CounterKey([u8; 16]);

impl CounterKey {
    fn new(kind: &str, parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(kind.as_bytes());
        for part in parts {
            // Length-prefixed, so no two part lists hash alike.
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        let mut key = [0; 16];
        key.copy_from_slice(&hasher.finalize()[..16]);
        Self(key)
    }

    /// Sign-in attempts on one account from one client.
    pub fn sign_in_pair(email: &str, client: ClientKey) -> Self {
        Self::new(
            "signin:pair",
            &[canonical_email(email).as_bytes(), &client.bytes()],
        )
    }

    /// Sign-in attempts on one account from anywhere.
    pub fn sign_in_account(email: &str) -> Self {
        Self::new("signin:account", &[canonical_email(email).as_bytes()])
    }

    /// Sign-in attempts from one client, on any account.
    pub fn sign_in_client(client: ClientKey) -> Self {
        Self::new("signin:client", &[&client.bytes()])
    }

    /// Registrations from one client.
    pub fn register_client(client: ClientKey) -> Self {
        Self::new("register:client", &[&client.bytes()])
    }

    /// Registrations of one email.
    pub fn register_email(email: &str) -> Self {
        Self::new("register:email", &[canonical_email(email).as_bytes()])
    }

    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A counter and how many attempts it admits per window.
#[derive(Debug, Clone, Copy)]
pub struct Counter {
    pub key: CounterKey,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(address: &str) -> ClientKey {
        ClientKey::from(address.parse::<IpAddr>().unwrap())
    }

    #[test]
    fn addresses_in_one_ipv6_slash_64_are_one_client() {
        assert_eq!(
            client("2001:db8:1:2::1"),
            client("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_eq!(client("2001:db8:1:2::1"), client("2001:db8:1:2:abcd::9"));
    }

    #[test]
    fn neighbouring_ipv6_slash_64s_are_different_clients() {
        assert_ne!(client("2001:db8:1:2::1"), client("2001:db8:1:3::1"));
    }

    #[test]
    fn ipv4_addresses_are_keyed_whole() {
        assert_ne!(client("192.0.2.1"), client("192.0.2.2"));
        assert_eq!(client("192.0.2.1"), client("192.0.2.1"));
    }

    #[test]
    fn an_ipv4_mapped_ipv6_address_is_its_ipv4_address() {
        assert_eq!(client("::ffff:192.0.2.1"), client("192.0.2.1"));
        assert_ne!(client("::ffff:192.0.2.1"), client("::ffff:192.0.2.2"));
    }

    #[test]
    fn every_spelling_of_one_canonical_email_is_one_account() {
        let key = CounterKey::sign_in_account("victim@example.com");
        assert_eq!(CounterKey::sign_in_account(" VICTIM@Example.COM"), key);
        assert_ne!(CounterKey::sign_in_account("vİctim@example.com"), key);
    }

    #[test]
    fn each_kind_of_limit_counts_apart() {
        let address = client("192.0.2.1");
        assert_ne!(
            CounterKey::sign_in_client(address),
            CounterKey::register_client(address)
        );
        assert_ne!(
            CounterKey::sign_in_account("a@example.com"),
            CounterKey::register_email("a@example.com")
        );
    }

    #[test]
    fn keys_hold_no_email_or_address() {
        let key = CounterKey::sign_in_pair("victim@example.com", client("192.0.2.1")).hex();
        assert_eq!(key.len(), 32);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
