//! What wasmtime itself charges for a fresh instance, with no edgechain code
//! on the path: the floor under the chain bench's per-request rows.
//!
//! Each case runs a minimal hand-written component (one core instance, no
//! imports, one exported function that writes to its memory) on the engine
//! edgechain configures (pooling allocator, copy-on-write memory images,
//! slots reset with `PAGEMAP_SCAN`, epoch interruption, async calls). "fresh"
//! is what a per-request link pays per request: a store, an instantiation,
//! the call, and dropping the store (which resets the slot); "warm" is the
//! call alone on a kept instance. Their difference is the least a fresh
//! instance can cost over a warm one on this engine, whatever a plugin does.
//!
//! The "Rust-sized" component has the shape of a Rust plugin's memory (18
//! pages with an initialised data image) and a call that touches some of it,
//! as a request does: the slot reset scans every page an instance ever
//! touched in its slot, so its size shows what memory layout costs.
//!
//! Run: `cargo bench -p edgechain-tests --bench engine`. Compare rows of one
//! run.

use criterion::{Criterion, criterion_group, criterion_main};
use edgechain::engine::{EngineSettings, Runtime};
use std::hint::black_box;
use std::time::Instant;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker, TypedFunc};
use wasmtime::{Config, Engine, Store};

/// One page of memory; `run` writes one word.
const MINIMAL: &str = r#"
(component
  (core module $m
    (memory 1)
    (func (export "run") (i32.store (i32.const 16) (i32.const 1))))
  (core instance $i (instantiate $m))
  (func (export "run") (canon lift (core func $i "run"))))
"#;

/// A Rust plugin's memory shape: 20 pages (a 1 MiB stack, then data and
/// heap) with a 64 KiB data image. `run` writes `writes` host pages from the
/// stack's top into the data, then reads `reads` more, as a request does
/// (a passthrough request touches about 9 and 24).
fn rust_sized(writes: u32, reads: u32) -> String {
    let data = "\\01".repeat(64 * 1024);
    let write_from = 1_048_576 - 4 * 8192;
    let read_from = 1_048_576 + 64 * 1024;
    format!(
        r#"
(component
  (core module $m
    (memory 20)
    (data (i32.const 1048576) "{data}")
    (func (export "run") (local $p i32) (local $sum i32)
      (local.set $p (i32.const {write_from}))
      (block $done (loop $w
        (br_if $done (i32.ge_u (local.get $p) (i32.const {write_end})))
        (i32.store (local.get $p) (i32.const 1))
        (local.set $p (i32.add (local.get $p) (i32.const 8192)))
        (br $w)))
      (local.set $p (i32.const {read_from}))
      (block $done (loop $r
        (br_if $done (i32.ge_u (local.get $p) (i32.const {read_end})))
        (local.set $sum (i32.add (local.get $sum) (i32.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 4096)))
        (br $r)))
      (i32.store (i32.const 16) (local.get $sum))))
  (core instance $i (instantiate $m))
  (func (export "run") (canon lift (core func $i "run"))))
"#,
        write_end = write_from + writes * 8192,
        read_end = read_from + reads * 4096,
    )
}

struct Case {
    pre: InstancePre<()>,
    run: ComponentExportIndex,
}

impl Case {
    fn new(engine: &Engine, wat_text: &str) -> Case {
        let bytes = wat::parse_str(wat_text).expect("valid component text");
        let component = Component::new(engine, &bytes).expect("compiles");
        let (_, run) = component.get_export(None, "run").expect("exports run");
        let pre = Linker::new(engine)
            .instantiate_pre(&component)
            .expect("no imports to satisfy");
        Case { pre, run }
    }

    fn store(&self) -> Store<()> {
        let mut store = Store::new(self.pre.engine(), ());
        store.set_epoch_deadline(u64::MAX / 2);
        store
    }

    async fn instance(&self, store: &mut Store<()>) -> TypedFunc<(), ()> {
        let instance = self
            .pre
            .instantiate_async(&mut *store)
            .await
            .expect("instantiates");
        instance
            .get_typed_func::<(), ()>(&mut *store, &self.run)
            .expect("run: func()")
    }

    async fn fresh(&self) {
        let mut store = self.store();
        let run = self.instance(&mut store).await;
        run.call_async(&mut store, ()).await.expect("runs");
        drop(black_box(store));
    }
}

fn engine(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let runtime = Runtime::new(EngineSettings {
        max_instances: 256,
        ..EngineSettings::default()
    })
    .expect("engine");
    // wasmtime's default allocator (mmap per instance), for comparison.
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true);
    let on_demand = Engine::new(&config).expect("engine");
    let mut group = c.benchmark_group("engine");
    for (name, engine, text) in [
        ("minimal component", runtime.engine(), MINIMAL.to_owned()),
        (
            "minimal component, on-demand allocator",
            &on_demand,
            MINIMAL.to_owned(),
        ),
        (
            "Rust-sized, 1 page written",
            runtime.engine(),
            rust_sized(1, 0),
        ),
        (
            "Rust-sized, 9 written + 24 read",
            runtime.engine(),
            rust_sized(9, 24),
        ),
        (
            "Rust-sized, 9 written + 24 read, on-demand allocator",
            &on_demand,
            rust_sized(9, 24),
        ),
    ] {
        let case = Case::new(engine, &text);
        group.bench_function(format!("{name}, fresh"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        case.fresh().await;
                    }
                    start.elapsed()
                })
            })
        });
        let mut store = case.store();
        let run = rt.block_on(case.instance(&mut store));
        group.bench_function(format!("{name}, warm"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        run.call_async(&mut store, ()).await.expect("runs");
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
