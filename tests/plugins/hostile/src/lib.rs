//! Test plugin `hostile`: misbehaves in the way its config names, so tests can
//! show the host survives each. Only requests to `/evil/<link name>` trigger
//! the behaviour; other requests pass untouched, so one chain can hold many
//! hostile links and still serve well-behaved traffic.
//!
//! Config: `{ "mode": "loop" | "grow" | "panic" | "trap-response" |
//! "forbidden-header" | "forbidden-method" | "bad-status" | "flood" | "snoop" | "sleep" |
//! "sleep-response" | "sleep-init" | "busy" | "many-headers" | "many-headers-answer" |
//! "huge-head" | "huge-head-response" | "fetch-init" | "config-init" | "cache-panic" |
//! "cache-invalid" | "cache-trap-response", "sleep_ms": 10000, "busy_us": 1000,
//! "url": "http://host:port/" }`.
//! `busy` works on every request (a plugin whose calls take `busy_us` of
//! CPU); `sleep-init` blocks in `init` (and in every instance's first call);
//! `fetch-init` waits in `init` for an answer from `url` (granted in the
//! manifest), so a test holds the chain's load for exactly as long as it
//! wants; `config-init` reads `/config/value.txt` (a granted `config_dir`)
//! in `init` and answers its trigger path with what it read then.

use edgechain_sdk::{Action, Needs, Plugin, Request, Response, context, export_plugin};
use serde::Deserialize;

/// Which misbehaviour.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Spin forever in on-request.
    Loop,
    /// Allocate memory without end.
    Grow,
    /// Panic (a trap) in on-request.
    Panic,
    /// Trap in on-response.
    TrapResponse,
    /// Set `transfer-encoding` on the request.
    ForbiddenHeader,
    /// Turn the request into a `CONNECT` (a tunnel to anywhere).
    ForbiddenMethod,
    /// Answer with status 1000.
    BadStatus,
    /// Write 100 000 lines (about 13 MB) to stdout.
    Flood,
    /// Try to read files, the environment and the network; report in headers.
    Snoop,
    /// Block in a host call (`std::thread::sleep`, a WASI poll) in on-request.
    Sleep,
    /// Block in a host call in on-response.
    SleepResponse,
    /// Block in a host call while building the plugin (so in `init`).
    SleepInit,
    /// Spin for `busy_us` of CPU on every request.
    Busy,
    /// Pass the request on with 100 000 distinct headers.
    ManyHeaders,
    /// Answer with 100 000 distinct headers.
    ManyHeadersAnswer,
    /// Pass the request on with a 30 MB header.
    HugeHead,
    /// Rewrite the response with a 30 MB header.
    HugeHeadResponse,
    /// GET `url` while building the plugin (so in `init`), and fail to build
    /// unless it answers 2xx.
    FetchInit,
    /// Read `/config/value.txt` while building the plugin; answer with it.
    ConfigInit,
    /// Make every kind of `cache` call (key part and surrogate key
    /// `hostile`), then panic in on-request.
    CachePanic,
    /// Make every kind of `cache` call, then pass on an invalid request.
    CacheInvalid,
    /// Set a TTL and a surrogate key in on-response, then trap.
    CacheTrapResponse,
}

/// Every kind of cache call a request hook may make.
fn ask_the_cache_everything() {
    use edgechain_sdk::cache;
    let _ = cache::add_key("hostile");
    let _ = cache::bypass();
    let _ = cache::set_ttl(std::time::Duration::from_secs(1));
    let _ = cache::add_surrogate_keys(["hostile"]);
}

/// The plugin's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What to do wrong.
    pub mode: Mode,
    /// How long `sleep` and `sleep-init` block.
    #[serde(default = "default_sleep_ms")]
    pub sleep_ms: u64,
    /// How long `busy` spins per request.
    #[serde(default = "default_busy_us")]
    pub busy_us: u64,
    /// What `fetch-init` asks.
    #[serde(default)]
    pub url: Option<String>,
}

fn default_sleep_ms() -> u64 {
    10_000
}

fn default_busy_us() -> u64 {
    1000
}

/// 30 MB: far beyond any head limit.
const HUGE: usize = 30 << 20;
/// Far beyond any header-count limit.
const MANY: usize = 100_000;

/// A plugin that misbehaves on purpose.
pub struct Hostile {
    mode: Mode,
    trigger: String,
    hoard: Vec<Vec<u8>>,
    busy: std::time::Duration,
    sleep: std::time::Duration,
    /// What `config-init` read in `init`.
    read_in_init: String,
}

