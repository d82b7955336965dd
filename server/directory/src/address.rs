//! Node addresses as they travel between nodes and into identity files:
//! `host:port`, checked before anything stores or dials one.
//!
//! A host is an IPv4 address, a bracketed IPv6 address (`[::1]:7001`) or a
//! DNS name (letters, digits and hyphens in dot-separated labels of at most
//! 63 characters, 253 in all); the port is 1–65535. Nothing else — no
//! whitespace, no control characters, no scheme or path — so an address
//! can never smuggle a second field into a file or a URL.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Checks that `addr` is a node address (see the module docs).
pub fn validate_address(addr: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid node address {addr:?}: {why}"));
    if addr.len() > 300 {
        return bad("too long");
    }
    let Some((host, port)) = addr.rsplit_once(':') else {
        return bad("expected host:port");
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => {}
        _ => return bad("the port must be a number from 1 to 65535"),
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return match v6.parse::<Ipv6Addr>() {
            Ok(_) => Ok(()),
            Err(_) => bad("not an IPv6 address in brackets"),
        };
    }
    if host.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    if host.is_empty() || host.len() > 253 {
        return bad("the host name must have 1 to 253 characters");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if !host.trim_end_matches('.').split('.').all(label_ok) {
        return bad("a host name has letters, digits and hyphens in dot-separated labels");
    }
    // All digits and dots but not an IPv4 address (999.1.1.1): refused.
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return bad("not an IPv4 address");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_nodes_use_are_accepted() {
        for ok in [
            "127.0.0.1:7001",
            "10.0.0.5:1",
            "[::1]:7001",
            "[fe80::1]:65535",
            "node-1.example.com:7001",
            "localhost:7001",
        ] {
            assert_eq!(validate_address(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "127.0.0.1:7001\nnode_id=9",
            "127.0.0.1:7001\n",
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:70000",
            "127.0.0.1:+80",
            ":7001",
            "host name:7001",
            "http://x:7001",
            "a/b:7001",
            "-x.com:7001",
            "999.1.1.1:7001",
            "::1:7001",
            "[not v6]:7001",
            "x@y:7001",
        ] {
            assert!(validate_address(bad).is_err(), "{bad:?} was accepted");
        }
        let long = format!("{}:1", "a".repeat(64));
        assert!(validate_address(&long).is_err());
    }
}
