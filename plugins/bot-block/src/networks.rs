//! A set of IP networks answered in O(log n): the CIDR lists are sorted into
//! disjoint address ranges once, when the plugin is built (in `init`, and so
//! in the pre-initialised snapshot), so a list of 10 000 networks costs a
//! request about what one network does.

use ipnet::IpNet;
use std::net::IpAddr;

/// Disjoint, sorted, inclusive address ranges, per address family.
#[derive(Debug, Default)]
pub struct NetworkSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl NetworkSet {
    /// The union of `nets`.
    pub fn new(nets: &[IpNet]) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in nets {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        NetworkSet {
            v4: disjoint(v4),
            v6: disjoint(v6),
        }
    }

    /// Whether `ip` is in one of the networks. An IPv4-mapped IPv6 address
    /// (`::ffff:192.0.2.7`, what a dual-stack socket reports for an IPv4
    /// client) is looked up as the IPv4 address it carries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(a) => within(&self.v4, u32::from(a)),
            IpAddr::V6(a) => within(&self.v6, u128::from(a)),
        }
    }
}

/// Sort and merge overlapping ranges, so at most one range can hold an address.
fn disjoint<T: Ord + Copy>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut merged: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged.shrink_to_fit();
    merged
}

/// Whether the range starting last at or below `addr` reaches it.
fn within<T: Ord + Copy>(ranges: &[(T, T)], addr: T) -> bool {
    let after = ranges.partition_point(|&(start, _)| start <= addr);
    after > 0 && ranges[after - 1].1 >= addr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|s| s.parse().unwrap_or_else(|e| panic!("{s}: {e}")))
            .collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn overlapping_and_nested_networks_merge() {
        let set = NetworkSet::new(&nets(&[
            "10.0.0.0/8",
            "10.1.0.0/16",
            "192.0.2.0/25",
            "192.0.2.64/26",
            "192.0.2.200/32",
            "2001:db8::/32",
        ]));
        assert_eq!(set.v4.len(), 3);
        for yes in [
            "10.255.255.255",
            "10.1.2.3",
            "192.0.2.127",
            "192.0.2.200",
            "2001:db8::1",
        ] {
            assert!(set.contains(ip(yes)), "{yes}");
        }
        for no in [
            "11.0.0.0",
            "9.255.255.255",
            "192.0.2.128",
            "192.0.2.201",
            "2001:db9::",
        ] {
            assert!(!set.contains(ip(no)), "{no}");
        }
        // The v4-mapped form of a listed v4 address, as a dual-stack socket reports it.
        assert!(set.contains(ip("::ffff:10.9.8.7")));
        assert!(!NetworkSet::new(&[]).contains(ip("10.0.0.1")));
        assert!(NetworkSet::new(&nets(&["0.0.0.0/0"])).contains(ip("255.255.255.255")));
        assert!(NetworkSet::new(&nets(&["::/0"])).contains(ip("ffff::1")));
    }

    #[test]
    fn answers_as_a_scan_of_every_network_does() {
        // xorshift: deterministic, many shapes of overlap.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..50 {
            let list: Vec<IpNet> = (0..next() % 40)
                .map(|_| {
                    // A small address space, so networks overlap and nest.
                    let addr = std::net::Ipv4Addr::from(0x0a00_0000 | (next() as u32 & 0xffff));
                    let prefix = 16 + (next() % 17) as u8;
                    IpNet::new(IpAddr::V4(addr), prefix)
                        .map(|n| n.trunc())
                        .unwrap_or_else(|e| panic!("{e}"))
                })
                .collect();
            let set = NetworkSet::new(&list);
            for _ in 0..200 {
                let probe = IpAddr::V4((0x0a00_0000 | (next() as u32 & 0x1ffff)).into());
                assert_eq!(
                    set.contains(probe),
                    list.iter().any(|n| n.contains(&probe)),
                    "{probe} in {list:?}"
                );
            }
        }
    }
}
