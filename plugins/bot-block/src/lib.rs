//! `bot-block`: refuse clients by user agent and by IP address (CIDR lists).
//!
//! Config:
//! ```json
//! { "deny_user_agents": ["python-requests", "badbot"],
//!   "deny_ips": ["192.0.2.0/24"], "allow_ips": ["192.0.2.7/32"],
//!   "use_forwarded_for": false, "status": 403 }
//! ```
//! An address in `allow_ips` always passes. Otherwise an address in `deny_ips`,
//! or a `User-Agent` containing any `deny_user_agents` entry (ASCII
//! case-insensitive), is answered with `status`. The address is the TCP peer,
//! or with `use_forwarded_for` the first `X-Forwarded-For` entry (only when a
//! trusted proxy in front sets it; `1.2.3.4:5678`, `[2001:db8::1]` and
//! `[2001:db8::1]:443` are read as their address). A first entry that is not
//! an address (`unknown`, garbage) is refused with `status`: it would otherwise
//! escape the address lists. An IPv4-mapped IPv6 address is checked as
//! the IPv4 address it carries. The lists are indexed when the plugin is
//! built: a lookup costs O(log n), so long lists stay cheap per request.

mod networks;

use edgechain_sdk::{Action, Plugin, Request, Response, context, export_plugin};
use ipnet::IpNet;
use networks::NetworkSet;
use serde::Deserialize;
use std::net::IpAddr;

/// The plugin's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Substrings of `User-Agent` to refuse.
    #[serde(default)]
    pub deny_user_agents: Vec<String>,
    /// Networks to refuse.
    #[serde(default)]
    pub deny_ips: Vec<String>,
    /// Networks that always pass.
    #[serde(default)]
    pub allow_ips: Vec<String>,
    /// Take the client address from `X-Forwarded-For`.
    #[serde(default)]
    pub use_forwarded_for: bool,
    /// Status of the refusal.
    #[serde(default = "default_status")]
    pub status: u16,
}

fn default_status() -> u16 {
    403
}

/// Refuses listed clients.
pub struct BotBlock {
    agents: Vec<String>,
    deny: NetworkSet,
    allow: NetworkSet,
    forwarded: bool,
    status: u16,
}

fn networks(list: &[String], field: &str) -> Result<Vec<IpNet>, String> {
    list.iter()
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{field}: `{s}` is not an IP address or CIDR network"))
        })
        .collect()
}

impl BotBlock {
    /// The client's address; `Err` when `X-Forwarded-For` is to be used but
    /// its first entry is not an address.
    fn client_ip(&self, req: &Request) -> Result<Option<IpAddr>, ()> {
        if self.forwarded
            && let Some(first) = req
                .header("x-forwarded-for")
                .map(|v| v.split(',').next().unwrap_or_default())
        {
            return forwarded_address(first.trim()).map(Some).ok_or(());
        }
        Ok(context::client_ip())
    }
}

impl Plugin for BotBlock {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if !(400..=599).contains(&config.status) {
            return Err(format!("status {} is not in 400..=599", config.status));
        }
        if config.deny_user_agents.iter().any(|a| a.is_empty()) {
            return Err("deny_user_agents: an empty entry would match every request".into());
        }
        Ok(BotBlock {
            agents: config
                .deny_user_agents
                .iter()
                .map(|a| a.to_ascii_lowercase())
                .collect(),
            deny: NetworkSet::new(&networks(&config.deny_ips, "deny_ips")?),
            allow: NetworkSet::new(&networks(&config.allow_ips, "allow_ips")?),
            forwarded: config.use_forwarded_for,
            status: config.status,
        })
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        let Ok(ip) = self.client_ip(req) else {
            return Action::Respond(Response::text(self.status, "forbidden\n"));
        };
        if ip.is_some_and(|ip| self.allow.contains(ip)) {
            return Action::Next;
        }
        let denied_ip = ip.is_some_and(|ip| self.deny.contains(ip));
        let agent = req
            .header("user-agent")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let denied_agent = self.agents.iter().any(|a| agent.contains(a.as_str()));
        if denied_ip || denied_agent {
            Action::Respond(Response::text(self.status, "forbidden\n"))
        } else {
            Action::Next
        }
    }
}

/// An `X-Forwarded-For` entry as an address: `ip`, `ipv4:port`, `[ipv6]` or
/// `[ipv6]:port`.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| p.parse::<u16>().is_ok());
        return port_ok.then(|| v6.parse().ok()).flatten();
    }
    let (v4, port) = entry.split_once(':')?;
    port.parse::<u16>().ok()?;
    v4.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

export_plugin!(BotBlock);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_entries_are_read_as_addresses_or_refused() {
        for (entry, ip) in [
            ("10.0.0.1", "10.0.0.1"),
            ("10.0.0.1:5555", "10.0.0.1"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
        ] {
            assert_eq!(forwarded_address(entry), ip.parse().ok(), "{entry}");
        }
        for entry in [
            "garbage",
            "unknown",
            "",
            "10.0.0.1:x",
            "[2001:db8::1",
            "[x]:1",
            "1.2.3.4:99999",
        ] {
            assert_eq!(forwarded_address(entry), None, "{entry}");
        }
    }

    #[test]
    fn an_unreadable_forwarded_address_is_refused() {
        use edgechain_sdk::testing::Harness;
        let mut h = Harness::<BotBlock>::new(
            r#"{"deny_ips": ["192.0.2.0/24"], "use_forwarded_for": true, "status": 451}"#,
        )
        .expect("config accepted");
        h.set_client_ip("127.0.0.1".parse().expect("ip"));
        let answer = |h: &mut Harness<BotBlock>, xff: Option<&str>| {
            let mut req = Request::get("/");
            if let Some(v) = xff {
                req.set_header("x-forwarded-for", v);
            }
            match h.on_request(&mut req) {
                Action::Respond(r) => r.status,
                Action::Next => 200,
            }
        };
        for bad in [
            "garbage",
            "unknown",
            "garbage, 10.0.0.1",
            ",",
            "192.0.2.5:80",
        ] {
            assert_eq!(answer(&mut h, Some(bad)), 451, "{bad}");
        }
        assert_eq!(answer(&mut h, Some("10.0.0.1:5555")), 200);
        assert_eq!(answer(&mut h, None), 200, "no header: the peer");
    }

    #[test]
    fn bad_networks_are_rejected() {
        let cfg = |deny: &str| Config {
            deny_user_agents: vec![],
            deny_ips: vec![deny.into()],
            allow_ips: vec![],
            use_forwarded_for: false,
            status: 403,
        };
        assert!(BotBlock::new(cfg("192.0.2.0/24")).is_ok());
        assert!(BotBlock::new(cfg("2001:db8::1")).is_ok());
        assert!(BotBlock::new(cfg("192.0.2.0/33")).is_err());
        assert!(BotBlock::new(cfg("example.com")).is_err());
    }
}