impl Plugin for Hostile {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        if config.mode == Mode::SleepInit {
            std::thread::sleep(std::time::Duration::from_millis(config.sleep_ms));
        }
        if config.mode == Mode::FetchInit {
            let url = config.url.as_deref().ok_or("fetch-init needs a url")?;
            let answer = edgechain_sdk::http::OutgoingRequest::new("GET", url)
                .send()
                .map_err(|e| format!("{url}: {e}"))?;
            if !answer.is_success() {
                return Err(format!("{url}: status {}", answer.status));
            }
        }
        let read_in_init = if config.mode == Mode::ConfigInit {
            std::fs::read_to_string("/config/value.txt")
                .map_err(|e| format!("/config/value.txt: {e}"))?
        } else {
            String::new()
        };
        let trigger = format!("/evil/{}", context::link_name());
        Ok(Hostile {
            read_in_init,
            mode: config.mode,
            trigger,
            hoard: Vec::new(),
            busy: std::time::Duration::from_micros(config.busy_us),
            sleep: std::time::Duration::from_millis(config.sleep_ms),
        })
    }

    fn needs(&self) -> Needs {
        match self.mode {
            Mode::TrapResponse
            | Mode::HugeHeadResponse
            | Mode::SleepResponse
            | Mode::CacheTrapResponse => Needs::RESPONSE_PHASE,
            _ => Needs::empty(),
        }
    }

    fn on_request(&mut self, req: &mut Request) -> Action {
        if self.mode == Mode::Busy {
            let started = std::time::Instant::now();
            while started.elapsed() < self.busy {
                std::hint::black_box(&mut self.hoard);
            }
            return Action::Next;
        }
        if req.path() != self.trigger {
            return Action::Next;
        }
        match self.mode {
            Mode::Loop => loop {
                std::hint::black_box(&mut self.hoard);
            },
            Mode::Grow => loop {
                let mut block = vec![0u8; 1 << 20];
                block[0] = 1;
                self.hoard.push(std::hint::black_box(block));
            },
            Mode::Panic => panic!("hostile plugin panics on purpose"),
            Mode::CachePanic => {
                ask_the_cache_everything();
                panic!("hostile plugin panics after its cache calls");
            }
            Mode::CacheInvalid => {
                ask_the_cache_everything();
                req.set_header("transfer-encoding", "chunked");
            }
            Mode::ForbiddenHeader => req.set_header("transfer-encoding", "chunked"),
            Mode::ForbiddenMethod => req.method = "CONNECT".into(),
            Mode::BadStatus => return Action::Respond(Response::new(1000)),
            Mode::Flood => {
                let line = "flood ".repeat(20);
                for i in 0..100_000 {
                    println!("{i} {line}");
                }
            }
            Mode::Snoop => snoop(req),
            Mode::Sleep => std::thread::sleep(self.sleep),
            Mode::ManyHeaders => {
                for i in 0..MANY {
                    req.append_header(&format!("x-many-{i}"), "1");
                }
            }
            Mode::ManyHeadersAnswer => {
                let mut answer = Response::text(200, "many\n");
                for i in 0..MANY {
                    answer.headers.append(&format!("x-many-{i}"), "1");
                }
                return Action::Respond(answer);
            }
            Mode::HugeHead => req.set_header("x-huge", vec![b'a'; HUGE]),
            Mode::ConfigInit => {
                return Action::Respond(Response::text(200, self.read_in_init.clone()));
            }
            Mode::TrapResponse
            | Mode::HugeHeadResponse
            | Mode::SleepResponse
            | Mode::SleepInit
            | Mode::Busy
            | Mode::FetchInit
            | Mode::CacheTrapResponse => {}
        }
        Action::Next
    }

    fn on_response(&mut self, req: &Request, resp: &mut Response) {
        if req.path() == self.trigger {
            match self.mode {
                Mode::TrapResponse => std::process::abort(),
                Mode::CacheTrapResponse => {
                    let _ = edgechain_sdk::cache::set_ttl(std::time::Duration::from_secs(1));
                    let _ = edgechain_sdk::cache::add_surrogate_keys(["hostile"]);
                    std::process::abort()
                }
                Mode::HugeHeadResponse => resp.set_header("x-huge", vec![b'a'; HUGE]),
                Mode::SleepResponse => std::thread::sleep(self.sleep),
                _ => {}
            }
        }
        resp.set_header("x-hostile", "passed");
    }
}

fn outcome<T, E: std::fmt::Display>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => "allowed".into(),
        Err(e) => format!("denied: {e}"),
    }
}

fn snoop(req: &mut Request) {
    req.set_header("x-snoop-root", outcome(std::fs::read_dir("/")));
    req.set_header("x-snoop-passwd", outcome(std::fs::read("/etc/passwd")));
    req.set_header(
        "x-snoop-cwd-file",
        outcome(std::fs::read("proxychain.json")),
    );
    req.set_header(
        "x-snoop-config",
        outcome(std::fs::read_to_string("/config/secret.txt")),
    );
    req.set_header(
        "x-snoop-config-sibling",
        outcome(std::fs::read_to_string("/config/../proxychain.json")),
    );
    req.set_header("x-snoop-env-count", std::env::vars().count().to_string());
    req.set_header(
        "x-snoop-env-granted",
        std::env::var("EDGECHAIN_TEST_GRANTED").unwrap_or_default(),
    );
    req.set_header(
        "x-snoop-env-home",
        std::env::var("HOME").unwrap_or_default(),
    );
    req.set_header("x-snoop-args", std::env::args().count().to_string());
    req.set_header(
        "x-snoop-net",
        outcome(std::net::TcpStream::connect("127.0.0.1:1")),
    );
    let mut stdin = String::new();
    req.set_header(
        "x-snoop-stdin",
        outcome(
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut stdin).map(|n| n.to_string()),
        ),
    );
    req.set_header("x-snoop-stdin-bytes", stdin.len().to_string());
}

export_plugin!(Hostile);
